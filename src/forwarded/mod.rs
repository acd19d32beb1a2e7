//! What a trusted proxy says of the request it passes on, turned into
//! the request's [`Origin`] (the client's address and port, https, the
//! host and port it asked for) and, with `--remote-user-header`, its
//! [`User`]. Protocol-neutral: it reads header fields only, so any front
//! end that has them can use it.
//!
//! Only a peer that `--trusted-proxy` names is heard; from any other, the
//! headers change nothing (they still reach scripts as `HTTP_*`), except
//! the remote user header, which is removed from every request so that
//! no client can pose as a user to a script that reads it.
//!
//! One form of headers is read, the one the operator names
//! (`--proxy-headers`): `X-Forwarded-For`/`-Proto`/`-Host`/`-Port` (what
//! nginx, Caddy and HAProxy send by default) or RFC 7239's `Forwarded`.
//! Reading both would let a client slip in the form its proxy does not
//! set and passes on unchanged.
//!
//! The client is the right-most address in the chain that is not a
//! trusted proxy: every hop right of it was added by a trusted proxy, so
//! nothing a client wrote can pose as one. Of `X-Forwarded-Proto`,
//! `-Host` and `-Port`, the right-most value counts (the one the nearest
//! proxy set); in `Forwarded`, the element the outermost trusted proxy
//! added. Malformed values are ignored and reported, for the front end to
//! log once per connection.

pub mod parse;

use std::net::IpAddr;

use crate::cidr::Cidr;
use crate::client::{Origin, Request, User};
use crate::fields;
use parse::{Element, Node};

/// Which proxies are heard, in which form, and the user header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `--trusted-proxy CIDR`.
    pub trusted: Vec<Cidr>,
    /// `--trusted-proxy unix`: a peer on a Unix socket (no address).
    pub trust_unix: bool,
    /// `--proxy-headers`.
    pub form: Form,
    /// `--remote-user-header NAME`.
    pub user_header: Option<String>,
}

/// The headers a trusted proxy's word is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    /// `X-Forwarded-For`, `-Proto`, `-Host`, `-Port`.
    #[default]
    XForwarded,
    /// `Forwarded` (RFC 7239).
    Forwarded,
}

impl Settings {
    /// True if the peer (None: a Unix socket) is a trusted proxy.
    fn trusts(&self, peer: Option<IpAddr>) -> bool {
        match peer {
            Some(ip) => self.trusts_ip(ip),
            None => self.trust_unix,
        }
    }

    fn trusts_ip(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }
}

/// What the proxy said of one request, before it is applied.
#[derive(Debug, Default, PartialEq, Eq)]
struct Said {
    client: Option<(IpAddr, Option<u16>)>,
    proto: Option<String>,
    host: Option<String>,
    port: Option<u16>,
}

/// Sets `req.origin` (and `req.user`) from what the peer says, if it is
/// trusted; removes the user header. Returns what was malformed, if
/// anything (ignored).
pub fn apply(s: &Settings, peer: Option<IpAddr>, req: &mut Request) -> Option<String> {
    let trusted = s.trusts(peer);
    let mut bad = None;
    if let Some(name) = &s.user_header {
        match take_user(name, &mut req.headers) {
            Ok(Some(user)) if trusted => req.user = Some(user),
            Ok(_) => {}
            Err(e) if trusted => bad = Some(e),
            Err(_) => {}
        }
    }
    if !trusted {
        return bad;
    }
    let said = match s.form {
        Form::XForwarded => x_forwarded(s, &req.headers),
        Form::Forwarded => forwarded(s, &req.headers),
    };
    let (said, problem) = match said {
        Ok(said) => (said, None),
        Err((said, problem)) => (said, Some(problem)),
    };
    req.origin = origin(said);
    bad.or(problem)
}

/// Removes every `name` field; the user it names, if exactly one
/// non-empty value was sent.
fn take_user(name: &str, headers: &mut Vec<(String, Vec<u8>)>) -> Result<Option<User>, String> {
    let values: Vec<Vec<u8>> = fields::values(headers, name).map(<[u8]>::to_vec).collect();
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    let value = match values.as_slice() {
        [] => return Ok(None),
        [one] => one,
        _ => return Err(format!("{name}: sent {} times", values.len())),
    };
    let text = std::str::from_utf8(value).map(str::trim);
    match text {
        Ok(user) if !user.is_empty() && !user.chars().any(char::is_control) => Ok(Some(User {
            name: user.to_string(),
            auth_type: None,
        })),
        _ => Err(format!("{name}: not a user name")),
    }
}

/// What is said, or what could be said with the problem found.
type Reading = Result<Said, (Said, String)>;

/// From `X-Forwarded-For`, `-Proto`, `-Host` and `-Port`.
fn x_forwarded(s: &Settings, headers: &[(String, Vec<u8>)]) -> Reading {
    let mut problem = None;
    let chain = list(headers, "X-Forwarded-For");
    let nodes: Vec<Option<Node>> = chain.iter().map(|n| parse::node(n)).collect();
    let (client, bad) = client_of(s, &nodes);
    if let Some(i) = bad {
        problem = Some(format!("X-Forwarded-For: {:?} is not an address", chain[i]));
    }
    let said = Said {
        client,
        proto: last(
            headers,
            "X-Forwarded-Proto",
            |p| parse::scheme(p).map(String::from),
            &mut problem,
        ),
        host: last(
            headers,
            "X-Forwarded-Host",
            |h| parse::host(h).map(String::from),
            &mut problem,
        ),
        port: last(headers, "X-Forwarded-Port", parse::port, &mut problem),
    };
    match problem {
        None => Ok(said),
        Some(p) => Err((said, p)),
    }
}

/// The comma-separated items of every `name` field, in order.
fn list(headers: &[(String, Vec<u8>)], name: &str) -> Vec<String> {
    let mut items = Vec::new();
    for value in fields::values(headers, name) {
        let text = String::from_utf8_lossy(value);
        items.extend(text.split(',').map(|item| item.trim().to_string()));
    }
    items
}

/// The right-most item of `name`, as `check` reads it; one it cannot
/// read is noted in `problem` (unless one is already) and ignored.
fn last<T>(
    headers: &[(String, Vec<u8>)],
    name: &str,
    check: fn(&str) -> Option<T>,
    problem: &mut Option<String>,
) -> Option<T> {
    let value = list(headers, name).pop()?;
    let read = check(&value);
    if read.is_none() {
        problem.get_or_insert_with(|| format!("{name}: {value:?} ignored"));
    }
    read
}

/// The client of a chain of nodes (left to right; the peer comes after
/// the last): the right-most node that is not a trusted proxy, or the
/// left-most if all are. Where a node gives no address (`unknown`), or
/// is malformed (None; its index is returned too), the walk stops and
/// the nearest address right of it, if any, is the client.
fn client_of(
    s: &Settings,
    nodes: &[Option<Node>],
) -> (Option<(IpAddr, Option<u16>)>, Option<usize>) {
    let mut known = None;
    for (i, node) in nodes.iter().enumerate().rev() {
        match node {
            Some(Node::Ip(ip, port)) => {
                known = Some((*ip, *port));
                if !s.trusts_ip(*ip) {
                    break;
                }
            }
            Some(Node::Hidden) => break,
            None => return (known, Some(i)),
        }
    }
    (known, None)
}

/// From `Forwarded`: the element the outermost trusted proxy added.
fn forwarded(s: &Settings, headers: &[(String, Vec<u8>)]) -> Reading {
    let elements = match parse::forwarded(fields::values(headers, "forwarded")) {
        Ok(elements) => elements,
        Err(e) => return Err((Said::default(), e)),
    };
    let Some(edge) = outermost(s, &elements) else {
        return Ok(Said::default());
    };
    // An element without `for=` hides its client as `unknown` does.
    let nodes: Vec<Option<Node>> = elements
        .iter()
        .map(|e| Some(e.by_for.unwrap_or(Node::Hidden)))
        .collect();
    let e = &elements[edge];
    Ok(Said {
        client: client_of(s, &nodes).0,
        proto: e.proto.clone(),
        host: e.host.clone(),
        port: None,
    })
}

/// The index of the element the outermost trusted proxy added: walking
/// left from the last one (the peer's) for as long as the element names
/// a trusted proxy as the one it came from.
fn outermost(s: &Settings, elements: &[Element]) -> Option<usize> {
    let mut edge = elements.len().checked_sub(1)?;
    while edge > 0 {
        match elements[edge].by_for {
            Some(Node::Ip(ip, _)) if s.trusts_ip(ip) => edge -= 1,
            _ => break,
        }
    }
    Some(edge)
}

/// The request's origin from what was said: the server's port is the one
/// named, else the host's, else the scheme's default when a scheme or a
/// host was named.
fn origin(said: Said) -> Origin {
    let https = said.proto.as_deref() == Some("https");
    let host_port = said.host.as_deref().and_then(parse::host_port);
    let default_port =
        (said.proto.is_some() || said.host.is_some()).then_some(if https { 443 } else { 80 });
    Origin {
        client: said.client,
        https,
        server_name: said
            .host
            .as_deref()
            .map(|h| parse::host_name(h).to_string()),
        server_port: said.port.or(host_port).or(default_port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(trusted: &[&str], form: Form) -> Settings {
        Settings {
            trusted: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            trust_unix: false,
            form,
            user_header: Some("X-Remote-User".into()),
        }
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            target: "/".into(),
            path: "/".into(),
            query: None,
            protocol: "HTTP/1.1",
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            host: Some("internal:8000".into()),
            local: Some("127.0.0.1:8000".parse().unwrap()),
            peer: Some("10.0.0.1:5000".parse().unwrap()),
            origin: Origin::default(),
            user: None,
        }
    }

    /// The origin, and the problem, of `headers` from peer 10.0.0.1.
    fn heard(s: &Settings, headers: &[(&str, &str)]) -> (Origin, Option<String>, Request) {
        let mut req = request(headers);
        let bad = apply(s, Some("10.0.0.1".parse().unwrap()), &mut req);
        (req.origin.clone(), bad, req)
    }

    fn client(ip: &str, port: Option<u16>) -> Option<(IpAddr, Option<u16>)> {
        Some((ip.parse().unwrap(), port))
    }

    #[test]
    fn x_forwarded_from_a_trusted_peer() {
        let s = settings(&["10.0.0.0/8"], Form::XForwarded);
        let (o, bad, _) = heard(
            &s,
            &[
                ("X-Forwarded-For", "198.51.100.7, 203.0.113.9, 10.2.3.4"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "www.example.org"),
            ],
        );
        assert_eq!(bad, None);
        // The right-most untrusted address; what is left of it is the
        // client's to write.
        assert_eq!(o.client, client("203.0.113.9", None));
        assert!(o.https);
        assert_eq!(o.server_name.as_deref(), Some("www.example.org"));
        assert_eq!(o.server_port, Some(443));
        // A port, IPv6, a chain of trusted proxies only, fields repeated.
        let (o, _, _) = heard(
            &s,
            &[
                ("X-Forwarded-For", "10.9.9.9"),
                ("x-forwarded-for", "10.8.8.8"),
                ("X-Forwarded-Host", "ex.org:8443"),
                ("X-Forwarded-Proto", "http, https"),
            ],
        );
        assert_eq!(o.client, client("10.9.9.9", None));
        assert_eq!((o.https, o.server_port), (true, Some(8443)));
        let (o, _, _) = heard(
            &s,
            &[
                ("X-Forwarded-For", "[2001:db8::7]:4711"),
                ("X-Forwarded-Port", "8080"),
            ],
        );
        assert_eq!(o.client, client("2001:db8::7", Some(4711)));
        assert_eq!(
            (o.https, o.server_name, o.server_port),
            (false, None, Some(8080))
        );
        let (o, _, _) = heard(&s, &[("X-Forwarded-For", "2001:db8::8")]);
        assert_eq!(o.client, client("2001:db8::8", None));
        assert_eq!(o.server_port, None, "nothing said of the server");
    }

    #[test]
    fn garbage_is_ignored_and_reported() {
        let s = settings(&["10.0.0.0/8"], Form::XForwarded);
        let (o, bad, _) = heard(&s, &[("X-Forwarded-For", "not an address")]);
        assert_eq!(o, Origin::default());
        assert!(bad.unwrap().contains("X-Forwarded-For"));
        // The walk stops at garbage: the nearest address right of it.
        let (o, bad, _) = heard(&s, &[("X-Forwarded-For", "1.2.3.4, <script>, 10.1.1.1")]);
        assert_eq!(o.client, client("10.1.1.1", None));
        assert!(bad.is_some());
        let (o, bad, _) = heard(
            &s,
            &[
                ("X-Forwarded-For", "192.0.2.1"),
                ("X-Forwarded-Proto", "gopher"),
                ("X-Forwarded-Host", "a b"),
                ("X-Forwarded-Port", "99999"),
            ],
        );
        assert_eq!(o.client, client("192.0.2.1", None));
        assert_eq!((o.https, o.server_name, o.server_port), (false, None, None));
        assert!(bad.unwrap().contains("X-Forwarded-Proto"));
        let (o, bad, _) = heard(&s, &[("X-Forwarded-For", "unknown")]);
        assert_eq!((o, bad), (Origin::default(), None));
    }

    #[test]
    fn an_untrusted_peer_changes_nothing_but_loses_the_user_header() {
        let s = settings(&["10.9.0.0/16"], Form::XForwarded);
        let (o, bad, req) = heard(
            &s,
            &[
                ("X-Forwarded-For", "192.0.2.1"),
                ("X-Forwarded-Proto", "https"),
                ("X-Remote-User", "admin"),
            ],
        );
        assert_eq!((o, bad), (Origin::default(), None));
        assert_eq!(req.user, None);
        assert_eq!(req.headers.len(), 2, "the user header is gone");
        assert!(req.header("x-forwarded-for").is_some(), "the rest stays");
    }

    #[test]
    fn the_user_header_from_a_trusted_peer() {
        let s = settings(&["10.0.0.1"], Form::XForwarded);
        let (_, bad, req) = heard(&s, &[("x-remote-user", " ada ")]);
        assert_eq!(bad, None);
        let user = req.user.unwrap();
        assert_eq!((user.name.as_str(), user.auth_type), ("ada", None));
        assert!(req.headers.is_empty());
        let (_, bad, req) = heard(&s, &[("X-Remote-User", "a"), ("X-Remote-User", "b")]);
        assert!(bad.is_some() && req.user.is_none());
        let (_, bad, req) = heard(&s, &[("X-Remote-User", "")]);
        assert!(bad.is_some() && req.user.is_none());
    }

    #[test]
    fn forwarded_from_a_trusted_peer() {
        let s = settings(&["10.0.0.0/8"], Form::Forwarded);
        let (o, bad, _) = heard(
            &s,
            &[(
                "Forwarded",
                "for=198.51.100.1;proto=http, for=\"[2001:db8:cafe::17]:4711\";proto=https;host=www.example.org, for=10.1.2.3;proto=http",
            )],
        );
        assert_eq!(bad, None);
        assert_eq!(o.client, client("2001:db8:cafe::17", Some(4711)));
        // The element the outermost trusted proxy (10.1.2.3) added.
        assert!(o.https);
        assert_eq!(o.server_name.as_deref(), Some("www.example.org"));
        assert_eq!(o.server_port, Some(443));
        // X-Forwarded-* are not heard in this form (and the reverse).
        let (o, _, _) = heard(&s, &[("X-Forwarded-For", "192.0.2.1")]);
        assert_eq!(o, Origin::default());
        let xf = settings(&["10.0.0.0/8"], Form::XForwarded);
        let (o, _, _) = heard(&xf, &[("Forwarded", "for=192.0.2.1")]);
        assert_eq!(o, Origin::default());
        // unknown, and garbage.
        let (o, bad, _) = heard(&s, &[("Forwarded", "for=unknown;proto=https")]);
        assert_eq!((o.client, o.https, bad), (None, true, None));
        let (o, bad, _) = heard(&s, &[("Forwarded", "for=192.0.2.1;proto=https;;=")]);
        assert_eq!(o, Origin::default());
        assert!(bad.unwrap().starts_with("Forwarded"));
    }

    #[test]
    fn unix_peers_are_trusted_only_when_asked() {
        let mut s = settings(&["10.0.0.0/8"], Form::XForwarded);
        let mut req = request(&[("X-Forwarded-For", "192.0.2.1")]);
        apply(&s, None, &mut req);
        assert_eq!(req.origin, Origin::default());
        s.trust_unix = true;
        apply(&s, None, &mut req);
        assert_eq!(req.origin.client, client("192.0.2.1", None));
    }
}
