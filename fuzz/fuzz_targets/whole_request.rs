//! A whole request: the head parsed within limits the input chooses, then
//! its body, framed as the head says, read by rcgi's body reader over a
//! real loopback connection in pieces the input chooses, against a
//! `--max-body` the input chooses. The reader must never hand a script
//! more than the bound, must agree with the plain chunked decoder on what
//! the body is, and must leave what follows the body for the next request.
#![no_main]

#[path = "../../tests/parsers/mod.rs"]
mod parsers;

use libfuzzer_sys::fuzz_target;
use parsers::body::stream;
use parsers::{Decoded, check_accepted_head, decode};
use rcgi::front::BodyLimits;
use rcgi::front::http::Limits;
use rcgi::front::http::request::{BodyFraming, find_head_end, parse_head};

fuzz_target!(|data: &[u8]| {
    let [max_shift, head_shift, rest @ ..] = data else {
        return;
    };
    let limits = Limits {
        head_bytes: 1 << (6 + head_shift % 11),
        ..Limits::default()
    };
    let body_limits = BodyLimits {
        max: 1 << (max_shift % 24),
        min_rate: 0,
        ..BodyLimits::default()
    };
    let Some(end) = find_head_end(rest, 0) else {
        return;
    };
    let Ok(req) = parse_head(&rest[..end], &limits) else {
        return;
    };
    check_accepted_head(&req, &limits);
    let body = &rest[end..];
    // Cut points taken from the body itself, so the input chooses them.
    let cuts: Vec<usize> = body.iter().step_by(5).map(|&b| usize::from(b) * 7).collect();
    let streamed = stream(req.body, body_limits, body, &cuts);
    assert!(streamed.delivered.len() as u64 <= body_limits.max, "past the bound");
    match req.body {
        BodyFraming::None => assert!(streamed.delivered.is_empty()),
        BodyFraming::Length(n) => {
            assert!(streamed.delivered.len() as u64 <= n);
            if streamed.outcome.is_ok() {
                let n = n as usize;
                assert_eq!(streamed.delivered, &body[..n]);
                assert_eq!(streamed.after, &body[n..]);
            }
        }
        BodyFraming::Chunked => match decode(body, &[body.len()], &[usize::MAX]) {
            Decoded::Done { body: decoded, used } => {
                let fits = decoded.len() as u64 <= body_limits.max;
                assert_eq!(streamed.outcome.is_ok(), fits, "{:?}", streamed.outcome);
                if fits {
                    assert_eq!(streamed.delivered, decoded);
                    assert_eq!(streamed.after, &body[used..]);
                }
            }
            Decoded::Refused { .. } | Decoded::Short { .. } => {
                assert!(streamed.outcome.is_err(), "accepted what the decoder refuses");
            }
        },
    }
});
