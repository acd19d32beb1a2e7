//! `--auth-file`: HTTP Basic authentication (RFC 7617) of the users of an
//! htpasswd file ([`htpasswd`]), for every request or for the URL paths
//! `--auth-path` lists. Dispatch asks before routing, before the body is
//! read and before any script runs (RFC 3875 section 3.1: a script runs
//! only for a request that passed every access control); a request that
//! fails gets 401 with `WWW-Authenticate: Basic realm="..."`, and one that
//! passes goes on with its user (`REMOTE_USER`, `AUTH_TYPE=Basic`).
//!
//! Paths are compared segment by segment after percent-decoding, with
//! empty segments left out, so `/cgi-bin/%61dmin` and `/cgi-bin//admin`
//! are `/cgi-bin/admin`; a path that cannot be decoded is protected (it
//! will be refused anyway).

mod apr1;
pub mod basic;
pub mod htpasswd;

use crate::client::{Request, User};
use crate::walk;

/// What `--auth-file`, `--auth-realm` and `--auth-path` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub users: htpasswd::Users,
    /// Shown by browsers in the password dialog; checked to need no
    /// escaping in a quoted string.
    pub realm: String,
    /// The protected paths' segments; empty: every request.
    pub paths: Vec<Vec<Vec<u8>>>,
}

/// Why a request was not let through, for the log (the client is told
/// only 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The user named, if any.
    pub user: Option<String>,
    pub why: &'static str,
}

/// The user of a request to a protected path, or why there is none.
/// Ok(None): the path is not protected.
pub fn check(s: &Settings, req: &Request) -> Result<Option<User>, Denied> {
    if !protects(s, &req.path) {
        return Ok(None);
    }
    let Some(value) = req.header("authorization") else {
        return Err(Denied {
            user: None,
            why: "no credentials",
        });
    };
    let Some(given) = basic::credentials(value) else {
        return Err(Denied {
            user: None,
            why: "malformed or not Basic credentials",
        });
    };
    match s.users.check(&given.user, &given.password) {
        Ok(()) => Ok(Some(User {
            name: given.user,
            auth_type: Some("Basic"),
        })),
        Err(why) => Err(Denied {
            user: Some(given.user),
            why,
        }),
    }
}

/// The `WWW-Authenticate` value of a 401.
pub fn challenge(s: &Settings) -> String {
    format!("Basic realm=\"{}\", charset=\"UTF-8\"", s.realm)
}

/// True if `path` (as sent, percent-encoded) is under a protected path.
fn protects(s: &Settings, path: &str) -> bool {
    if s.paths.is_empty() {
        return true;
    }
    let Ok(segments) = walk::decode_path(path) else {
        return true;
    };
    let segments: Vec<&[u8]> = segments
        .iter()
        .filter(|seg| !seg.is_empty())
        .map(Vec::as_slice)
        .collect();
    s.paths.iter().any(|protected| {
        protected.len() <= segments.len()
            && protected.iter().zip(&segments).all(|(p, seg)| p == seg)
    })
}

/// The segments of an `--auth-path`: `/cgi-bin/admin` -> `cgi-bin`,
/// `admin`; as written, not percent-decoded.
pub fn path_segments(path: &str) -> Result<Vec<Vec<u8>>, String> {
    if !path.starts_with('/') {
        return Err(format!("--auth-path {path:?}: must start with /"));
    }
    let segments: Vec<Vec<u8>> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec())
        .collect();
    if segments.iter().any(|s| s == b"." || s == b"..") || path.contains('%') {
        return Err(format!(
            "--auth-path {path:?}: a plain path, without '.', '..' or '%'"
        ));
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(paths: &[&str]) -> Settings {
        Settings {
            users: htpasswd::Users::parse("ada:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n").unwrap(),
            realm: "the realm".into(),
            paths: paths.iter().map(|p| path_segments(p).unwrap()).collect(),
        }
    }

    fn request(path: &str, authorization: Option<&str>) -> Request {
        Request {
            method: "GET".into(),
            target: path.into(),
            path: path.into(),
            query: None,
            protocol: "HTTP/1.1",
            headers: authorization
                .map(|a| ("Authorization".to_string(), a.as_bytes().to_vec()))
                .into_iter()
                .collect(),
            host: None,
            local: Some("127.0.0.1:80".parse().unwrap()),
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            origin: Default::default(),
            user: None,
        }
    }

    /// `Basic` of ada:secret, and of ada:wrong.
    const GOOD: &str = "Basic YWRhOnNlY3JldA==";
    const BAD: &str = "Basic YWRhOndyb25n";

    #[test]
    fn protected_paths_need_good_credentials() {
        let s = settings(&["/cgi-bin/admin"]);
        assert_eq!(check(&s, &request("/cgi-bin/open.sh", None)), Ok(None));
        assert_eq!(
            check(&s, &request("/cgi-bin/administrator", None)),
            Ok(None)
        );
        for path in [
            "/cgi-bin/admin",
            "/cgi-bin/admin/",
            "/cgi-bin/admin/x.sh/more",
            "/cgi-bin//admin/x.sh",
            "/cgi-bin/%61dmin/x.sh",
            "/cgi-bin/%zz/admin",
        ] {
            let denied = check(&s, &request(path, None)).unwrap_err();
            assert_eq!(denied.why, "no credentials", "{path}");
            let user = check(&s, &request(path, Some(GOOD))).unwrap().unwrap();
            assert_eq!((user.name.as_str(), user.auth_type), ("ada", Some("Basic")));
        }
        let denied = check(&s, &request("/cgi-bin/admin", Some(BAD))).unwrap_err();
        assert_eq!(
            (denied.user.as_deref(), denied.why),
            (Some("ada"), "wrong password")
        );
        let denied = check(&s, &request("/cgi-bin/admin", Some("Bearer x"))).unwrap_err();
        assert_eq!(denied.user, None);
    }

    #[test]
    fn without_paths_everything_is_protected() {
        let s = settings(&[]);
        assert!(check(&s, &request("/anything", None)).is_err());
        assert!(check(&s, &request("/anything", Some(GOOD))).is_ok());
        assert!(settings(&["/"]).paths[0].is_empty());
        assert!(check(&settings(&["/"]), &request("/x", None)).is_err());
        assert_eq!(
            challenge(&s),
            "Basic realm=\"the realm\", charset=\"UTF-8\""
        );
        assert!(path_segments("cgi-bin").is_err());
        assert!(path_segments("/a/../b").is_err());
        assert!(path_segments("/a%2Fb").is_err());
    }
}
