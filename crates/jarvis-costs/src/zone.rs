//! Time zones for day, week and month boundaries: IANA names from the system's database, with
//! a copy embedded for systems without one.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::time::{civil_from_days, days_from_civil};

/// A time zone by which days begin.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: TimeZone,
    name: String,
}

/// A time zone name that names none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}: use an IANA name such as Europe/Paris, or UTC")]
pub struct UnknownZone(pub String);

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            name: "UTC".into(),
        }
    }

    /// The zone an IANA name (or `UTC`) names.
    pub fn named(name: &str) -> Result<Zone, UnknownZone> {
        if name.eq_ignore_ascii_case("utc") || name == "Z" {
            return Ok(Zone::utc());
        }
        if !valid_name(name) {
            return Err(UnknownZone(name.to_owned()));
        }
        TimeZone::get(name)
            .map(|tz| Zone {
                tz,
                name: name.to_owned(),
            })
            .map_err(|_| UnknownZone(name.to_owned()))
    }

    /// The system's zone (`TZ`, then `/etc/localtime`), UTC when it names none.
    pub fn system() -> Zone {
        let tz = TimeZone::system();
        let name = tz.iana_name().unwrap_or("UTC").to_owned();
        Zone { tz, name }
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local day of a moment, as days since 1970-01-01.
    pub fn day(&self, at_ms: i64) -> i64 {
        let offset = Timestamp::from_millisecond(at_ms)
            .map(|ts| i64::from(self.tz.to_offset(ts).seconds()))
            .unwrap_or(0);
        (at_ms.div_euclid(1000) + offset).div_euclid(86_400)
    }

    /// When local day `day` begins, in Unix milliseconds.
    pub fn start_of_day(&self, day: i64) -> i64 {
        let (year, month, dom) = civil_from_days(day);
        let naive = day * 86_400_000;
        let (Ok(year), Ok(month), Ok(dom)) =
            (i16::try_from(year), i8::try_from(month), i8::try_from(dom))
        else {
            return naive;
        };
        jiff::civil::Date::new(year, month, dom)
            .and_then(|date| date.to_zoned(self.tz.clone()))
            .map(|zoned| zoned.timestamp().as_millisecond())
            .unwrap_or(naive)
    }
}

/// Every zone name [`Zone::named`] accepts, sorted: the system's database and the embedded one,
/// and `UTC`.
pub fn zone_names() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_owned())
            .filter(|name| valid_name(name) && TimeZone::get(name).is_ok())
            .collect();
        names.push("UTC".into());
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| &*Box::leak(name.into_boxed_str()))
            .collect()
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b))
}

/// The day number of `YYYY-MM-DD` exactly (the JSON Schema `date` format).
pub fn parse_iso_date(text: &str) -> Option<i64> {
    (text.len() == 10).then(|| parse_date(text)).flatten()
}

/// `YYYY-MM-DD` of a day number.
pub fn date_of(day: i64) -> String {
    let (year, month, dom) = civil_from_days(day);
    format!("{year:04}-{month:02}-{dom:02}")
}

/// The Monday that begins the week of `day`.
pub fn week_of(day: i64) -> i64 {
    // 1970-01-01 was a Thursday.
    day - (day + 3).rem_euclid(7)
}

/// `YYYY-MM` of a day number.
pub fn month_of(day: i64) -> String {
    let (year, month, _) = civil_from_days(day);
    format!("{year:04}-{month:02}")
}

/// The first day of the month of `day`.
pub fn first_of_month(day: i64) -> i64 {
    let (year, month, _) = civil_from_days(day);
    days_from_civil(year, month, 1)
}

/// The day number of `YYYY-MM-DD` or `YYYYMMDD`.
pub fn parse_date(text: &str) -> Option<i64> {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    let dashed = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    if digits.len() != 8
        || !(dashed || text.len() == 8)
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let year: i64 = digits[0..4].parse().ok()?;
    let month: i64 = digits[4..6].parse().ok()?;
    let dom: i64 = digits[6..8].parse().ok()?;
    if !(1..=12).contains(&month) || dom < 1 {
        return None;
    }
    let day = days_from_civil(year, month, dom);
    // Refuses 2025-02-30 and the like: the day must read back as written.
    (civil_from_days(day) == (year, month, dom)).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_begin_at_local_midnight() {
        let paris = Zone::named("Europe/Paris").unwrap();
        // 2025-07-01T22:30:00Z is 00:30 on 2 July in Paris (UTC+2 in summer).
        let at = 1_751_409_000_000;
        assert_eq!(date_of(Zone::utc().day(at)), "2025-07-01");
        assert_eq!(date_of(paris.day(at)), "2025-07-02");
        let day = paris.day(at);
        assert_eq!(paris.start_of_day(day), 1_751_407_200_000);
        assert!(Zone::named("Mars/Olympus").is_err());
        assert!(Zone::named("../etc/passwd").is_err());
        assert_eq!(Zone::named("utc").unwrap().name(), "UTC");
    }

    #[test]
    fn weeks_months_and_dates() {
        let day = parse_date("2025-10-29").unwrap();
        assert_eq!(parse_date("20251029"), Some(day));
        assert_eq!(date_of(week_of(day)), "2025-10-27");
        assert_eq!(month_of(day), "2025-10");
        assert_eq!(date_of(first_of_month(day)), "2025-10-01");
        for bad in [
            "2025-02-30",
            "2025-13-01",
            "2025/10/29",
            "20251",
            "",
            "2025-1-029",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
