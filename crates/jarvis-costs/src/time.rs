//! The timestamps usage logs carry (RFC 3339, `2025-11-03T10:15:30.123Z` or with an offset),
//! read without a date library: days since the epoch by the civil-calendar formula.

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp; `None` if it is not one.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return None;
        }
        let digits = &b[start..at.min(start + 3)];
        millis = digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        for _ in digits.len()..3 {
            millis *= 10;
        }
    }
    let offset_secs = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == at + 6 && b[at + 3] == b':' => {
            let secs = num(at + 1..at + 3)? * 3600 + num(at + 4..at + 6)? * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (`YYYY-MM-DD`) of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The UTC date of a moment in milliseconds since the epoch, `YYYY-MM-DD`.
pub fn utc_day(at_ms: i64) -> String {
    let (year, month, day) = civil_from_days(at_ms.div_euclid(86_400_000));
    format!("{year:04}-{month:02}-{day:02}")
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A moment as ccusage and JavaScript print it: `YYYY-MM-DDTHH:MM:SS.mmmZ`, in UTC.
pub fn iso_ms(at_ms: i64) -> String {
    let (year, month, day) = civil_from_days(at_ms.div_euclid(86_400_000));
    let rest = at_ms.rem_euclid(86_400_000);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_with_and_without_fractions_and_offsets() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2025-11-03T10:00:00.000Z"),
            Some(1_762_164_000_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-03T10:00:00.5Z"),
            Some(1_762_164_000_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-03T10:00:00.123456Z"),
            Some(1_762_164_000_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-03T12:00:00+02:00"),
            Some(1_762_164_000_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T23:59:59-01:00"),
            Some(1_709_254_799_000)
        );
        for bad in [
            "",
            "2025-11-03",
            "2025-13-01T00:00:00Z",
            "2025-11-03T10:00:00",
            "2025-11-03T10:00:00.Z",
            "x025-11-03T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
        assert_eq!(utc_day(1_762_164_000_000), "2025-11-03");
        assert_eq!(utc_day(-1), "1969-12-31");
        for days in [-800_000, -1, 0, 19_000, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
