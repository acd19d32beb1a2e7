//! An accepted connection, TCP or Unix: its socket's descriptor,
//! non-blocking, and for TCP the two addresses. Everything a front end
//! does with a connection (recv, send, splice, sendfile, poll, shutdown)
//! works on the descriptor alike, so one socket type carries both kinds.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{Shutdown, shutdown};

/// The IP address a client on a Unix socket stands for where an
/// address is needed (REMOTE_ADDR, the access log): it is on this
/// machine.
pub const UNIX_PEER_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub struct Stream {
    fd: OwnedFd,
    /// The address the client connected to; None on a Unix socket.
    pub local: Option<SocketAddr>,
    /// The client's address; None on a Unix socket.
    pub peer: Option<SocketAddr>,
}

impl Stream {
    /// An accepted TCP connection, made non-blocking, without Nagle's
    /// delay.
    pub fn tcp(stream: TcpStream) -> io::Result<Stream> {
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Stream {
            local: Some(unmap(stream.local_addr()?)),
            peer: Some(unmap(stream.peer_addr()?)),
            fd: stream.into(),
        })
    }

    /// An accepted Unix-socket connection, made non-blocking.
    pub fn unix(stream: UnixStream) -> io::Result<Stream> {
        stream.set_nonblocking(true)?;
        Ok(Stream {
            local: None,
            peer: None,
            fd: stream.into(),
        })
    }

    /// Stops sending: the client reads the end of the stream.
    pub fn shutdown_write(&self) -> io::Result<()> {
        Ok(shutdown(self.fd.as_raw_fd(), Shutdown::Write)?)
    }

    /// Names the client in log lines.
    pub fn peer_name(&self) -> PeerName {
        PeerName(self.peer)
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A client as log lines name it: its address, or `unix:` for a client
/// on a Unix socket.
#[derive(Debug, Clone, Copy)]
pub struct PeerName(pub Option<SocketAddr>);

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("unix:"),
        }
    }
}

/// An IPv4 client on a dual-stack socket is shown as IPv4, as the CGI
/// variables and the log expect.
fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_show_as_ipv4_and_unix_peers_by_name() {
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:80".parse().unwrap();
        assert_eq!(unmap(mapped), "10.1.2.3:80".parse().unwrap());
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(unmap(v6), v6);
        assert_eq!(PeerName(None).to_string(), "unix:");
        assert_eq!(PeerName(Some(v6)).to_string(), "[::1]:80");
    }

    #[test]
    fn a_unix_stream_has_no_addresses() {
        let (a, _b) = UnixStream::pair().unwrap();
        let s = Stream::unix(a).unwrap();
        assert!(s.local.is_none() && s.peer.is_none());
        s.shutdown_write().unwrap();
    }
}
