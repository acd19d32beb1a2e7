//! Behind a proxy: what a trusted peer's forwarded headers (both forms,
//! chains, IPv6, garbage) make of the script's REMOTE_ADDR, REMOTE_PORT,
//! HTTPS, REQUEST_SCHEME, SERVER_NAME and SERVER_PORT, that an untrusted
//! peer's change nothing, and the remote user header. The tests connect
//! from 127.0.0.1: trusting it makes the test a trusted proxy.

mod common;

use common::{Root, Server, message, wait_until};

/// Prints the variables a proxy can change, one `NAME=value` a line
/// (`NAME unset` when it is not set).
const SHOW: &str = r#"#!/bin/sh
printf 'Content-Type: text/plain\n\n'
for v in REMOTE_ADDR REMOTE_HOST REMOTE_PORT HTTPS REQUEST_SCHEME SERVER_NAME SERVER_PORT REMOTE_USER AUTH_TYPE HTTP_X_FORWARDED_FOR HTTP_FORWARDED HTTP_X_REMOTE_USER; do
    eval "set=\${$v+x}"
    if [ -n "$set" ]; then eval "printf '%s=%s\n' $v \"\$$v\""; else printf '%s unset\n' $v; fi
done
"#;

fn start(args: &[&str]) -> (Root, Server) {
    let root = Root::new();
    root.script("show.sh", SHOW);
    let server = root.start(args);
    (root, server)
}

/// The script's view of a GET with `headers` added.
fn seen(server: &Server, headers: &[(&str, &str)]) -> Vec<String> {
    let mut raw =
        String::from("GET /cgi-bin/show.sh HTTP/1.1\r\nHost: inside:8000\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    let r = server.exchange(raw.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().lines().map(str::to_string).collect()
}

/// Asserts each of `expected` (`NAME=value` or `NAME unset`) is in `seen`.
fn assert_has(seen: &[String], expected: &[&str]) {
    for e in expected {
        assert!(seen.iter().any(|l| l == e), "{e} in {seen:#?}");
    }
}

#[test]
fn a_trusted_proxys_x_forwarded_headers_set_the_client_and_the_server() {
    let (_root, server) = start(&[
        "--trusted-proxy",
        "127.0.0.1",
        "--trusted-proxy",
        "10.0.0.0/8",
    ]);
    let view = seen(
        &server,
        &[
            ("X-Forwarded-For", "198.51.100.7, 203.0.113.9, 10.1.2.3"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "www.example.org"),
        ],
    );
    assert_has(
        &view,
        &[
            "REMOTE_ADDR=203.0.113.9",
            "REMOTE_HOST=203.0.113.9",
            "REMOTE_PORT unset",
            "HTTPS=on",
            "REQUEST_SCHEME=https",
            "SERVER_NAME=www.example.org",
            "SERVER_PORT=443",
            // The headers still reach the script.
            "HTTP_X_FORWARDED_FOR=198.51.100.7, 203.0.113.9, 10.1.2.3",
        ],
    );
    server.wait_access("203.0.113.9 - - [");
    let view = seen(
        &server,
        &[
            ("X-Forwarded-For", "[2001:db8::1]:4711"),
            ("X-Forwarded-Host", "[2001:db8::2]:8443"),
        ],
    );
    assert_has(
        &view,
        &[
            "REMOTE_ADDR=2001:db8::1",
            "REMOTE_PORT=4711",
            "HTTPS unset",
            "REQUEST_SCHEME=http",
            "SERVER_NAME=[2001:db8::2]",
            "SERVER_PORT=8443",
        ],
    );
    // Without forwarded headers, the connection's own view.
    let view = seen(&server, &[]);
    assert_has(&view, &["REMOTE_ADDR=127.0.0.1", "SERVER_NAME=inside"]);
    let port = format!("SERVER_PORT={}", server.addr.port());
    assert_has(&view, &[port.as_str()]);
    assert!(!view.iter().any(|l| l == "REMOTE_PORT unset"), "{view:#?}");
}

#[test]
fn a_trusted_proxys_forwarded_header_when_asked_for() {
    let (_root, server) = start(&[
        "--trusted-proxy",
        "127.0.0.0/8",
        "--proxy-headers",
        "forwarded",
    ]);
    let view = seen(
        &server,
        &[
            ("Forwarded", "for=192.0.2.43;proto=http"),
            (
                "Forwarded",
                "for=\"[2001:db8:cafe::17]:4711\";proto=https;host=\"ex.org:8443\", for=127.0.0.5",
            ),
            // Not the form asked for: no effect.
            ("X-Forwarded-For", "198.51.100.99"),
        ],
    );
    assert_has(
        &view,
        &[
            "REMOTE_ADDR=2001:db8:cafe::17",
            "REMOTE_PORT=4711",
            "HTTPS=on",
            "SERVER_NAME=ex.org",
            "SERVER_PORT=8443",
            "HTTP_X_FORWARDED_FOR=198.51.100.99",
        ],
    );
}

#[test]
fn an_untrusted_peers_headers_change_nothing() {
    let (_root, server) = start(&[
        "--trusted-proxy",
        "127.0.0.2",
        "--remote-user-header",
        "X-Remote-User",
    ]);
    let view = seen(
        &server,
        &[
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
            ("Forwarded", "for=203.0.113.9;proto=https"),
            ("X-Remote-User", "admin"),
        ],
    );
    assert_has(
        &view,
        &[
            "REMOTE_ADDR=127.0.0.1",
            "HTTPS unset",
            "REQUEST_SCHEME=http",
            "SERVER_NAME=inside",
            "HTTP_X_FORWARDED_FOR=203.0.113.9",
            "HTTP_FORWARDED=for=203.0.113.9;proto=https",
            // Never a REMOTE_USER from an untrusted peer, nor the header.
            "REMOTE_USER unset",
            "HTTP_X_REMOTE_USER unset",
        ],
    );
    assert!(
        view.iter()
            .any(|l| l == &format!("SERVER_PORT={}", server.addr.port())),
        "{view:#?}"
    );
}

#[test]
fn garbage_is_ignored_and_logged_once_per_connection() {
    let (_root, server) = start(&["--trusted-proxy", "127.0.0.1"]);
    let mut client = server.connect();
    for _ in 0..3 {
        client.send(b"GET /cgi-bin/show.sh HTTP/1.1\r\nHost: inside\r\nX-Forwarded-For: <script>alert(1)</script>\r\nX-Forwarded-Proto: gopher\r\n\r\n");
        let r = client.response();
        assert_eq!(r.status, 200, "never an error page");
        assert!(r.text().contains("REMOTE_ADDR=127.0.0.1\n"), "{}", r.text());
        assert!(r.text().contains("REQUEST_SCHEME=http\n"), "{}", r.text());
    }
    let line = server.wait_stderr("X-Forwarded-For");
    assert!(message(&line).starts_with("rcgi: 127.0.0.1:"), "{line}");
    assert!(line.contains("said once per connection"), "{line}");
    // A second connection says it again, once.
    let view = seen(&server, &[("X-Forwarded-For", "999.1.1.1")]);
    assert_has(&view, &["REMOTE_ADDR=127.0.0.1"]);
    let told = wait_until("the second connection's line", || {
        let n = server
            .stderr()
            .iter()
            .filter(|l| l.contains("said once per connection"))
            .count();
        (n >= 2).then_some(n)
    });
    server.wait_access("show.sh");
    assert_eq!(told, 2, "{:#?}", server.stderr());
}

#[test]
fn the_remote_user_header_from_a_trusted_proxy() {
    let (_root, server) = start(&[
        "--trusted-proxy",
        "127.0.0.1",
        "--remote-user-header",
        "X-Remote-User",
    ]);
    let view = seen(
        &server,
        &[("X-Remote-User", "ada"), ("X-Forwarded-For", "192.0.2.8")],
    );
    assert_has(
        &view,
        &[
            "REMOTE_USER=ada",
            "AUTH_TYPE unset",
            "HTTP_X_REMOTE_USER unset",
            "REMOTE_ADDR=192.0.2.8",
        ],
    );
    server.wait_access("192.0.2.8 - ada [");
    let view = seen(&server, &[]);
    assert_has(&view, &["REMOTE_USER unset"]);
}

#[test]
fn the_remote_user_header_needs_a_trusted_proxy() {
    let root = Root::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .arg("--root")
        .arg(root.path())
        .args(["--remote-user-header", "X-Remote-User"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--trusted-proxy"), "{err}");
    for bad in ["10.0.0.0/33", "localhost", "10.1.0.0/8"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rcgi"))
            .arg("--root")
            .arg(root.path())
            .args(["--trusted-proxy", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}
