//! The sockets rcgi listens on: bound at start, before anything else can
//! fail, so that a busy address is a clear error at once.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;

/// Binds the TCP listener for `addr`.
pub fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))
}

/// `127.0.0.1:8000` or `[::1]:8000`, as it goes in a URL.
pub fn url_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}
