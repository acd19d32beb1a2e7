//! Hostile requests: framing that two parsers could read differently
//! (request smuggling) is refused with 400 and the connection closed, and
//! nothing after it is ever run as a request.

mod common;

use common::Root;

#[test]
fn smuggling_vectors_get_400_and_close() {
    let root = Root::new();
    root.script("mark.sh", "#!/bin/sh\necho \"$REQUEST_METHOD $QUERY_STRING\" >> ran.txt\nprintf 'Content-Length: 2\\n\\nok'\n");
    let server = root.start(&[]);
    let smuggled = "GET /cgi-bin/mark.sh?SMUGGLED HTTP/1.1\r\nHost: t\r\n\r\n";
    let vectors = [
        // Content-Length and Transfer-Encoding together.
        "POST /cgi-bin/mark.sh?cl-te HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /cgi-bin/mark.sh?te-cl HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
        // Two different lengths.
        "POST /cgi-bin/mark.sh?cl-cl HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 45\r\n\r\n",
        "POST /cgi-bin/mark.sh?cl-list HTTP/1.1\r\nHost: t\r\nContent-Length: 0, 45\r\n\r\n",
        // Obsolete line folding and whitespace before the colon.
        "POST /cgi-bin/mark.sh?fold HTTP/1.1\r\nHost: t\r\nX: a\r\n Content-Length: 45\r\n\r\n",
        "POST /cgi-bin/mark.sh?space HTTP/1.1\r\nHost: t\r\nContent-Length : 45\r\n\r\n",
        "POST /cgi-bin/mark.sh?tab HTTP/1.1\r\nHost: t\r\nTransfer-Encoding\t: chunked\r\n\r\n",
        // Transfer codings that hide chunked.
        "POST /cgi-bin/mark.sh?te-twice HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /cgi-bin/mark.sh?te-10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        // Invalid chunk sizes and extensions.
        "POST /cgi-bin/mark.sh?hex HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x2d\r\n",
        "POST /cgi-bin/mark.sh?neg HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
        "POST /cgi-bin/mark.sh?huge HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        "POST /cgi-bin/mark.sh?lf HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n",
        "POST /cgi-bin/mark.sh?ext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0;a\x01b\r\n\r\n",
        "POST /cgi-bin/mark.sh?ext-lf HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0;a\nb\r\n\r\n",
        "POST /cgi-bin/mark.sh?data HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        // Bare CR.
        "GET /cgi-bin/mark.sh?cr1 HTTP/1.1\r\nHost: t\r\nX: a\rContent-Length: 45\r\n\r\n",
        "GET /cgi-bin/mark.sh?cr2 HTTP/1.1\rHost: t\r\n\r\n",
        "POST /cgi-bin/mark.sh?cr3 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\r\n\r\n",
    ];
    for vector in vectors {
        let mut client = server.connect();
        client.send(format!("{vector}{smuggled}").as_bytes());
        let r = client.response();
        assert_eq!(r.status, 400, "{vector:?}: {}", r.text());
        assert_eq!(r.header("connection"), Some("close"), "{vector:?}");
        assert!(client.is_closed(), "{vector:?}");
    }
    let ran = std::fs::read_to_string(root.dir.path().join("ran.txt")).unwrap_or_default();
    assert!(!ran.contains("SMUGGLED"), "a smuggled request ran: {ran}");
    // Refused framing never reaches a script at all, except for chunked
    // bodies that went bad only after the script could have been found;
    // even those do not run.
    assert_eq!(ran, "", "no script ran: {ran}");
}

#[test]
fn control_characters_and_nul_in_the_head_are_refused() {
    let root = Root::new();
    root.script(
        "hello.sh",
        "#!/bin/sh\nprintf 'Content-Length: 2\\n\\nok'\n",
    );
    let server = root.start(&[]);
    for raw in [
        &b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n"[..],
        b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nX: a\x1bb\r\n\r\n",
        b"GET /cgi-bin/hel\x00lo.sh HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nX\x01: a\r\n\r\n",
        b"G\x7fET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let r = server.exchange(raw);
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(raw));
    }
}
