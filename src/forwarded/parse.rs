//! The syntax of what proxies say: the elements of a `Forwarded` header
//! (RFC 7239 section 4), the nodes of `for=` and `X-Forwarded-For`
//! (an address with an optional port, `unknown`, or an obfuscated name),
//! hosts (`example.org:8443`, `[2001:db8::1]`), schemes and ports. Every
//! parser answers None (or an error naming the value) for what it does
//! not accept; nothing here decides what to trust.

use std::net::{IpAddr, Ipv6Addr};

/// Longest host name accepted (RFC 1035's limit on a name).
const MAX_HOST: usize = 255;

/// Who a hop received the request from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// An address, with its port when given.
    Ip(IpAddr, Option<u16>),
    /// `unknown`, or an obfuscated identifier (`_hidden`): valid, but
    /// no address.
    Hidden,
}

/// One element of a `Forwarded` header: what one proxy saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub by_for: Option<Node>,
    pub proto: Option<String>,
    pub host: Option<String>,
}

/// A malformed value, in words for the log.
pub type Bad = String;

/// The elements of the `Forwarded` field values, left to right (several
/// fields make one list).
pub fn forwarded<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Vec<Element>, Bad> {
    let mut elements = Vec::new();
    for value in values {
        let text = std::str::from_utf8(value).map_err(|_| "Forwarded: not text".to_string())?;
        for element in split_outside_quotes(text, ',') {
            elements.push(element_of(element.trim())?);
        }
    }
    Ok(elements)
}

/// `for=192.0.2.60;proto=https;by=203.0.113.43`
fn element_of(text: &str) -> Result<Element, Bad> {
    let mut e = Element::default();
    for pair in split_outside_quotes(text, ';') {
        let pair = pair.trim();
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!("Forwarded: {pair:?} is not name=value"));
        };
        let value = unquote(value).ok_or_else(|| format!("Forwarded: bad value in {pair:?}"))?;
        let bad = || format!("Forwarded: bad {name} in {pair:?}");
        match name.to_ascii_lowercase().as_str() {
            "for" => e.by_for = Some(node(&value).ok_or_else(bad)?),
            "proto" => e.proto = Some(scheme(&value).ok_or_else(bad)?.to_string()),
            "host" => e.host = Some(host(&value).ok_or_else(bad)?.to_string()),
            // `by` and extensions say nothing rcgi uses.
            _ => {}
        }
    }
    Ok(e)
}

/// Splits at `sep` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token, or a quoted string without its quotes (and escapes).
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
        return plain.then(|| value.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// A node: `192.0.2.60`, `192.0.2.60:4711`, `2001:db8::1` (bare, as
/// X-Forwarded-For writes it), `[2001:db8::1]:4711`, `unknown`, `_hidden`.
pub fn node(text: &str) -> Option<Node> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unknown") || obfuscated(text) {
        return Some(Node::Hidden);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(Node::Ip(ip, None));
    }
    let (ip, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest.split_once(']')?;
            let ip = IpAddr::V6(ip.parse::<Ipv6Addr>().ok()?);
            match after {
                "" => return Some(Node::Ip(ip, None)),
                _ => (ip, after.strip_prefix(':')?),
            }
        }
        None => {
            let (ip, port) = text.rsplit_once(':')?;
            (IpAddr::V4(ip.parse().ok()?), port)
        }
    };
    if obfuscated(port) {
        return Some(Node::Ip(ip, None));
    }
    Some(Node::Ip(ip, Some(self::port(port)?)))
}

/// `_` followed by letters, digits, `.`, `_` or `-` (RFC 7239 6.3).
fn obfuscated(text: &str) -> bool {
    text.len() > 1
        && text.starts_with('_')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `http` or `https`, in any case, as the lower-case name.
pub fn scheme(text: &str) -> Option<&'static str> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("https") => Some("https"),
        t if t.eq_ignore_ascii_case("http") => Some("http"),
        _ => None,
    }
}

/// A port: 1 to 65535, digits only.
pub fn port(text: &str) -> Option<u16> {
    let text = text.trim();
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&p| p > 0)
}

/// A host as `Host` carries it: a name or an IPv4 address, or an IPv6
/// address in brackets, with an optional port.
pub fn host(text: &str) -> Option<&str> {
    let text = text.trim();
    let after = match text.strip_prefix('[') {
        Some(inner) => {
            let (ip, after) = inner.split_once(']')?;
            ip.parse::<Ipv6Addr>().ok()?;
            after
        }
        None => {
            let (name, after) = text.find(':').map_or((text, ""), |i| text.split_at(i));
            let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
            if name.is_empty() || name.len() > MAX_HOST || !name.bytes().all(plain) {
                return None;
            }
            after
        }
    };
    if !after.is_empty() {
        port(after.strip_prefix(':')?)?;
    }
    Some(text)
}

/// The name of a host without its port (`[::1]` keeps its brackets).
pub fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// The port of a host, if it names one.
pub fn host_port(host: &str) -> Option<u16> {
    let after = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.1,
        None => &host[host.find(':')?..],
    };
    port(after.strip_prefix(':')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nodes() {
        assert_eq!(node("192.0.2.60"), Some(Node::Ip(ip("192.0.2.60"), None)));
        assert_eq!(
            node(" 192.0.2.60:4711"),
            Some(Node::Ip(ip("192.0.2.60"), Some(4711)))
        );
        assert_eq!(node("2001:db8::1"), Some(Node::Ip(ip("2001:db8::1"), None)));
        assert_eq!(
            node("[2001:db8::1]"),
            Some(Node::Ip(ip("2001:db8::1"), None))
        );
        assert_eq!(
            node("[2001:db8::1]:80"),
            Some(Node::Ip(ip("2001:db8::1"), Some(80)))
        );
        assert_eq!(node("10.0.0.1:_p"), Some(Node::Ip(ip("10.0.0.1"), None)));
        assert_eq!(node("unknown"), Some(Node::Hidden));
        assert_eq!(node("_gazonk"), Some(Node::Hidden));
        for bad in [
            "",
            "_",
            "example.org",
            "1.2.3.4:0",
            "1.2.3.4:65536",
            "1.2.3.4:",
            "[::1",
            "[::1]x",
            "[1.2.3.4]",
            "1.2.3.4.5",
            "::1:80x",
            "_a b",
            "999.1.1.1",
        ] {
            assert_eq!(node(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hosts_schemes_ports() {
        assert_eq!(host("www.example.org"), Some("www.example.org"));
        assert_eq!(host("example.org:8443"), Some("example.org:8443"));
        assert_eq!(host("[::1]:8443"), Some("[::1]:8443"));
        for bad in [
            "",
            "a b",
            "ex.org:x",
            "ex.org:",
            "[::1",
            "[zz]",
            "a/b",
            "ex.org:1:2",
        ] {
            assert_eq!(host(bad), None, "{bad:?}");
        }
        assert_eq!(host(&"a".repeat(256)), None);
        assert_eq!(
            (host_name("ex.org:81"), host_port("ex.org:81")),
            ("ex.org", Some(81))
        );
        assert_eq!(
            (host_name("[::1]:81"), host_port("[::1]:81")),
            ("[::1]", Some(81))
        );
        assert_eq!((host_name("[::1]"), host_port("[::1]")), ("[::1]", None));
        assert_eq!(host_port("ex.org"), None);
        assert_eq!(scheme("HTTPS"), Some("https"));
        assert_eq!(scheme("ftp"), None);
        assert_eq!(port("443"), Some(443));
        assert_eq!(port("0443"), Some(443));
        assert_eq!(port("-1"), None);
        assert_eq!(port("99999"), None);
    }

    #[test]
    fn forwarded_elements() {
        let values: [&[u8]; 2] = [
            b"for=192.0.2.60;proto=https;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"",
            b"For=unknown;Host=\"ex.org:8443\"",
        ];
        let e = forwarded(values.into_iter()).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].by_for, Some(Node::Ip(ip("192.0.2.60"), None)));
        assert_eq!(e[0].proto.as_deref(), Some("https"));
        assert_eq!(
            e[1].by_for,
            Some(Node::Ip(ip("2001:db8:cafe::17"), Some(4711)))
        );
        assert_eq!(e[2].by_for, Some(Node::Hidden));
        assert_eq!(e[2].host.as_deref(), Some("ex.org:8443"));
        // A quoted comma does not split.
        let e = forwarded([b"for=_a;ext=\"x,y\"".as_slice()].into_iter()).unwrap();
        assert_eq!(e.len(), 1);
        for bad in [
            b"for".as_slice(),
            b"for=",
            b"for=\"1.2.3.4",
            b"for=1.2.3.4;proto=ftp",
            b"for=nonsense",
            b"for=1.2.3.4;host=a b",
            b"\xff",
        ] {
            assert!(
                forwarded([bad].into_iter()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
