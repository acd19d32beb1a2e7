//! HTTP/1.1 on one connection (RFC 9112): the buffered socket, the request
//! head, request bodies (chunked decoding, spooling, draining), and
//! response writing.

pub mod chunked;
pub mod conn;
pub mod framing;
pub mod relay;
pub mod request;
pub mod response;
pub mod spool;

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

/// A request rcgi refuses, with the status that says why and a short
/// reason for the error page and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub reason: &'static str,
}

impl HttpError {
    pub const fn new(status: u16, reason: &'static str) -> Self {
        HttpError { status, reason }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}
