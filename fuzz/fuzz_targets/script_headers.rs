//! The parser of a script's CGI header block, fed whatever a script
//! could print: it must not panic, must find the same end of block
//! however the output arrives, and must accept nothing that would put a
//! control character, a bad name or rcgi's own framing fields on the wire.
#![no_main]

#[path = "../../tests/parsers/mod.rs"]
mod parsers;

use libfuzzer_sys::fuzz_target;
use parsers::{check_accepted_block, in_steps};
use rcgi::cgi::header_block::{find_end, parse};

fuzz_target!(|data: &[u8]| {
    let end = find_end(data, 0);
    if let Some((block, body)) = end {
        assert!(block < body && body <= data.len());
        assert_eq!(data[body - 1], b'\n');
    }
    assert_eq!(in_steps(data, data.len() % 13 + 1, find_end), end);
    if data.len() <= 512 {
        assert_eq!(in_steps(data, 1, find_end), end);
    }

    let block = &data[..end.map_or(data.len(), |(b, _)| b)];
    if let Ok(head) = parse(block) {
        check_accepted_block(&head);
    }
});
