//! Checks and drivers of rcgi's parsers of untrusted bytes, shared by the
//! property tests (`tests/properties.rs`) and the fuzz targets
//! (`fuzz/fuzz_targets/`, which include this file by path): what must
//! hold of anything a parser accepts, and how the server feeds them bytes
//! as they arrive.
#![allow(dead_code)]

pub mod body;
pub mod fastcgi;

use rcgi::cgi::header_block::ScriptHead;
use rcgi::front::http::Limits;
use rcgi::front::http::Version;
use rcgi::front::http::chunked::{Decoder, Next};
use rcgi::front::http::request::{BodyFraming, Request};

/// RFC 9110 token characters.
pub const TCHAR: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn is_tchar(b: u8) -> bool {
    TCHAR.contains(&b)
}

/// Searches for the end of a block the way the server does while bytes
/// arrive: at each cut, only the part not scanned before (less two
/// bytes, as a CRLF may straddle the cut) is searched again.
pub fn incremental<T>(
    input: &[u8],
    cuts: &[usize],
    find: impl Fn(&[u8], usize) -> Option<T>,
) -> Option<T> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    points.dedup();
    let mut scanned = 0;
    for p in points {
        if let Some(found) = find(&input[..p], scanned) {
            return Some(found);
        }
        scanned = p.saturating_sub(2);
    }
    None
}

/// [`incremental`] with the bytes arriving `step` at a time.
pub fn in_steps<T>(
    input: &[u8],
    step: usize,
    find: impl Fn(&[u8], usize) -> Option<T>,
) -> Option<T> {
    let cuts: Vec<usize> = (step.max(1)..input.len()).step_by(step.max(1)).collect();
    incremental(input, &cuts, find)
}

/// Statuses a request head may be refused with.
pub const HEAD_STATUSES: [u16; 6] = [400, 414, 417, 431, 501, 505];

/// What must hold of any head the parser accepts.
pub fn check_accepted_head(req: &Request, limits: &Limits) {
    assert!(
        !req.method.is_empty() && req.method.bytes().all(is_tchar),
        "method {:?} is not a token",
        req.method
    );
    assert!(req.target.len() <= limits.target_bytes);
    assert!(
        req.path.starts_with('/') || (req.path == "*" && req.method == "OPTIONS"),
        "path {:?} for {}",
        req.path,
        req.method
    );
    assert!(req.headers.len() <= limits.head_fields);
    for (name, value) in &req.headers {
        assert!(
            !name.is_empty() && name.bytes().all(is_tchar),
            "field name {name:?} is not a token"
        );
        assert!(
            value.iter().all(|&b| is_field_text(b)),
            "control character in the value of {name}: {value:?}"
        );
    }
    let has = |name: &str| req.header(name).is_some();
    if req.version == Version::Http11 {
        assert!(has("host"), "HTTP/1.1 without Host");
    }
    match req.body {
        BodyFraming::None => assert!(!has("transfer-encoding")),
        BodyFraming::Length(_) => assert!(has("content-length") && !has("transfer-encoding")),
        BodyFraming::Chunked => {
            assert!(has("transfer-encoding") && !has("content-length"));
            assert_eq!(req.version, Version::Http11, "chunked body before HTTP/1.1");
        }
    }
    if req.expect_continue {
        assert_eq!(req.version, Version::Http11, "100-continue before HTTP/1.1");
    }
}

/// How decoding a whole input ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The body is complete after `used` bytes of input.
    Done { body: Vec<u8>, used: usize },
    /// The framing was refused, after this much body.
    Refused { reason: &'static str, body: Vec<u8> },
    /// The input ended before the body did.
    Short { body: Vec<u8> },
}

/// Drives a decoder over `input` the way the server does: bytes arrive
/// in pieces of the sizes in `arrivals` (taken in turn), and each time
/// the decoder offers data the caller takes at most the next of `takes`
/// (as a pipe to a script may accept only part). Checks on the way that
/// the decoder never offers more than it was given.
pub fn decode(input: &[u8], arrivals: &[usize], takes: &[usize]) -> Decoded {
    let mut decoder = Decoder::default();
    let mut arrivals = arrivals.iter().cycle();
    let mut takes = takes.iter().cycle();
    let mut body = Vec::new();
    let (mut pos, mut avail) = (0, 0);
    loop {
        let window = &input[pos..avail];
        let (used, next) = match decoder.advance(window) {
            Ok(step) => step,
            Err(e) => {
                assert_eq!(e.status, 400);
                return Decoded::Refused {
                    reason: e.reason,
                    body,
                };
            }
        };
        assert!(used <= window.len(), "used {used} of {}", window.len());
        pos += used;
        match next {
            Next::Data(n) => {
                assert!(
                    n >= 1 && n <= avail - pos,
                    "offers {n}, has {}",
                    avail - pos
                );
                let take = takes.next().map_or(n, |&t| t.clamp(1, n));
                body.extend_from_slice(&input[pos..pos + take]);
                decoder.took(take);
                pos += take;
            }
            Next::More => {
                assert_eq!(pos, avail, "More with input left");
                assert!(!decoder.is_done());
                if avail == input.len() {
                    return Decoded::Short { body };
                }
                let step = arrivals.next().map_or(input.len(), |&a| a.max(1));
                avail = (avail + step).min(input.len());
            }
            Next::Done => {
                assert!(decoder.is_done());
                // The last chunk and the empty line alone take 5 bytes.
                assert!(body.len() + 5 <= pos, "{} body bytes in {pos}", body.len());
                return Decoded::Done { body, used: pos };
            }
        }
    }
}

pub fn is_field_text(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// What must hold of any block the parser accepts: nothing in it could
/// break the response head rcgi writes from it.
pub fn check_accepted_block(head: &ScriptHead) {
    for (name, value) in &head.fields {
        assert!(
            !name.is_empty() && name.bytes().all(is_tchar),
            "field name {name:?} is not a token"
        );
        assert!(
            value.iter().all(|&b| is_field_text(b)),
            "control character in the value of {name}: {value:?}"
        );
        assert_eq!(value.trim_ascii(), &value[..], "untrimmed value of {name}");
        let lower = name.to_ascii_lowercase();
        assert!(
            !matches!(
                lower.as_str(),
                "status"
                    | "content-length"
                    | "connection"
                    | "keep-alive"
                    | "transfer-encoding"
                    | "te"
                    | "upgrade"
            ),
            "{name} passed on"
        );
    }
    if let Some((code, reason)) = &head.status {
        assert!((200..=599).contains(code), "status {code}");
        assert!(reason.bytes().all(is_field_text), "reason {reason:?}");
    }
    if let Some(location) = &head.location {
        assert!(!location.is_empty() && location.iter().all(|&b| is_field_text(b)));
    }
}
