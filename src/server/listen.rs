//! The sockets rcgi listens on: what an address names (`HOST:PORT`,
//! `[V6]:PORT`, `unix:/path`), which front end serves a socket, and
//! binding them at start, before anything else can fail, so that a busy
//! address is a clear error at once. A socket is either bound here or
//! handed over by systemd ([`super::activation`]); either way it becomes
//! a [`Listener`], which accepts connections of its kind as one
//! [`Stream`] type.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use anyhow::Context;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6, SockaddrLike,
    SockaddrStorage, bind, listen, setsockopt, socket, sockopt,
};

use super::unix_socket::{self, OwnedPath};
use crate::io::stream::Stream;

/// How many connections may wait to be accepted: as many as the system
/// allows (`net.core.somaxconn` caps it).
const BACKLOG: Backlog = Backlog::MAXCONN;

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp(SocketAddr),
    /// A Unix socket at this path.
    Unix(PathBuf),
}

impl Address {
    /// `127.0.0.1:8000`, `[::1]:8000`, `unix:/run/rcgi.sock`.
    pub fn parse(s: &str) -> Result<Address, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!("{s:?}: a Unix socket path must be absolute"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        s.parse()
            .map(Address::Tcp)
            .map_err(|_| format!("{s:?}: an address is IP:PORT, [IPV6]:PORT or unix:/path/to.sock"))
    }
}

/// The protocol a socket speaks: which front end serves its
/// connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Http,
    /// FastCGI (`--fastcgi`, or a socket systemd names `fastcgi`).
    FastCgi,
}

impl Front {
    /// The front end for a socket systemd passed under `name`
    /// (`FileDescriptorName=` in the socket unit): `fastcgi` is FastCGI,
    /// any other name HTTP.
    pub fn named(name: &str) -> Result<Front, String> {
        match name {
            "fastcgi" => Ok(Front::FastCgi),
            _ => Ok(Front::Http),
        }
    }
}

/// How rcgi makes the sockets it binds itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// SO_REUSEPORT on TCP sockets, so another instance can bind the same
    /// address beside this one (`--reuse-port`).
    pub reuse_port: bool,
    pub unix: unix_socket::Settings,
}

enum Kind {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A listening socket, non-blocking, and the front end serving it.
pub struct Listener {
    kind: Kind,
    pub front: Front,
    /// The Unix socket's file, when rcgi made it (removed when closed).
    _path: Option<OwnedPath>,
}

impl Listener {
    /// A listening socket handed over (by systemd), as its family says.
    pub fn adopt(fd: OwnedFd, front: Front) -> anyhow::Result<Listener> {
        let addr: SockaddrStorage = nix::sys::socket::getsockname(fd.as_raw_fd())
            .context("not a socket (getsockname failed)")?;
        let kind = match addr.family() {
            Some(AddressFamily::Inet | AddressFamily::Inet6) => Kind::Tcp(TcpListener::from(fd)),
            Some(AddressFamily::Unix) => Kind::Unix(UnixListener::from(fd)),
            other => anyhow::bail!("a socket of family {other:?}: only TCP and Unix"),
        };
        let listener = Listener {
            kind,
            front,
            _path: None,
        };
        listener.set_nonblocking()?;
        Ok(listener)
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        match &self.kind {
            Kind::Tcp(l) => l.set_nonblocking(true),
            Kind::Unix(l) => l.set_nonblocking(true),
        }
    }

    /// Takes a waiting connection, without waiting (WouldBlock if none).
    pub fn accept(&self) -> io::Result<Stream> {
        match &self.kind {
            Kind::Tcp(l) => Stream::tcp(l.accept()?.0),
            Kind::Unix(l) => Stream::unix(l.accept()?.0),
        }
    }

    /// Where it listens, as the start-up line names it.
    pub fn place(&self) -> Place {
        match &self.kind {
            Kind::Tcp(l) => l.local_addr().map_or(Place::Unknown, Place::Tcp),
            Kind::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(PathBuf::from))
                .map_or(Place::Unknown, Place::Unix),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.kind {
            Kind::Tcp(l) => l.as_fd(),
            Kind::Unix(l) => l.as_fd(),
        }
    }
}

/// Where a listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Tcp(SocketAddr),
    Unix(PathBuf),
    /// An unnamed (or abstract) Unix socket.
    Unknown,
}

impl fmt::Display for Place {
    /// `http://127.0.0.1:8000`, `http://[::1]:8000`, `unix:/run/rcgi.sock`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Tcp(SocketAddr::V4(a)) => write!(f, "http://{a}"),
            Place::Tcp(SocketAddr::V6(a)) => write!(f, "http://[{}]:{}", a.ip(), a.port()),
            Place::Unix(path) => write!(f, "unix:{}", path.display()),
            Place::Unknown => f.write_str("unix:(unnamed)"),
        }
    }
}

/// Binds a listener for each address, in order, served by `front`.
pub fn bind_all(
    addresses: &[Address],
    front: Front,
    settings: &Settings,
) -> anyhow::Result<Vec<Listener>> {
    addresses
        .iter()
        .map(|a| {
            bind_one(a, front, settings).with_context(|| format!("cannot listen on {}", shown(a)))
        })
        .collect()
}

fn shown(address: &Address) -> String {
    match address {
        Address::Tcp(a) => a.to_string(),
        Address::Unix(p) => format!("unix:{}", p.display()),
    }
}

fn bind_one(address: &Address, front: Front, settings: &Settings) -> anyhow::Result<Listener> {
    let (kind, path) = match address {
        Address::Tcp(addr) => (Kind::Tcp(bind_tcp(*addr, settings.reuse_port)?), None),
        Address::Unix(path) => {
            let (fd, owned) = unix_socket::bind_at(path, &settings.unix)?;
            listen(&fd, BACKLOG)?;
            (Kind::Unix(UnixListener::from(fd)), Some(owned))
        }
    };
    let listener = Listener {
        kind,
        front,
        _path: path,
    };
    listener.set_nonblocking()?;
    Ok(listener)
}

/// A TCP socket listening on `addr` (SO_REUSEADDR, as std sets it, and
/// SO_REUSEPORT if asked). An IPv6 `::` also takes IPv4 clients where
/// the system's default does.
fn bind_tcp(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if reuse_port {
        setsockopt(&fd, sockopt::ReusePort, &true)?;
    }
    match addr {
        SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?,
    }
    listen(&fd, BACKLOG)?;
    Ok(TcpListener::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            Address::parse("127.0.0.1:80"),
            Ok(Address::Tcp("127.0.0.1:80".parse().unwrap()))
        );
        assert_eq!(
            Address::parse("[::1]:8080"),
            Ok(Address::Tcp("[::1]:8080".parse().unwrap()))
        );
        assert_eq!(
            Address::parse("unix:/run/rcgi.sock"),
            Ok(Address::Unix("/run/rcgi.sock".into()))
        );
        for bad in ["unix:rel.sock", "localhost", "::1:80", "1.2.3.4", "unix:"] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn places_show_as_urls() {
        let v6 = Place::Tcp("[::1]:81".parse().unwrap());
        assert_eq!(v6.to_string(), "http://[::1]:81");
        assert_eq!(Place::Unix("/a.sock".into()).to_string(), "unix:/a.sock");
    }

    #[test]
    fn a_socket_named_fastcgi_speaks_fastcgi() {
        assert_eq!(Front::named("http"), Ok(Front::Http));
        assert_eq!(Front::named("rcgi.socket"), Ok(Front::Http));
        assert_eq!(Front::named("fastcgi"), Ok(Front::FastCgi));
    }

    #[test]
    fn reuse_port_binds_beside() {
        let first = bind_tcp("127.0.0.1:0".parse().unwrap(), true).unwrap();
        let addr = first.local_addr().unwrap();
        let second = bind_tcp(addr, true).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        assert!(bind_tcp(addr, false).is_err());
    }
}
