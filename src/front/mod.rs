//! Protocol front ends: each turns a connection into requests, hands
//! each to [`crate::dispatch`] with its side of the exchange
//! ([`crate::client::Client`]), and writes the responses in its
//! protocol's framing: HTTP/1.1 ([`http`]) and FastCGI ([`fastcgi`]).
//! What both share lives here: the body bounds, the body's clock
//! ([`body_clock`]), the access log line ([`access`]) and the write of
//! body bytes into a script's stdin ([`give`]).

pub mod access;
pub mod body_clock;
pub mod fastcgi;
pub mod http;

use std::io::{self, Write};
use std::process::ChildStdin;
use std::time::Duration;

/// Bounds on a request body, whatever protocol frames it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Most body bytes (after removing any transfer coding).
    pub max: u64,
    /// Time the body has before [`BodyLimits::min_rate`] applies.
    pub timeout: Duration,
    /// Bytes per second the body must keep arriving at after the first
    /// `timeout` (each byte buys `1/min_rate` s more); 0 for no rate.
    pub min_rate: u64,
}

impl Default for BodyLimits {
    /// The defaults of the command line (and of Apache's mod_reqtimeout:
    /// `body=20,MinRate=500`).
    fn default() -> Self {
        BodyLimits {
            max: 1 << 30,
            timeout: Duration::from_secs(20),
            min_rate: 500,
        }
    }
}

/// Writes into the script's stdin what it takes now: how many bytes
/// (all of them, dropped, if it has closed it); None when it is full.
pub fn give(stdin: &mut Option<ChildStdin>, data: &[u8]) -> Option<usize> {
    let Some(pipe) = stdin.as_mut() else {
        return Some(data.len());
    };
    match pipe.write(data) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Some(0),
        // The script closed its stdin or exited: the rest of the body is
        // read and dropped.
        Err(_) => {
            *stdin = None;
            Some(data.len())
        }
    }
}
