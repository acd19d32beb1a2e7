//! The status pages (`--status`): the HTML page with a script running,
//! the same figures as JSON (parsed back), the Prometheus metrics
//! (checked by `promtool`), health turning 503 on SIGTERM, who may see
//! them, and a path that never meets a script's.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Client, Root, open_gate, wait_until};
use nix::sys::signal::Signal;

const HELLO: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n";
const WAIT_GATE: &str =
    "#!/bin/sh\nread x < ./gate\nprintf 'Content-Type: text/plain\\n\\nfinished\\n'\n";

fn page<S: std::io::Read + std::io::Write>(c: &mut Client<S>, path: &str) -> common::Response {
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
    c.response()
}

#[test]
fn the_page_shows_requests_running_scripts_and_limits() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    root.script("wait.sh", WAIT_GATE);
    let gate = root.gate("gate");
    let server = root.start(&["--status", "/server-status", "--max-scripts", "7"]);
    assert_eq!(server.get("/cgi-bin/hello.sh").status, 200);
    assert_eq!(server.get("/cgi-bin/nothing-here").status, 404);
    // Requests are counted as they are logged, just after their response.
    wait_until("2 access lines", || {
        (server.access_log().len() == 2).then_some(())
    });
    let mut waiting = server.connect();
    waiting.send(b"GET /cgi-bin/wait.sh?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    let pid = wait_until("the script to run", || {
        common::children_of(server.pid()).first().copied()
    });

    let r = server.get("/server-status");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let html = r.text();
    for part in [
        "<td>state</td><td>serving</td>",
        "<td>200 OK</td><td class=\"n\">1</td>",
        "<td>404 Not Found</td><td class=\"n\">1</td>",
        &format!("<td class=\"n\">{pid}</td>"),
        "/cgi-bin/wait.sh?x=1</td>",
        "<td>--max-scripts</td><td class=\"n\">7</td>",
        "<h2>Slowest of the last 256 requests</h2>",
        "/cgi-bin/nothing-here",
    ] {
        assert!(html.contains(part), "{part:?} in {html}");
    }

    wait_until("3 access lines", || {
        (server.access_log().len() == 3).then_some(())
    });
    let r = server.get("/server-status?format=json");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(json["draining"], false);
    // The status page asked before counts too.
    assert_eq!(json["by_status"]["200"], 2);
    assert_eq!(json["by_status"]["404"], 1);
    assert_eq!(json["scripts"][0]["pid"], pid);
    assert_eq!(json["scripts"][0]["target"], "/cgi-bin/wait.sh?x=1");
    assert!(json["scripts"][0]["age_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(json["limits"]["--max-scripts"], "7");
    assert!(json["uptime_seconds"].as_f64().unwrap() >= 0.0);
    // Every request counted so far falls in one of the buckets.
    let buckets = json["duration_buckets"].as_array().unwrap();
    let counted: u64 = buckets
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, json["requests"].as_u64().unwrap());
    assert!(json["requests"].as_u64().unwrap() >= 3);

    open_gate(&gate);
    assert_eq!(waiting.response().text(), "finished\n");
    wait_until("the script to be unlisted", || {
        let r = server.get("/server-status?format=json");
        let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        (json["scripts"] == serde_json::json!([])).then_some(())
    });
}

/// Runs `promtool check metrics` on `text`: its status and output.
fn promtool(text: &[u8]) -> (bool, String) {
    let promtool = common::require("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[test]
fn metrics_are_prometheus_text_that_promtool_accepts() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&["--status", "/server-status"]);
    for _ in 0..3 {
        assert_eq!(server.get("/cgi-bin/hello.sh").status, 200);
    }
    server.get("/cgi-bin/missing");
    // Requests are counted as they are logged, just after their response.
    wait_until("4 access lines", || {
        (server.access_log().len() == 4).then_some(())
    });
    let r = server.get("/server-status/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    for line in [
        "rcgi_requests_total{code=\"200\"} 3",
        "rcgi_requests_total{code=\"404\"} 1",
        "rcgi_request_duration_seconds_bucket{le=\"+Inf\"} 4",
        "rcgi_request_duration_seconds_count 4",
        "rcgi_scripts_started_total 3",
        "rcgi_draining 0",
        "# TYPE rcgi_request_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    let (ok, said) = promtool(&r.body);
    assert!(ok && said.trim().is_empty(), "promtool: {said}\n{text}");
    // promtool finds fault with a broken exposition: the check can fail.
    let broken = text.replace("# TYPE rcgi_requests_total counter\n", "");
    let broken = broken.replace("rcgi_connections_total", "rcgi_connections");
    let (ok, said) = promtool(broken.as_bytes());
    assert!(
        !ok && said.contains("_total"),
        "promtool on a broken text: {said}"
    );
}

#[test]
fn health_turns_503_once_draining() {
    let root = Root::new();
    let server = root.start(&["--status", "/status", "--idle-timeout", "1h"]);
    let r = server.get("/status/health");
    assert_eq!((r.status, r.text().as_str()), (200, "serving\n"));
    // A request that arrives while the server drains (its head begun
    // before, completed after the signal).
    let mut late = server.connect();
    late.send(b"GET /status/health HTTP/1.1\r\n");
    late.wait_until_received();
    server.signal(Signal::SIGTERM);
    server.wait_stderr("stopping: 1 requests running");
    late.send(b"Host: t\r\n\r\n");
    let r = late.response();
    assert_eq!((r.status, r.text().as_str()), (503, "draining\n"));
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn only_allowed_clients_see_the_pages() {
    let root = Root::new();
    let sock = root.path().join("s.sock");
    let unix = format!("unix:{}", sock.display());
    let server = root.start(&[
        "--status",
        "/status",
        "--listen",
        "127.0.0.1:0",
        "--listen",
        &unix,
    ]);
    // The default: loopback and Unix sockets.
    assert_eq!(server.get("/status").status, 200);
    assert_eq!(page(&mut Client::unix(&sock), "/status/health").status, 200);
    let mut post = server.connect();
    post.send(b"POST /status HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.response().status, 405);
    assert_eq!(server.get("/status/nothing").status, 404);
    // Paths that only begin like it are not the status pages.
    assert_eq!(server.get("/statusx").status, 404);
    drop(server);

    let server = root.start(&[
        "--status",
        "/status",
        "--status-allow",
        "10.0.0.0/8",
        "--listen",
        "127.0.0.1:0",
        "--listen",
        &unix,
    ]);
    let r = server.get("/status/metrics");
    assert_eq!(r.status, 403);
    assert!(r.text().contains("not open to this address"));
    assert_eq!(page(&mut Client::unix(&sock), "/status").status, 403);
    drop(server);

    let server = root.start(&[
        "--status",
        "/status",
        "--status-allow",
        "unix",
        "--listen",
        "127.0.0.1:0",
        "--listen",
        &unix,
    ]);
    assert_eq!(server.get("/status").status, 403);
    assert_eq!(page(&mut Client::unix(&sock), "/status").status, 200);
}

#[test]
fn a_status_path_where_a_script_could_be_is_refused_at_start() {
    let root = Root::new();
    let root_arg = root.path().display().to_string();
    for args in [
        vec!["--status", "/cgi-bin/status"],
        vec!["--status", "/server-status", "--prefix", "/"],
        vec!["--status", "relative"],
        vec!["--status-allow", "10.0.0.0/99", "--status", "/s"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rcgi"))
            .args(["--root", &root_arg])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // A hidden segment is never a script: allowed under the prefix.
    root.script(".status", HELLO);
    let server = root.start(&["--status", "/.rcgi-status", "--prefix", "/"]);
    assert_eq!(server.get("/.rcgi-status/health").status, 200);
    let server = root.start(&["--status", "/cgi-bin/.status"]);
    assert_eq!(
        server.get("/cgi-bin/.status").header("content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn behind_a_trusted_proxy_the_client_it_names_is_checked() {
    let root = Root::new();
    let server = root.start(&["--status", "/status", "--trusted-proxy", "127.0.0.1"]);
    assert_eq!(server.get("/status/health").status, 200);
    let mut c = server.connect();
    c.send(b"GET /status/health HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.5\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().status, 403);
}
