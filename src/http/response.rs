//! Response heads: the status line and header block rcgi writes, for a
//! script's response or for one of its own short error pages. Every head
//! carries `Date` and `Server` (unless the script set its own), the body
//! framing, and the `Connection` field the connection's fate requires.

use std::io::Write;

/// `HTTP/1.1 100 Continue`, the interim response to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the head says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Nothing: the version's default (HTTP/1.1 keeps it open).
    Default,
    /// `Connection: close`.
    Close,
    /// `Connection: keep-alive`, for HTTP/1.0 clients that asked for it.
    KeepAlive,
}

pub struct Head<'a> {
    pub status: u16,
    pub reason: &'a str,
    /// Header fields to send as they are (already checked).
    pub fields: &'a [(String, Vec<u8>)],
    /// `Content-Length` to announce, if any.
    pub length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    pub connection: Connection,
}

impl Head<'_> {
    /// Appends the head, ending with the empty line, to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, self.reason);
        let has = |name: &str| {
            self.fields
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if !has("date") {
            out.extend_from_slice(b"Date: ");
            crate::clock::push_http_date(out);
            out.extend_from_slice(b"\r\n");
        }
        if !has("server") {
            let _ = write!(out, "Server: {}\r\n", crate::SOFTWARE);
        }
        for (name, value) in self.fields {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(n) = self.length {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        if self.chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        match self.connection {
            Connection::Default => {}
            Connection::Close => out.extend_from_slice(b"Connection: close\r\n"),
            Connection::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// One of rcgi's own responses: a short plain-text page saying what went
/// wrong (`detail`), with no body for HEAD, and any `extra` fields.
/// Returns the number of body bytes written.
pub fn error_page(
    out: &mut Vec<u8>,
    status: u16,
    detail: &str,
    head_only: bool,
    connection: Connection,
    extra: &[(String, Vec<u8>)],
) -> u64 {
    text_page(
        out,
        status,
        &error_line(status, detail),
        head_only,
        connection,
        extra,
    )
}

/// The first (and, but for `--debug`, only) line of rcgi's own pages:
/// `404 Not Found: no script at this path`.
pub fn error_line(status: u16, detail: &str) -> String {
    format!("{status} {}: {detail}\n", reason(status))
}

/// A `text/plain` response with `body`, no body for HEAD, and any
/// `extra` fields. Returns the number of body bytes written.
pub fn text_page(
    out: &mut Vec<u8>,
    status: u16,
    body: &str,
    head_only: bool,
    connection: Connection,
    extra: &[(String, Vec<u8>)],
) -> u64 {
    let mut fields = vec![(
        "Content-Type".to_string(),
        b"text/plain; charset=utf-8".to_vec(),
    )];
    fields.extend_from_slice(extra);
    Head {
        status,
        reason: reason(status),
        fields: &fields,
        length: Some(body.len() as u64),
        chunked: false,
        connection,
    }
    .write(out);
    if head_only {
        return 0;
    }
    out.extend_from_slice(body.as_bytes());
    body.len() as u64
}

/// The standard reason phrase for a status code (RFC 9110 section 15).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            2 => "OK",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_adds_date_server_and_framing() {
        let fields = [("X-A".to_string(), b"1".to_vec())];
        let mut out = Vec::new();
        Head {
            status: 201,
            reason: "Made",
            fields: &fields,
            length: None,
            chunked: true,
            connection: Connection::Close,
        }
        .write(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 201 Made\r\nDate: "), "{text}");
        assert!(text.contains("\r\nServer: rcgi/"));
        assert!(
            text.ends_with("X-A: 1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        );
    }

    #[test]
    fn script_date_and_server_win() {
        let fields = [
            ("date".to_string(), b"x".to_vec()),
            ("SERVER".to_string(), b"y".to_vec()),
        ];
        let mut out = Vec::new();
        Head {
            status: 200,
            reason: "OK",
            fields: &fields,
            length: Some(0),
            chunked: false,
            connection: Connection::Default,
        }
        .write(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: x\r\nSERVER: y\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn error_page_has_no_body_for_head() {
        let mut get = Vec::new();
        error_page(&mut get, 404, "no script", false, Connection::Default, &[]);
        assert!(get.ends_with(b"\r\n\r\n404 Not Found: no script\n"));
        let mut head = Vec::new();
        error_page(&mut head, 404, "no script", true, Connection::Default, &[]);
        assert!(
            head.ends_with(b"Content-Length: 25\r\n\r\n"),
            "{}",
            String::from_utf8_lossy(&head)
        );
    }
}
