//! Requests refused before routing, and with which status: the checks the
//! RFCs ask for that hyper leaves to the server (Host, a transfer coding we
//! do not implement, the target's length), and the status of a request head
//! hyper could not parse, which hyper would answer with a bare 400 or 431.
//!
//! Every refusal gets the same small answer: a one-line text body, the
//! headers every response carries, and `Connection: close`.

use std::net::Ipv6Addr;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode, Uri, Version};

/// Longest request target served; a longer one gets 414. RFC 9112 section 3
/// asks every server to take at least 8,000 octets; nginx's default header
/// buffer (8 KiB) draws the line at the same place.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;

/// Why a request that hyper parsed is refused, if it is: the checks are the
/// RFCs' MUSTs and SHOULDs that hyper leaves to the server.
pub fn check(version: Version, uri: &Uri, headers: &HeaderMap) -> Option<StatusCode> {
    // One pass over the fields: a request has a handful, and walking them
    // costs less than looking two names up.
    let (mut hosts, mut host, mut coded) = (0, None, false);
    for (name, value) in headers {
        if name == header::HOST {
            hosts += 1;
            host = Some(value);
        } else if name == header::TRANSFER_ENCODING {
            coded = true;
        }
    }
    host_check(version, hosts, host)
        .or_else(|| target(uri))
        .or_else(|| {
            coded
                .then(|| transfer_coding(headers.get_all(header::TRANSFER_ENCODING)))
                .flatten()
        })
}

/// RFC 9112 section 3.2: a server MUST answer 400 to an HTTP/1.1 request
/// without Host, and to any request with more than one Host line or a Host
/// that is not a valid `uri-host [ ":" port ]` (RFC 9110 section 7.2).
/// `hosts` is how many Host lines there are, `host` the last one.
fn host_check(version: Version, hosts: usize, host: Option<&HeaderValue>) -> Option<StatusCode> {
    let valid = match (hosts, host) {
        (0, _) => version != Version::HTTP_11,
        (1, Some(host)) => is_authority(host.as_bytes()),
        _ => false,
    };
    (!valid).then_some(StatusCode::BAD_REQUEST)
}

/// RFC 9110 section 15.5.15: 414 for a target longer than we serve.
fn target(uri: &Uri) -> Option<StatusCode> {
    let length = uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    (length > MAX_TARGET_BYTES).then_some(StatusCode::URI_TOO_LONG)
}

/// RFC 9112 section 6.1: 501 for a transfer coding we do not implement (we
/// decode only chunked); 400 if chunked is applied more than once, or is not
/// the last coding (section 6.3; hyper refuses the latter before we see it).
fn transfer_coding<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> Option<StatusCode> {
    let (mut chunked, mut other) = (0, false);
    for coding in codings(values) {
        if coding.eq_ignore_ascii_case(b"chunked") {
            chunked += 1;
        } else {
            other = true;
        }
    }
    if chunked > 1 {
        Some(StatusCode::BAD_REQUEST)
    } else if other {
        Some(StatusCode::NOT_IMPLEMENTED)
    } else {
        None
    }
}

/// The codings a list of Transfer-Encoding values names, in order.
fn codings<'a>(
    values: impl IntoIterator<Item = &'a HeaderValue>,
) -> impl Iterator<Item = &'a [u8]> {
    values
        .into_iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty())
}

/// `uri-host [ ":" port ]` (RFC 3986 section 3.2.2): an IP literal in
/// brackets or a non-empty reg-name (which covers IPv4 addresses), then an
/// optional port of digits. An empty host is refused: an `http` URI always
/// has one (RFC 9110 section 4.2.1), so Host may not be empty here.
fn is_authority(value: &[u8]) -> bool {
    let (host, port) = if let Some(literal) = value.strip_prefix(b"[") {
        let Some(end) = literal.iter().position(|&b| b == b']') else {
            return false;
        };
        if !is_ip_literal(&literal[..end]) {
            return false;
        }
        (None, &literal[end + 1..])
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        (Some(&value[..end]), &value[end..])
    };
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    port_ok && host.is_none_or(is_reg_name)
}

/// `IPv6address / IPvFuture`, between the brackets.
fn is_ip_literal(inside: &[u8]) -> bool {
    match inside.split_first() {
        Some((b'v' | b'V', future)) => {
            let Some(dot) = future.iter().position(|&b| b == b'.') else {
                return false;
            };
            let (version, rest) = (&future[..dot], &future[dot + 1..]);
            !version.is_empty()
                && version.iter().all(u8::is_ascii_hexdigit)
                && !rest.is_empty()
                && rest
                    .iter()
                    .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
        }
        _ => std::str::from_utf8(inside).is_ok_and(|text| text.parse::<Ipv6Addr>().is_ok()),
    }
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`, not empty.
fn is_reg_name(name: &[u8]) -> bool {
    // Every request has one: the common case, no %, takes one table look-up a byte.
    if !name.is_empty() && name.iter().all(|&b| REG_NAME_BYTES[usize::from(b)]) {
        return true;
    }
    let mut rest = name;
    while let Some((&b, after)) = rest.split_first() {
        rest = if b == b'%' {
            match after {
                [h, l, tail @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => tail,
                _ => return false,
            }
        } else if is_unreserved(b) || is_sub_delim(b) {
            after
        } else {
            return false;
        };
    }
    !name.is_empty()
}

/// The bytes a reg-name holds as they are: unreserved and sub-delims.
const REG_NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        #[expect(clippy::cast_possible_truncation, reason = "b < 256")]
        let byte = b as u8;
        table[b] = is_unreserved(byte) || is_sub_delim(byte);
        b += 1;
    }
    table
};

const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// A request hyper could not parse, as far as it can be read: the status
/// of its refusal, and what the access log and the metrics say about it.
pub struct Unparsed {
    /// The method, if the request line has a valid one; else `-`.
    pub method: Method,
    /// The target's path, if it is a valid one of at most
    /// [`MAX_TARGET_BYTES`]; else `-`.
    pub path: String,
    pub status: StatusCode,
}

impl Unparsed {
    /// The request hyper refused with `err`; `buffered` is what it had read
    /// and not consumed.
    pub fn read(buffered: &[u8], err: &hyper::Error) -> Self {
        // hyper tells these apart only in its messages. It finds them once
        // it has taken the head out of its buffer, so the head is gone.
        match err.to_string().as_str() {
            // RFC 9112 section 6.1: the last coding is not chunked, so
            // another is there, and we implement no other. (Section 6.3
            // asks 400 where chunked is there but not last; hyper does not
            // say which, and nginx answers 501 to both.)
            "invalid transfer-encoding parsed" => Self::unread(StatusCode::NOT_IMPLEMENTED),
            // Transfer-Encoding in HTTP/1.0 (section 6.1), or a bad or
            // ambiguous Content-Length (section 6.3).
            "unexpected transfer-encoding parsed" | "invalid content-length parsed" => {
                Self::unread(StatusCode::BAD_REQUEST)
            }
            _ => Self::from_head(buffered, err.is_parse_too_large()),
        }
    }

    fn unread(status: StatusCode) -> Self {
        Self {
            method: unknown_method(),
            path: "-".to_owned(),
            status,
        }
    }

    /// A request head hyper could not parse (`head`, from its first byte);
    /// `too_large` says it filled hyper's buffer.
    fn from_head(head: &[u8], too_large: bool) -> Self {
        let line_end = head.iter().position(|&b| b == b'\n');
        let line = head[..line_end.unwrap_or(head.len())].trim_ascii_end();
        let mut words = line.split(|&b| b == b' ');
        let (method, target, version) = (words.next(), words.next(), words.next());
        let method = method
            .and_then(|m| Method::from_bytes(m).ok())
            .unwrap_or_else(unknown_method);
        let path = target
            .filter(|t| t.len() <= MAX_TARGET_BYTES)
            .and_then(|t| Uri::try_from(t).ok())
            .map_or_else(|| "-".to_owned(), |uri| uri.path().to_owned());
        let status = match (line_end, version.and_then(major_version)) {
            // RFC 9110 section 15.6.6: a major version we do not speak.
            (Some(_), Some(major)) if major != b'1' => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            // The head filled the buffer before its request line ended, or
            // its request line alone is over the limit.
            (None, _) if too_large => StatusCode::URI_TOO_LONG,
            _ if too_large && line.len() > MAX_TARGET_BYTES => StatusCode::URI_TOO_LONG,
            // RFC 6585 section 5: the header lines are too large.
            _ if too_large => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            method,
            path,
            status,
        }
    }
}

/// The method logged when the request line has none that can be read.
fn unknown_method() -> Method {
    Method::from_bytes(b"-").expect("`-` is a valid method token")
}

/// The major version digit of `HTTP/x.y` (RFC 9112 section 2.3).
fn major_version(version: &[u8]) -> Option<u8> {
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some(*major)
        }
        _ => None,
    }
}

/// The one-line body of a refusal with `status`.
pub fn body(status: StatusCode) -> &'static str {
    match status {
        StatusCode::URI_TOO_LONG => "uri too long\n",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request header fields too large\n",
        StatusCode::NOT_IMPLEMENTED => "transfer coding not implemented\n",
        StatusCode::HTTP_VERSION_NOT_SUPPORTED => "http version not supported\n",
        _ => "bad request\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        map
    }

    fn checked(version: Version, target: &str, lines: &[(&str, &str)]) -> Option<u16> {
        check(version, &target.parse().unwrap(), &headers(lines)).map(|s| s.as_u16())
    }

    #[test]
    fn http_1_1_needs_exactly_one_valid_host() {
        let v11 = Version::HTTP_11;
        assert_eq!(checked(v11, "/", &[("host", "x")]), None);
        assert_eq!(checked(v11, "/", &[]), Some(400));
        assert_eq!(
            checked(v11, "/", &[("host", "x"), ("host", "x")]),
            Some(400)
        );
        assert_eq!(checked(v11, "/", &[("host", "a b")]), Some(400));
        // HTTP/1.0 may leave it out, but not send two or a bad one.
        let v10 = Version::HTTP_10;
        assert_eq!(checked(v10, "/", &[]), None);
        assert_eq!(
            checked(v10, "/", &[("host", "a"), ("host", "b")]),
            Some(400)
        );
        assert_eq!(checked(v10, "/", &[("host", "a/b")]), Some(400));
    }

    #[test]
    fn host_is_uri_host_and_an_optional_port() {
        for valid in [
            "example.com",
            "example.com:8080",
            "example.com:",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[2001:db8::7]",
            "[v1.fe80::a+en1]",
            "xn--80ak6aa92e.com",
            "a%20b",
            "under_score~!$&'()*+,;=",
        ] {
            assert!(is_authority(valid.as_bytes()), "{valid}");
        }
        for invalid in [
            "",
            ":80",
            "a b",
            "a/b",
            "user@example.com",
            "example.com:80a",
            "example.com:80:80",
            "[::1",
            "[::1]x",
            "[::g]",
            "::1",
            "[v1.]",
            "a%2",
            "a%zz",
            "a\"b",
            "é",
        ] {
            assert!(!is_authority(invalid.as_bytes()), "{invalid}");
        }
    }

    #[test]
    fn a_target_over_the_limit_is_414() {
        let long = format!("/?{}", "a".repeat(MAX_TARGET_BYTES));
        assert_eq!(
            checked(Version::HTTP_11, &long, &[("host", "x")]),
            Some(414)
        );
        let fits = &long[..MAX_TARGET_BYTES];
        assert_eq!(checked(Version::HTTP_11, fits, &[("host", "x")]), None);
    }

    #[test]
    fn codings_other_than_chunked_are_501() {
        let te = |value| {
            checked(
                Version::HTTP_11,
                "/",
                &[("host", "x"), ("transfer-encoding", value)],
            )
        };
        assert_eq!(te("chunked"), None);
        assert_eq!(te("Chunked"), None);
        assert_eq!(te("gzip, chunked"), Some(501));
        assert_eq!(te("chunked, chunked"), Some(400));
    }

    fn unparsed(head: &str, too_large: bool) -> (String, String, u16) {
        let u = Unparsed::from_head(head.as_bytes(), too_large);
        (u.method.to_string(), u.path, u.status.as_u16())
    }

    #[test]
    fn a_head_hyper_could_not_parse_gets_the_status_that_says_why() {
        let long = format!("GET /{} HTTP/1.1", "a".repeat(20_000));
        assert_eq!(
            unparsed(&long[..16_384], true),
            ("GET".into(), "-".into(), 414)
        );
        assert_eq!(unparsed(&format!("{long}\r\nHost: x\r\n"), true).2, 414);
        let big_header = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(16_384));
        assert_eq!(unparsed(&big_header, true), ("GET".into(), "/".into(), 431));
        for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9"] {
            let head = format!("GET /healthz {version}\r\nHost: x\r\n\r\n");
            assert_eq!(
                unparsed(&head, false),
                ("GET".into(), "/healthz".into(), 505),
                "{version}"
            );
        }
        assert_eq!(unparsed("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false).2, 505);
        for garbage in [
            "GET / HTTP/1.2\r\n\r\n",
            "\x01\x02",
            "GET /a\x01b HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(unparsed(garbage, false).2, 400, "{garbage:?}");
        }
        assert_eq!(
            unparsed("\x01 /a\x01b", false),
            ("-".into(), "-".into(), 400)
        );
    }

    #[test]
    fn every_refusal_has_a_one_line_body() {
        for status in [400, 414, 431, 501, 505] {
            let body = body(StatusCode::from_u16(status).unwrap());
            assert!(
                body.ends_with('\n') && body.lines().count() == 1,
                "{status}"
            );
        }
    }
}
