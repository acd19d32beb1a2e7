//! Request bodies: streamed to the script while its output streams back,
//! byte-exact at every size; chunked bodies decoded (with CONTENT_LENGTH
//! set); `Expect: 100-continue`; scripts that read nothing or part.

mod common;

use std::io::{Read, Write};
use std::thread;

use common::{Client, Root, noise};

const ECHO: &str = "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat\n";

/// POSTs `body` to `path` from one thread while reading the response in
/// another, as a real client must for a body that comes straight back.
fn post_streaming(client: &mut Client, path: &str, body: &[u8]) -> common::Response {
    let (r, sent) = post_streaming_sent(client, path, body);
    sent.expect("the whole body was sent");
    r
}

/// As `post_streaming`, also telling whether all of the body could be
/// sent (rcgi may close a connection whose body it will not read).
fn post_streaming_sent(
    client: &mut Client,
    path: &str,
    body: &[u8],
) -> (common::Response, std::io::Result<()>) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut writer = client.writer.try_clone().unwrap();
    let body = body.to_vec();
    let sender = thread::spawn(move || {
        writer.write_all(head.as_bytes())?;
        writer.write_all(&body)
    });
    let r = client.response();
    (r, sender.join().unwrap())
}

#[test]
fn bodies_of_every_size_come_back_byte_exact() {
    let root = Root::new();
    root.script("echo.sh", ECHO);
    let server = root.start(&[]);
    let mut client = server.connect();
    for (i, len) in [0usize, 1, 1 << 20, 100 << 20].into_iter().enumerate() {
        let body = noise(len, i as u64 + 7);
        let r = post_streaming(&mut client, "/cgi-bin/echo.sh", &body);
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), len);
        assert!(r.body == body, "body of {len} bytes changed");
    }
    // Nothing held a whole body: rcgi's memory stayed far below 100 MiB.
    let peak = server.peak_rss_kib();
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB after a 100 MiB echo");
}

#[test]
fn a_chunked_body_is_decoded_and_its_length_given() {
    let root = Root::new();
    root.script(
        "len.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s|%s|' \"$CONTENT_LENGTH\" \"${HTTP_TRANSFER_ENCODING-unset}\"\nexec cat\n",
    );
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(
        b"POST /cgi-bin/len.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\n",
    );
    let r = client.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "12|unset|hello world!");

    // A large one, in odd-sized chunks, on the same connection.
    let body = noise(3 << 20, 99);
    let mut raw =
        b"POST /cgi-bin/len.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(70_001) {
        raw.extend_from_slice(format!("{:X}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    client.send(&raw);
    let r = client.response();
    let prefix = format!("{}|unset|", body.len());
    assert!(r.body.starts_with(prefix.as_bytes()));
    assert!(r.body[prefix.len()..] == body[..]);
}

#[test]
fn the_spooled_body_leaves_no_file_behind() {
    let root = Root::new();
    root.script("echo.sh", ECHO);
    let tmp = tempfile::tempdir().unwrap();
    let server = common::Server::start_with_env(
        &root.path(),
        &[],
        &[("TMPDIR", tmp.path().to_str().unwrap())],
    );
    let mut client = server.connect();
    client.send(b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nspam\r\n0\r\n\r\n");
    assert_eq!(client.response().text(), "spam");
    // A body refused half way leaves nothing either.
    client.send(b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nspam\r\nxx\r\n");
    assert_eq!(client.response().status, 400);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn a_broken_chunked_body_is_refused() {
    let root = Root::new();
    root.script("echo.sh", ECHO);
    let server = root.start(&[]);
    let r = server.exchange(
        b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
}

#[test]
fn continue_is_sent_only_for_a_script_that_will_run() {
    let root = Root::new();
    root.script("echo.sh", ECHO);
    let server = root.start(&[]);

    let mut client = server.connect();
    client.send(b"PUT /cgi-bin/echo.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let interim = client.read_head(true).unwrap();
    assert_eq!(interim.status, 100, "100 Continue before the body");
    client.send(b"data");
    let r = client.response();
    assert_eq!((r.status, r.text().as_str()), (200, "data"));

    // Missing script: the final status comes at once, without waiting for
    // a body that was never sent, and the connection closes.
    let mut client = server.connect();
    client.send(b"PUT /cgi-bin/missing HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let r = client.read_head(true).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.header("connection"), Some("close"));

    // Chunked with 100-continue.
    let mut client = server.connect();
    client.send(b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(client.read_head(true).unwrap().status, 100);
    client.send(b"3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(client.response().text(), "abc");
}

#[test]
fn a_script_that_reads_nothing_still_answers() {
    let root = Root::new();
    root.script(
        "ignore.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nignored\\n'\n",
    );
    root.script(
        "half.sh",
        "#!/bin/sh\nhead -c 10 >/dev/null\nprintf 'Content-Type: text/plain\\n\\nread ten\\n'\n",
    );
    let server = root.start(&[]);

    // A small unread body is drained: the connection goes on.
    let mut client = server.connect();
    let body = vec![b'x'; 100 * 1024];
    let r = post_streaming(&mut client, "/cgi-bin/ignore.sh", &body);
    assert_eq!(r.text(), "ignored\n");
    client.send(b"GET /cgi-bin/half.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().text(), "read ten\n");

    // A large unread body: the response still comes, then the
    // connection closes rather than reading megabytes for nothing.
    let mut client = server.connect();
    let body = vec![b'y'; 8 << 20];
    let (r, _) = post_streaming_sent(&mut client, "/cgi-bin/half.sh", &body);
    assert_eq!(r.text(), "read ten\n");
    assert!(client.is_closed());
}

#[test]
fn a_script_that_writes_before_reading_does_not_deadlock() {
    let root = Root::new();
    // Writes 4 MiB (far more than any pipe holds) before reading its input.
    root.script(
        "chatty.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nhead -c 4194304 /dev/zero\nwc -c\n",
    );
    let server = root.start(&[]);
    let mut client = server.connect();
    let body = vec![b'z'; 4 << 20];
    let r = post_streaming(&mut client, "/cgi-bin/chatty.sh", &body);
    assert_eq!(r.body.len(), (4 << 20) + "4194304\n".len());
    assert!(
        r.body.ends_with(b"4194304\n"),
        "the script read the whole body"
    );
}

#[test]
fn body_and_next_request_in_one_packet_stay_apart() {
    let root = Root::new();
    root.script("echo.sh", ECHO);
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(
        b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcPOST /cgi-bin/echo.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nde",
    );
    assert_eq!(client.response().text(), "abc");
    assert_eq!(client.response().text(), "de");
    let mut rest = Vec::new();
    client.reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}
