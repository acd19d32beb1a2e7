//! The FastCGI front end (FastCGI 1.0, the responder role), for a web
//! server such as nginx that passes requests with `fastcgi_pass` (as to
//! fcgiwrap): a connection's loop ([`connection`]) over its socket
//! ([`conn`]); records ([`record`]) and what they mean ([`incoming`]);
//! name-value pairs ([`params`]); management records ([`management`]);
//! the params made a request ([`request`]); the `STDIN` stream as the
//! body ([`stdin`]); the response as `STDOUT` records ([`writer`]);
//! [`client`] puts them behind the interface the layers below see
//! ([`crate::client::Client`]). One request at a time per connection:
//! a second one is refused with `FCGI_CANT_MPX_CONN`.

pub mod client;
pub mod conn;
pub mod connection;
pub mod incoming;
pub mod management;
pub mod params;
pub mod record;
pub mod request;
pub mod stdin;
pub mod writer;

use std::time::Duration;

use crate::front::BodyLimits;

/// Bounds on what a web server controls over FastCGI (from the same
/// options as over HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's `PARAMS`, from its `BEGIN_REQUEST` (`--header-timeout`).
    pub params_timeout: Duration,
    /// Waiting for the next request, and any stall mid-request
    /// (`--idle-timeout`).
    pub idle_timeout: Duration,
    pub body: BodyLimits,
    /// `FCGI_MAX_CONNS` and `FCGI_MAX_REQS` (`--max-connections`).
    pub max_connections: usize,
}
