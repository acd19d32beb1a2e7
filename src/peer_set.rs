//! A set of clients named on the command line (`--status-allow`): IP
//! networks in CIDR form (`10.0.0.0/8`, `::1/128`, or a bare address for
//! one host), and `unix` for clients on a Unix socket, which have no IP
//! address.

use std::net::IpAddr;

use ipnet::IpNet;

/// The word that names Unix-socket clients.
pub const UNIX: &str = "unix";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSet {
    nets: Vec<IpNet>,
    unix: bool,
}

/// One entry: a network, or the Unix-socket clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peers {
    Net(IpNet),
    Unix,
}

impl Peers {
    /// `10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`, `::1`, `unix`.
    pub fn parse(s: &str) -> Result<Peers, String> {
        if s == UNIX {
            return Ok(Peers::Unix);
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Peers::Net(IpNet::from(ip)));
        }
        s.parse::<IpNet>()
            .map(|net| Peers::Net(net.trunc()))
            .map_err(|_| {
                format!("{s:?}: a network is ADDRESS/BITS (10.0.0.0/8), an address, or unix")
            })
    }
}

impl PeerSet {
    pub fn new(entries: &[Peers]) -> PeerSet {
        let mut set = PeerSet::default();
        for entry in entries {
            match entry {
                Peers::Net(net) => set.nets.push(*net),
                Peers::Unix => set.unix = true,
            }
        }
        set
    }

    /// The machine itself: loopback (127.0.0.0/8, ::1) and Unix sockets.
    pub fn local() -> PeerSet {
        let loopback = ["127.0.0.0/8", "::1/128"].map(|n| n.parse().expect("a valid network"));
        PeerSet {
            nets: loopback.to_vec(),
            unix: true,
        }
    }

    /// True if the client at `ip` (None: on a Unix socket) is in the set.
    /// An IPv4 address mapped into IPv6 counts as the IPv4 one.
    pub fn contains(&self, ip: Option<IpAddr>) -> bool {
        match ip.map(|ip| ip.to_canonical()) {
            Some(ip) => self.nets.iter().any(|net| net.contains(&ip)),
            None => self.unix,
        }
    }

    /// The entries as the command line would name them.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.nets.iter().map(ToString::to_string).collect();
        if self.unix {
            names.push(UNIX.to_string());
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn networks_addresses_and_unix() {
        let set = PeerSet::new(&[
            Peers::parse("10.1.0.0/16").unwrap(),
            Peers::parse("2001:db8::7").unwrap(),
            Peers::parse("192.168.1.77/24").unwrap(),
        ]);
        assert!(set.contains(ip("10.1.200.3")));
        assert!(!set.contains(ip("10.2.0.1")));
        assert!(set.contains(ip("2001:db8::7")) && !set.contains(ip("2001:db8::8")));
        assert!(set.contains(ip("192.168.1.1")), "host bits are dropped");
        assert!(
            set.contains(ip("::ffff:10.1.0.9")),
            "a mapped address is IPv4"
        );
        assert!(!set.contains(None));
        assert_eq!(
            set.names(),
            ["10.1.0.0/16", "2001:db8::7/128", "192.168.1.0/24"]
        );
        assert!(PeerSet::new(&[Peers::Unix]).contains(None));
        for bad in ["10.0.0.0/33", "example.org", "unix:", ""] {
            assert!(Peers::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_is_loopback_and_unix() {
        let local = PeerSet::local();
        assert!(local.contains(ip("127.0.0.1")) && local.contains(ip("127.9.9.9")));
        assert!(local.contains(ip("::1")) && local.contains(None));
        assert!(!local.contains(ip("192.0.2.1")));
    }
}
