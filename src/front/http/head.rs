//! HTTP/1.1 response heads: the status line and header block rcgi
//! writes, for a script's response or for one of its own pages. Every head
//! carries `Date` and `Server` (unless the script set its own), the body
//! framing, and the `Connection` field the connection's fate requires.

use std::io::Write;

use crate::reply::error_line;
use crate::status::reason;

/// `HTTP/1.1 100 Continue`, the interim response to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the head says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionField {
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
    pub connection: ConnectionField,
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
            crate::date::push_http_date(out);
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
            ConnectionField::Default => {}
            ConnectionField::Close => out.extend_from_slice(b"Connection: close\r\n"),
            ConnectionField::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// A whole `Connection: close` error response, for a connection that
/// has no request to answer (one that could not be parsed, or one over
/// the connection bound): a one-line page and any `extra` fields.
/// Returns it, and the number of its body bytes.
pub fn refusal(status: u16, detail: &str, extra: &[(String, Vec<u8>)]) -> (Vec<u8>, u64) {
    let body = error_line(status, detail);
    let mut fields = vec![(
        "Content-Type".to_string(),
        b"text/plain; charset=utf-8".to_vec(),
    )];
    fields.extend_from_slice(extra);
    let mut out = Vec::with_capacity(256);
    Head {
        status,
        reason: reason(status),
        fields: &fields,
        length: Some(body.len() as u64),
        chunked: false,
        connection: ConnectionField::Close,
    }
    .write(&mut out);
    out.extend_from_slice(body.as_bytes());
    (out, body.len() as u64)
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
            connection: ConnectionField::Close,
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
            connection: ConnectionField::Default,
        }
        .write(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: x\r\nSERVER: y\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn a_refusal_is_whole_and_closes() {
        let (out, bytes) = refusal(503, "too many connections", &[]);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Content-Length: 46\r\nConnection: close\r\n\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n503 Service Unavailable: too many connections\n"));
        assert_eq!(bytes, 46);
    }
}
