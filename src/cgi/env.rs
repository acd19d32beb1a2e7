//! A script's environment (RFC 3875 section 4.1), built from nothing for
//! each request: the CGI meta-variables, one `HTTP_*` variable per request
//! header, and last the operator's part (PATH, `--pass-env`, `--env`).
//! rcgi's own environment never reaches a script otherwise.
//!
//! Headers are left out when they have a variable of their own
//! (`Content-Length`, `Content-Type`), when they carry credentials
//! (`Authorization`, `Proxy-Authorization`, unless `--pass-auth`), when
//! they are the httpoxy hole (`Proxy`), when rcgi has removed the coding
//! they describe (`Transfer-Encoding`), or when their name has characters
//! other than letters, digits and `-` (so `X_Forwarded_For` cannot pose as
//! `X-Forwarded-For`). Repeated headers are joined with `, ` (`; ` for
//! `Cookie`); control characters in values become spaces.
//!
//! What a trusted proxy said of the client's request ([`Origin`]) and
//! who it is authenticated as ([`crate::client::User`]) come before the
//! connection's own view: `REMOTE_ADDR`, `REMOTE_PORT`, `HTTPS`,
//! `REQUEST_SCHEME`, `SERVER_NAME`, `SERVER_PORT`, `REMOTE_USER`,
//! `AUTH_TYPE`.
//!
//! [`Origin`]: crate::client::Origin

use std::ffi::OsString;
use std::net::IpAddr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::client::Request;
use crate::route::Route;

/// `SERVER_PORT` on a Unix socket when the Host names no port.
const DEFAULT_PORT: u16 = 80;

/// The operator's say in every script's environment.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Variables every script gets, which win over all others: PATH,
    /// then `--pass-env`, then `--env`.
    pub operator: Vec<(OsString, OsString)>,
    /// Pass the `Authorization` headers (`--pass-auth`).
    pub pass_auth: bool,
}

/// What a script's environment is made of.
pub struct Inputs<'a> {
    pub req: &'a Request,
    pub route: &'a Route,
    /// The body's length after removing any transfer coding.
    pub content_length: Option<u64>,
    pub document_root: &'a Path,
    /// Variables for this run only (e.g. REDIRECT_STATUS for a handler).
    pub extra: Vec<(OsString, OsString)>,
    pub settings: &'a Settings,
}

pub type Env = Vec<(OsString, OsString)>;

/// Builds the environment for one run of a script.
pub fn build(i: &Inputs) -> Env {
    let req = i.req;
    let mut env: Env = Vec::with_capacity(32 + req.headers.len());
    let mut set = |name: &str, value: &[u8]| {
        env.push((name.into(), OsString::from_vec(value.to_vec())));
    };
    set("GATEWAY_INTERFACE", b"CGI/1.1");
    set("SERVER_SOFTWARE", crate::SOFTWARE.as_bytes());
    set("SERVER_PROTOCOL", req.protocol.as_bytes());
    server_variables(req, &mut set);
    set("REQUEST_METHOD", req.method.as_bytes());
    set("REQUEST_URI", request_uri(req).as_bytes());
    set(
        "QUERY_STRING",
        req.query.as_deref().unwrap_or("").as_bytes(),
    );
    set("SCRIPT_NAME", &i.route.script_name);
    set("SCRIPT_FILENAME", i.route.script.as_os_str().as_bytes());
    set("PATH_INFO", &i.route.path_info);
    if !i.route.path_info.is_empty() {
        let mut translated = i.document_root.as_os_str().as_bytes().to_vec();
        translated.extend_from_slice(&i.route.path_info);
        set("PATH_TRANSLATED", &translated);
    }
    set("DOCUMENT_ROOT", i.document_root.as_os_str().as_bytes());
    client_variables(req, &mut set);
    if let Some(n) = i.content_length {
        set("CONTENT_LENGTH", n.to_string().as_bytes());
    }
    if let Some(t) = req.header("content-type") {
        set("CONTENT_TYPE", &clean(t));
    }
    for (name, value) in header_variables(req, i.settings.pass_auth) {
        env.push((name.into(), OsString::from_vec(value)));
    }
    env.extend(i.extra.iter().cloned());
    env.extend(i.settings.operator.iter().cloned());
    env
}

/// `SERVER_*`, `HTTPS` and `REQUEST_SCHEME`: as a trusted proxy said,
/// else as the connection shows.
fn server_variables(req: &Request, set: &mut impl FnMut(&str, &[u8])) {
    let origin = &req.origin;
    let local_ip = req.local.map(|a| a.ip());
    let name = match &origin.server_name {
        Some(name) => name.clone(),
        None => server_name(req.host.as_deref(), local_ip),
    };
    set("SERVER_NAME", name.as_bytes());
    let port = origin.server_port.unwrap_or_else(|| server_port(req));
    set("SERVER_PORT", port.to_string().as_bytes());
    // A Unix socket has no address.
    if let Some(ip) = local_ip {
        set("SERVER_ADDR", ip.to_string().as_bytes());
    }
    if origin.https {
        set("HTTPS", b"on");
    }
    let scheme: &[u8] = if origin.https { b"https" } else { b"http" };
    set("REQUEST_SCHEME", scheme);
}

/// `REMOTE_*` and `AUTH_TYPE`: the client as a trusted proxy named it,
/// else the peer; the user, if one is authenticated.
fn client_variables(req: &Request, set: &mut impl FnMut(&str, &[u8])) {
    let origin = &req.origin;
    let remote = req.remote_ip().to_string();
    set("REMOTE_ADDR", remote.as_bytes());
    set("REMOTE_HOST", remote.as_bytes());
    // A proxy that names the client but not its port: none is known; a
    // client on a Unix socket is on this machine (REMOTE_ADDR loopback)
    // and has none either.
    let remote_port = origin
        .client
        .map_or(req.peer.map(|p| p.port()), |(_, port)| port);
    if let Some(port) = remote_port {
        set("REMOTE_PORT", port.to_string().as_bytes());
    }
    if let Some(user) = &req.user {
        set("REMOTE_USER", user.name.as_bytes());
        if let Some(scheme) = user.auth_type {
            set("AUTH_TYPE", scheme.as_bytes());
        }
    }
}

/// `SERVER_NAME`: the Host without its port, else the address the request
/// came in on (IPv6 in brackets, as in a URL), else (a Unix socket)
/// `localhost`.
fn server_name(host: Option<&str>, local: Option<IpAddr>) -> String {
    match host {
        Some(h) if h.starts_with('[') => h.split_inclusive(']').next().unwrap_or(h).to_string(),
        Some(h) if !h.is_empty() => h.split(':').next().unwrap_or(h).to_string(),
        _ => match local {
            Some(IpAddr::V6(v6)) => format!("[{v6}]"),
            Some(IpAddr::V4(v4)) => v4.to_string(),
            None => "localhost".to_string(),
        },
    }
}

/// `SERVER_PORT`: the port the request came in on; on a Unix socket, the
/// Host's port, else 80 (the port its `http` URLs imply).
fn server_port(req: &Request) -> u16 {
    if let Some(local) = req.local {
        return local.port();
    }
    let host = req.host.as_deref().unwrap_or("");
    let after_name = host.rsplit_once(']').map_or(host, |(_, rest)| rest);
    after_name
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(DEFAULT_PORT)
}

/// The path and query of the request, as sent (also for an absolute-form
/// request-target, whose scheme and authority are left out; and as the
/// web server named it over FastCGI, where the path routed may differ).
fn request_uri(req: &Request) -> String {
    if req.target.starts_with('/') {
        return req.target.clone();
    }
    match &req.query {
        Some(q) => format!("{}?{q}", req.path),
        None => req.path.clone(),
    }
}

/// Headers never passed as `HTTP_*` variables.
fn excluded(name: &str, pass_auth: bool) -> bool {
    let always = [
        "content-length",
        "content-type",
        "proxy",
        "transfer-encoding",
    ];
    let credentials = ["authorization", "proxy-authorization"];
    always.iter().any(|n| name.eq_ignore_ascii_case(n))
        || (!pass_auth && credentials.iter().any(|n| name.eq_ignore_ascii_case(n)))
}

/// `HTTP_*` variables from the request headers, merged per name.
fn header_variables(req: &Request, pass_auth: bool) -> Vec<(String, Vec<u8>)> {
    let mut vars: Vec<(String, Vec<u8>)> = Vec::with_capacity(req.headers.len());
    for (name, value) in &req.headers {
        let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !plain || excluded(name, pass_auth) {
            continue;
        }
        let var = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
        let value = clean(value);
        match vars.iter_mut().find(|(v, _)| *v == var) {
            Some((_, joined)) => {
                let sep: &[u8] = if var == "HTTP_COOKIE" { b"; " } else { b", " };
                joined.extend_from_slice(sep);
                joined.extend_from_slice(&value);
            }
            None => vars.push((var, value)),
        }
    }
    vars
}

/// A header value fit for the environment: control characters (which
/// the parser only lets through as tabs) become spaces.
fn clean(value: &[u8]) -> Vec<u8> {
    value
        .iter()
        .map(|&b| if b < 0x20 || b == 0x7f { b' ' } else { b })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Origin;
    use std::ffi::OsStr;
    use std::path::PathBuf;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "POST".into(),
            target: "/cgi-bin/s/x?a=1".into(),
            path: "/cgi-bin/s/x".into(),
            query: Some("a=1".into()),
            protocol: "HTTP/1.1",
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            host: Some("[::1]:8000".into()),
            local: Some("[::1]:8000".parse().unwrap()),
            peer: Some("[::1]:5000".parse().unwrap()),
            origin: Origin::default(),
            user: None,
        }
    }

    fn env_of(req: &Request, pass_auth: bool) -> Env {
        let route = Route {
            script: PathBuf::from("/srv/cgi/s"),
            script_name: b"/cgi-bin/s".to_vec(),
            path_info: b"/x".to_vec(),
            nph: false,
            handler: None,
        };
        let settings = Settings {
            operator: vec![("PATH".into(), "/bin".into())],
            pass_auth,
        };
        build(&Inputs {
            req,
            route: &route,
            content_length: Some(3),
            document_root: Path::new("/srv/cgi"),
            extra: vec![("REDIRECT_STATUS".into(), "200".into())],
            settings: &settings,
        })
    }

    /// Looks a variable up in a built environment.
    fn get<'a>(env: &'a Env, name: &str) -> Option<&'a OsStr> {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }

    fn var<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
        get(env, name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn meta_variables() {
        let env = env_of(&request(&[("Content-Type", "text/plain")]), false);
        assert_eq!(var(&env, "SERVER_NAME"), Some("[::1]"));
        assert_eq!(var(&env, "REMOTE_ADDR"), Some("::1"));
        assert_eq!(var(&env, "PATH_TRANSLATED"), Some("/srv/cgi/x"));
        assert_eq!(var(&env, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(var(&env, "CONTENT_LENGTH"), Some("3"));
        assert_eq!(var(&env, "REQUEST_URI"), Some("/cgi-bin/s/x?a=1"));
        assert_eq!(var(&env, "HTTP_CONTENT_TYPE"), None);
        assert_eq!(var(&env, "REDIRECT_STATUS"), Some("200"));
    }

    #[test]
    fn headers_merge_and_hide() {
        let req = request(&[
            ("Cookie", "a=1"),
            ("Accept", "x"),
            ("cookie", "b=2"),
            ("ACCEPT", "y\tz"),
            ("Proxy", "http://evil"),
            ("Authorization", "Basic Zm9v"),
            ("X_Forwarded_For", "1.2.3.4"),
        ]);
        let env = env_of(&req, false);
        assert_eq!(var(&env, "HTTP_COOKIE"), Some("a=1; b=2"));
        assert_eq!(var(&env, "HTTP_ACCEPT"), Some("x, y z"));
        assert_eq!(var(&env, "HTTP_PROXY"), None);
        assert_eq!(var(&env, "HTTP_AUTHORIZATION"), None);
        assert_eq!(var(&env, "HTTP_X_FORWARDED_FOR"), None);
        let env = env_of(&req, true);
        assert_eq!(var(&env, "HTTP_AUTHORIZATION"), Some("Basic Zm9v"));
    }

    #[test]
    fn a_proxys_word_and_the_user_come_first() {
        let mut req = request(&[]);
        let env = env_of(&req, false);
        assert_eq!(var(&env, "REMOTE_PORT"), Some("5000"));
        assert_eq!(var(&env, "REQUEST_SCHEME"), Some("http"));
        assert_eq!(var(&env, "HTTPS"), None);
        assert_eq!(var(&env, "REMOTE_USER"), None);
        assert_eq!(var(&env, "AUTH_TYPE"), None);
        req.origin = Origin {
            client: Some(("192.0.2.9".parse().unwrap(), None)),
            https: true,
            server_name: Some("www.example.org".into()),
            server_port: Some(443),
        };
        req.user = Some(crate::client::User {
            name: "ada".into(),
            auth_type: Some("Basic"),
        });
        let env = env_of(&req, false);
        assert_eq!(var(&env, "REMOTE_ADDR"), Some("192.0.2.9"));
        assert_eq!(var(&env, "REMOTE_HOST"), Some("192.0.2.9"));
        assert_eq!(var(&env, "REMOTE_PORT"), None);
        assert_eq!(var(&env, "HTTPS"), Some("on"));
        assert_eq!(var(&env, "REQUEST_SCHEME"), Some("https"));
        assert_eq!(var(&env, "SERVER_NAME"), Some("www.example.org"));
        assert_eq!(var(&env, "SERVER_PORT"), Some("443"));
        assert_eq!(var(&env, "SERVER_ADDR"), Some("::1"));
        assert_eq!(var(&env, "REMOTE_USER"), Some("ada"));
        assert_eq!(var(&env, "AUTH_TYPE"), Some("Basic"));
        req.origin.client = Some(("192.0.2.9".parse().unwrap(), Some(4711)));
        req.user.as_mut().unwrap().auth_type = None;
        let env = env_of(&req, false);
        assert_eq!(var(&env, "REMOTE_PORT"), Some("4711"));
        assert_eq!(var(&env, "AUTH_TYPE"), None);
    }

    #[test]
    fn server_name_forms() {
        let v4: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        assert_eq!(server_name(Some("ex.org:81"), v4), "ex.org");
        assert_eq!(server_name(Some("[::1]"), v4), "[::1]");
        assert_eq!(server_name(None, v4), "10.0.0.1");
        assert_eq!(server_name(Some(""), Some("::1".parse().unwrap())), "[::1]");
        assert_eq!(server_name(None, None), "localhost");
    }

    #[test]
    fn a_unix_socket_client_is_local_without_ports() {
        let mut req = request(&[]);
        (req.local, req.peer) = (None, None);
        let env = env_of(&req, false);
        assert_eq!(var(&env, "REMOTE_ADDR"), Some("127.0.0.1"));
        assert_eq!(var(&env, "REMOTE_PORT"), None);
        assert_eq!(var(&env, "SERVER_ADDR"), None);
        assert_eq!(var(&env, "SERVER_PORT"), Some("8000"));
        assert_eq!(var(&env, "SERVER_NAME"), Some("[::1]"));
        for (host, port) in [
            (None, "80"),
            (Some("ex.org"), "80"),
            (Some("ex.org:81"), "81"),
        ] {
            req.host = host.map(String::from);
            assert_eq!(var(&env_of(&req, false), "SERVER_PORT"), Some(port));
        }
    }
}
