//! Moscow wall-clock time: pure functions from an instant to its parts and the JSON.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

// Moscow has used UTC+3 all year since 2014-10-26 (no DST). A fixed offset is
// correct and keeps tzdata out of the scratch image; switch to a tz database
// only if Russia changes its clocks again.
const OFFSET_MS: i64 = 3 * 60 * 60 * 1000;

/// IANA name of the zone whose time we show.
pub const TIMEZONE: &str = "Europe/Moscow";
/// The zone's offset from UTC, as RFC 3339 writes it.
pub const UTC_OFFSET: &str = "+03:00";

/// One instant broken down into Moscow's calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoscowTime {
    /// Milliseconds since the Unix epoch (UTC), the instant itself.
    pub unix_ms: i64,
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub millis: i64,
}

impl MoscowTime {
    /// Breaks `now` down into Moscow local time.
    pub fn at(now: SystemTime) -> Self {
        let unix_ms = match now.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Self::from_unix_ms(unix_ms)
    }

    /// Breaks milliseconds since the Unix epoch down into Moscow local time.
    pub fn from_unix_ms(unix_ms: i64) -> Self {
        let local_ms = unix_ms.saturating_add(OFFSET_MS);
        let days = local_ms.div_euclid(86_400_000);
        let ms_of_day = local_ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        Self {
            unix_ms,
            year,
            month,
            day,
            hour: ms_of_day / 3_600_000,
            minute: ms_of_day / 60_000 % 60,
            second: ms_of_day / 1000 % 60,
            millis: ms_of_day % 1000,
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `HH:MM:SS`, 24-hour clock.
    pub fn time(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }

    /// Day of the week, 0 = Sunday to 6 = Saturday.
    pub fn weekday(&self) -> i64 {
        // 1970-01-01 was a Thursday.
        (self
            .unix_ms
            .saturating_add(OFFSET_MS)
            .div_euclid(86_400_000)
            + 4)
        .rem_euclid(7)
    }
}

/// Formats as RFC 3339 with milliseconds and the Moscow offset
/// (`2026-11-26T19:04:09.123+03:00`), straight into the output buffer
/// (`/api/time` and every JSON log line: no intermediate strings).
impl fmt::Display for MoscowTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rfc3339_bytes() {
            Some(bytes) => f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?),
            // Years RFC 3339 cannot write; only a clock far off could get here.
            None => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{UTC_OFFSET}",
                self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
            ),
        }
    }
}

impl MoscowTime {
    /// Appends RFC 3339 with milliseconds to `out` as bytes: the JSON access
    /// log skips `core::fmt` and the UTF-8 check a `&str` would need.
    pub fn write_rfc3339(&self, out: &mut Vec<u8>) {
        match self.rfc3339_bytes() {
            Some(bytes) => out.extend_from_slice(&bytes),
            // Writing to a Vec cannot fail.
            None => drop(std::io::Write::write_fmt(out, format_args!("{self}"))),
        }
    }

    /// RFC 3339 with milliseconds, digit by digit: `core::fmt`'s zero padding
    /// of the seven fields costs many times the instructions of this.
    /// `None` for years outside 0000-9999.
    fn rfc3339_bytes(&self) -> Option<[u8; 29]> {
        if !(0..=9999).contains(&self.year) {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00.000+03:00";
        for (at, width, value) in [
            (0, 4, self.year),
            (5, 2, self.month),
            (8, 2, self.day),
            (11, 2, self.hour),
            (14, 2, self.minute),
            (17, 2, self.second),
            (20, 3, self.millis),
        ] {
            let mut value = value;
            for digit in out[at..at + width].iter_mut().rev() {
                *digit = b'0' + u8::try_from(value % 10).ok()?;
                value /= 10;
            }
        }
        Some(out)
    }
}

/// The `/api/time` body for `now`, formatted wherever it is written.
pub fn time_json(now: SystemTime) -> TimeJson {
    TimeJson(MoscowTime::at(now))
}

/// The `/api/time` JSON of one instant, see [`time_json`].
pub struct TimeJson(MoscowTime);

impl fmt::Display for TimeJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            r#"{{"timezone":"{TIMEZONE}","utc_offset":"{UTC_OFFSET}","datetime":"{t}","unix_ms":{}}}"#,
            t.unix_ms
        )
    }
}

/// `now` as an HTTP date (RFC 9110 section 5.6.7), in GMT as HTTP requires:
/// `Sun, 06 Nov 1994 08:49:37 GMT`. For the answers the server writes
/// itself; hyper dates the others.
pub fn http_date(now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{weekday}, {day:02} {month} {year:04} {:02}:{:02}:{:02} GMT",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`: <https://howardhinnant.github.io/date_algorithms.html>.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(unix_secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(unix_secs * 1000 + millis)
    }

    #[test]
    fn http_dates_are_imf_fixdate_in_gmt() {
        // RFC 9110's own example.
        assert_eq!(
            http_date(at(784_111_777, 0)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            http_date(at(1_795_726_800, 999)),
            "Thu, 26 Nov 2026 21:00:00 GMT"
        );
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn new_year_utc_is_three_in_the_morning() {
        // 2024-01-01T00:00:00Z
        let t = MoscowTime::at(at(1_704_067_200, 0));
        assert_eq!(
            (t.date(), t.time()),
            ("2024-01-01".into(), "03:00:00".into())
        );
    }

    #[test]
    fn twenty_one_utc_is_midnight_next_day() {
        // 2026-11-26T21:00:00Z is 2026-11-27 00:00 in Moscow.
        let t = MoscowTime::at(at(1_795_726_800, 0));
        assert_eq!(
            (t.date(), t.time()),
            ("2026-11-27".into(), "00:00:00".into())
        );
        // One millisecond earlier is still the 26th.
        let t = MoscowTime::from_unix_ms(1_795_726_800_000 - 1);
        assert_eq!(t.to_string(), "2026-11-26T23:59:59.999+03:00");
    }

    #[test]
    fn leap_day_exists_in_leap_years() {
        // 2024-02-28T21:00:00Z is the start of 2024-02-29 in Moscow.
        let t = MoscowTime::at(at(1_709_154_000, 0));
        assert_eq!(t.date(), "2024-02-29");
        // A day later it is March.
        let t = MoscowTime::at(at(1_709_154_000 + 86_400, 0));
        assert_eq!(t.date(), "2024-03-01");
        // 2100 is not a leap year: 2100-02-28T21:00:00Z is March 1st in Moscow.
        let t = MoscowTime::at(at(4_107_531_600, 0));
        assert_eq!(t.date(), "2100-03-01");
    }

    #[test]
    fn year_end_rolls_over_at_21_utc() {
        // 2025-12-31T20:59:59.999Z is the last millisecond of 2025 in Moscow.
        let t = MoscowTime::from_unix_ms(1_767_214_799_999);
        assert_eq!(t.to_string(), "2025-12-31T23:59:59.999+03:00");
        let t = MoscowTime::from_unix_ms(1_767_214_800_000);
        assert_eq!(t.to_string(), "2026-01-01T00:00:00.000+03:00");
    }

    #[test]
    fn epoch_and_before_epoch() {
        assert_eq!(
            MoscowTime::at(UNIX_EPOCH).to_string(),
            "1970-01-01T03:00:00.000+03:00"
        );
        let t = MoscowTime::at(UNIX_EPOCH - Duration::from_millis(3 * 3_600_000 + 1));
        assert_eq!(t.to_string(), "1969-12-31T23:59:59.999+03:00");
        assert_eq!(t.unix_ms, -10_800_001);
    }

    #[test]
    fn years_rfc_3339_cannot_write_still_format() {
        // Digit by digit for 0000-9999, through core::fmt beyond, the same text.
        const YEAR_10000_UTC: i64 = 253_402_300_800_000;
        const YEAR_0_UTC: i64 = -62_167_219_200_000;
        const THREE_HOURS: i64 = 3 * 3_600_000;
        for (unix_ms, text) in [
            (
                YEAR_10000_UTC - THREE_HOURS - 1,
                "9999-12-31T23:59:59.999+03:00",
            ),
            (
                YEAR_10000_UTC - THREE_HOURS,
                "10000-01-01T00:00:00.000+03:00",
            ),
            (YEAR_0_UTC - THREE_HOURS, "0000-01-01T00:00:00.000+03:00"),
            (
                YEAR_0_UTC - THREE_HOURS - 1,
                "-001-12-31T23:59:59.999+03:00",
            ),
        ] {
            let t = MoscowTime::from_unix_ms(unix_ms);
            assert_eq!(t.to_string(), text);
            let mut bytes = b"<".to_vec();
            t.write_rfc3339(&mut bytes);
            assert_eq!(bytes, format!("<{text}").as_bytes());
        }
    }

    #[test]
    fn weekdays_follow_the_moscow_date() {
        // 2026-11-26 is a Thursday; at 21:00 UTC Moscow is already on Friday.
        assert_eq!(MoscowTime::from_unix_ms(1_795_726_800_000 - 1).weekday(), 4);
        assert_eq!(MoscowTime::from_unix_ms(1_795_726_800_000).weekday(), 5);
        // 1970-01-01 03:00 Moscow was a Thursday; the evening before, a Wednesday.
        assert_eq!(MoscowTime::at(UNIX_EPOCH).weekday(), 4);
        assert_eq!(MoscowTime::from_unix_ms(-10_800_001).weekday(), 3);
        // 2024-01-01 was a Monday.
        assert_eq!(MoscowTime::at(at(1_704_067_200, 0)).weekday(), 1);
    }

    #[test]
    fn json_has_every_field_for_the_same_instant() {
        let body = time_json(at(1_795_709_049, 123)).to_string();
        assert_eq!(
            body,
            r#"{"timezone":"Europe/Moscow","utc_offset":"+03:00","datetime":"2026-11-26T19:04:09.123+03:00","unix_ms":1795709049123}"#
        );
    }
}
