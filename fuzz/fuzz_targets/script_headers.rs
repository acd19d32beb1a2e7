//! The parser of a script's CGI header block, fed whatever a script
//! could print: it must not panic, must find the same end of block
//! however the output arrives, and must accept nothing that would put a
//! control character, a bad name or rcgi's own framing fields on the wire.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rcgi::cgi::headers::{find_end, parse};

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// The end found by searching again as each `step` bytes arrive, as
/// rcgi does while a script writes.
fn end_in_steps(data: &[u8], step: usize) -> Option<(usize, usize)> {
    let mut scanned = 0;
    let mut have = 0;
    loop {
        have = (have + step).min(data.len());
        if let Some(end) = find_end(&data[..have], scanned) {
            return Some(end);
        }
        if have == data.len() {
            return None;
        }
        scanned = have.saturating_sub(2);
    }
}

fuzz_target!(|data: &[u8]| {
    let end = find_end(data, 0);
    if let Some((block, body)) = end {
        assert!(block < body && body <= data.len());
        assert_eq!(data[body - 1], b'\n');
    }
    assert_eq!(end_in_steps(data, data.len() % 13 + 1), end);
    if data.len() <= 512 {
        assert_eq!(end_in_steps(data, 1), end);
    }

    let block = &data[..end.map_or(data.len(), |(b, _)| b)];
    let Ok(head) = parse(block) else {
        return;
    };
    for (name, value) in &head.fields {
        assert!(
            !name.is_empty() && name.bytes().all(is_tchar),
            "name {name:?}"
        );
        assert!(
            value.iter().all(|&b| is_text(b)),
            "value of {name}: {value:?}"
        );
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
        assert!((200..=599).contains(code));
        assert!(reason.bytes().all(is_text));
    }
    if let Some(location) = &head.location {
        assert!(!location.is_empty() && location.iter().all(|&b| is_text(b)));
    }
});
