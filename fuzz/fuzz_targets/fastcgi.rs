//! The FastCGI record and name-value parsers, fed whatever a web server
//! could send: no panic, no record past its bounds or the bytes given,
//! and pairs that round-trip.
#![no_main]

#[path = "../../tests/parsers/mod.rs"]
mod parsers;

use libfuzzer_sys::fuzz_target;
use parsers::fastcgi::{check_pairs, check_records};

fuzz_target!(|data: &[u8]| {
    let (contents, _) = check_records(data);
    for content in contents {
        check_pairs(&content);
    }
    check_pairs(data);
});
