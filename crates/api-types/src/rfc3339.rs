//! Times written as chrono writes them (RFC 3339, UTC as `Z`, as many fraction digits as
//! needed), but as one string: chrono's own `Serialize` hands serde_json a `Display`
//! that arrives a few characters at a time, each piece escaped on its own (about 5% of
//! the server's profile for a page of 50 numbers, five times each). The digits are
//! written by position into a buffer on the stack: chrono's `to_rfc3339_opts` went
//! through `fmt::write` and a `String` for each time, about a thousand instructions, a
//! tenth of a list page's serialisation.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::Serializer;

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, the longest form written by position.
const LONGEST: usize = 30;

/// `t` as chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes it: written
/// into `buf` for years 0 to 9999 (those chrono writes with four digits), else `None`.
fn by_position(t: &DateTime<Utc>, buf: &mut [u8; LONGEST]) -> Option<usize> {
    // `DateTime`'s own accessors each add the (zero) offset again: a calendar sum apiece.
    let t = t.naive_utc();
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let mut sec = t.second();
    let mut nano = t.nanosecond();
    // A leap second is kept as a second's worth of extra nanoseconds; chrono writes it
    // as second 60.
    if nano >= 1_000_000_000 {
        sec += 1;
        nano -= 1_000_000_000;
    }
    let mut out = Out { buf, len: 0 };
    out.digits(year, 4);
    let fields = [
        (b'-', t.month()),
        (b'-', t.day()),
        (b'T', t.hour()),
        (b':', t.minute()),
        (b':', sec),
    ];
    for (separator, value) in fields {
        out.byte(separator);
        out.digits(value, 2);
    }
    let fraction = match nano {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((value, width)) = fraction {
        out.byte(b'.');
        out.digits(value, width);
    }
    out.byte(b'Z');
    Some(out.len)
}

/// The part of a buffer written so far.
struct Out<'a> {
    buf: &'a mut [u8; LONGEST],
    len: usize,
}

impl Out<'_> {
    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// `value`'s last `width` decimal digits, zero-padded.
    fn digits(&mut self, value: u32, width: usize) {
        let mut rest = value;
        for place in self.buf[self.len..self.len + width].iter_mut().rev() {
            *place = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.len += width;
    }
}

/// Calls `write` with `t`'s text.
fn with_text<R>(t: &DateTime<Utc>, write: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0; LONGEST];
    let written = by_position(t, &mut buf).and_then(|len| std::str::from_utf8(&buf[..len]).ok());
    match written {
        Some(text) => write(text),
        None => write(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// For `#[serde(serialize_with = "crate::rfc3339::time")]`.
pub(crate) fn time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    with_text(t, |text| s.serialize_str(text))
}

/// For `#[serde(serialize_with = "crate::rfc3339::optional")]`.
pub(crate) fn optional<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => with_text(t, |text| s.serialize_some(text)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "time")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "optional")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chronos {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn leap(nanos: u32) -> DateTime<Utc> {
        let time = chrono::NaiveTime::from_hms_nano_opt(23, 59, 59, 1_000_000_000 + nanos).unwrap();
        let date = chrono::NaiveDate::from_ymd_opt(2016, 12, 31).unwrap();
        Utc.from_utc_datetime(&date.and_time(time))
    }

    /// Every fraction width and every field's range, over times spread across the years
    /// this server stores (a fixed sequence, so a failure repeats).
    #[test]
    fn writes_what_chrono_writes_across_the_calendar() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let start = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap();
        for i in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let seconds = (state >> 20) % (200 * 366 * 86_400);
            let nanos = match i % 4 {
                0 => 0,
                1 => (state % 1_000) * 1_000_000,
                2 => (state % 1_000_000) * 1_000,
                _ => state % 1_000_000_000,
            };
            let t = start
                + chrono::Duration::seconds(seconds as i64)
                + chrono::Duration::nanoseconds(nanos as i64);
            assert_eq!(
                serde_json::to_string(&Ours {
                    at: t,
                    maybe: Some(t)
                })
                .unwrap(),
                serde_json::to_string(&Chronos {
                    at: t,
                    maybe: Some(t)
                })
                .unwrap()
            );
        }
    }

    #[test]
    fn writes_what_chrono_writes() {
        let whole = Utc.with_ymd_and_hms(2026, 12, 5, 12, 24, 7).unwrap();
        for t in [
            whole,
            whole + chrono::Duration::microseconds(311_448),
            whole + chrono::Duration::milliseconds(310),
            whole + chrono::Duration::nanoseconds(1),
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(999_999_999),
            // Written by chrono: a sign and five digits.
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 30, 8, 5, 3).unwrap(),
            // A leap second (chrono's extra second of nanoseconds), whole and in part.
            leap(0),
            leap(500_000_000),
            leap(123_456),
            leap(7),
        ] {
            for maybe in [None, Some(t)] {
                assert_eq!(
                    serde_json::to_string(&Ours { at: t, maybe }).unwrap(),
                    serde_json::to_string(&Chronos { at: t, maybe }).unwrap()
                );
            }
        }
    }
}
