//! The request head parser, fed whatever a client could send: it must
//! not panic, must find the same end of head however the bytes arrive,
//! and must not accept a head it would be unsafe to act on.
#![no_main]

#[path = "../../tests/parsers/mod.rs"]
mod parsers;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use parsers::{HEAD_STATUSES, check_accepted_head, in_steps};
use rcgi::front::http::Limits;
use rcgi::front::http::request::{find_head_end, parse_head};

static LIMITS: LazyLock<Limits> = LazyLock::new(Limits::default);

fuzz_target!(|data: &[u8]| {
    let end = find_head_end(data, 0);
    if let Some(end) = end {
        assert!(end <= data.len());
        assert_eq!(data[end - 1], b'\n');
    }
    assert_eq!(in_steps(data, data.len() % 13 + 1, find_head_end), end);
    if data.len() <= 512 {
        assert_eq!(in_steps(data, 1, find_head_end), end);
    }

    let head = &data[..end.unwrap_or(data.len())];
    match parse_head(head, &LIMITS) {
        Ok(req) => {
            assert!(end.is_some(), "accepted a head without its empty line");
            check_accepted_head(&req, &LIMITS);
        }
        Err(e) => assert!(HEAD_STATUSES.contains(&e.status), "refused with {e}"),
    }
});
