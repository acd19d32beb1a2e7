//! rcgi: a fork-per-request CGI/1.1 host (RFC 3875) over HTTP/1.1.
//!
//! The path of a request: [`server`] accepts a connection and hands it to
//! [`connection`], which reads each request with [`http::request`] and
//! gives it to [`serve`]; that maps the path to a script with [`route`]
//! and runs it with [`cgi::run`], whose exchange streams the response
//! out through [`http::framing`] and [`http::response`]. [`log`] writes
//! the access and error logs.

pub mod cgi;
pub mod cli;
pub mod clock;
pub mod connection;
pub mod files;
pub mod gate;
pub mod http;
pub mod log;
pub mod page;
pub mod route;
pub mod serve;
pub mod server;
pub mod shutdown;

/// `SERVER_SOFTWARE` and the `Server` header.
pub const SOFTWARE: &str = concat!("rcgi/", env!("CARGO_PKG_VERSION"));
