//! Protocol front ends: each turns a connection into requests, hands
//! each to [`crate::dispatch`] with its side of the exchange
//! ([`crate::client::Client`]), and writes the responses in its
//! protocol's framing. HTTP/1.1 is the one there is.

pub mod body_clock;
pub mod http;

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
