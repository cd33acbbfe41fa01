//! The `/` page: Moscow time rendered by the server, kept ticking by an inline
//! script, under a Content-Security-Policy that allows exactly that script and
//! stylesheet by hash.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::clock::{MoscowTime, TIMEZONE, UTC_OFFSET};

/// The inline stylesheet, verbatim; build.rs hashes the same file.
const STYLE: &str = include_str!("page/style.css");
/// The inline script, verbatim; build.rs hashes the same file.
const SCRIPT: &str = include_str!("page/clock.js");

/// The page may run its own inline script and stylesheet (by hash) and fetch
/// `/api/time` from its own origin; nothing else: no other script or style,
/// no external assets, no framing, no forms, no DOM-injection sinks.
pub const CONTENT_SECURITY_POLICY: &str = concat!(
    "default-src 'none'; script-src 'sha256-",
    env!("SCRIPT_SHA256"),
    "'; style-src 'sha256-",
    env!("STYLE_SHA256"),
    "'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'"
);

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The page for `now`. Without JavaScript it shows this instant; the script
/// writes the same text in the same elements, so the first paint is the same.
pub fn render(now: SystemTime) -> String {
    let t = MoscowTime::at(now);
    let time = t.time();
    let mut page = String::with_capacity(6 * 1024);
    // Writing to a String cannot fail.
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"description\" content=\"The exact time in Moscow.\">\n\
         <title>{time} Moscow time</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>Moscow time</h1>\n\
         <p class=\"clock\"><time id=\"time\" datetime=\"{t}\">{time}</time></p>\n\
         <p class=\"date\"><time id=\"date\" datetime=\"{date}\">{long_date}</time></p>\n\
         <p class=\"zone\">UTC{UTC_OFFSET} &middot; {TIMEZONE}</p>\n\
         <p class=\"offset\" id=\"offset\" role=\"status\"></p>\n\
         </main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        date = t.date(),
        long_date = long_date(&t),
    );
    page
}

/// `Thursday, 26 November 2026`, as the script writes it too.
fn long_date(t: &MoscowTime) -> String {
    // weekday() is 0..=6 and month 1..=12, so the indexes are in range.
    let weekday = WEEKDAYS[usize::try_from(t.weekday()).unwrap_or(0)];
    let month = MONTHS[usize::try_from(t.month - 1).unwrap_or(0)];
    format!("{weekday}, {} {month} {}", t.day, t.year)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2026-01-01 00:00:00 in Moscow, in Unix seconds.
    const NEW_YEAR_2026: u64 = 1_767_214_800;

    fn at(unix_secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(unix_secs * 1000 + millis)
    }

    fn page_at(unix_secs: u64) -> String {
        render(at(unix_secs, 0))
    }

    #[test]
    fn shows_time_date_and_zone_of_the_instant() {
        let page = render(at(1_795_709_049, 123));
        for expected in [
            "<time id=\"time\" datetime=\"2026-11-26T19:04:09.123+03:00\">19:04:09</time>",
            "<time id=\"date\" datetime=\"2026-11-26\">Thursday, 26 November 2026</time>",
            "<p class=\"zone\">UTC+03:00 &middot; Europe/Moscow</p>",
            "<html lang=\"en\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        ] {
            assert!(page.contains(expected), "no {expected} in {page}");
        }
    }

    #[test]
    fn title_shows_the_time_too() {
        let page = render(at(1_795_709_049, 999));
        assert!(
            page.contains("<title>19:04:09 Moscow time</title>"),
            "{page}"
        );
    }

    #[test]
    fn names_every_month_and_weekday() {
        // The first of each month of 2026, and the weekday it falls on.
        let firsts = [
            ("Thursday", "January"),
            ("Sunday", "February"),
            ("Sunday", "March"),
            ("Wednesday", "April"),
            ("Friday", "May"),
            ("Monday", "June"),
            ("Wednesday", "July"),
            ("Saturday", "August"),
            ("Tuesday", "September"),
            ("Thursday", "October"),
            ("Sunday", "November"),
            ("Tuesday", "December"),
        ];
        let lengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let mut start = NEW_YEAR_2026;
        for (i, (weekday, month)) in firsts.iter().enumerate() {
            let page = page_at(start);
            let expected = format!(">{weekday}, 1 {month} 2026</time>");
            assert!(page.contains(&expected), "no {expected} in {page}");
            let iso = format!("datetime=\"2026-{:02}-01\"", i + 1);
            assert!(page.contains(&iso), "no {iso} in {page}");
            start += lengths[i] * 86_400;
        }
        // Every weekday once, 1 to 7 January 2026.
        let week: Vec<String> = (0..7)
            .map(|d| {
                let t = MoscowTime::at(at(NEW_YEAR_2026 + d * 86_400, 0));
                long_date(&t)
            })
            .collect();
        assert_eq!(
            week,
            [
                "Thursday, 1 January 2026",
                "Friday, 2 January 2026",
                "Saturday, 3 January 2026",
                "Sunday, 4 January 2026",
                "Monday, 5 January 2026",
                "Tuesday, 6 January 2026",
                "Wednesday, 7 January 2026",
            ]
        );
    }

    #[test]
    fn date_changes_at_moscow_midnight() {
        // 2026-12-31T20:59:59Z is 23:59:59 in Moscow; a second later it is 2027.
        let before = page_at(1_798_750_799);
        assert!(before.contains(">23:59:59</time>"), "{before}");
        assert!(
            before.contains(">Thursday, 31 December 2026</time>"),
            "{before}"
        );
        let after = page_at(1_798_750_800);
        assert!(after.contains(">00:00:00</time>"), "{after}");
        assert!(after.contains(">Friday, 1 January 2027</time>"), "{after}");
    }

    #[test]
    fn style_and_script_are_inlined_verbatim_once() {
        let page = page_at(NEW_YEAR_2026);
        assert_eq!(page.matches("<style>").count(), 1);
        assert_eq!(page.matches("<script>").count(), 1);
        assert!(page.contains(&format!("<style>{STYLE}</style>")));
        assert!(page.contains(&format!("<script>{SCRIPT}</script>")));
        // Either would end its element early in the HTML.
        assert!(!STYLE.contains("</"), "</ in the stylesheet");
        assert!(!SCRIPT.contains("</"), "</ in the script");
    }

    #[test]
    fn policy_hashes_match_the_inline_style_and_script() {
        use base64::Engine as _;
        use sha2::{Digest as _, Sha256};
        // Hashed here from the very strings the page inlines: a policy built
        // from other files, or stale ones, fails.
        for (what, source) in [("style-src", STYLE), ("script-src", SCRIPT)] {
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(source));
            let directive = format!("{what} 'sha256-{hash}';");
            assert!(
                CONTENT_SECURITY_POLICY.contains(&directive),
                "no {directive} in {CONTENT_SECURITY_POLICY}"
            );
        }
    }

    #[test]
    fn policy_allows_nothing_else() {
        let directives: Vec<&str> = CONTENT_SECURITY_POLICY.split("; ").collect();
        assert_eq!(directives[0], "default-src 'none'");
        for expected in [
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        ] {
            assert!(directives.contains(&expected), "no {expected}");
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(
            !CONTENT_SECURITY_POLICY.contains(':'),
            "a scheme or host source"
        );
    }

    #[test]
    fn page_is_under_6_kib_on_the_longest_date() {
        // Wednesday, 30 September 2026: the longest weekday and month names.
        let page = page_at(NEW_YEAR_2026 + 272 * 86_400);
        assert!(
            page.contains(">Wednesday, 30 September 2026</time>"),
            "{page}"
        );
        assert!(page.len() < 6 * 1024, "{} bytes", page.len());
    }

    #[test]
    fn only_the_offset_line_is_a_live_region() {
        let page = page_at(NEW_YEAR_2026);
        // The clock changes every second: announcing it would drown everything else.
        assert!(!page.contains("aria-live"), "{page}");
        assert_eq!(page.matches("role=").count(), 1, "{page}");
        assert!(
            page.contains("<p class=\"offset\" id=\"offset\" role=\"status\"></p>"),
            "{page}"
        );
    }

    #[test]
    fn loads_nothing_from_elsewhere() {
        let page = page_at(NEW_YEAR_2026);
        // Including protocol-relative URLs ("//host/...") in the script.
        for needle in [
            "http:", "https:", "\"//", "src=", "href=", "@import", "url(",
        ] {
            assert!(!page.contains(needle), "{needle} in the page");
        }
        // The one request the script makes is to this server.
        assert_eq!(page.matches("fetch(").count(), 1);
        assert!(page.contains("fetch(\"/api/time\""));
    }
}
