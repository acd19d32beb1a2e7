//! The request head parser, fed whatever a client could send: it must
//! not panic, must find the same end of head however the bytes arrive,
//! and must not accept a head it would be unsafe to act on.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rcgi::cli::Limits;
use rcgi::http::Version;
use rcgi::http::request::{BodyFraming, find_head_end, parse_head};

static LIMITS: LazyLock<Limits> = LazyLock::new(Limits::default);

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The end of head found by searching again as each `step` bytes arrive,
/// from where the last search stopped (less two bytes), as the server does.
fn head_end_in_steps(data: &[u8], step: usize) -> Option<usize> {
    let mut scanned = 0;
    let mut have = 0;
    loop {
        have = (have + step).min(data.len());
        if let Some(end) = find_head_end(&data[..have], scanned) {
            return Some(end);
        }
        if have == data.len() {
            return None;
        }
        scanned = have.saturating_sub(2);
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = &*LIMITS;
    let end = find_head_end(data, 0);
    if let Some(end) = end {
        assert!(end <= data.len());
        assert_eq!(data[end - 1], b'\n');
    }
    assert_eq!(head_end_in_steps(data, data.len() % 13 + 1), end);
    if data.len() <= 512 {
        assert_eq!(head_end_in_steps(data, 1), end);
    }

    let head = &data[..end.unwrap_or(data.len())];
    let req = match parse_head(head, limits) {
        Ok(req) => req,
        Err(e) => {
            assert!(
                matches!(e.status, 400 | 414 | 417 | 431 | 501 | 505),
                "refused with {e}"
            );
            return;
        }
    };
    assert!(end.is_some(), "accepted a head without its empty line");
    assert!(!req.method.is_empty() && req.method.bytes().all(is_tchar));
    assert!(req.target.len() <= limits.target_bytes);
    assert!(req.path.starts_with('/') || (req.path == "*" && req.method == "OPTIONS"));
    assert!(req.headers.len() <= limits.head_fields);
    for (name, value) in &req.headers {
        assert!(
            !name.is_empty() && name.bytes().all(is_tchar),
            "name {name:?}"
        );
        assert!(
            value
                .iter()
                .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
            "control character in {name}: {value:?}"
        );
    }
    let has = |n: &str| req.header(n).is_some();
    if req.version == Version::Http11 {
        assert!(has("host"));
    }
    match req.body {
        BodyFraming::None => assert!(!has("transfer-encoding")),
        BodyFraming::Length(_) => assert!(has("content-length") && !has("transfer-encoding")),
        BodyFraming::Chunked => {
            assert!(has("transfer-encoding") && !has("content-length"));
            assert_eq!(req.version, Version::Http11);
        }
    }
    if req.expect_continue {
        assert_eq!(req.version, Version::Http11);
    }
});
