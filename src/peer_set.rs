//! A set of clients named on the command line (`--status-allow`, in the
//! grammar of `--trusted-proxy`): IP networks ([`Cidr`]), and the
//! clients on Unix sockets, which have no IP address.

use std::net::IpAddr;

use crate::cidr::Cidr;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSet {
    nets: Vec<Cidr>,
    unix: bool,
}

impl PeerSet {
    /// The clients in `nets`, and on Unix sockets if `unix`.
    pub fn new(nets: Vec<Cidr>, unix: bool) -> PeerSet {
        PeerSet { nets, unix }
    }

    /// The machine itself: loopback (127.0.0.0/8, ::1) and Unix sockets.
    pub fn local() -> PeerSet {
        let loopback = ["127.0.0.0/8", "::1"].map(|n| n.parse().expect("a valid network"));
        PeerSet {
            nets: loopback.to_vec(),
            unix: true,
        }
    }

    /// True if the client at `ip` (None: on a Unix socket) is in the set.
    pub fn contains(&self, ip: Option<IpAddr>) -> bool {
        match ip {
            Some(ip) => self.nets.iter().any(|net| net.contains(ip)),
            None => self.unix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn networks_and_unix() {
        let set = PeerSet::new(vec!["10.1.0.0/16".parse().unwrap()], false);
        assert!(set.contains(ip("10.1.200.3")) && !set.contains(ip("10.2.0.1")));
        assert!(
            set.contains(ip("::ffff:10.1.0.9")),
            "a mapped address is IPv4"
        );
        assert!(!set.contains(None));
        assert!(PeerSet::new(Vec::new(), true).contains(None));
    }

    #[test]
    fn local_is_loopback_and_unix() {
        let local = PeerSet::local();
        assert!(local.contains(ip("127.0.0.1")) && local.contains(ip("127.9.9.9")));
        assert!(local.contains(ip("::1")) && local.contains(None));
        assert!(!local.contains(ip("192.0.2.1")));
    }
}
