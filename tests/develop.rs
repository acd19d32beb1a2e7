//! What makes local development pleasant: handlers by extension, index
//! scripts, static files beside the scripts, streamed chunked bodies, and
//! `--debug` pages that say why a script failed.

mod common;

use std::fs;
use std::io::Write;
use std::process::Command;

use common::{Root, Server};

#[test]
fn handlers_run_files_by_extension_without_an_execute_bit() {
    let root = Root::new();
    root.file(
        "app/show.py",
        "import os, sys\nprint('Content-Type: text/plain\\n')\nprint(sys.argv[1:])\nfor k in ('SCRIPT_FILENAME', 'REDIRECT_STATUS', 'SCRIPT_NAME', 'PATH_INFO'):\n    print(k, os.environ.get(k))\n",
        0o644,
    );
    root.file("plain.sh", "printf 'Content-Length: 3\\n\\nok\\n'\n", 0o644);
    let server = root.start(&["--handler", ".py=python3", "--handler", "sh=sh -e"]);
    let r = server.get("/cgi-bin/app/show.py/extra");
    assert_eq!(r.status, 200, "{}", r.text());
    let file = root.path().join("app/show.py").display().to_string();
    assert_eq!(
        r.text(),
        format!(
            "[]\nSCRIPT_FILENAME {file}\nREDIRECT_STATUS 200\nSCRIPT_NAME /cgi-bin/app/show.py\nPATH_INFO /extra\n"
        )
    );
    assert_eq!(server.get("/cgi-bin/plain.sh").text(), "ok\n");
    // Without the handler the same file is refused.
    assert_eq!(root.start(&[]).get("/cgi-bin/app/show.py").status, 403);
}

#[test]
fn a_handler_that_does_not_exist_stops_rcgi_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .args(["--root", ".", "--handler", ".php=no-such-php-cgi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no-such-php-cgi not found in PATH"), "{err}");
}

#[test]
fn folder_urls_run_their_index_script() {
    let root = Root::new();
    root.script(
        "index.cgi",
        "#!/bin/sh\nprintf 'Content-Length: 4\\n\\nroot'\n",
    );
    root.script("app/index.cgi", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s|%s|%s' \"$SCRIPT_NAME\" \"$PATH_INFO\" \"$QUERY_STRING\"\n");
    root.file(
        "py/index.py",
        "print('Content-Type: text/plain\\n')\nprint('python index')\n",
        0o644,
    );
    fs::create_dir(root.dir.path().join("none")).unwrap();
    let server = root.start(&["--index", "index.py", "--handler", ".py=python3"]);
    assert_eq!(server.get("/cgi-bin/").text(), "root");
    assert_eq!(
        server.get("/cgi-bin/app/?q=1").text(),
        "/cgi-bin/app/index.cgi||q=1"
    );
    assert_eq!(server.get("/cgi-bin/py/").text(), "python index\n");
    let r = server.get("/cgi-bin/app?q=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/cgi-bin/app/?q=1"));
    assert_eq!(server.get("/cgi-bin").header("location"), Some("/cgi-bin/"));
    assert_eq!(server.get("/cgi-bin/none/").status, 403);
}

#[test]
fn static_files_sit_beside_the_scripts() {
    let site = tempfile::tempdir().unwrap();
    let s = site.path();
    fs::create_dir_all(s.join("docs")).unwrap();
    fs::create_dir_all(s.join("cgi-bin")).unwrap();
    fs::write(
        s.join("index.html"),
        "<form action=/cgi-bin/form.sh method=post>",
    )
    .unwrap();
    fs::write(s.join("style.css"), "body{}").unwrap();
    fs::write(s.join("docs/index.html"), "docs").unwrap();
    fs::write(s.join(".secret"), "hidden").unwrap();
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    fs::write(s.join("data.bin"), &data).unwrap();
    let script = s.join("cgi-bin/form.sh");
    fs::write(
        &script,
        "#!/bin/sh\nprintf 'Content-Length: 6\\n\\nposted'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start(&s.join("cgi-bin"), &["--static", s.to_str().unwrap()]);

    let r = server.get("/");
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/html; charset=utf-8"))
    );
    assert!(r.text().contains("<form"));
    let r = server.get("/style.css");
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    let modified = r.header("last-modified").unwrap().to_string();
    assert_eq!(server.get("/docs/").text(), "docs");
    assert_eq!(server.get("/docs").header("location"), Some("/docs/"));
    assert_eq!(server.get("/.secret").status, 404);
    assert_eq!(server.get("/missing.html").status, 404);
    assert_eq!(server.get("/style.css/x").status, 404);

    // Conditional and partial requests.
    let r = server.exchange(
        format!("GET /style.css HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {modified}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 304);
    // A date no sender writes (a year of 14 digits) makes the request
    // unconditional; it must not overflow the date arithmetic.
    let r = server.exchange(
        b"GET /style.css HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Sun, 06 Nov 99999999999999 08:49:37 GMT\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let r = server.exchange(
        b"GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100-199\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/1000"));
    assert_eq!(r.body, &data[100..200]);
    let r = server.exchange(
        b"GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=-10\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.body, &data[990..]);
    let r = server.exchange(
        b"GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=5000-\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, Some("bytes */1000"))
    );
    let r = server.get("/data.bin");
    assert_eq!((r.status, r.body.len()), (200, 1000));

    // HEAD, other methods, keep-alive across files and scripts.
    let mut c = server.connect();
    c.send(b"HEAD /data.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.head_response();
    assert_eq!(r.header("content-length"), Some("1000"));
    c.send(b"POST /cgi-bin/form.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(c.response().text(), "posted");
    c.send(b"DELETE /style.css HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    c.send(b"GET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().text(), "body{}");

    // The scripts' source is never served as a file.
    let r = server.get("/cgi-bin/form.sh");
    assert_eq!(r.text(), "posted");
    let other = Server::start(
        &s.join("cgi-bin"),
        &["--static", s.to_str().unwrap(), "--prefix", "/run"],
    );
    let r = other.get("/cgi-bin/form.sh");
    assert_eq!(r.status, 404, "{}", r.text());
    // Nor when the files' folder lies within the script root.
    fs::create_dir_all(s.join("cgi-bin/public")).unwrap();
    fs::write(s.join("cgi-bin/public/notes.txt"), "script root").unwrap();
    let inner = Server::start(
        &s.join("cgi-bin"),
        &["--static", s.join("cgi-bin/public").to_str().unwrap()],
    );
    let r = inner.get("/notes.txt");
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn static_and_top_prefix_do_not_mix() {
    let out = Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .args(["--root", ".", "--static", ".", "--prefix", "/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn chunked_bodies_can_stream_to_the_script() {
    let root = Root::new();
    root.script(
        "count.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s|%s|' \"${CONTENT_LENGTH-unset}\" \"$HTTP_TRANSFER_ENCODING\"\nwc -c\n",
    );
    root.script(
        "echo.sh",
        "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat\n",
    );
    root.script(
        "slurp.sh",
        "#!/bin/sh\ncat >/dev/null\nprintf 'Content-Length: 2\\n\\nok'\n",
    );
    let server = root.start(&["--chunked", "stream", "--max-body", "4M"]);
    let mut c = server.connect();
    c.send(b"POST /cgi-bin/count.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(c.response().text(), "unset|chunked|11\n");

    // A large body, echoed while it streams in.
    let body = common::noise(3 << 20, 5);
    let mut raw =
        b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(50_000) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(
        b"0\r\n\r\nGET /cgi-bin/count.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let mut writer = c.writer.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&raw));
    let r = c.response();
    assert!(r.body == body, "streamed body changed");
    assert_eq!(
        c.response().text(),
        "unset||0\n",
        "the next request follows the body"
    );
    sender.join().unwrap().unwrap();

    // Past --max-body: 413 while the script has not answered yet.
    let mut c = server.connect();
    c.send(b"POST /cgi-bin/slurp.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let big = vec![b'x'; 1 << 20];
    for _ in 0..5 {
        let mut chunk = format!("{:x}\r\n", big.len()).into_bytes();
        chunk.extend_from_slice(&big);
        chunk.extend_from_slice(b"\r\n");
        if c.writer.write_all(&chunk).is_err() {
            break;
        }
    }
    assert_eq!(c.response().status, 413);
}

#[test]
fn debug_pages_tell_why_a_script_failed() {
    let root = Root::new();
    root.script(
        "broken.pl",
        "#!/usr/bin/perl\nprint STDERR \"about to fail\\n\";\nprint \"Content-Type: text/html\\r\\nHello world\\n\\n\";\n",
    );
    root.script("crlf.sh", "#!/bin/sh\r\necho\r\n");
    root.script(
        "dies.sh",
        "#!/bin/sh\necho 'oops: missing config' >&2\nexit 7\n",
    );
    root.script("slow.sh", "#!/bin/sh\nprintf 'Status: 200\\n'\nsleep 30\n");
    root.file("notexec.sh", "#!/bin/sh\n", 0o644);
    let debug = root.start(&["--debug", "--timeout", "1s"]);
    let plain = root.start(&["--timeout", "1s"]);

    let page = debug.get("/cgi-bin/broken.pl").text();
    assert!(
        page.starts_with("502 Bad Gateway: malformed script headers\n"),
        "{page}"
    );
    assert!(
        page.contains("cause:   bad output: header line without a colon: \"Hello world\""),
        "{page}"
    );
    assert!(page.contains("ended:   "), "{page}");
    assert!(
        page.contains("Content-Type: text/html\\r\nHello world"),
        "{page}"
    );
    assert!(page.contains("about to fail"), "{page}");
    assert_eq!(
        plain.get("/cgi-bin/broken.pl").text(),
        "502 Bad Gateway: malformed script headers\n\nrcgi's error log has the details; run rcgi with --debug to see them on this page.\n"
    );
    plain.wait_stderr("about to fail");
    plain.wait_stderr("header line without a colon");

    let page = debug.get("/cgi-bin/crlf.sh").text();
    assert!(page.contains("Windows (CRLF) line endings"), "{page}");
    let page = debug.get("/cgi-bin/dies.sh").text();
    assert!(
        page.contains("ended:   exit 7 after") && page.contains("oops: missing config"),
        "{page}"
    );
    let page = debug.get("/cgi-bin/slow.sh").text();
    assert!(page.starts_with("504 Gateway Timeout"), "{page}");
    assert!(
        page.contains("killed by SIGTERM") && page.contains("Status: 200"),
        "{page}"
    );
    let r = debug.get("/cgi-bin/notexec.sh");
    assert_eq!(r.status, 403);

    // At start, --debug lists the scripts it found.
    let listed = debug.wait_stderr("/cgi-bin/broken.pl");
    assert!(
        listed.contains(&format!("http://{}/cgi-bin/broken.pl", debug.addr)),
        "{listed}"
    );
    assert!(
        plain
            .stderr()
            .iter()
            .all(|l| !l.contains("http://") || common::message(l).starts_with("rcgi listening"))
    );
}
