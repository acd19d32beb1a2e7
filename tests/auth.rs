//! `--auth-file`: htpasswd files made by the real `htpasswd` (Debian's
//! apache2-utils) in each format it writes, good, bad and missing
//! credentials, `--auth-path`, and that a refused request never reads
//! its body nor runs its script.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Root, Server, message, require, run_ok};

/// Prints who the script thinks the user is, and notes that it ran.
const WHO: &str = r#"#!/bin/sh
touch ran
printf 'Content-Type: text/plain\n\n'
printf 'REMOTE_USER=%s AUTH_TYPE=%s HTTP_AUTHORIZATION=%s\n' "${REMOTE_USER-unset}" "${AUTH_TYPE-unset}" "${HTTP_AUTHORIZATION-unset}"
"#;

/// An htpasswd file at `path` with `users`, each (user, password, the
/// `htpasswd` option of its format), made by the real `htpasswd`.
fn htpasswd(path: &Path, users: &[(&str, &str, &str)]) {
    let program = require("htpasswd", "apache2-utils");
    for (i, (user, password, format)) in users.iter().enumerate() {
        let mut cmd = Command::new(&program);
        let create = if i == 0 { "c" } else { "" };
        cmd.arg(format!("-b{create}{}", format.trim_start_matches('-')))
            .arg(path)
            .args([user, password]);
        run_ok(&mut cmd);
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// GET `path` with `authorization`, if any.
fn get(server: &Server, path: &str, authorization: Option<&str>) -> common::Response {
    let mut raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    if let Some(a) = authorization {
        raw.push_str(&format!("Authorization: {a}\r\n"));
    }
    raw.push_str("\r\n");
    server.exchange(raw.as_bytes())
}

struct Site {
    root: Root,
    _dir: tempfile::TempDir,
    users: PathBuf,
}

fn site() -> Site {
    let root = Root::new();
    root.script("who.sh", WHO);
    root.script("admin/who.sh", WHO);
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    htpasswd(
        &users,
        &[
            ("ada", "bcrypt pw", "-B"),
            ("grace", "md5 pw", "-m"),
            ("alan", "sha1 pw", "-s"),
            ("edsger", "sha512 pw", "-5"),
            ("barbara", "sha256 pw", "-2"),
        ],
    );
    Site {
        root,
        _dir: dir,
        users,
    }
}

#[test]
fn every_htpasswd_format_lets_its_user_in() {
    let site = site();
    let server = site.root.start(&[
        "--auth-file",
        site.users.to_str().unwrap(),
        "--auth-realm",
        "Staff only",
    ]);
    for (user, password) in [
        ("ada", "bcrypt pw"),
        ("grace", "md5 pw"),
        ("alan", "sha1 pw"),
        ("edsger", "sha512 pw"),
        ("barbara", "sha256 pw"),
    ] {
        let r = get(&server, "/cgi-bin/who.sh", Some(&basic(user, password)));
        assert_eq!(r.status, 200, "{user}: {}", r.text());
        assert_eq!(
            r.text(),
            format!("REMOTE_USER={user} AUTH_TYPE=Basic HTTP_AUTHORIZATION=unset\n")
        );
        server.wait_access(&format!("127.0.0.1 - {user} ["));
        let r = get(&server, "/cgi-bin/who.sh", Some(&basic(user, "wrong")));
        assert_eq!(r.status, 401, "{user}");
        let line = server.wait_stderr(&format!("authentication failed for user \"{user}\""));
        assert!(message(&line).starts_with("rcgi: 127.0.0.1: "), "{line}");
        assert!(line.ends_with(": wrong password"), "{line}");
    }
}

#[test]
fn missing_and_bad_credentials_get_401_and_no_script_runs() {
    let site = site();
    let server = site.root.start(&[
        "--auth-file",
        site.users.to_str().unwrap(),
        "--auth-realm",
        "Staff only",
    ]);
    let marker = site.root.path().join("ran");
    for authorization in [
        None,
        Some(basic("nobody", "bcrypt pw")),
        Some(basic("ada", "")),
        Some("Basic !!!".to_string()),
        Some("Bearer abc".to_string()),
    ] {
        let r = get(&server, "/cgi-bin/who.sh", authorization.as_deref());
        assert_eq!(r.status, 401, "{authorization:?}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"Staff only\", charset=\"UTF-8\"")
        );
        assert_eq!(r.text(), "401 Unauthorized: authentication required\n");
    }
    server.wait_stderr("for user \"nobody\" on /cgi-bin/who.sh: no such user");
    // Also a missing script asks for credentials first: no probing.
    assert_eq!(get(&server, "/cgi-bin/missing", None).status, 401);
    // A body is never read: with 100-continue, no 100 is sent.
    let mut c = server.connect();
    c.send(b"POST /cgi-bin/who.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_head(true).unwrap();
    assert_eq!(r.status, 401);
    assert!(!marker.exists(), "the script never ran");
    // With --pass-auth a script sees the header, as before.
    let open = site
        .root
        .start(&["--auth-file", site.users.to_str().unwrap(), "--pass-auth"]);
    let credentials = basic("ada", "bcrypt pw");
    let r = get(&open, "/cgi-bin/who.sh", Some(&credentials));
    assert!(
        r.text()
            .ends_with(&format!("HTTP_AUTHORIZATION={credentials}\n")),
        "{}",
        r.text()
    );
    assert!(marker.exists());
}

#[test]
fn auth_path_protects_only_what_it_names() {
    let site = site();
    let server = site.root.start(&[
        "--auth-file",
        site.users.to_str().unwrap(),
        "--auth-path",
        "/cgi-bin/admin",
    ]);
    let r = get(&server, "/cgi-bin/who.sh", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "REMOTE_USER=unset AUTH_TYPE=unset HTTP_AUTHORIZATION=unset\n"
    );
    for path in [
        "/cgi-bin/admin/who.sh",
        "/cgi-bin//admin/who.sh",
        "/cgi-bin/%61dmin/who.sh",
    ] {
        assert_eq!(get(&server, path, None).status, 401, "{path}");
        let r = get(&server, path, Some(&basic("grace", "md5 pw")));
        assert_eq!(r.status, 200, "{path}");
        assert!(r.text().starts_with("REMOTE_USER=grace "), "{}", r.text());
    }
    // A local redirect into the protected path is checked too.
    site.root.script(
        "hop.sh",
        "#!/bin/sh\nprintf 'Location: /cgi-bin/admin/who.sh\\n\\n'\n",
    );
    assert_eq!(get(&server, "/cgi-bin/hop.sh", None).status, 401);
    let r = get(&server, "/cgi-bin/hop.sh", Some(&basic("alan", "sha1 pw")));
    assert!(r.text().starts_with("REMOTE_USER=alan "), "{}", r.text());
}

#[test]
fn a_bad_htpasswd_file_is_a_startup_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    htpasswd(&users, &[("ada", "pw", "-B"), ("dennis", "pw", "-d")]);
    let root = Root::new();
    let out = Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .arg("--root")
        .arg(root.path())
        .arg("--auth-file")
        .arg(&users)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2 (dennis): crypt(3) DES"), "{err}");
}
