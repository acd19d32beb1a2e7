//! Telling systemd how the service goes (the `sd_notify` protocol): with
//! `NOTIFY_SOCKET` set (a unit of `Type=notify`), one datagram
//! `READY=1` once rcgi serves, and `STOPPING=1` when it begins to drain.
//! Without it, nothing is sent. A failed send is logged, never fatal.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use crate::log;

/// Where the states go, if anywhere.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`: a path, or `@name` for an abstract socket.
    pub fn from_env() -> Notifier {
        let Some(place) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier { target: None };
        };
        let place = place.to_string_lossy().into_owned();
        let target = address(&place)
            .and_then(|addr| Ok((UnixDatagram::unbound()?, addr)))
            .map_err(|e| log::warn(format_args!("NOTIFY_SOCKET={place}: {e}")))
            .ok();
        Notifier { target }
    }

    /// Sends `state` (`READY=1`, `STOPPING=1`).
    pub fn send(&self, state: &str) {
        if let Some((socket, addr)) = &self.target {
            if let Err(e) = socket.send_to_addr(state.as_bytes(), addr) {
                log::warn(format_args!("cannot tell systemd {state}: {e}"));
            }
        }
    }
}

fn address(place: &str) -> std::io::Result<SocketAddr> {
    match place.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(place),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some((
                UnixDatagram::unbound().unwrap(),
                address(path.to_str().unwrap()).unwrap(),
            )),
        };
        n.send("READY=1");
        let mut buf = [0u8; 64];
        let len = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
        assert!(address("@abstract").unwrap().as_abstract_name().is_some());
    }
}
