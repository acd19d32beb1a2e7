//! Python, standard library only: a WSGI application served as a CGI
//! script by `wsgiref.handlers.CGIHandler`, and a CSV upload sent by
//! `curl -F` and parsed with `email.parser.BytesParser` (the `cgi` module
//! is deprecated).

mod common;

use std::fmt::Write as _;
use std::fs;

use common::{Root, Server, client_command, post, post_chunked, require, run_ok, sha256_hex};

const WSGI_APP: &str = r#"#!/usr/bin/env python3
"""A small WSGI application, routed by PATH_INFO, run as a CGI script."""
import json
from wsgiref.handlers import CGIHandler


def app(environ, start_response):
    route = environ.get("PATH_INFO", "")
    method = environ["REQUEST_METHOD"]
    if route == "/hello" and method == "GET":
        body = "hello from %s%s (%s)\n" % (
            environ["SCRIPT_NAME"], route, environ["wsgi.url_scheme"])
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [body.encode()]
    if route == "/echo" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        doc = json.loads(environ["wsgi.input"].read(length))
        reply = json.dumps({"received": doc, "keys": sorted(doc)}, sort_keys=True).encode()
        start_response("201 Created", [("Content-Type", "application/json"),
                                       ("Content-Length", str(len(reply)))])
        return [reply]
    if route == "/old-page":
        start_response("301 Moved Permanently",
                       [("Location", "http://www.example.org/new-page")])
        return [b""]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [("no route for %s %s\n" % (method, route)).encode()]


CGIHandler().run(app)
"#;

const CSV_UPLOAD: &str = r#"#!/usr/bin/env python3
"""Takes a multipart/form-data upload of a CSV file and sums it up."""
import csv
import hashlib
import io
import os
import sys
from email import policy
from email.parser import BytesParser

length = int(os.environ.get("CONTENT_LENGTH") or 0)
body = sys.stdin.buffer.read(length)
head = "MIME-Version: 1.0\r\nContent-Type: %s\r\n\r\n" % os.environ["CONTENT_TYPE"]
message = BytesParser(policy=policy.HTTP).parsebytes(head.encode("latin-1") + body)
out = []
for part in message.iter_parts():
    name = part.get_param("name", header="content-disposition")
    data = part.get_payload(decode=True)
    if part.get_filename():
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
        total = sum(float(row["amount"]) for row in rows)
        out.append("file %s=%s rows=%d total=%.2f sha256=%s" % (
            name, part.get_filename(), len(rows), total, hashlib.sha256(data).hexdigest()))
    else:
        out.append("field %s=%s" % (name, data.decode("utf-8")))
sys.stdout.write("Content-Type: text/plain; charset=utf-8\r\n\r\n")
sys.stdout.write("\n".join(out) + "\n")
"#;

fn python_server(root: &Root) -> Server {
    require("python3", "python3");
    root.script("wsgi.py", WSGI_APP);
    root.script("upload.py", CSV_UPLOAD);
    root.start(&[])
}

#[test]
fn wsgi_app_routes_by_path_info() {
    let root = Root::new();
    let server = python_server(&root);

    let r = server.get("/cgi-bin/wsgi.py/hello");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.text(), "hello from /cgi-bin/wsgi.py/hello (http)\n");

    let r = server.get("/cgi-bin/wsgi.py/nowhere");
    assert_eq!((r.status, r.reason.as_str()), (404, "Not Found"));
    assert_eq!(r.text(), "no route for GET /nowhere\n");

    let r = server.get("/cgi-bin/wsgi.py/old-page");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("http://www.example.org/new-page")
    );
    // Every run ended on its own: the client closing after a whole
    // response never stops the script.
    common::wait_until("three script ends", || {
        let ends: Vec<String> = server
            .stderr()
            .into_iter()
            .filter(|l| l.contains("/cgi-bin/wsgi.py[") && l.contains(" after "))
            .collect();
        (ends.len() == 3).then_some(ends)
    })
    .iter()
    .for_each(|end| assert!(end.contains(": exit 0 after"), "{end}"));
}

#[test]
fn wsgi_app_echoes_a_json_post_parsed() {
    let root = Root::new();
    let server = python_server(&root);
    let doc = r#"{"name": "Zoë", "items": [1, 2, 3], "nested": {"ok": true}}"#;
    let expected = r#"{"keys": ["items", "name", "nested"], "received": {"items": [1, 2, 3], "name": "Zo\u00eb", "nested": {"ok": true}}}"#;

    let r = post(
        &server,
        "/cgi-bin/wsgi.py/echo",
        "application/json",
        doc.as_bytes(),
    );
    assert_eq!(
        (r.status, r.reason.as_str()),
        (201, "Created"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), expected);
    // Chunked: spooled, wsgi.input gets a CONTENT_LENGTH to read up to.
    let r = post_chunked(
        &server,
        "/cgi-bin/wsgi.py/echo",
        "application/json",
        doc.as_bytes(),
        5,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.text(), expected);
    // The wrong method for the route.
    let r = server.get("/cgi-bin/wsgi.py/echo");
    assert_eq!(r.status, 404);
}

#[test]
fn csv_upload_from_curl_is_parsed_with_the_standard_library() {
    let curl = require("curl", "curl");
    let root = Root::new();
    let server = python_server(&root);
    let tmp = tempfile::tempdir().unwrap();

    // 3000 rows, with quoted commas, quotes and non-ASCII names.
    let mut csv = String::from("id,name,amount\r\n");
    let mut total_cents = 0u64;
    for i in 0..3000u64 {
        let cents = (i * 7919) % 100_000;
        total_cents += cents;
        writeln!(
            csv,
            "{i},\"Müller, \"\"No. {i}\"\"\",{}.{:02}\r",
            cents / 100,
            cents % 100
        )
        .unwrap();
    }
    let path = tmp.path().join("ledger.csv");
    fs::write(&path, &csv).unwrap();

    let out = run_ok(
        client_command(curl.to_str().unwrap(), tmp.path())
            .arg("-q")
            .args(["-sS", "--fail", "-F"])
            .arg(format!("data=@{};type=text/csv", path.display()))
            .args(["-F", "period=2026-Q3"])
            .arg(format!("http://{}/cgi-bin/upload.py", server.addr)),
    );
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        format!(
            "file data=ledger.csv rows=3000 total={}.{:02} sha256={}\nfield period=2026-Q3\n",
            total_cents / 100,
            total_cents % 100,
            sha256_hex(csv.as_bytes())
        )
    );
}
