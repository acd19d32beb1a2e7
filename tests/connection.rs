//! Connections: keep-alive, pipelining, refused requests, clients that go
//! away, the access log, and what rcgi leaves behind (no zombies, no
//! descriptors).

mod common;

use std::fs;

use common::{Root, is_dead, wait_until};

const HELLO: &str =
    "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello %s\\n' \"$QUERY_STRING\"\n";

#[test]
fn http11_keeps_the_connection_until_close() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&[]);
    let mut client = server.connect();
    for i in 0..5 {
        client.send(format!("GET /cgi-bin/hello.sh?{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let r = client.response();
        assert_eq!(r.text(), format!("hello {i}\n"));
        assert_eq!(r.header("connection"), None);
    }
    client.send(b"GET /cgi-bin/hello.sh?last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = client.response();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(client.is_closed());
}

#[test]
fn http10_keeps_alive_only_when_asked() {
    let root = Root::new();
    root.script(
        "sized.sh",
        "#!/bin/sh\nprintf 'Content-Length: 3\\n\\nabc'\n",
    );
    let server = root.start(&[]);
    let mut client = server.connect();
    for _ in 0..3 {
        client.send(b"GET /cgi-bin/sized.sh HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = client.response();
        assert_eq!(
            (r.text().as_str(), r.header("connection")),
            ("abc", Some("keep-alive"))
        );
    }
    client.send(b"GET /cgi-bin/sized.sh HTTP/1.0\r\n\r\n");
    assert_eq!(client.response().text(), "abc");
    assert!(client.is_closed());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    root.script(
        "slow.sh",
        "#!/bin/sh\nsleep 0.3\nprintf 'Content-Type: text/plain\\n\\nslow\\n'\n",
    );
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(
        b"GET /cgi-bin/slow.sh HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /cgi-bin/hello.sh?2 HTTP/1.1\r\nHost: t\r\n\r\n\
          HEAD /cgi-bin/hello.sh?3 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /cgi-bin/missing HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /cgi-bin/hello.sh?5 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody\
          GET /cgi-bin/hello.sh?6 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(client.response().text(), "slow\n");
    assert_eq!(client.response().text(), "hello 2\n");
    assert_eq!(client.head_response().status, 200);
    assert_eq!(client.response().status, 404);
    assert_eq!(client.response().text(), "hello 5\n");
    assert_eq!(client.response().text(), "hello 6\n");
    assert!(client.is_closed());
}

#[test]
fn malformed_requests_get_their_status_and_the_connection_closes() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&[]);
    let cases: [(&str, u16); 12] = [
        ("GARBAGE\r\n\r\n", 400),
        ("GET /cgi-bin/hello.sh\r\n\r\n", 400),
        (
            "GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
            400,
        ),
        (
            "GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nX: a\r\n folded\r\n\r\n",
            400,
        ),
        ("GET /cgi-bin/hello.sh HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        ("GET /cgi-bin/hello.sh HTTP/1.2\r\nHost: t\r\n\r\n", 505),
        (
            "POST /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
        (
            "POST /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
            400,
        ),
        (
            "POST /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
            400,
        ),
        (
            "POST /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
        ),
        ("GET /cgi-bin/hello.sh HTTP/1.1\r\n\r\n", 400),
        (
            "GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
        ),
    ];
    for (raw, status) in cases {
        let mut client = server.connect();
        client.send(raw.as_bytes());
        let r = client.response();
        assert_eq!(r.status, status, "{raw:?}: {}", r.text());
        assert_eq!(r.header("connection"), Some("close"), "{raw:?}");
        assert!(client.is_closed(), "{raw:?}");
    }
    let line = server.wait_stderr("505 HTTP version not supported");
    assert!(
        common::message(&line).starts_with("rcgi: 127.0.0.1:"),
        "{line}"
    );
    assert_eq!(common::level(&line), "warn");
}

#[test]
fn a_client_that_goes_away_gets_its_script_group_killed() {
    let root = Root::new();
    root.script(
        "stuck.sh",
        "#!/bin/sh\nsleep 300 &\necho $! > child.pid\necho $$ > script.pid\nprintf 'Content-Type: text/plain\\n\\nstarted\\n'\nwait\n",
    );
    root.script(
        "quiet.sh",
        "#!/bin/sh\nsleep 300 &\necho $! > quiet-child.pid\necho $$ > quiet.pid\nwait\n",
    );
    let server = root.start(&[]);
    let pid_of = |name: &str| -> u32 {
        wait_until(name, || {
            fs::read_to_string(root.dir.path().join(name))
                .ok()
                .and_then(|s| s.trim().parse().ok())
        })
    };

    // Gone mid-response.
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/stuck.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    client.read_head(false).unwrap();
    assert_eq!(client.read_chunk().unwrap().unwrap(), b"started\n");
    let (script, child) = (pid_of("script.pid"), pid_of("child.pid"));
    drop(client);
    wait_until("script and its child killed", || {
        (is_dead(script) && is_dead(child)).then_some(())
    });
    server.wait_stderr("client closed the connection; script stopped");

    // Gone while the script has not even sent its headers.
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/quiet.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let (script, child) = (pid_of("quiet.pid"), pid_of("quiet-child.pid"));
    drop(client);
    wait_until("quiet script and child killed", || {
        (is_dead(script) && is_dead(child)).then_some(())
    });
    server.wait_access("\"GET /cgi-bin/quiet.sh HTTP/1.1\" 499 ");
    // The child, orphaned as its script died, is rcgi's to reap.
    wait_until("no zombie", || server.zombies().is_empty().then_some(()));
}

#[test]
fn nothing_is_left_behind() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    root.script("fail.sh", "#!/bin/sh\nexit 1\n");
    root.script("bg.sh", "#!/bin/sh\n(sleep 0.2; true) </dev/null >/dev/null 2>&1 &\nprintf 'Content-Length: 2\\n\\nok'\n");
    root.script(
        "big.sh",
        "#!/bin/sh\nprintf 'Content-Type: x\\n\\n'\nhead -c 2000000 /dev/zero\n",
    );
    let server = root.start(&[]);
    // Warm up so lazily opened descriptors exist before counting, and
    // count once the warm-up's connection thread has ended: all it had
    // open is closed by then.
    let resting = server.threads();
    server.get("/cgi-bin/hello.sh");
    wait_until("the warm-up connection to end", || {
        (server.threads() == resting).then_some(())
    });
    let fds_before = server.open_fds();
    for i in 0..40 {
        let path = [
            "/cgi-bin/hello.sh",
            "/cgi-bin/fail.sh",
            "/cgi-bin/bg.sh",
            "/cgi-bin/missing",
        ][i % 4];
        server.get(path);
        // Clients that leave early, mid-body.
        let mut c = server.connect();
        c.send(b"GET /cgi-bin/big.sh HTTP/1.1\r\nHost: t\r\n\r\n");
        c.read_head(false).unwrap();
    }
    wait_until("descriptors back to where they were", || {
        (server.open_fds() <= fds_before).then_some(())
    });
    wait_until("no script still running", || {
        common::children_of(server.pid()).is_empty().then_some(())
    });
    assert!(server.zombies().is_empty());
}

#[test]
fn the_access_log_has_one_clf_line_per_request_with_its_duration() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&[]);
    server.get("/cgi-bin/hello.sh?q=1");
    server.get("/cgi-bin/missing");
    let ok = server.wait_access("hello.sh");
    let parts: Vec<&str> = ok.split(' ').collect();
    assert_eq!(parts[0], "127.0.0.1");
    assert_eq!((parts[1], parts[2]), ("-", "-"));
    assert!(
        parts[3].starts_with('[') && parts[4].ends_with("+0000]"),
        "{ok}"
    );
    assert_eq!(
        &parts[5..8],
        ["\"GET", "/cgi-bin/hello.sh?q=1", "HTTP/1.1\""]
    );
    assert_eq!((parts[8], parts[9]), ("200", "10"));
    assert!(parts[10].ends_with("ms") && parts[10].trim_end_matches("ms").parse::<f64>().is_ok());
    let missing = server.wait_access("missing");
    assert!(missing.contains("\" 404 "), "{missing}");
    assert_eq!(server.access_log().len(), 2);
}

#[test]
fn oversized_and_unexpected_requests_get_their_status() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&[]);
    let long_target = format!(
        "GET /cgi-bin/hello.sh?{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "q".repeat(9000)
    );
    let many_fields: String = (0..101).map(|i| format!("X-F{i}: v\r\n")).collect();
    let big_field = format!("X-Big: {}\r\n", "b".repeat(70_000));
    let cases: Vec<(String, u16)> = vec![
        (long_target, 414),
        (format!("GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n{many_fields}\r\n"), 431),
        (format!("GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n{big_field}\r\n"), 431),
        ("PUT /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nExpect: tea\r\nContent-Length: 1\r\n\r\nx".into(), 417),
        ("POST /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000000\r\n\r\n".into(), 413),
    ];
    for (raw, status) in cases {
        let mut client = server.connect();
        // The server may answer and close before reading all of it.
        let _ = std::io::Write::write_all(&mut client.writer, raw.as_bytes());
        let r = client.response();
        assert_eq!(r.status, status, "{}: {}", &raw[..40], r.text());
    }
    // Fine requests still work.
    assert_eq!(server.get("/cgi-bin/hello.sh").status, 200);
}
