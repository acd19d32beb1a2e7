//! The script's environment (RFC 3875 section 4.1): exact values, the
//! variables that must be absent, header merging and hiding, the
//! operator's variables, the working directory and the descriptors a
//! script sees.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;

use common::{Root, Server};

/// Perl adds nothing to its environment (a shell would add PWD).
const DUMP_ENV: &str = r#"#!/usr/bin/perl
print "Content-Type: text/plain\n\n";
print "$_=$ENV{$_}\n" for sort keys %ENV;
"#;

fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn env_of(server: &Server, raw: &str) -> BTreeMap<String, String> {
    let r = server.exchange(raw.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    parse_env(&r.text())
}

#[test]
fn every_variable_has_its_exact_value_and_nothing_else_is_set() {
    let root = Root::new();
    root.script("sub/env.pl", DUMP_ENV);
    let server = root.start(&[]);
    let mut client = server.connect();
    let client_port = client.writer.local_addr().unwrap().port();
    client.send(
        b"POST /cgi-bin/sub/env.pl/p/q%20r?a=1&b=%20x HTTP/1.1\r\n\
          Host: example.org:8080\r\n\
          Content-Type: text/plain\r\n\
          Content-Length: 5\r\n\
          X-Multi: a\r\n\
          Cookie: c=1\r\n\
          x-multi: b\r\n\
          Cookie: d=2\r\n\
          Proxy: http://evil.example/\r\n\
          Authorization: Basic dTpw\r\n\
          Proxy-Authorization: Basic dTpw\r\n\
          X_Forwarded_For: 6.6.6.6\r\n\
          X-Forwarded-For: 1.2.3.4\r\n\
          Connection: close\r\n\
          \r\n\
          hello",
    );
    let r = client.response();
    assert_eq!(r.status, 200);
    let env = parse_env(&r.text());
    let root_dir = root.path().display().to_string();
    let path = std::env::var("PATH").unwrap();
    let expected: BTreeMap<String, String> = [
        ("CONTENT_LENGTH", "5".to_string()),
        ("CONTENT_TYPE", "text/plain".into()),
        ("DOCUMENT_ROOT", root_dir.clone()),
        ("GATEWAY_INTERFACE", "CGI/1.1".into()),
        ("HTTP_CONNECTION", "close".into()),
        ("HTTP_COOKIE", "c=1; d=2".into()),
        ("HTTP_HOST", "example.org:8080".into()),
        ("HTTP_X_FORWARDED_FOR", "1.2.3.4".into()),
        ("HTTP_X_MULTI", "a, b".into()),
        ("PATH", path),
        ("PATH_INFO", "/p/q r".into()),
        ("PATH_TRANSLATED", format!("{root_dir}/p/q r")),
        ("QUERY_STRING", "a=1&b=%20x".into()),
        ("REMOTE_ADDR", "127.0.0.1".into()),
        ("REMOTE_HOST", "127.0.0.1".into()),
        ("REMOTE_PORT", client_port.to_string()),
        ("REQUEST_METHOD", "POST".into()),
        ("REQUEST_SCHEME", "http".into()),
        (
            "REQUEST_URI",
            "/cgi-bin/sub/env.pl/p/q%20r?a=1&b=%20x".into(),
        ),
        ("SCRIPT_FILENAME", format!("{root_dir}/sub/env.pl")),
        ("SCRIPT_NAME", "/cgi-bin/sub/env.pl".into()),
        ("SERVER_ADDR", "127.0.0.1".into()),
        ("SERVER_NAME", "example.org".into()),
        ("SERVER_PORT", server.addr.port().to_string()),
        ("SERVER_PROTOCOL", "HTTP/1.1".into()),
        (
            "SERVER_SOFTWARE",
            format!("rcgi/{}", env!("CARGO_PKG_VERSION")),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(env, expected);
}

#[test]
fn optional_variables_are_absent_when_empty() {
    let root = Root::new();
    root.script("env.pl", DUMP_ENV);
    let server = root.start(&[]);
    let env = env_of(&server, "GET /cgi-bin/env.pl HTTP/1.0\r\n\r\n");
    for absent in [
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "PATH_TRANSLATED",
        "HTTP_HOST",
    ] {
        assert!(!env.contains_key(absent), "{absent} is set: {env:?}");
    }
    assert_eq!(env["QUERY_STRING"], "");
    assert_eq!(env["PATH_INFO"], "");
    assert_eq!(env["SERVER_PROTOCOL"], "HTTP/1.0");
    assert_eq!(
        env["SERVER_NAME"], "127.0.0.1",
        "no Host: the bound address"
    );

    // A body of zero bytes is still a body.
    let env = env_of(
        &server,
        "POST /cgi-bin/env.pl/ HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(env["CONTENT_LENGTH"], "0");
    assert_eq!(env["PATH_INFO"], "/");
    assert_eq!(
        env["PATH_TRANSLATED"],
        format!("{}/", root.path().display())
    );
}

#[test]
fn ipv6_addresses_have_brackets_only_in_server_name() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let root = Root::new();
    root.script("env.pl", DUMP_ENV);
    let server = root.start(&["--bind", "::1"]);
    assert!(server.addr.is_ipv6());
    let port = server.addr.port();
    let env = env_of(
        &server,
        &format!("GET /cgi-bin/env.pl HTTP/1.1\r\nHost: [::1]:{port}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(env["REMOTE_ADDR"], "::1");
    assert_eq!(env["REMOTE_HOST"], "::1");
    assert_eq!(env["SERVER_ADDR"], "::1");
    assert_eq!(env["SERVER_NAME"], "[::1]");
    assert_eq!(env["SERVER_PORT"], port.to_string());
    let env = env_of(&server, "GET /cgi-bin/env.pl HTTP/1.0\r\n\r\n");
    assert_eq!(env["SERVER_NAME"], "[::1]");
}

#[test]
fn the_servers_environment_stays_out_unless_passed() {
    let root = Root::new();
    root.script("env.pl", DUMP_ENV);
    let server = Server::start_with_env(
        &root.path(),
        &[
            "--pass-env",
            "RCGI_PASSED",
            "--pass-env",
            "RCGI_UNSET_NAME",
            "--env",
            "GIT_PROJECT_ROOT=/srv/git",
            "--env",
            "SERVER_NAME=proxy.example",
        ],
        &[("RCGI_SECRET", "leak"), ("RCGI_PASSED", "yes")],
    );
    let env = env_of(
        &server,
        "GET /cgi-bin/env.pl HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert!(!env.contains_key("RCGI_SECRET"));
    assert!(!env.contains_key("RCGI_UNSET_NAME"));
    assert_eq!(env["RCGI_PASSED"], "yes");
    assert_eq!(env["GIT_PROJECT_ROOT"], "/srv/git");
    assert_eq!(env["SERVER_NAME"], "proxy.example", "--env wins");
}

#[test]
fn credentials_are_passed_only_when_asked() {
    let root = Root::new();
    root.script("env.pl", DUMP_ENV);
    let request = "GET /cgi-bin/env.pl HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t0k\r\nProxy-Authorization: Basic eA==\r\nConnection: close\r\n\r\n";
    let hidden = env_of(&root.start(&[]), request);
    assert!(!hidden.contains_key("HTTP_AUTHORIZATION"));
    assert!(!hidden.contains_key("HTTP_PROXY_AUTHORIZATION"));
    let passed = env_of(&root.start(&["--pass-auth"]), request);
    assert_eq!(passed["HTTP_AUTHORIZATION"], "Bearer t0k");
    assert_eq!(passed["HTTP_PROXY_AUTHORIZATION"], "Basic eA==");
}

#[test]
fn header_values_reach_the_script_as_sent_tabs_made_spaces() {
    let root = Root::new();
    root.script("env.pl", DUMP_ENV);
    let server = root.start(&[]);
    let env = env_of(
        &server,
        "GET /cgi-bin/env.pl HTTP/1.1\r\nHost: h\r\nX-Tab: a\tb\r\nX-Case: MiXeD value\r\nX-Utf8: caf\u{e9}\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(env["HTTP_X_TAB"], "a b");
    assert_eq!(env["HTTP_X_CASE"], "MiXeD value");
    assert_eq!(env["HTTP_X_UTF8"], "caf\u{e9}");
}

#[test]
fn absolute_form_target_sets_the_host() {
    let root = Root::new();
    root.script("env.pl", DUMP_ENV);
    let server = root.start(&[]);
    let env = env_of(
        &server,
        "GET http://other.example:81/cgi-bin/env.pl?q HTTP/1.1\r\nHost: ignored\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(env["SERVER_NAME"], "other.example");
    assert_eq!(env["REQUEST_URI"], "/cgi-bin/env.pl?q");
    assert_eq!(env["QUERY_STRING"], "q");
}

#[test]
fn scripts_run_in_their_folder_with_only_three_descriptors() {
    let root = Root::new();
    root.script(
        "deep/er/where.py",
        r#"#!/usr/bin/env python3
import os
extra = []
for fd in range(3, 1024):
    try:
        os.fstat(fd)
        extra.append(fd)
    except OSError:
        pass
print("Content-Type: text/plain\n")
print(os.getcwd())
print(extra)
"#,
    );
    let server = root.start(&[]);
    let r = server.get("/cgi-bin/deep/er/where.py");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        root.path().join("deep/er").display().to_string()
    );
    assert_eq!(
        lines.next().unwrap(),
        "[]",
        "descriptors beyond 0, 1, 2 leaked"
    );
    // The same with a body on stdin (a pipe) and with keep-alive.
    let r = server.exchange(
        b"POST /cgi-bin/deep/er/where.py HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    assert!(r.text().ends_with("[]\n"), "{}", r.text());
}

#[test]
fn without_a_path_of_its_own_rcgi_gives_scripts_a_safe_one() {
    let root = Root::new();
    root.script("env.pl", DUMP_ENV);
    let server = Server::start_custom(&root.path(), &[], |cmd| {
        cmd.env_remove("PATH");
    });
    let env = env_of(&server, "GET /cgi-bin/env.pl HTTP/1.0\r\n\r\n");
    assert_eq!(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
}
