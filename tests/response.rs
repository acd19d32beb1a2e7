//! Script output to HTTP response: the four response types, header
//! handling, invalid output (502), streaming, body framing, HEAD, NPH,
//! and stderr.

mod common;

use std::fs;

use common::{Root, wait_until};

fn sh(body: &str) -> String {
    format!("#!/bin/sh\n{body}\n")
}

#[test]
fn status_sets_the_status_line_and_keeps_the_reason() {
    let root = Root::new();
    root.script(
        "a.sh",
        &sh("printf 'Status: 404 Nothing Here\\nContent-Type: text/plain\\n\\ngone\\n'"),
    );
    root.script("b.sh", &sh("printf 'Status: 201\\r\\n\\r\\n'"));
    let server = root.start(&[]);
    let r = server.get("/cgi-bin/a.sh");
    assert_eq!(
        (r.status, r.reason.as_str(), r.text().as_str()),
        (404, "Nothing Here", "gone\n")
    );
    let r = server.get("/cgi-bin/b.sh");
    assert_eq!((r.status, r.reason.as_str()), (201, "Created"));
}

#[test]
fn client_redirects() {
    let root = Root::new();
    root.script(
        "away.sh",
        &sh("printf 'Location: https://example.org/x?y=1\\n\\n'"),
    );
    root.script(
        "moved.sh",
        &sh("printf 'Status: 301 Moved Permanently\\nLocation: /new\\nContent-Type: text/html\\n\\n<a href=/new>here</a>'"),
    );
    let server = root.start(&[]);
    let r = server.get("/cgi-bin/away.sh");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://example.org/x?y=1"));
    assert!(r.body.is_empty());
    let r = server.get("/cgi-bin/moved.sh");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/new"));
    assert_eq!(r.text(), "<a href=/new>here</a>");
}

#[test]
fn local_redirect_is_served_internally_as_a_get() {
    let root = Root::new();
    root.script(
        "first.sh",
        &sh("cat >/dev/null\nprintf 'Location: /cgi-bin/second.sh/pi?x=1\\n\\n'"),
    );
    root.script(
        "second.sh",
        &sh("printf 'Content-Type: text/plain\\n\\n%s %s %s %s [%s]' \"$REQUEST_METHOD\" \"$PATH_INFO\" \"$QUERY_STRING\" \"$REQUEST_URI\" \"${CONTENT_LENGTH-none}\""),
    );
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(b"POST /cgi-bin/first.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc");
    let r = client.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "GET /pi x=1 /cgi-bin/second.sh/pi?x=1 [none]");
    // The connection goes on after it.
    client.send(b"HEAD /cgi-bin/first.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.head_response();
    assert_eq!(r.status, 200);
    client.send(b"GET /cgi-bin/second.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(client.response().text().starts_with("GET "));
}

#[test]
fn local_redirects_stop_after_ten_hops() {
    let root = Root::new();
    let count = root.dir.path().join("count");
    root.script(
        "loop.sh",
        &sh("echo x >> count\nprintf 'Location: /cgi-bin/loop.sh\\n\\n'"),
    );
    root.script("lost.sh", &sh("printf 'Location: /cgi-bin/nowhere\\n\\n'"));
    let server = root.start(&[]);
    let r = server.get("/cgi-bin/loop.sh");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("too many local redirects"));
    assert_eq!(fs::read_to_string(&count).unwrap().lines().count(), 11);
    assert_eq!(server.get("/cgi-bin/lost.sh").status, 404);
}

#[test]
fn script_fields_pass_through_and_hop_by_hop_ones_are_dropped() {
    let root = Root::new();
    root.script(
        "fields.sh",
        &sh("printf 'X-Custom-Case: Value\\nSet-Cookie: a=1\\nSet-Cookie: b=2\\nConnection: close\\nKeep-Alive: timeout=1\\nTE: trailers\\nUpgrade: h2c\\n\\nbody'"),
    );
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/fields.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.response();
    assert_eq!(r.text(), "body");
    assert_eq!(r.header("X-Custom-Case"), Some("Value"));
    assert_eq!(r.headers_named("set-cookie"), vec!["a=1", "b=2"]);
    assert_eq!(r.header("content-type"), None, "no type is invented");
    for dropped in ["connection", "keep-alive", "te", "upgrade"] {
        assert_eq!(r.header(dropped), None, "{dropped}");
    }
    assert_eq!(r.headers_named("transfer-encoding"), vec!["chunked"]);
    assert!(r.header("date").is_some());
    assert!(r.header("server").unwrap().starts_with("rcgi/"));
    // The script's "Connection: close" did not close the connection.
    client.send(b"GET /cgi-bin/fields.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(client.response().text(), "body");
}

#[test]
fn invalid_output_is_a_502_with_a_reason_and_a_log_line() {
    let root = Root::new();
    let cases: [(&str, String, &str, &str); 11] = [
        (
            "noblank.sh",
            sh("printf 'Content-Type: text/plain\\n'"),
            "ended within its headers",
            "before the blank line",
        ),
        (
            "nocolon.sh",
            sh("printf 'hello world\\n\\n'"),
            "malformed script headers",
            "without a colon",
        ),
        (
            "badname.sh",
            sh("printf 'Bad Name: x\\n\\n'"),
            "malformed script headers",
            "invalid header name",
        ),
        (
            "status.sh",
            sh("printf 'Status: OK\\n\\n'"),
            "malformed script headers",
            "invalid Status",
        ),
        (
            "ctl.sh",
            sh("printf 'X-A: a\\001b\\n\\n'"),
            "malformed script headers",
            "control character 0x01",
        ),
        (
            "cr.sh",
            sh("printf 'X-A: a\\rb\\n\\n'"),
            "malformed script headers",
            "control character 0x0d",
        ),
        (
            "huge.sh",
            sh("head -c 70000 /dev/zero | tr '\\0' a"),
            "script headers too large",
            "header block over 65536 bytes",
        ),
        ("silent.sh", sh("exit 3"), "script sent no output", "exit 3"),
        (
            "killed.sh",
            sh("kill -9 $$"),
            "script sent no output",
            "killed by SIGKILL",
        ),
        (
            "te.sh",
            sh("printf 'Transfer-Encoding: chunked\\n\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n'"),
            "malformed script headers",
            "rcgi frames the body",
        ),
        (
            "twostatus.sh",
            sh("printf 'Status: 200 OK\\nStatus: 404 No\\n\\n'"),
            "malformed script headers",
            "more than one Status",
        ),
    ];
    for (name, text, _, _) in &cases {
        root.script(name, text);
    }
    let server = root.start(&[]);
    for (name, _, short, detail) in cases {
        let r = server.get(&format!("/cgi-bin/{name}"));
        assert_eq!(r.status, 502, "{name}");
        assert!(r.text().contains(short), "{name}: {}", r.text());
        let line = server.wait_stderr(&format!("/cgi-bin/{name}["));
        assert!(line.contains(detail), "{name}: {line}");
    }
}

#[test]
fn the_body_streams_as_the_script_writes_it() {
    let root = Root::new();
    let fifo = root.gate("gate");
    root.script(
        "stream.sh",
        &sh("printf 'Content-Type: text/plain\\n\\nfirst\\n'\nread x < ./gate\nprintf 'second\\n'"),
    );
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/stream.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_head(false).unwrap();
    assert_eq!(head.status, 200);
    // The script is blocked on the fifo until we open it: the first line
    // must arrive before that.
    assert_eq!(client.read_chunk().unwrap().unwrap(), b"first\n");
    common::open_gate(&fifo);
    assert_eq!(client.read_chunk().unwrap().unwrap(), b"second\n");
    assert_eq!(client.read_chunk().unwrap(), None);
}

#[test]
fn the_scripts_content_length_frames_the_body() {
    let root = Root::new();
    root.script("exact.sh", &sh("printf 'Content-Length: 5\\n\\nhello'"));
    root.script(
        "long.sh",
        &sh("printf 'Content-Length: 5\\n\\nhello, world'"),
    );
    root.script("short.sh", &sh("printf 'Content-Length: 50\\n\\nhello'"));
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/exact.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.response();
    assert_eq!((r.text().as_str(), r.chunked), ("hello", false));
    client.send(b"GET /cgi-bin/long.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.response();
    assert_eq!(r.text(), "hello");
    assert!(
        client.is_closed(),
        "a script that overran its length closes the connection"
    );
    server.wait_stderr("longer than its Content-Length");

    let mut client = server.connect();
    client.send(b"GET /cgi-bin/short.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_head(false).unwrap();
    assert_eq!(head.header("content-length"), Some("50"));
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut client.reader, &mut got).unwrap();
    assert_eq!(got, b"hello", "cut short, never padded");
    server.wait_stderr("45 bytes short of its Content-Length");
}

#[test]
fn http10_gets_a_close_delimited_body_unless_the_length_is_known() {
    let root = Root::new();
    root.script(
        "plain.sh",
        &sh("printf 'Content-Type: text/plain\\n\\nten bytes!'"),
    );
    root.script("sized.sh", &sh("printf 'Content-Length: 2\\n\\nok'"));
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/plain.sh HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = client.response();
    assert_eq!((r.text().as_str(), r.chunked), ("ten bytes!", false));
    assert_eq!(r.header("connection"), Some("close"));

    let mut client = server.connect();
    client.send(b"GET /cgi-bin/sized.sh HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = client.response();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    client.send(b"GET /cgi-bin/sized.sh HTTP/1.0\r\n\r\n");
    let r = client.response();
    assert_eq!(r.text(), "ok");
    assert!(client.is_closed());
}

#[test]
fn head_runs_the_script_and_sends_no_body() {
    let root = Root::new();
    root.script("h.sh", &sh("echo ran >> ran.txt\nprintf 'Content-Type: text/plain\\n\\nbody that must not be sent'"));
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(b"HEAD /cgi-bin/h.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // Nothing follows the head: the next response is next on the wire.
    client.send(b"HEAD /cgi-bin/missing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = client.head_response();
    assert_eq!(r.status, 404);
    assert!(client.is_closed());
    assert_eq!(
        fs::read_to_string(root.dir.path().join("ran.txt")).unwrap(),
        "ran\n"
    );
}

#[test]
fn nph_output_is_sent_unparsed_and_then_the_connection_closes() {
    let root = Root::new();
    root.script(
        "nph-raw.sh",
        &sh("printf 'HTTP/1.1 299 Custom\\r\\nX-Raw: yes\\r\\n\\r\\nraw body'"),
    );
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/nph-raw.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.response();
    assert_eq!((r.status, r.reason.as_str()), (299, "Custom"));
    assert_eq!(r.header("x-raw"), Some("yes"));
    assert_eq!(r.header("date"), None, "nothing added");
    assert_eq!(r.text(), "raw body");
    server.wait_access("\"GET /cgi-bin/nph-raw.sh HTTP/1.1\" 299 ");
}

#[test]
fn stderr_goes_to_the_log_tagged_and_a_flood_blocks_nothing() {
    let root = Root::new();
    root.script(
        "noisy.sh",
        &sh("echo 'first complaint' >&2\nyes 'a line of stderr noise that goes on for a while' | head -c 10485760 >&2\nprintf 'Content-Type: text/plain\\n\\ndone\\n'\necho 'last words' >&2\nexit 4"),
    );
    let server = root.start(&[]);
    let r = server.get("/cgi-bin/noisy.sh");
    assert_eq!(r.text(), "done\n");
    let first = server.wait_stderr("first complaint");
    assert!(
        common::message(&first).starts_with("rcgi: /cgi-bin/noisy.sh["),
        "{first}"
    );
    assert_eq!(common::level(&first), "warn");
    server.wait_stderr("last words");
    let exit = server.wait_stderr("exit 4 after");
    assert!(exit.contains("/cgi-bin/noisy.sh["));
    let whole_lines = 10485760 / "a line of stderr noise that goes on for a while\n".len();
    let noise = wait_until("all stderr lines", || {
        let n = server
            .stderr()
            .iter()
            .filter(|l| l.ends_with("goes on for a while"))
            .count();
        (n >= whole_lines).then_some(n)
    });
    assert_eq!(noise, whole_lines);
    // The body never carried any of it.
    assert!(!r.text().contains("noise"));
}

/// A script writing `len` pseudo-random bytes after `head` (seeded, so the
/// test can compute them too).
fn big_writer(head: &str, len: usize) -> String {
    format!(
        "#!/usr/bin/env python3\nimport sys\nsys.stdout.buffer.write(b'{head}')\nx = 88172645463325253\nout = bytearray()\nwhile len(out) < {len}:\n    x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF\n    x ^= x >> 7\n    x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF\n    out += x.to_bytes(8, 'little')\nsys.stdout.buffer.write(out[:{len}])\n"
    )
}

#[test]
fn large_bodies_arrive_whole_in_every_framing() {
    const LEN: usize = 5 << 20;
    let expected = common::noise(LEN, 88172645463325253);
    let root = Root::new();
    root.script(
        "chunked.py",
        &big_writer("Content-Type: application/octet-stream\\n\\n", LEN),
    );
    root.script(
        "sized.py",
        &big_writer(&format!("Content-Length: {LEN}\\n\\n"), LEN),
    );
    root.script(
        "over.py",
        &big_writer(&format!("Content-Length: {}\\n\\n", LEN - 1000), LEN),
    );
    root.script(
        "under.py",
        &big_writer(&format!("Content-Length: {}\\n\\n", LEN + 1000), LEN),
    );
    root.script(
        "nph-big.py",
        &big_writer("HTTP/1.1 200 OK\\r\\nX-Raw: 1\\r\\n\\r\\n", LEN),
    );
    let server = root.start(&[]);

    let mut c = server.connect();
    c.send(b"GET /cgi-bin/chunked.py HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert!(
        r.chunked && r.body == expected,
        "chunked: {} bytes",
        r.body.len()
    );
    c.send(b"GET /cgi-bin/sized.py HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert!(
        !r.chunked && r.body == expected,
        "sized: {} bytes",
        r.body.len()
    );
    c.send(b"HEAD /cgi-bin/chunked.py HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.head_response().status, 200);
    c.send(b"GET /cgi-bin/over.py HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert!(
        r.body == expected[..LEN - 1000],
        "over: {} bytes",
        r.body.len()
    );
    assert!(c.is_closed());
    server.wait_stderr("longer than its Content-Length");

    let mut c = server.connect();
    c.send(b"GET /cgi-bin/under.py HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read_head(false).unwrap();
    assert_eq!(
        head.header("content-length"),
        Some(&*(LEN + 1000).to_string())
    );
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut c.reader, &mut got).unwrap();
    assert!(got == expected, "under: {} bytes", got.len());

    let r = server.exchange(b"GET /cgi-bin/chunked.py HTTP/1.0\r\n\r\n");
    assert!(
        !r.chunked && r.body == expected,
        "HTTP/1.0: {} bytes",
        r.body.len()
    );
    let r = server.exchange(b"GET /cgi-bin/nph-big.py HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.header("x-raw"), Some("1"));
    assert!(r.body == expected, "nph: {} bytes", r.body.len());
}

#[test]
fn a_slow_reader_gets_a_large_body_whole() {
    const LEN: usize = 3 << 20;
    let root = Root::new();
    // The script says when it has handed over its whole body.
    let writer = big_writer("Content-Type: application/octet-stream\\n\\n", LEN);
    root.script(
        "big.py",
        &format!("{writer}sys.stdout.flush()\nopen('written', 'w').close()\n"),
    );
    let server = root.start(&[]);
    let mut c = server.connect();
    c.send(b"GET /cgi-bin/big.py HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    // Read nothing until the script has written all of it: rcgi's pipes
    // (1 MiB each, see http::relay) hold what the client has not taken,
    // so from then on rcgi can only send as fast as the client reads.
    let written = root.dir.path().join("written");
    wait_until("the script to have written its whole body", || {
        written.exists().then_some(())
    });
    let r = c.response();
    assert!(r.body == common::noise(LEN, 88172645463325253));
}
