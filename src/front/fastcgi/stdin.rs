//! A request body as FastCGI brings it: the `STDIN` stream, one record's
//! content at a time, ended by an empty record. It is counted with
//! checked arithmetic against `--max-body` and against the
//! `CONTENT_LENGTH` the web server sent, and timed like an HTTP body
//! ([`BodyClock`]: `--body-timeout`, then `--body-min-rate`).

use std::time::Instant;

use crate::front::BodyLimits;
use crate::front::body_clock::Meter;
#[cfg(test)]
use crate::front::body_clock::TOO_LARGE;
use crate::status::Refusal;

const LONGER: Refusal = Refusal::new(400, "STDIN longer than CONTENT_LENGTH");
const SHORTER: Refusal = Refusal::new(400, "STDIN shorter than CONTENT_LENGTH");

pub struct StdinStream {
    /// `CONTENT_LENGTH`, if the web server sent one.
    declared: Option<u64>,
    /// Body bytes received so far, against the bound, and the clock.
    meter: Meter,
    /// The last record's content; `pending[at..]` not passed on yet.
    pending: Vec<u8>,
    at: usize,
    /// The empty record that ends the stream has arrived.
    ended: bool,
}

impl StdinStream {
    pub fn new(declared: Option<u64>, limits: BodyLimits) -> StdinStream {
        StdinStream {
            declared,
            meter: Meter::new(limits),
            pending: Vec::new(),
            at: 0,
            ended: false,
        }
    }

    pub fn declared(&self) -> Option<u64> {
        self.declared
    }

    /// Refuses a declared length over the bound, before anything is read.
    pub fn check_declared(&self) -> Result<(), Refusal> {
        self.meter.check_declared(self.declared)
    }

    /// Starts the clock: the body is wanted from now on.
    pub fn begin(&mut self) {
        self.meter.begin();
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.meter.deadline()
    }

    /// The stream's end has arrived (bytes may still wait).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The whole body has arrived: the stream's end, or all the bytes
    /// `CONTENT_LENGTH` announced (the empty record that ends the stream
    /// is only framing then).
    pub fn arrived(&self) -> bool {
        self.ended || self.declared == Some(self.meter.taken())
    }

    /// The whole body has arrived and been passed on.
    pub fn complete(&self) -> bool {
        self.ended && self.waiting().is_empty()
    }

    /// Bytes received and not passed on yet.
    pub fn waiting(&self) -> &[u8] {
        &self.pending[self.at..]
    }

    /// `n` of the waiting bytes were passed on.
    pub fn advance(&mut self, n: usize) {
        self.at = (self.at + n).min(self.pending.len());
        self.meter.resume();
    }

    /// The script takes nothing now: the clock stops until it does.
    pub fn pause(&mut self) {
        self.meter.pause();
    }

    /// One record's content; empty at the stream's end. Only once what
    /// waits has been passed on.
    pub fn push(&mut self, data: Vec<u8>) -> Result<(), Refusal> {
        debug_assert!(self.waiting().is_empty());
        if self.ended {
            // Records after the end are no body: dropped.
            return Ok(());
        }
        if data.is_empty() {
            self.ended = true;
            return match self.declared {
                Some(n) if n != self.meter.taken() => Err(SHORTER),
                _ => Ok(()),
            };
        }
        let len = data.len() as u64;
        let taken = self.meter.after(len)?;
        if self.declared.is_some_and(|n| taken > n) {
            return Err(LONGER);
        }
        self.meter.add(len)?;
        self.pending = data;
        self.at = 0;
        Ok(())
    }

    /// Nobody will read the rest: drops what waits.
    pub fn discard(&mut self) {
        self.pending.clear();
        self.at = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: u64) -> BodyLimits {
        BodyLimits {
            max,
            ..BodyLimits::default()
        }
    }

    #[test]
    fn counts_against_content_length_and_the_bound() {
        let mut s = StdinStream::new(Some(5), limits(100));
        s.push(b"abc".to_vec()).unwrap();
        assert_eq!(s.waiting(), b"abc");
        s.advance(3);
        assert_eq!(s.push(b"def".to_vec()), Err(LONGER));
        let mut s = StdinStream::new(Some(5), limits(100));
        s.push(b"abc".to_vec()).unwrap();
        s.advance(3);
        assert_eq!(s.push(Vec::new()), Err(SHORTER));
        let mut s = StdinStream::new(None, limits(4));
        assert_eq!(s.push(b"abcde".to_vec()), Err(TOO_LARGE));
        let mut s = StdinStream::new(None, limits(4));
        s.push(b"ab".to_vec()).unwrap();
        s.advance(2);
        s.push(Vec::new()).unwrap();
        assert!(s.complete());
    }

    #[test]
    fn declared_over_the_bound_is_refused_early() {
        assert_eq!(
            StdinStream::new(Some(10), limits(5)).check_declared(),
            Err(TOO_LARGE)
        );
        assert!(
            StdinStream::new(Some(5), limits(5))
                .check_declared()
                .is_ok()
        );
    }
}
