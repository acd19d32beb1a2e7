//! The FastCGI front end (`--fastcgi`), spoken to by a small FastCGI
//! client (tests/common/fcgi.rs) over real sockets: the environment a
//! script gets from the params, which script runs (SCRIPT_FILENAME inside
//! the root only, SCRIPT_NAME routing), streaming both ways, keep-conn,
//! management records, roles, multiplexing, malformed records, aborts
//! and closed connections (the script's group killed), and the limits.

mod common;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::fcgi::{self, Conn};
use common::{Root, Server, is_dead, open_gate, wait_until};

const ENV: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nenv\n";

fn start(root: &Root, args: &[&str]) -> (Server, SocketAddr) {
    let mut all = vec!["--fastcgi", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let server = root.start(&all);
    let addr = fcgi::address(&server);
    (server, addr)
}

/// The variables of an `env` dump.
fn vars(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn params_become_the_cgi_environment_as_over_http() {
    let root = Root::new();
    root.script("env.sh", ENV);
    let (server, addr) = start(&root, &["--env", "FROM_OPERATOR=yes"]);
    let mut c = Conn::tcp(addr);
    let params = [
        ("REQUEST_METHOD", "POST"),
        ("SCRIPT_NAME", "/cgi-bin/env.sh"),
        ("PATH_INFO", "/extra/path"),
        ("REQUEST_URI", "/cgi-bin/env.sh/extra/path?a=1&b=2"),
        ("QUERY_STRING", "a=1&b=2"),
        ("SERVER_PROTOCOL", "HTTP/1.0"),
        ("CONTENT_LENGTH", "5"),
        ("CONTENT_TYPE", "text/plain"),
        ("REMOTE_ADDR", "192.0.2.9"),
        ("REMOTE_PORT", "40123"),
        ("SERVER_NAME", "www.example.org"),
        ("SERVER_PORT", "443"),
        ("HTTPS", "on"),
        ("HTTP_HOST", "www.example.org"),
        ("HTTP_X_TRACE", "abc"),
        ("HTTP_ACCEPT", "text/html"),
        ("HTTP_ACCEPT", "text/plain"),
        ("HTTP_PROXY", "http://evil.example/"),
        ("HTTP_AUTHORIZATION", "Basic c2VjcmV0"),
        ("HTTP_CONTENT_LENGTH", "999"),
        ("PATH", "/evil/bin"),
    ];
    c.send(&fcgi::request(1, false, &params, b"hello"));
    let reply = c.reply(1);
    assert_eq!(reply.protocol_status, fcgi::REQUEST_COMPLETE);
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header("x-accel-buffering").as_deref(), Some("no"));
    let env = vars(&reply.text());
    let expect = [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REQUEST_METHOD", "POST"),
        ("SCRIPT_NAME", "/cgi-bin/env.sh"),
        ("PATH_INFO", "/extra/path"),
        ("QUERY_STRING", "a=1&b=2"),
        ("REQUEST_URI", "/cgi-bin/env.sh/extra/path?a=1&b=2"),
        ("SERVER_PROTOCOL", "HTTP/1.0"),
        ("CONTENT_LENGTH", "5"),
        ("CONTENT_TYPE", "text/plain"),
        ("REMOTE_ADDR", "192.0.2.9"),
        ("REMOTE_PORT", "40123"),
        ("SERVER_NAME", "www.example.org"),
        ("SERVER_PORT", "443"),
        ("HTTPS", "on"),
        ("HTTP_X_TRACE", "abc"),
        ("HTTP_ACCEPT", "text/html, text/plain"),
        ("FROM_OPERATOR", "yes"),
    ];
    for (name, value) in expect {
        assert_eq!(var(&env, name), Some(value), "{name} in {env:?}");
    }
    let script = root.path().join("env.sh");
    assert_eq!(var(&env, "SCRIPT_FILENAME"), script.to_str());
    for absent in ["HTTP_PROXY", "HTTP_AUTHORIZATION", "HTTP_CONTENT_LENGTH"] {
        assert_eq!(var(&env, absent), None, "{absent}");
    }
    assert_ne!(var(&env, "PATH"), Some("/evil/bin"));
    server.wait_access("/cgi-bin/env.sh/extra/path?a=1&b=2");
}

#[test]
fn pass_auth_lets_authorization_through() {
    let root = Root::new();
    root.script("env.sh", ENV);
    let (_server, addr) = start(&root, &["--pass-auth"]);
    let mut c = Conn::tcp(addr);
    let mut params = fcgi::get_params("/cgi-bin/env.sh");
    params.push(("HTTP_AUTHORIZATION", "Basic c2VjcmV0"));
    c.send(&fcgi::request(1, false, &params, b""));
    let env = vars(&c.reply(1).text());
    assert_eq!(var(&env, "HTTP_AUTHORIZATION"), Some("Basic c2VjcmV0"));
}

#[test]
fn script_filename_runs_only_scripts_inside_the_root() {
    let root = Root::new();
    root.script("env.sh", ENV);
    root.script(".hidden/env.sh", ENV);
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("ran");
    let evil = outside.path().join("evil.sh");
    fs::write(
        &evil,
        format!(
            "#!/bin/sh\ntouch {}\nprintf 'Content-Type: text/plain\\n\\nowned'\n",
            marker.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&evil, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    symlink(&evil, root.path().join("link.sh")).unwrap();
    let (server, addr) = start(&root, &[]);
    let base = root.path();
    let ask = |file: &str| {
        let mut c = Conn::tcp(addr);
        let mut params = fcgi::get_params("/cgi-bin/x");
        params.push(("SCRIPT_FILENAME", file));
        c.send(&fcgi::request(1, false, &params, b""));
        c.reply(1)
    };
    // The fcgiwrap convention: $document_root$fastcgi_script_name, path info included.
    let inside = format!("{}/env.sh/more/info", base.display());
    let reply = ask(&inside);
    assert_eq!(reply.status(), 200);
    let env = vars(&reply.text());
    assert_eq!(var(&env, "PATH_INFO"), Some("/more/info"));
    assert_eq!(var(&env, "SCRIPT_NAME"), Some("/cgi-bin/env.sh"));

    // The root named through a symlinked folder is still the root.
    let alias = outside.path().join("alias");
    symlink(&base, &alias).unwrap();
    let reply = ask(&format!("{}/env.sh", alias.display()));
    assert_eq!(reply.status(), 200);
    assert_eq!(
        var(&vars(&reply.text()), "SCRIPT_NAME"),
        Some("/cgi-bin/env.sh")
    );

    assert_eq!(ask(evil.to_str().unwrap()).status(), 403);
    assert_eq!(ask(&format!("{}/link.sh", base.display())).status(), 403);
    assert_eq!(ask(&format!("{}/../evil.sh", base.display())).status(), 400);
    assert_eq!(
        ask(&format!("{}/.hidden/env.sh", base.display())).status(),
        404
    );
    assert!(!marker.exists(), "a script outside the root ran");
    server.wait_stderr("SCRIPT_FILENAME outside the script folders");
}

#[test]
fn script_name_routes_under_the_root_and_unix_sockets_serve() {
    let root = Root::new();
    root.script("sub/env.sh", ENV);
    root.file("plain.txt", "not a script", 0o644);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let spec = format!("unix:{}", sock.display());
    let server = root.start(&["--fastcgi", &spec, "--socket-mode", "0600"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut c = Conn::unix(&sock);
    c.send(&fcgi::request(
        1,
        true,
        &fcgi::get_params("/cgi-bin/sub/env.sh"),
        b"",
    ));
    let env = vars(&c.reply(1).text());
    assert_eq!(var(&env, "SCRIPT_NAME"), Some("/cgi-bin/sub/env.sh"));
    assert_eq!(var(&env, "REMOTE_ADDR"), Some("127.0.0.1"));
    c.send(&fcgi::request(
        2,
        true,
        &fcgi::get_params("/cgi-bin/plain.txt"),
        b"",
    ));
    assert_eq!(c.reply(2).status(), 403);
    c.send(&fcgi::request(
        3,
        true,
        &fcgi::get_params("/cgi-bin/nothing"),
        b"",
    ));
    assert_eq!(c.reply(3).status(), 404);
    drop(server);
}

#[test]
fn output_streams_before_the_script_ends() {
    let root = Root::new();
    let gate = root.gate("gate");
    root.script(
        "slow.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfirst\\n'\nread x < ./gate\necho second\n",
    );
    let (_server, addr) = start(&root, &[]);
    // Without CONTENT_LENGTH (nginx sends it empty), and with 0 (lighttpd).
    for length in [None, Some("0")] {
        let mut c = Conn::tcp(addr);
        let mut params = fcgi::get_params("/cgi-bin/slow.sh");
        params.extend(length.map(|n| ("CONTENT_LENGTH", n)));
        c.send(&fcgi::request(1, false, &params, b""));
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("first\n") {
            let r = c.read_record().unwrap().expect("a record");
            assert_eq!(r.kind, fcgi::STDOUT, "ended before the gate opened");
            seen.extend(r.content);
        }
        open_gate(&gate);
        let rest = c.reply(1);
        assert!(String::from_utf8_lossy(&rest.stdout).contains("second"));
    }
}

#[test]
fn a_body_streams_in_byte_for_byte() {
    let root = Root::new();
    root.script(
        "echo.sh",
        "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat\n",
    );
    let (_server, addr) = start(&root, &[]);
    let body = common::noise(3 << 20, 7);
    let len = body.len().to_string();
    for declared in [true, false] {
        let mut params = fcgi::get_params("/cgi-bin/echo.sh");
        params[0] = ("REQUEST_METHOD", "POST");
        if declared {
            params.push(("CONTENT_LENGTH", &len));
        }
        let mut c = Conn::tcp(addr);
        let writer = {
            let mut w = c.stream.try_clone().unwrap();
            let raw = fcgi::request(1, false, &params, &body);
            std::thread::spawn(move || std::io::Write::write_all(&mut w, &raw).unwrap())
        };
        let reply = c.reply(1);
        writer.join().unwrap();
        assert_eq!(reply.status(), 200);
        let got = reply.body();
        assert_eq!(got.len(), body.len(), "declared: {declared}");
        assert!(got == body, "the body came back changed");
    }
}

#[test]
fn keep_conn_carries_requests_one_after_another() {
    let root = Root::new();
    root.script("env.sh", ENV);
    let (server, addr) = start(&root, &[]);
    let mut c = Conn::tcp(addr);
    for id in [1, 1, 7] {
        let mut params = fcgi::get_params("/cgi-bin/env.sh");
        let q = format!("n={id}");
        params.push(("QUERY_STRING", &q));
        c.send(&fcgi::request(id, true, &params, b""));
        let env = vars(&c.reply(id).text());
        assert_eq!(var(&env, "QUERY_STRING"), Some(q.as_str()));
    }
    // Without FCGI_KEEP_CONN, rcgi closes after the request.
    c.send(&fcgi::request(
        2,
        false,
        &fcgi::get_params("/cgi-bin/env.sh"),
        b"",
    ));
    assert_eq!(c.reply(2).status(), 200);
    assert!(c.closed());
    drop(server);
}

#[test]
fn get_values_and_unknown_management_types_are_answered() {
    let root = Root::new();
    let (_server, addr) = start(&root, &["--max-connections", "33"]);
    let mut c = Conn::tcp(addr);
    let asked = fcgi::pairs(&[
        ("FCGI_MAX_CONNS", ""),
        ("FCGI_MAX_REQS", ""),
        ("FCGI_MPXS_CONNS", ""),
        ("X", ""),
    ]);
    c.send(&fcgi::record(fcgi::GET_VALUES, 0, &asked));
    let r = c.read_record().unwrap().unwrap();
    assert_eq!((r.kind, r.id), (fcgi::GET_VALUES_RESULT, 0));
    let got = fcgi::decode_pairs(&r.content);
    let want: Vec<(String, String)> = [
        ("FCGI_MAX_CONNS", "33"),
        ("FCGI_MAX_REQS", "33"),
        ("FCGI_MPXS_CONNS", "0"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(got, want);
    c.send(&fcgi::record(200, 0, b""));
    let r = c.read_record().unwrap().unwrap();
    assert_eq!((r.kind, r.content[0]), (fcgi::UNKNOWN_TYPE, 200));
}

#[test]
fn other_roles_are_unknown() {
    let root = Root::new();
    root.script("env.sh", ENV);
    let (_server, addr) = start(&root, &[]);
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::begin(1, fcgi::AUTHORIZER, true));
    let r = c.read_record().unwrap().unwrap();
    assert_eq!(
        (r.kind, r.id, r.content[4]),
        (fcgi::END_REQUEST, 1, fcgi::UNKNOWN_ROLE)
    );
    // The connection goes on.
    c.send(&fcgi::request(
        2,
        false,
        &fcgi::get_params("/cgi-bin/env.sh"),
        b"",
    ));
    assert_eq!(c.reply(2).status(), 200);
}

#[test]
fn a_second_request_on_a_busy_connection_is_refused() {
    let root = Root::new();
    let gate = root.gate("gate");
    root.script(
        "held.sh",
        "#!/bin/sh\nread x < ./gate\nprintf 'Content-Type: text/plain\\n\\nheld'\n",
    );
    let (server, addr) = start(&root, &[]);
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::request(
        1,
        true,
        &fcgi::get_params("/cgi-bin/held.sh"),
        b"",
    ));
    wait_until("the held script", || {
        (!common::children_of(server.pid()).is_empty()).then_some(())
    });
    c.send(&fcgi::request(
        2,
        true,
        &fcgi::get_params("/cgi-bin/held.sh"),
        b"",
    ));
    let r = c.read_record().unwrap().unwrap();
    assert_eq!(
        (r.kind, r.id, r.content[4]),
        (fcgi::END_REQUEST, 2, fcgi::CANT_MPX_CONN)
    );
    open_gate(&gate);
    let reply = c.reply(1);
    assert_eq!(reply.text(), "held");
}

#[test]
fn malformed_records_end_the_connection_with_a_log_line() {
    let root = Root::new();
    root.script("env.sh", ENV);
    let (server, addr) = start(&root, &[]);
    // An unknown version.
    let mut c = Conn::tcp(addr);
    let mut bad = fcgi::begin(1, fcgi::RESPONDER, true);
    bad[0] = 2;
    c.send(&bad);
    assert!(c.closed());
    server.wait_stderr("unknown FastCGI version");
    // PARAMS over their bound (64 KiB).
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::begin(1, fcgi::RESPONDER, true));
    let big = "v".repeat(40_000);
    for _ in 0..2 {
        c.send(&fcgi::record(
            fcgi::PARAMS,
            1,
            &fcgi::pairs(&[("HTTP_X", &big)]),
        ));
    }
    assert!(c.closed());
    server.wait_stderr("PARAMS over 65536 bytes");
    // A pair longer than its stream.
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::begin(1, fcgi::RESPONDER, true));
    c.send(&fcgi::record(fcgi::PARAMS, 1, &[0x80, 0, 1, 0, 1, b'a']));
    c.send(&fcgi::record(fcgi::PARAMS, 1, b""));
    assert!(c.closed());
    server.wait_stderr("name-value pair longer than its record");
    // A truncated record, then the close.
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::begin(1, fcgi::RESPONDER, true)[..5]);
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(c.closed());
    server.wait_stderr("connection closed mid-record");
    // Still serving.
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::request(
        1,
        false,
        &fcgi::get_params("/cgi-bin/env.sh"),
        b"",
    ));
    assert_eq!(c.reply(1).status(), 200);
}

/// A script that starts a background process in its group, tells its
/// pid, and waits.
const HOLDS: &str = "#!/bin/sh\nsleep 300 &\necho $! > ./child.pid\nprintf 'Content-Type: text/plain\\n\\nstarted\\n'\nwait\n";

fn held_child(root: &Root) -> u32 {
    held_child_after(root, 0)
}

/// The pid a new run of [`HOLDS`] wrote, other than `before`.
fn held_child_after(root: &Root, before: u32) -> u32 {
    let file = root.path().join("child.pid");
    wait_until("the background pid", || {
        let pid = fs::read_to_string(&file).ok()?.trim().parse::<u32>().ok()?;
        (pid != before).then_some(pid)
    })
}

#[test]
fn abort_request_kills_the_scripts_group() {
    let root = Root::new();
    root.script("holds.sh", HOLDS);
    let (server, addr) = start(&root, &[]);
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::request(
        1,
        true,
        &fcgi::get_params("/cgi-bin/holds.sh"),
        b"",
    ));
    let child = held_child(&root);
    c.send(&fcgi::record(fcgi::ABORT_REQUEST, 1, b""));
    wait_until("the background process killed", || {
        is_dead(child).then_some(())
    });
    let (reply, _) = c.reply_with_others(1);
    assert!(String::from_utf8_lossy(&reply.stdout).contains("started"));
    // FCGI_KEEP_CONN: the connection goes on.
    c.send(&fcgi::request(
        2,
        true,
        &fcgi::get_params("/cgi-bin/holds.sh"),
        b"",
    ));
    let second = held_child_after(&root, child);
    c.send(&fcgi::record(fcgi::ABORT_REQUEST, 2, b""));
    wait_until("the second background process killed", || {
        is_dead(second).then_some(())
    });
    c.reply_with_others(2);
    wait_until("no zombies", || server.zombies().is_empty().then_some(()));
}

#[test]
fn a_closed_connection_kills_the_scripts_group() {
    let root = Root::new();
    root.script("holds.sh", HOLDS);
    let (_server, addr) = start(&root, &[]);
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::request(
        1,
        true,
        &fcgi::get_params("/cgi-bin/holds.sh"),
        b"",
    ));
    let child = held_child(&root);
    drop(c);
    wait_until("the background process killed", || {
        is_dead(child).then_some(())
    });
}

#[test]
fn past_max_scripts_the_answer_is_503() {
    let root = Root::new();
    let gate = root.gate("gate");
    root.script(
        "held.sh",
        "#!/bin/sh\nread x < ./gate\nprintf 'Content-Type: text/plain\\n\\nheld'\n",
    );
    root.script("env.sh", ENV);
    let (server, addr) = start(&root, &["--max-scripts", "1"]);
    let mut holder = Conn::tcp(addr);
    holder.send(&fcgi::request(
        1,
        false,
        &fcgi::get_params("/cgi-bin/held.sh"),
        b"",
    ));
    wait_until("the held script", || {
        (!common::children_of(server.pid()).is_empty()).then_some(())
    });
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::request(
        1,
        false,
        &fcgi::get_params("/cgi-bin/env.sh"),
        b"",
    ));
    let reply = c.reply(1);
    assert_eq!(reply.status(), 503);
    assert!(
        reply.text().contains("too many scripts running"),
        "{}",
        reply.text()
    );
    open_gate(&gate);
    assert_eq!(holder.reply(1).text(), "held");
}

#[test]
fn a_script_past_its_timeout_gets_504() {
    let root = Root::new();
    root.script("sleeps.sh", "#!/bin/sh\nexec sleep 300\n");
    let (server, addr) = start(&root, &["--timeout", "1s"]);
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::request(
        1,
        false,
        &fcgi::get_params("/cgi-bin/sleeps.sh"),
        b"",
    ));
    let reply = c.reply(1);
    assert_eq!(reply.status(), 504);
    wait_until("the script reaped", || {
        server.zombies().is_empty().then_some(())
    });
    wait_until("no script left", || {
        common::children_of(server.pid()).is_empty().then_some(())
    });
}

#[test]
fn a_body_over_max_body_is_413() {
    let root = Root::new();
    root.script(
        "echo.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec cat\n",
    );
    let (_server, addr) = start(&root, &["--max-body", "1000"]);
    let mut c = Conn::tcp(addr);
    let mut params = fcgi::get_params("/cgi-bin/echo.sh");
    params[0] = ("REQUEST_METHOD", "POST");
    params.push(("CONTENT_LENGTH", "5000"));
    c.send(&fcgi::request(1, false, &params, &[b'x'; 5000]));
    assert_eq!(c.reply(1).status(), 413);
}

#[test]
fn output_waits_for_the_body_as_nginx_needs() {
    // nginx stops sending a request body once the response has begun: a
    // client that does the same must still get the whole body to the
    // script, which writes its head before it reads.
    let root = Root::new();
    root.script(
        "sum.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nsha256sum | cut -c1-64\n",
    );
    let (_server, addr) = start(&root, &["--idle-timeout", "3s"]);
    let body = common::noise(2 << 20, 3);
    let len = body.len().to_string();
    let mut params = fcgi::get_params("/cgi-bin/sum.sh");
    params[0] = ("REQUEST_METHOD", "POST");
    params.push(("CONTENT_LENGTH", &len));
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::begin(1, fcgi::RESPONDER, false));
    c.send(&fcgi::stream(fcgi::PARAMS, 1, &fcgi::pairs(&params)));
    let answered = Arc::new(AtomicBool::new(false));
    let writer = {
        let mut w = c.stream.try_clone().unwrap();
        let answered = Arc::clone(&answered);
        let body = body.clone();
        std::thread::spawn(move || {
            let mut records: Vec<Vec<u8>> = body
                .chunks(32768)
                .map(|p| fcgi::record(fcgi::STDIN, 1, p))
                .collect();
            records.push(fcgi::record(fcgi::STDIN, 1, b""));
            for r in records {
                if answered.load(Ordering::SeqCst) {
                    return false;
                }
                std::io::Write::write_all(&mut w, &r).unwrap();
            }
            true
        })
    };
    let first = c.read_record().unwrap().expect("a record");
    answered.store(true, Ordering::SeqCst);
    assert_eq!(first.kind, fcgi::STDOUT);
    assert!(
        writer.join().unwrap(),
        "the response began before the body was sent"
    );
    let mut reply = c.reply(1);
    reply.stdout.splice(0..0, first.content);
    assert_eq!(reply.text().trim(), common::sha256_hex(&body));
}

#[test]
fn a_stalled_body_gets_408() {
    let root = Root::new();
    root.script(
        "reads.sh",
        "#!/bin/sh\nbody=$(cat)\nprintf 'Content-Type: text/plain\\n\\n%s' \"$body\"\n",
    );
    let (server, addr) = start(&root, &["--idle-timeout", "1s"]);
    let mut c = Conn::tcp(addr);
    let mut params = fcgi::get_params("/cgi-bin/reads.sh");
    params[0] = ("REQUEST_METHOD", "POST");
    params.push(("CONTENT_LENGTH", "100"));
    c.send(&fcgi::begin(1, fcgi::RESPONDER, false));
    c.send(&fcgi::stream(fcgi::PARAMS, 1, &fcgi::pairs(&params)));
    c.send(&fcgi::record(fcgi::STDIN, 1, b"only ten b"));
    let reply = c.reply(1);
    assert_eq!(reply.status(), 408);
    wait_until("the script gone", || {
        common::children_of(server.pid()).is_empty().then_some(())
    });
}

#[test]
fn a_stop_lets_a_running_request_finish() {
    let root = Root::new();
    let gate = root.gate("gate");
    root.script(
        "held.sh",
        "#!/bin/sh\nread x < ./gate\nprintf 'Content-Type: text/plain\\n\\nheld'\n",
    );
    let (server, addr) = start(&root, &["--shutdown-grace", "20s"]);
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::request(
        1,
        true,
        &fcgi::get_params("/cgi-bin/held.sh"),
        b"",
    ));
    wait_until("the held script", || {
        (!common::children_of(server.pid()).is_empty()).then_some(())
    });
    server.signal(nix::sys::signal::Signal::SIGTERM);
    server.wait_stderr("stopping: 1 requests running");
    open_gate(&gate);
    assert_eq!(c.reply(1).text(), "held");
    // The connection's last request: rcgi closes it, and exits.
    assert!(c.closed());
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn http_and_fastcgi_at_once_or_fastcgi_alone() {
    let root = Root::new();
    root.script("env.sh", ENV);
    let both = root.start(&["--fastcgi", "127.0.0.1:0", "--listen", "127.0.0.1:0"]);
    assert!(
        both.get("/cgi-bin/env.sh")
            .text()
            .contains("GATEWAY_INTERFACE=CGI/1.1")
    );
    let mut c = Conn::tcp(fcgi::address(&both));
    c.send(&fcgi::request(
        1,
        false,
        &fcgi::get_params("/cgi-bin/env.sh"),
        b"",
    ));
    assert_eq!(c.reply(1).status(), 200);

    let (alone, _) = start(&root, &[]);
    let places = alone.listening();
    assert!(!places.is_empty());
    assert!(
        places.iter().all(|p| !p.starts_with("http://")),
        "an HTTP listener beside --fastcgi: {places:?}"
    );
}

#[test]
fn many_requests_leave_no_descriptor_or_process_behind() {
    let root = Root::new();
    root.script("env.sh", ENV);
    let (server, addr) = start(&root, &[]);
    let warm = {
        let mut c = Conn::tcp(addr);
        c.send(&fcgi::request(
            1,
            false,
            &fcgi::get_params("/cgi-bin/env.sh"),
            b"",
        ));
        c.reply(1);
        assert!(c.closed());
        server.open_fds()
    };
    for _ in 0..20 {
        let mut c = Conn::tcp(addr);
        for _ in 0..10 {
            c.send(&fcgi::request(
                1,
                true,
                &fcgi::get_params("/cgi-bin/env.sh"),
                b"x",
            ));
            assert_eq!(c.reply(1).status(), 200);
        }
    }
    wait_until("the descriptors back to where they were", || {
        (server.open_fds() <= warm).then_some(())
    });
    assert!(server.zombies().is_empty());
    assert!(common::children_of(server.pid()).is_empty());
}

/// rcgi's thread ids now.
fn thread_ids(server: &Server) -> Vec<String> {
    fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A web server that opens a connection per request (nginx without
/// `fastcgi_keep_conn`) costs no thread start per request: the thread
/// of the last connection, free again, takes the next.
#[test]
fn connections_one_after_another_reuse_a_thread() {
    let root = Root::new();
    root.script("env.sh", ENV);
    let (server, addr) = start(&root, &[]);
    let before = thread_ids(&server);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let mut c = Conn::tcp(addr);
        let params = fcgi::get_params("/cgi-bin/env.sh");
        c.send(&fcgi::request(1, false, &params, b""));
        assert_eq!(c.reply(1).status(), 200);
        assert!(c.closed());
        seen.extend(thread_ids(&server));
    }
    let started: Vec<_> = seen.iter().filter(|t| !before.contains(t)).collect();
    // One serves them all; a loaded machine may start a second while the
    // first is still closing its connection.
    assert!(started.len() <= 2, "threads started: {started:?}");
}

#[test]
fn a_response_cut_by_the_timeout_gets_no_end() {
    let root = Root::new();
    root.script(
        "stalls.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\npart\\n'\nexec sleep 300\n",
    );
    let (_server, addr) = start(&root, &["--timeout", "1s"]);
    let mut c = Conn::tcp(addr);
    c.send(&fcgi::request(
        1,
        true,
        &fcgi::get_params("/cgi-bin/stalls.sh"),
        b"",
    ));
    let mut stdout = Vec::new();
    while let Some(r) = c.read_record().unwrap() {
        assert_ne!(r.kind, fcgi::END_REQUEST, "a cut response looked complete");
        stdout.extend(r.content);
    }
    assert!(String::from_utf8_lossy(&stdout).ends_with("part\n"));
}

#[test]
fn a_get_without_content_length_gets_none() {
    let root = Root::new();
    root.script("env.sh", ENV);
    let (_server, addr) = start(&root, &[]);
    let mut c = Conn::tcp(addr);
    let mut params = fcgi::get_params("/cgi-bin/env.sh");
    // nginx sends the param empty.
    params.push(("CONTENT_LENGTH", ""));
    c.send(&fcgi::request(1, false, &params, b""));
    let env = vars(&c.reply(1).text());
    assert_eq!(var(&env, "CONTENT_LENGTH"), None);
    assert_eq!(var(&env, "REQUEST_METHOD"), Some("GET"));
}
