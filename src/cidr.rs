//! IP networks as an operator writes them (`10.0.0.0/8`, `fd00::/8`, or
//! a single address, `127.0.0.1` or `::1`), and whether an address is in
//! one. An IPv4 address written as IPv6 (`::ffff:10.1.2.3`) is matched as
//! the IPv4 address it is.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network: an address and how many leading bits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    /// True if `ip` is in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmapped(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The first `bits` bits of `a` and `b` are the same.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let whole = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[whole] & mask) == (b[whole] & mask)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let bad = || format!("{s:?} is not an IP address or network (like 10.0.0.0/8 or ::1)");
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr = unmapped(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
                b.parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(bad)?
            }
            Some(_) => return Err(bad()),
        };
        let net = Cidr { addr, bits };
        if !host_bits_clear(net) {
            return Err(format!("{s:?}: the address has bits set past /{bits}"));
        }
        Ok(net)
    }
}

/// No bit is set past the prefix: `10.1.0.0/8` is a typo more often
/// than not, so it is refused.
fn host_bits_clear(net: Cidr) -> bool {
    let octets = match net.addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    octets.iter().enumerate().all(|(i, &byte)| {
        let kept = usize::from(net.bits).saturating_sub(i * 8).min(8);
        let mask = if kept == 0 { 0 } else { 0xffu8 << (8 - kept) };
        byte & !mask == 0
    })
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses() {
        let ten: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(ten.contains(ip("10.255.0.1")));
        assert!(ten.contains(ip("::ffff:10.1.2.3")));
        assert!(!ten.contains(ip("11.0.0.1")));
        assert!(!ten.contains(ip("::1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::3")) && !v6.contains(ip("fe80::1")));
        let odd: Cidr = "192.168.0.0/23".parse().unwrap();
        assert!(odd.contains(ip("192.168.1.200")) && !odd.contains(ip("192.168.2.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("2001:db8::1")));
        assert!("::/0".parse::<Cidr>().unwrap().contains(ip("2001:db8::1")));
        assert_eq!(ten.to_string(), "10.0.0.0/8");
    }

    #[test]
    fn bad_networks_are_refused() {
        for s in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10/8",
            "x",
            "10.0.0.0/+8",
            "10.1.0.0/8",
            "fd00::1/8",
            "10.0.0.0/8/8",
            "[::1]",
        ] {
            assert!(s.parse::<Cidr>().is_err(), "{s}");
        }
    }
}
