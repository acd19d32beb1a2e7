//! Calendar time from the system clock, in the two forms rcgi writes: the
//! HTTP `Date` header (RFC 9110 IMF-fixdate) and the access log's Common
//! Log Format timestamp, both cached for the current second; and the
//! RFC 3339 timestamp with milliseconds of the error log and the JSON
//! access log. All are in UTC.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A moment broken into calendar fields (UTC).
struct Civil {
    year: i64,
    month: usize, // 1..=12
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    weekday: usize, // index into DAYS (0 = Thursday, as 1970-01-01 was)
}

fn civil(unix: u64) -> Civil {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Days since 1970-01-01 to a proleptic Gregorian date, counting in
    // 400-year eras that start on March 1st (so leap days come last).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        weekday: (days.rem_euclid(7)) as usize,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn http_date(unix: u64) -> String {
    let c = civil(unix);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday],
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// `10/Oct/2000:13:55:36 +0000`
fn log_date(unix: u64) -> String {
    let c = civil(unix);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// `2000-10-10T13:55:36.042Z`
fn rfc3339(unix: u64, millis: u32) -> String {
    let c = civil(unix);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

thread_local! {
    static CACHE: RefCell<(u64, String, String)> = const { RefCell::new((u64::MAX, String::new(), String::new())) };
}

/// Calls `f` with the current second's (HTTP date, log date).
fn with_now<R>(f: impl FnOnce(&str, &str) -> R) -> R {
    let now = now_secs();
    CACHE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.0 != now {
            *cache = (now, http_date(now), log_date(now));
        }
        f(&cache.1, &cache.2)
    })
}

/// Seconds since 1970 of a proleptic Gregorian date (UTC midnight).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only
/// form a sender may generate (RFC 9110 section 5.6.7); other forms give
/// None, which makes a conditional request unconditional.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let rest = s.trim().split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u32 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
    // IMF-fixdate's year is four digits, which also keeps the sums below
    // far from overflow.
    let year = parts
        .next()
        .filter(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))?;
    let year: i64 = year.parse().ok()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() || !(1..=31).contains(&day) {
        return None;
    }
    let mut hms = time.split(':').map(|t| t.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    days.checked_mul(86_400)?
        .checked_add(h * 3600 + m * 60 + sec)
}

/// The HTTP-date of a moment, e.g. for `Last-Modified`.
pub fn http_date_of(unix: u64) -> String {
    http_date(unix)
}

/// Appends the current HTTP-date to `out`.
pub fn push_http_date(out: &mut Vec<u8>) {
    with_now(|http, _| out.extend_from_slice(http.as_bytes()));
}

/// The current time as the access log writes it.
pub fn log_now() -> String {
    with_now(|_, log| log.to_string())
}

/// Appends the current time, to the millisecond, in RFC 3339 form
/// (`2000-10-10T13:55:36.042Z`) to `out`.
pub fn push_rfc3339_now(out: &mut String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    out.push_str(&rfc3339(now.as_secs(), now.subsec_millis()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(log_date(971_186_136), "10/Oct/2000:13:55:36 +0000");
        assert_eq!(rfc3339(971_186_136, 42), "2000-10-10T13:55:36.042Z");
    }

    #[test]
    fn parses_what_it_writes() {
        for t in [0, 784_111_777, 951_782_400, 1_763_719_200, 4_107_542_400] {
            assert_eq!(parse_http_date(&http_date(t)), Some(t));
        }
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 CET"), None);
        assert_eq!(parse_http_date("Sun, 36 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"), None);
        for year in [
            "99999999999999",
            "9223372036854775807",
            "-922337203685477580",
            "-5",
            "+994",
        ] {
            let date = format!("Sun, 06 Nov {year} 08:49:37 GMT");
            assert_eq!(parse_http_date(&date), None, "{date}");
        }
    }

    #[test]
    fn every_day_for_three_centuries_follows_the_last() {
        let mut prev = civil(0);
        for day in 1..(300 * 366) {
            let c = civil(day * 86_400);
            assert_eq!(c.weekday, (prev.weekday + 1) % 7);
            if c.day == 1 {
                assert!(c.month == prev.month % 12 + 1, "{day}");
            } else {
                assert_eq!(
                    (c.day, c.month, c.year),
                    (prev.day + 1, prev.month, prev.year)
                );
            }
            prev = c;
        }
    }
}
