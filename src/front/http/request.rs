//! The request head: read it from the connection within its size and time
//! bounds, parse it with `httparse`, and decide what RFC 9112 says about
//! it: the target's parts, `Host`, keep-alive, `Expect`, and how the body
//! is framed. Anything ambiguous is refused with the status that says why.

use std::io;
use std::time::Instant;

use std::net::SocketAddr;

use super::socket::Socket;
use super::{Limits, Version};
use crate::client;
use crate::fields::{self, parse_length};
use crate::io::wait;
use crate::status::Refusal;

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request-target as received, e.g. `/cgi-bin/x?y=1`.
    pub target: String,
    /// The target's path, still percent-encoded (`*` for `OPTIONS *`).
    pub path: String,
    /// The raw query after `?`, if any.
    pub query: Option<String>,
    pub version: Version,
    /// Header fields in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: BodyFraming,
    /// Host from the absolute-form target or the `Host` field, checked.
    pub host: Option<String>,
    /// Whether the client asked to keep the connection open.
    pub keep_alive: bool,
    pub expect_continue: bool,
}

impl Request {
    /// The value of the first field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        fields::values(&self.headers, name).next()
    }

    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        fields::values(&self.headers, name)
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        fields::has_token(&self.headers, name, token)
    }

    /// The request as the layers below the front end see it, and what
    /// its HTTP framing says.
    pub fn into_parts(
        self,
        local: Option<SocketAddr>,
        peer: Option<SocketAddr>,
    ) -> (client::Request, Protocol) {
        let protocol = Protocol {
            version: self.version,
            body: self.body,
            keep_alive: self.keep_alive,
            expect_continue: self.expect_continue,
        };
        let req = client::Request {
            method: self.method,
            target: self.target,
            path: self.path,
            query: self.query,
            protocol: self.version.as_str(),
            headers: self.headers,
            host: self.host,
            local,
            peer,
            origin: client::Origin::default(),
            user: None,
        };
        (req, protocol)
    }
}

/// What a request's HTTP/1.1 framing says about its body and its
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    pub version: Version,
    pub body: BodyFraming,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

/// Why no request came.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection between requests.
    Closed,
    /// No request began within the idle timeout.
    Idle,
    /// The connection failed.
    Io(io::Error),
    /// A request that must be answered with an error status.
    Bad(Refusal),
}

impl From<Refusal> for ReadError {
    fn from(e: Refusal) -> Self {
        ReadError::Bad(e)
    }
}

/// Reads and parses the next request head, leaving any bytes after it
/// (the body, or a pipelined request) in the connection's buffer.
pub fn read(conn: &mut Socket, limits: &Limits) -> Result<Request, ReadError> {
    let head_len = read_head(conn, limits)?;
    let parsed = parse_head(&conn.buffered()[..head_len], limits);
    conn.consume(head_len);
    Ok(parsed?)
}

/// Waits until the buffer holds a whole head; returns its length. The
/// first byte may take the idle timeout; from then on the whole head must
/// come within the header timeout (so a slow trickle cannot hold a thread).
fn read_head(conn: &mut Socket, limits: &Limits) -> Result<usize, ReadError> {
    let mut deadline = (!conn.buffered().is_empty()).then(|| wait::after(limits.header_timeout));
    let mut scanned = 0;
    loop {
        let buf = conn.buffered();
        if let Some(end) = find_head_end(buf, scanned) {
            return Ok(end);
        }
        scanned = buf.len().saturating_sub(2);
        if buf.len() >= limits.head_bytes {
            return Err(too_large(buf, limits).into());
        }
        let wait = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => limits.idle_timeout,
        };
        if wait.is_zero() {
            return Err(timed_out(buf));
        }
        match conn.fill(limits.head_bytes - buf.len(), wait) {
            Ok(0) if conn.buffered().is_empty() => return Err(ReadError::Closed),
            Ok(0) => return Err(Refusal::new(400, "connection closed mid-request").into()),
            Ok(_) => {
                deadline.get_or_insert_with(|| wait::after(limits.header_timeout));
            }
            Err(e) if is_timeout(&e) => return Err(timed_out(conn.buffered())),
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

fn timed_out(buffered: &[u8]) -> ReadError {
    if buffered.iter().all(|b| b.is_ascii_whitespace()) {
        ReadError::Idle
    } else {
        ReadError::Bad(Refusal::new(408, "request head not received in time"))
    }
}

pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The length of the head if `buf` holds one: up to and including the
/// empty line (CRLF or bare LF). Leading empty lines are allowed
/// (RFC 9112 section 2.2), so an empty line only ends a head after a
/// request line.
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let body_start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let from = from.max(body_start);
    let mut i = from;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        let rest = &buf[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

fn too_large(buf: &[u8], limits: &Limits) -> Refusal {
    let first_line = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    if first_line > limits.target_bytes {
        Refusal::new(414, "request-target too long")
    } else {
        Refusal::new(431, "request header fields too large")
    }
}

/// Parses a complete head (as delimited by [`find_head_end`]): the
/// request line, the header fields, and what they mean together.
pub fn parse_head(head: &[u8], limits: &Limits) -> Result<Request, Refusal> {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.head_fields];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Refusal::new(400, "malformed request head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(431, "too many header fields"));
        }
        Err(httparse::Error::Version) => {
            return Err(Refusal::new(505, "HTTP version not supported"));
        }
        Err(httparse::Error::HeaderName) | Err(httparse::Error::HeaderValue) => {
            return Err(Refusal::new(400, "malformed header field"));
        }
        Err(_) => return Err(Refusal::new(400, "malformed request line")),
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(Refusal::new(400, "malformed request line"));
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    if target.len() > limits.target_bytes {
        return Err(Refusal::new(414, "request-target too long"));
    }
    let headers = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        path: String::new(),
        query: None,
        version,
        headers,
        body: BodyFraming::None,
        host: None,
        keep_alive: false,
        expect_continue: false,
    };
    let authority = split_target(&mut req)?;
    req.host = host(&req, authority)?;
    req.body = body_framing(&req)?;
    req.keep_alive = match version {
        Version::Http11 => !req.has_token("connection", "close"),
        Version::Http10 => {
            req.has_token("connection", "keep-alive") && !req.has_token("connection", "close")
        }
    };
    req.expect_continue = expect_continue(&req)?;
    Ok(req)
}

/// Fills `path` and `query` from the target; returns the authority of an
/// absolute-form target (RFC 9112 section 3.2).
fn split_target(req: &mut Request) -> Result<Option<String>, Refusal> {
    let target = req.target.as_str();
    let asterisk = target == "*" && req.method == "OPTIONS";
    let (authority, rest) = if target.starts_with('/') || asterisk {
        (None, target)
    } else if let Some(after) = strip_scheme(target) {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let (auth, rest) = after.split_at(end);
        (Some(auth.to_string()), rest)
    } else {
        return Err(Refusal::new(400, "request-target is not a path"));
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (rest, None),
    };
    req.path = if path.is_empty() { "/" } else { path }.to_string();
    req.query = query;
    Ok(authority)
}

fn strip_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].into_iter().find_map(|scheme| {
        let head = target.as_bytes().get(..scheme.len())?;
        // An ASCII match ends on a character boundary, so the slice is safe.
        head.eq_ignore_ascii_case(scheme.as_bytes())
            .then(|| &target[scheme.len()..])
    })
}

/// The request's host: from an absolute-form target, else from the one
/// `Host` field. HTTP/1.1 requires `Host` (RFC 9112 section 3.2).
fn host(req: &Request, authority: Option<String>) -> Result<Option<String>, Refusal> {
    let mut fields = req.header_values("host");
    let field = fields.next();
    if fields.next().is_some() {
        return Err(Refusal::new(400, "more than one Host field"));
    }
    if field.is_none() && req.version == Version::Http11 {
        return Err(Refusal::new(400, "HTTP/1.1 request without Host"));
    }
    let host = match (authority, field) {
        (Some(a), _) => a,
        (None, Some(f)) => {
            String::from_utf8(f.to_vec()).map_err(|_| Refusal::new(400, "invalid Host"))?
        }
        (None, None) => return Ok(None),
    };
    if !valid_host(&host) {
        return Err(Refusal::new(400, "invalid Host"));
    }
    Ok(Some(host))
}

/// `host [":" port]` where host is a reg-name, IPv4 or `[IPv6]`
/// (RFC 3986 section 3.2.2); an empty host is allowed.
fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let Some((inside, after)) = v6.split_once(']') else {
            return false;
        };
        let ok = !inside.is_empty()
            && inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !ok {
            return false;
        }
        match after.strip_prefix(':') {
            Some(port) => ("", port),
            None if after.is_empty() => ("", ""),
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, port),
            None => (host, ""),
        }
    };
    let reg_name = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=%".contains(c);
    name.chars().all(reg_name) && port.len() <= 5 && port.chars().all(|c| c.is_ascii_digit())
}

/// How the body is delimited (RFC 9112 section 6.3).
fn body_framing(req: &Request) -> Result<BodyFraming, Refusal> {
    let has_te = req.header("transfer-encoding").is_some();
    let lengths: Vec<&[u8]> = req.header_values("content-length").collect();
    if has_te {
        if !lengths.is_empty() {
            return Err(Refusal::new(
                400,
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if req.version == Version::Http10 {
            return Err(Refusal::new(
                400,
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        return chunked_coding(req);
    }
    let mut length = None;
    for value in lengths.iter().flat_map(|v| v.split(|&b| b == b',')) {
        let n =
            parse_length(value.trim_ascii()).ok_or(Refusal::new(400, "invalid Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(Refusal::new(400, "conflicting Content-Length values"));
        }
        length = Some(n);
    }
    Ok(length.map_or(BodyFraming::None, BodyFraming::Length))
}

/// Only `chunked`, once and last, is understood; other codings get 501.
fn chunked_coding(req: &Request) -> Result<BodyFraming, Refusal> {
    let codings: Vec<&[u8]> = req
        .header_values("transfer-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|c| c.trim_ascii())
        .filter(|c| !c.is_empty())
        .collect();
    if codings.iter().any(|c| !c.eq_ignore_ascii_case(b"chunked")) {
        return Err(Refusal::new(501, "transfer-coding not implemented"));
    }
    if codings.len() != 1 {
        return Err(Refusal::new(400, "invalid Transfer-Encoding"));
    }
    Ok(BodyFraming::Chunked)
}

/// `Expect: 100-continue` is the only expectation (RFC 9110 section
/// 10.1.1); HTTP/1.0 requests have theirs ignored.
fn expect_continue(req: &Request) -> Result<bool, Refusal> {
    let Some(value) = req.header("expect") else {
        return Ok(false);
    };
    if req.version == Version::Http10 {
        return Ok(false);
    }
    if value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
        Ok(true)
    } else {
        Err(Refusal::new(417, "unsupported expectation"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Request, Refusal> {
        parse_head(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn head_end_finds_the_empty_line() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nbody", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        assert_eq!(find_head_end(b"\r\n\r\n", 0), None);
        assert_eq!(find_head_end(b"\r\nGET / HTTP/1.0\r\n\r\n", 0), Some(20));
    }

    #[test]
    fn origin_form_is_split() {
        let r = parse_str("GET /a/b?x=1&y HTTP/1.1\r\nHost: h:8\r\n\r\n").unwrap();
        assert_eq!(r.path, "/a/b");
        assert_eq!(r.query.as_deref(), Some("x=1&y"));
        assert_eq!(r.host.as_deref(), Some("h:8"));
        assert!(r.keep_alive);
        assert_eq!(r.body, BodyFraming::None);
    }

    #[test]
    fn non_ascii_targets_are_refused_not_a_panic() {
        for target in [
            "\u{10000}\u{10000}",
            "http:/\u{463}xample.org/",
            "ht\u{e9}p://x/",
        ] {
            let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            let r = parse_head(head.as_bytes(), &Limits::default());
            assert_eq!(r.map(|_| ()).unwrap_err().status, 400, "{target}");
        }
    }

    #[test]
    fn absolute_form_overrides_host() {
        let r = parse_str("GET http://ex.org:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
        assert_eq!(r.path, "/p");
        assert_eq!(r.query.as_deref(), Some("q"));
        assert_eq!(r.host.as_deref(), Some("ex.org:81"));
    }

    #[test]
    fn framing_rules() {
        let get = |h: &str| parse_str(&format!("POST / HTTP/1.1\r\nHost: a\r\n{h}\r\n"));
        assert_eq!(
            get("Content-Length: 5\r\n").unwrap().body,
            BodyFraming::Length(5)
        );
        assert_eq!(
            get("Content-Length: 5\r\nContent-Length: 5\r\n")
                .unwrap()
                .body,
            BodyFraming::Length(5)
        );
        assert_eq!(get("Content-Length: 5, 6\r\n").unwrap_err().status, 400);
        assert_eq!(get("Content-Length: +5\r\n").unwrap_err().status, 400);
        assert_eq!(
            get("Content-Length: 99999999999999999999\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            get("Transfer-Encoding: chunked\r\n").unwrap().body,
            BodyFraming::Chunked
        );
        assert_eq!(
            get("Transfer-Encoding: gzip, chunked\r\n")
                .unwrap_err()
                .status,
            501
        );
        assert_eq!(
            get("Transfer-Encoding: chunked, chunked\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            get("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn host_rules() {
        assert_eq!(parse_str("GET / HTTP/1.1\r\n\r\n").unwrap_err().status, 400);
        assert!(parse_str("GET / HTTP/1.0\r\n\r\n").unwrap().host.is_none());
        assert_eq!(
            parse_str("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_str("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert!(valid_host("[::1]:8000"));
        assert!(valid_host("example.com"));
        assert!(valid_host(""));
        assert!(!valid_host("[::1"));
        assert!(!valid_host("a b"));
        assert!(!valid_host("a:123456"));
    }

    #[test]
    fn version_and_keep_alive() {
        assert_eq!(parse_str("GET / HTTP/2.0\r\n\r\n").unwrap_err().status, 505);
        let r = parse_str("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(r.keep_alive);
        assert!(!parse_str("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        let r = parse_str("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
    }

    #[test]
    fn malformed_heads_are_400() {
        for head in [
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET relative HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(parse_str(head).unwrap_err().status, 400, "{head:?}");
        }
    }

    #[test]
    fn expectations() {
        let r = parse_str("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n").unwrap();
        assert!(r.expect_continue);
        let e = parse_str("PUT / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n").unwrap_err();
        assert_eq!(e.status, 417);
    }
}

#[cfg(test)]
mod smuggling {
    use super::*;

    #[test]
    fn ambiguous_framing_is_refused() {
        for head in [
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            "GET / HTTP/1.1\rHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n Content-Length: 5\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\t5\x00\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        ] {
            let r = parse_head(head.as_bytes(), &Limits::default());
            assert_eq!(r.map(|_| ()).unwrap_err().status, 400, "{head:?}");
        }
    }
}
