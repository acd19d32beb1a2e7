//! The chunked body decoder, fed whatever a client could send: it must
//! not panic, never offer more body bytes than it was given, never
//! consume more than it was given, and reach the same outcome whether
//! the bytes come at once, one by one, or in odd pieces taken in part.
#![no_main]

#[path = "../../tests/parsers/mod.rs"]
mod parsers;

use libfuzzer_sys::fuzz_target;
use parsers::decode;

fuzz_target!(|data: &[u8]| {
    let whole = decode(data, &[data.len()], &[usize::MAX]);
    assert_eq!(decode(data, &[1], &[1]), whole);
    assert_eq!(
        decode(data, &[data.len() % 11 + 2], &[data.len() % 5 + 1]),
        whole
    );
});
