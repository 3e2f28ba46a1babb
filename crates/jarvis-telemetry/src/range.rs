//! The time range a history request names: `time_range` back from now (`15m`, `6h`, `7d`), or
//! `from`/`to` in Unix seconds, and a `step`. Parsed here so that every door (HTTP, a future
//! WebSocket query, the command line) reads a range the same way.

/// A duration: a whole number of seconds, or of `s`, `m`, `h` or `d`.
pub const DURATION_PATTERN: &str = "^[1-9][0-9]{0,8}[smhd]?$";

/// The latest Unix second a `from` or `to` may name (the end of the year 9999).
pub const LAST_SECOND: u64 = 253_402_300_799;

/// What a window defaults to when a request names none: the last hour.
pub const DEFAULT_WINDOW_SECS: i64 = 3600;

/// `90`, `90s`, `15m`, `6h`, `7d` → seconds; `None` for anything else, zero included.
pub fn duration_secs(text: &str) -> Option<u64> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(scale).filter(|&s| s > 0)
}

/// A span of Unix seconds, `to` exclusive. One whose `from` is not before `to` holds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// The first second.
    pub from: i64,
    /// The second after the last.
    pub to: i64,
}

impl TimeRange {
    /// The range a request names at `now`: `back` seconds up to and including the current
    /// second when given; else `from`/`to`, `to` defaulting to the current second's end and
    /// `from` to an hour before `to`.
    pub fn resolve(back: Option<u64>, from: Option<u64>, to: Option<u64>, now: i64) -> Self {
        let secs = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match back {
            Some(back) => TimeRange {
                from: now.saturating_sub(secs(back)),
                to: now + 1,
            },
            None => {
                let to = to.map_or(now + 1, secs);
                let from = from.map_or(to.saturating_sub(DEFAULT_WINDOW_SECS), secs);
                TimeRange { from, to }
            }
        }
    }

    /// Whether the range holds no second at all.
    pub fn is_empty(&self) -> bool {
        self.from >= self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, secs) in [
            ("90", Some(90)),
            ("90s", Some(90)),
            ("15m", Some(900)),
            ("24h", Some(86_400)),
            ("90d", Some(7_776_000)),
            ("0m", None),
            ("", None),
            ("1w", None),
            ("-1h", None),
            ("h", None),
            ("99999999999999999999d", None),
        ] {
            assert_eq!(duration_secs(text), secs, "{text}");
        }
        // What the pattern admits, the parser reads.
        let pattern = regex_lite::Regex::new(DURATION_PATTERN).unwrap();
        for named in [
            "15m",
            "1h",
            "6h",
            "24h",
            "7d",
            "30d",
            "90d",
            "90",
            "999999999d",
        ] {
            assert!(pattern.is_match(named), "{named}");
            assert!(duration_secs(named).is_some(), "{named}");
        }
        for refused in ["0", "01h", "1w", "h", ""] {
            assert!(!pattern.is_match(refused), "{refused}");
        }
    }

    #[test]
    fn ranges_default_to_the_last_hour_including_the_current_second() {
        let now = 1_000_000;
        let back = TimeRange::resolve(Some(900), Some(5), Some(6), now);
        assert_eq!(
            back,
            TimeRange {
                from: now - 900,
                to: now + 1
            }
        );
        let default = TimeRange::resolve(None, None, None, now);
        assert_eq!(
            default,
            TimeRange {
                from: now + 1 - 3600,
                to: now + 1
            }
        );
        let to_only = TimeRange::resolve(None, None, Some(7200), now);
        assert_eq!(
            to_only,
            TimeRange {
                from: 3600,
                to: 7200
            }
        );
        let early = TimeRange::resolve(None, Some(10), Some(5), now);
        assert!(early.is_empty());
        let far = TimeRange::resolve(None, Some(LAST_SECOND), None, now);
        assert!(far.is_empty());
        let huge = TimeRange::resolve(Some(u64::MAX), None, None, now);
        assert_eq!(huge.from, now.saturating_sub(i64::MAX));
    }
}
