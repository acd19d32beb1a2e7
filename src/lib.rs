//! rcgi: a fork-per-request CGI/1.1 host (RFC 3875).
//!
//! The path of a request runs one way, down this list: [`server`] binds
//! the listener and accepts each connection; a protocol front end
//! ([`front::http`]) turns the connection into requests and hands each
//! to [`dispatch`] with the client's side of it ([`client::Client`]: the
//! body and the response sink); dispatch serves a static file
//! ([`static_files`]), or routes the path to a script ([`route`],
//! [`walk`]) and runs it with the CGI engine ([`cgi`]), or answers with
//! one of rcgi's own pages ([`reply`], and the status pages,
//! [`status_page`]). Below them: the leaves ([`status`], [`fields`],
//! [`gate`], [`drain`], [`io`], [`log`], [`date`], [`stats`],
//! [`peer_set`]).

pub mod auth;
pub mod cgi;
pub mod cidr;
pub mod cli;
pub mod client;
pub mod date;
pub mod dispatch;
pub mod drain;
pub mod fields;
pub mod forwarded;
pub mod front;
pub mod gate;
pub mod html;
pub mod inspector;
pub mod io;
pub mod listing;
pub mod log;
pub mod peer_set;
pub mod record;
pub mod reply;
pub mod route;
pub mod server;
pub mod static_files;
pub mod stats;
pub mod status;
pub mod status_page;
pub mod walk;

/// `SERVER_SOFTWARE` and the `Server` header.
pub const SOFTWARE: &str = concat!("rcgi/", env!("CARGO_PKG_VERSION"));
