//! The chunked body decoder, fed whatever a client could send: it must
//! not panic, never offer more body bytes than it was given, never
//! consume more than it was given, and reach the same outcome whether
//! the bytes come at once, one by one, or in odd pieces taken in part.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rcgi::http::chunked::{Decoder, Next};

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done { body: Vec<u8>, used: usize },
    Refused { reason: &'static str, body: Vec<u8> },
    Short { body: Vec<u8> },
}

/// Decodes `input` arriving `step` bytes at a time, taking at most
/// `take` bytes of each offer of data.
fn decode(input: &[u8], step: usize, take: usize) -> Outcome {
    let mut d = Decoder::default();
    let mut body = Vec::new();
    let (mut pos, mut avail) = (0, 0);
    loop {
        let window = &input[pos..avail];
        let (used, next) = match d.advance(window) {
            Ok(v) => v,
            Err(e) => {
                assert_eq!(e.status, 400);
                return Outcome::Refused {
                    reason: e.reason,
                    body,
                };
            }
        };
        assert!(used <= window.len());
        pos += used;
        match next {
            Next::Data(n) => {
                assert!(n >= 1 && n <= avail - pos, "offered {n} of {}", avail - pos);
                let k = n.min(take);
                body.extend_from_slice(&input[pos..pos + k]);
                d.took(k);
                pos += k;
            }
            Next::More => {
                assert_eq!(pos, avail);
                if avail == input.len() {
                    return Outcome::Short { body };
                }
                avail = (avail + step).min(input.len());
            }
            Next::Done => {
                assert!(d.is_done());
                assert!(body.len() + 5 <= pos, "{} body bytes in {pos}", body.len());
                return Outcome::Done { body, used: pos };
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(data, data.len().max(1), usize::MAX);
    assert_eq!(decode(data, 1, 1), whole);
    assert_eq!(decode(data, data.len() % 11 + 2, data.len() % 5 + 1), whole);
});
