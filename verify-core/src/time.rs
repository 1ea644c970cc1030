//! `expires`: TUF's `YYYY-MM-DDTHH:MM:SSZ`, compared with a `now` the caller gives.
//!
//! Properties kept:
//! - there is no clock in this crate: every expiry check takes the caller's `now`, so a caller
//!   can verify offline, in tests, or against a time it trusts more than the system's;
//! - exactly one written form is accepted (the one the TUF specification and python-tuf use),
//!   so a date cannot mean two instants to two readers; everything else is refused;
//! - metadata is expired from the second its `expires` names: `now >= expires` is expired.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// An `expires` instant, with the text it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expires {
    /// Seconds since 1970-01-01T00:00:00Z.
    unix: i64,
    /// The text as written (`2030-01-01T00:00:00Z`).
    text: String,
}

impl Expires {
    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (years 0000 to 9999, a real calendar date, hours below 24,
    /// minutes and seconds below 60), and nothing else: no fraction, no offset, no lowercase
    /// `t` or `z`.
    pub fn parse(text: &str) -> Result<Expires, String> {
        let b = text.as_bytes();
        let shape_ok = b.len() == 20
            && b.iter().enumerate().all(|(i, &c)| match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'Z',
                _ => c.is_ascii_digit(),
            });
        if !shape_ok {
            return Err(format!(
                "expires {text:?} is not of the form YYYY-MM-DDTHH:MM:SSZ"
            ));
        }
        let num = |from: usize, to: usize| -> i64 {
            b[from..to]
                .iter()
                .fold(0, |n, &c| n * 10 + i64::from(c - b'0'))
        };
        let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
        let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(format!("expires {text:?} is not a valid date and time"));
        }
        let unix = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(Expires {
            unix,
            text: text.to_owned(),
        })
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.unix
    }

    /// The text as the metadata wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the metadata has expired at `now`: `now >= expires`, to the second.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        unix_floor(now) >= self.unix
    }
}

impl fmt::Display for Expires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `now` in whole seconds since the epoch, rounded down (towards the past), saturating.
fn unix_floor(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let before = e.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            // -0.5 s is second -1.
            if before.subsec_nanos() > 0 {
                secs.saturating_neg().saturating_sub(1)
            } else {
                secs.saturating_neg()
            }
        }
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    #[test]
    fn known_instants() {
        for (text, unix) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2000-02-29T12:34:56Z", 951_827_696),
            ("2038-01-19T03:14:08Z", 2_147_483_648),
            ("1969-12-31T23:59:59Z", -1),
            ("0000-01-01T00:00:00Z", -62_167_219_200),
            ("9999-12-31T23:59:59Z", 253_402_300_799),
        ] {
            assert_eq!(Expires::parse(text).unwrap().unix_seconds(), unix, "{text}");
        }
    }

    #[test]
    fn every_other_form_is_refused() {
        for text in [
            "2030-01-01T00:00:00",
            "2030-01-01T00:00:00.0Z",
            "2030-01-01T00:00:00+00:00",
            "2030-01-01t00:00:00Z",
            "2030-01-01T00:00:00z",
            "2030-01-01 00:00:00Z",
            "2030-1-01T00:00:00Z",
            "+030-01-01T00:00:00Z",
            "2030-13-01T00:00:00Z",
            "2030-00-01T00:00:00Z",
            "2030-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2030-04-31T00:00:00Z",
            "2030-01-00T00:00:00Z",
            "2030-01-01T24:00:00Z",
            "2030-01-01T00:60:00Z",
            "2030-01-01T00:00:60Z",
            "",
            "２０３０-01-01T00:00:00Z",
        ] {
            assert!(Expires::parse(text).is_err(), "{text}");
        }
        assert!(Expires::parse("2000-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn expired_from_the_second_it_names() {
        let e = Expires::parse("2030-01-01T00:00:00Z").unwrap();
        let at = UNIX_EPOCH + Duration::from_secs(e.unix_seconds() as u64);
        assert!(!e.is_expired_at(at - Duration::from_millis(1)));
        assert!(e.is_expired_at(at));
        assert!(e.is_expired_at(at + Duration::from_millis(500)));
        let before_epoch = Expires::parse("1969-12-31T23:59:59Z").unwrap();
        assert!(!before_epoch.is_expired_at(UNIX_EPOCH - Duration::from_millis(1500)));
        assert!(before_epoch.is_expired_at(UNIX_EPOCH - Duration::from_millis(500)));
    }
}
