//! The HTTP/1.1 front end (RFC 9112): a connection's request loop
//! ([`connection`]) over its socket and read buffer ([`socket`]); the
//! request head ([`request`]); the request body, chunked or not, read in
//! one place ([`body`], [`chunked`]); and the response, its head
//! ([`head`]) and body framing ([`framing`]) written by [`writer`].
//! [`client`] puts the body and the writer behind the interface the
//! layers below see ([`crate::client::Client`]).

pub mod body;
pub mod chunked;
pub mod client;
pub mod connection;
pub mod framing;
pub mod head;
pub mod request;
pub mod socket;
pub mod writer;

use std::time::Duration;

use crate::front::BodyLimits;

/// The protocol version a client spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// Bounds on what an HTTP client controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus header fields, in bytes.
    pub head_bytes: usize,
    /// Number of request header fields.
    pub head_fields: usize,
    /// Request-target length, in bytes.
    pub target_bytes: usize,
    /// The whole request head, from its first byte.
    pub header_timeout: Duration,
    /// Waiting for the next request on a kept-alive connection, and any
    /// stall of a client mid-request (body bytes, or reading the response).
    pub idle_timeout: Duration,
    /// The request body.
    pub body: BodyLimits,
}

impl Default for Limits {
    /// The defaults of the command line.
    fn default() -> Self {
        Limits {
            head_bytes: 64 * 1024,
            head_fields: 100,
            target_bytes: 8 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            body: BodyLimits::default(),
        }
    }
}
