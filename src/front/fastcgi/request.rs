//! A FastCGI request's params turned into the request rcgi serves
//! ([`Request`]), the way the HTTP front end turns a request head into
//! one: `REQUEST_METHOD`, `REQUEST_URI`, `QUERY_STRING`,
//! `SERVER_PROTOCOL`, the `HTTP_*` params back into header fields (so the
//! environment is built by the same rules as over HTTP), `CONTENT_TYPE`
//! and `CONTENT_LENGTH`. The web server in front is the trusted party:
//! what it says of the client (`REMOTE_ADDR`, `REMOTE_PORT`, `HTTPS`,
//! `SERVER_NAME`, `SERVER_PORT`, `REMOTE_USER`) becomes the request's
//! [`Origin`] and [`User`].
//!
//! Which script runs is a path under rcgi's mounts, routed as over HTTP
//! (every check of the walk applies): `SCRIPT_FILENAME` when given (the
//! fcgiwrap convention), made a URL path by finding the mount whose root
//! holds it (also through a symlinked parent), then `PATH_INFO` unless
//! `SCRIPT_FILENAME` already ends with it; else
//! `SCRIPT_NAME` and `PATH_INFO`; else the path of `REQUEST_URI`. A
//! `SCRIPT_FILENAME` outside every root is refused (403).

use std::ffi::OsStr;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::params::Pairs;
use crate::client::{Origin, Request, User};
use crate::route::Mount;
use crate::status::Refusal;
use crate::walk::{decode_path, encode_segment};

/// A request built from params, and the body length the web server said.
pub struct Built {
    pub req: Request,
    pub content_length: Option<u64>,
}

/// The params' value called `name`, if not empty.
fn param<'p>(pairs: &'p Pairs, name: &str) -> Option<&'p [u8]> {
    pairs
        .iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| v.as_slice())
        .filter(|v| !v.is_empty())
}

fn text(pairs: &Pairs, name: &str) -> Result<Option<String>, Refusal> {
    param(pairs, name)
        .map(|v| String::from_utf8(v.to_vec()).map_err(|_| bad(name)))
        .transpose()
}

fn bad(name: &str) -> Refusal {
    // The reason is static: name the usual suspects.
    let reason = match name {
        "REQUEST_METHOD" => "missing or invalid REQUEST_METHOD param",
        "CONTENT_LENGTH" => "invalid CONTENT_LENGTH param",
        "SCRIPT_FILENAME" => "invalid SCRIPT_FILENAME param",
        _ => "a param that is not UTF-8 where text is needed",
    };
    Refusal::new(400, reason)
}

/// Builds the request the params describe; `local` and `peer` are the
/// connection's addresses (the web server's side).
pub fn build(
    pairs: &Pairs,
    mounts: &[Mount],
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
) -> Result<Built, Refusal> {
    let method = text(pairs, "REQUEST_METHOD")?
        .filter(|m| m.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| bad("REQUEST_METHOD"))?;
    let query = text(pairs, "QUERY_STRING")?;
    let path = route_path(pairs, mounts)?;
    let target = match text(pairs, "REQUEST_URI")? {
        Some(uri) => uri,
        None => match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        },
    };
    // Empty (nginx, for a GET) or -1 (Caddy, Go's FastCGI, for a body of
    // unknown length): no length; the body is then what STDIN brings up
    // to its end.
    let content_length = match param(pairs, "CONTENT_LENGTH") {
        None | Some(b"-1") => None,
        Some(v) => Some(digits(v).ok_or_else(|| bad("CONTENT_LENGTH"))?),
    };
    let origin = origin(pairs);
    let server_addr = param(pairs, "SERVER_ADDR").and_then(parse::<IpAddr>);
    let local = match (server_addr, origin.server_port) {
        (Some(ip), Some(port)) => Some(SocketAddr::new(ip, port)),
        _ => local,
    };
    let req = Request {
        method,
        target,
        path,
        query,
        protocol: protocol(param(pairs, "SERVER_PROTOCOL")),
        headers: headers(pairs),
        host: text(pairs, "HTTP_HOST")?,
        local,
        peer,
        origin,
        user: user(pairs),
    };
    Ok(Built {
        req,
        content_length,
    })
}

fn parse<T: std::str::FromStr>(v: &[u8]) -> Option<T> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// A decimal number of at most 19 digits (no sign, no spaces).
fn digits(v: &[u8]) -> Option<u64> {
    if v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    parse(v)
}

/// `SERVER_PROTOCOL` as one of the names rcgi knows; HTTP/1.1 otherwise.
fn protocol(v: Option<&[u8]>) -> &'static str {
    match v {
        Some(b"HTTP/1.0") => "HTTP/1.0",
        Some(b"HTTP/2.0" | b"HTTP/2") => "HTTP/2.0",
        Some(b"HTTP/3.0" | b"HTTP/3") => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// What the web server says of the client and of itself.
fn origin(pairs: &Pairs) -> Origin {
    let https = param(pairs, "HTTPS").is_some_and(|v| v.eq_ignore_ascii_case(b"on") || v == b"1")
        || param(pairs, "REQUEST_SCHEME").is_some_and(|v| v.eq_ignore_ascii_case(b"https"));
    let client = param(pairs, "REMOTE_ADDR")
        .and_then(parse::<IpAddr>)
        .map(|ip| (ip, param(pairs, "REMOTE_PORT").and_then(parse::<u16>)));
    Origin {
        client,
        https,
        server_name: param(pairs, "SERVER_NAME").map(|v| String::from_utf8_lossy(v).into_owned()),
        server_port: param(pairs, "SERVER_PORT").and_then(parse::<u16>),
    }
}

/// `REMOTE_USER`, as the web server authenticated it.
fn user(pairs: &Pairs) -> Option<User> {
    let name = param(pairs, "REMOTE_USER")?;
    let auth_type = match param(pairs, "AUTH_TYPE") {
        Some(t) if t.eq_ignore_ascii_case(b"basic") => Some("Basic"),
        Some(t) if t.eq_ignore_ascii_case(b"digest") => Some("Digest"),
        _ => None,
    };
    Some(User {
        name: String::from_utf8_lossy(name).into_owned(),
        auth_type,
    })
}

/// The header fields: each `HTTP_*` param (`HTTP_X_FOO` is `x-foo`), in
/// order, repeated ones kept apart so the environment joins them as
/// over HTTP; `CONTENT_TYPE` as `content-type`. `HTTP_CONTENT_LENGTH`
/// and `HTTP_CONTENT_TYPE` are dropped: the params without `HTTP_` say.
fn headers(pairs: &Pairs) -> Vec<(String, Vec<u8>)> {
    let mut fields = Vec::new();
    for (name, value) in pairs {
        let Some(rest) = name.strip_prefix(b"HTTP_") else {
            continue;
        };
        let plain =
            !rest.is_empty() && rest.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain || rest == b"CONTENT_LENGTH" || rest == b"CONTENT_TYPE" {
            continue;
        }
        let field: String = rest
            .iter()
            .map(|&b| {
                if b == b'_' {
                    '-'
                } else {
                    b.to_ascii_lowercase() as char
                }
            })
            .collect();
        fields.push((field, value.clone()));
    }
    if let Some(t) = param(pairs, "CONTENT_TYPE") {
        fields.push(("content-type".to_string(), t.to_vec()));
    }
    fields
}

/// The percent-encoded path under rcgi's mounts that names the script.
fn route_path(pairs: &Pairs, mounts: &[Mount]) -> Result<String, Refusal> {
    let path_info = param(pairs, "PATH_INFO").unwrap_or(b"");
    if let Some(file) = param(pairs, "SCRIPT_FILENAME") {
        let file = &unproxied(file)?;
        let mut path = file_path(Path::new(OsStr::from_bytes(file)), mounts)?;
        // A SCRIPT_FILENAME that holds the path info already (the whole
        // URL path after the root) is not given it twice.
        if !file.ends_with(path_info) {
            path.push_str(&encode_path(path_info));
        }
        return Ok(path);
    }
    if let Some(name) = param(pairs, "SCRIPT_NAME") {
        let mut path = encode_path(name);
        path.push_str(&encode_path(path_info));
        return Ok(path);
    }
    let uri = param(pairs, "DOCUMENT_URI")
        .map(encode_path)
        .or_else(|| {
            let uri = param(pairs, "REQUEST_URI")?;
            let path = uri.split(|&b| b == b'?').next().unwrap_or(uri);
            Some(String::from_utf8_lossy(path).into_owned())
        })
        .unwrap_or_else(|| "/".to_string());
    Ok(uri)
}

/// `SCRIPT_FILENAME` as a path: Apache's mod_proxy_fcgi sends it as a
/// URL, `proxy:fcgi://HOST/path/to/script` (percent-encoded), which is
/// decoded once (with the walk's refusals: no `%2F`, no NUL).
fn unproxied(file: &[u8]) -> Result<Vec<u8>, Refusal> {
    let Some(url) = file.strip_prefix(b"proxy:") else {
        return Ok(file.to_vec());
    };
    let after_scheme = url
        .windows(3)
        .position(|w| w == b"://")
        .map(|i| &url[i + 3..])
        .ok_or_else(|| bad("SCRIPT_FILENAME"))?;
    let path = after_scheme
        .iter()
        .position(|&b| b == b'/')
        .map(|i| &after_scheme[i..])
        .ok_or_else(|| bad("SCRIPT_FILENAME"))?;
    let path = path.split(|&b| b == b'?').next().unwrap_or(path);
    let text = std::str::from_utf8(path).map_err(|_| bad("SCRIPT_FILENAME"))?;
    let segments = decode_path(text)?;
    Ok(segments
        .iter()
        .flat_map(|s| std::iter::once(b'/').chain(s.iter().copied()))
        .collect())
}

/// A decoded path (`/a b/c`) percent-encoded segment by segment.
fn encode_path(decoded: &[u8]) -> String {
    if decoded.is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(decoded.len() + 8);
    for (i, segment) in decoded.split(|&b| b == b'/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&encode_segment(segment));
    }
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out
}

/// `SCRIPT_FILENAME` as a URL path: below the root of a mount, as
/// named, or else with its existing part's symlinks resolved.
fn file_path(file: &Path, mounts: &[Mount]) -> Result<String, Refusal> {
    if !file.is_absolute() {
        return Err(bad("SCRIPT_FILENAME"));
    }
    if let Some(path) = under_mounts(file, mounts) {
        return Ok(path);
    }
    resolved(file)
        .and_then(|real| under_mounts(&real, mounts))
        .ok_or(Refusal::new(
            403,
            "SCRIPT_FILENAME outside the script folders",
        ))
}

/// The URL path of `file` under the deepest mount root that holds it.
fn under_mounts(file: &Path, mounts: &[Mount]) -> Option<String> {
    let (mount, rest) = mounts
        .iter()
        .filter_map(|m| file.strip_prefix(&m.root).ok().map(|rest| (m, rest)))
        .max_by_key(|(m, _)| m.root.as_os_str().len())?;
    let mut path = mount.prefix.clone();
    for part in rest.components() {
        let segment: &[u8] = match part {
            Component::Normal(s) => s.as_bytes(),
            // `..` stays, for the walk to refuse.
            Component::ParentDir => b"..",
            _ => continue,
        };
        path.push('/');
        path.push_str(&encode_segment(segment));
    }
    if rest.as_os_str().is_empty() {
        path.push('/');
    }
    Some(path)
}

/// `file` with the symlinks of its longest existing ancestor resolved
/// (the rest may be `PATH_INFO`, or missing).
fn resolved(file: &Path) -> Option<PathBuf> {
    for ancestor in file.ancestors().skip(1) {
        if let Ok(real) = ancestor.canonicalize() {
            let rest = file.strip_prefix(ancestor).ok()?;
            return Some(real.join(rest));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn mount(root: &str, prefix: &str) -> Mount {
        Mount {
            root: PathBuf::from(root),
            prefix: prefix.to_string(),
            handlers: Vec::new(),
            index: Vec::new(),
            allow_writable: false,
        }
    }

    #[test]
    fn params_become_a_request() {
        let p = pairs(&[
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/cgi-bin/a%20b.sh/x?q=1"),
            ("QUERY_STRING", "q=1"),
            ("SCRIPT_NAME", "/cgi-bin/a b.sh"),
            ("PATH_INFO", "/x"),
            ("SERVER_PROTOCOL", "HTTP/1.0"),
            ("CONTENT_LENGTH", "12"),
            ("CONTENT_TYPE", "text/plain"),
            ("HTTP_CONTENT_LENGTH", "99"),
            ("HTTP_X_FORWARDED_FOR", "1.2.3.4"),
            ("HTTP_ACCEPT", "a"),
            ("HTTP_ACCEPT", "b"),
            ("HTTP_HOST", "example.org"),
            ("REMOTE_ADDR", "192.0.2.7"),
            ("REMOTE_PORT", "4321"),
            ("SERVER_NAME", "example.org"),
            ("SERVER_PORT", "443"),
            ("HTTPS", "on"),
        ]);
        let b = build(&p, &[], None, None).unwrap();
        let r = &b.req;
        assert_eq!(b.content_length, Some(12));
        assert_eq!((r.method.as_str(), r.protocol), ("POST", "HTTP/1.0"));
        assert_eq!(r.path, "/cgi-bin/a%20b.sh/x");
        assert_eq!(r.target, "/cgi-bin/a%20b.sh/x?q=1");
        assert_eq!(r.query.as_deref(), Some("q=1"));
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-forwarded-for",
                "accept",
                "accept",
                "host",
                "content-type"
            ]
        );
        assert_eq!(
            r.origin.client,
            Some(("192.0.2.7".parse().unwrap(), Some(4321)))
        );
        assert!(r.origin.https);
        assert_eq!(r.origin.server_port, Some(443));
    }

    #[test]
    fn bad_params_are_refused() {
        assert!(build(&pairs(&[]), &[], None, None).is_err());
        for bad_length in ["-2", "1e3", "+5", "99999999999999999999"] {
            let p = pairs(&[("REQUEST_METHOD", "GET"), ("CONTENT_LENGTH", bad_length)]);
            assert_eq!(build(&p, &[], None, None).err().unwrap().status, 400);
        }
        let p = pairs(&[
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_FILENAME", "/etc/passwd"),
        ]);
        let mounts = [mount("/srv/cgi", "/cgi-bin")];
        assert_eq!(build(&p, &mounts, None, None).err().unwrap().status, 403);
    }

    #[test]
    fn apache_proxy_urls_are_paths() {
        let mounts = [mount("/srv/cgi", "/cgi-bin")];
        let p = pairs(&[
            ("REQUEST_METHOD", "GET"),
            (
                "SCRIPT_FILENAME",
                "proxy:fcgi://localhost/srv/cgi/a%20b.sh/x",
            ),
        ]);
        let b = build(&p, &mounts, None, None).unwrap();
        assert_eq!(b.req.path, "/cgi-bin/a%20b.sh/x");
        for bad in [
            "proxy:fcgi://localhost/srv/cgi/a%2Fb",
            "proxy:fcgi:/srv",
            "proxy:fcgi://h",
        ] {
            let p = pairs(&[("REQUEST_METHOD", "GET"), ("SCRIPT_FILENAME", bad)]);
            assert_eq!(
                build(&p, &mounts, None, None).err().map(|e| e.status),
                Some(400),
                "{bad}"
            );
        }
    }

    #[test]
    fn script_filename_maps_under_its_mount() {
        let mounts = [mount("/srv/cgi", "/cgi-bin"), mount("/srv/cgi/deep", "/d")];
        let p = pairs(&[
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_FILENAME", "/srv/cgi/x y.sh/more"),
            ("PATH_INFO", "/pi"),
        ]);
        assert_eq!(
            build(&p, &mounts, None, None).unwrap().req.path,
            "/cgi-bin/x%20y.sh/more/pi"
        );
        let p = pairs(&[
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_FILENAME", "/srv/cgi/x.sh/pi"),
            ("PATH_INFO", "/pi"),
        ]);
        assert_eq!(
            build(&p, &mounts, None, None).unwrap().req.path,
            "/cgi-bin/x.sh/pi"
        );
        let p = pairs(&[
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_FILENAME", "/srv/cgi/deep/a"),
        ]);
        assert_eq!(build(&p, &mounts, None, None).unwrap().req.path, "/d/a");
        let p = pairs(&[
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_FILENAME", "/srv/cgi/../x"),
        ]);
        assert_eq!(
            build(&p, &mounts, None, None).unwrap().req.path,
            "/cgi-bin/../x"
        );
        let p = pairs(&[
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_FILENAME", "/srv/cgiX/a"),
        ]);
        assert!(build(&p, &mounts, None, None).is_err());
    }
}
