//! A response as FastCGI carries it: `STDOUT` records holding a
//! CGI-style response (a `Status:` line, the fields, an empty line, the
//! body), then an empty `STDOUT` record and `FCGI_END_REQUEST`. The web
//! server frames it for its client. Every head says
//! `X-Accel-Buffering: no` (unless the script said otherwise), so nginx
//! passes the body on as it comes. An `nph-` script's status line becomes
//! a `Status:` line: FastCGI has no unparsed responses. A response cut
//! short (its script killed mid-body) gets no end: the connection closes
//! instead, so the web server sees it cut (nginx then cuts its client's
//! response too) rather than complete.

use std::io::Write;

use super::record::{self, REQUEST_COMPLETE, STDOUT};
use crate::client::{Head, Served};

/// The longest status line of an `nph-` script held back to rewrite.
const RAW_LINE_MAX: usize = 8 * 1024;

enum State {
    NotStarted,
    /// A head was written; the body may take this many more bytes
    /// (None: any number).
    Body {
        left: Option<u64>,
        empty: bool,
    },
    /// An `nph-` response: its first line, until it has all come.
    RawLine(Vec<u8>),
    Raw,
}

pub struct Response {
    id: u16,
    head_only: bool,
    state: State,
    status: u16,
    bytes: u64,
    close: bool,
    /// The body was declared ended ([`Response::finish`]).
    finished: bool,
}

impl Response {
    pub fn new(id: u16, head_only: bool) -> Response {
        Response {
            id,
            head_only,
            state: State::NotStarted,
            status: 0,
            bytes: 0,
            close: false,
            finished: false,
        }
    }

    pub fn started(&self) -> bool {
        !matches!(self.state, State::NotStarted)
    }

    /// Queues the head into `out`.
    pub fn start(&mut self, head: &Head, out: &mut Vec<u8>) {
        let mut text = Vec::with_capacity(256);
        let has = |name: &str| {
            head.fields
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        // A 200 without a Location is what a web server assumes with no
        // Status (RFC 3875, 6.3.3), and some (Caddy) would pass a
        // `Status` field on to their client.
        if head.status != 200 || has("location") {
            let _ = write!(text, "Status: {} {}\r\n", head.status, head.reason);
        }
        for (name, value) in head.fields {
            text.extend_from_slice(name.as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(value);
            text.extend_from_slice(b"\r\n");
        }
        let no_body = head.status == 204 || head.status == 304;
        if let (Some(n), false) = (head.length, no_body) {
            let _ = write!(text, "Content-Length: {n}\r\n");
        }
        if !has("x-accel-buffering") {
            text.extend_from_slice(b"X-Accel-Buffering: no\r\n");
        }
        text.extend_from_slice(b"\r\n");
        record::write_stream(out, STDOUT, self.id, &text);
        self.status = head.status;
        let empty = no_body || self.head_only;
        self.state = State::Body {
            left: if empty { Some(0) } else { head.length },
            empty,
        };
    }

    pub fn start_raw(&mut self, status: u16) {
        self.status = status;
        self.state = State::RawLine(Vec::new());
    }

    /// Queues body bytes into `out`; returns how many the body takes.
    pub fn write(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        match &mut self.state {
            State::NotStarted => 0,
            State::Body { empty: true, .. } => data.len(),
            State::Body { left, .. } => {
                let took = match left {
                    Some(n) => {
                        let k = usize::try_from(*n).unwrap_or(usize::MAX).min(data.len());
                        *n -= k as u64;
                        k
                    }
                    None => data.len(),
                };
                record::write_stream(out, STDOUT, self.id, &data[..took]);
                self.bytes = self.bytes.saturating_add(took as u64);
                took
            }
            State::RawLine(line) => {
                line.extend_from_slice(data);
                if line.contains(&b'\n') || line.len() > RAW_LINE_MAX {
                    let held = std::mem::take(line);
                    self.state = State::Raw;
                    let rewritten = status_line(&held);
                    record::write_stream(out, STDOUT, self.id, &rewritten);
                }
                data.len()
            }
            State::Raw => {
                record::write_stream(out, STDOUT, self.id, data);
                self.bytes = self.bytes.saturating_add(data.len() as u64);
                data.len()
            }
        }
    }

    pub fn room(&self) -> Option<u64> {
        match &self.state {
            State::NotStarted | State::Body { empty: true, .. } => None,
            State::Body { left, .. } => Some(left.unwrap_or(u64::MAX)),
            State::RawLine(_) | State::Raw => Some(u64::MAX),
        }
    }

    /// Ends the body; `Err(missing)` if it is shorter than its length.
    pub fn finish(&mut self) -> Result<(), u64> {
        self.finished = true;
        match self.state {
            State::Body {
                left: Some(n),
                empty: false,
            } if n > 0 => Err(n),
            _ => Ok(()),
        }
    }

    /// The response began and its body was never ended nor whole (the
    /// script was killed mid-body): it must not look complete.
    pub fn cut(&self) -> bool {
        self.started() && !self.finished && !self.whole()
    }

    /// The body took all it may.
    pub fn whole(&self) -> bool {
        matches!(self.state, State::Body { left: Some(0), .. })
    }

    pub fn close_after(&mut self) {
        self.close = true;
    }

    /// Queues the end of the request: the end of `STDOUT` (what an
    /// unfinished `nph-` line held goes first) and `FCGI_END_REQUEST`.
    pub fn end(&mut self, app_status: u32, out: &mut Vec<u8>) {
        if let State::RawLine(line) = &mut self.state {
            let held = std::mem::take(line);
            record::write_stream(out, STDOUT, self.id, &held);
        }
        record::write(out, STDOUT, self.id, b"");
        record::end_request(out, self.id, app_status, REQUEST_COMPLETE);
    }

    pub fn served(&self) -> Served {
        Served {
            status: self.status,
            bytes: self.bytes,
            close: self.close,
            script: None,
        }
    }
}

/// An `nph-` script's first lines with its status line (`HTTP/1.1 200
/// OK`) as a `Status:` line, and `X-Accel-Buffering: no` after it.
fn status_line(held: &[u8]) -> Vec<u8> {
    let end = held
        .iter()
        .position(|&b| b == b'\n')
        .map_or(held.len(), |i| i + 1);
    let (line, rest) = held.split_at(end);
    let mut out = Vec::with_capacity(held.len() + 32);
    match line
        .strip_prefix(b"HTTP/")
        .and_then(|l| l.iter().position(|&b| b == b' ').map(|i| &l[i + 1..]))
    {
        Some(status) => {
            out.extend_from_slice(b"Status: ");
            out.extend_from_slice(status.trim_ascii_end());
            out.extend_from_slice(b"\r\nX-Accel-Buffering: no\r\n");
        }
        None => out.extend_from_slice(line),
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdout_text(out: &[u8]) -> Vec<u8> {
        let mut rest = out;
        let mut text = Vec::new();
        while let Some((h, content, len)) = record::split(rest).unwrap() {
            if h.kind == STDOUT {
                text.extend_from_slice(content);
            }
            rest = &rest[len..];
        }
        text
    }

    #[test]
    fn head_and_body_as_cgi_text() {
        let fields = vec![("Content-Type".to_string(), b"text/plain".to_vec())];
        let mut r = Response::new(1, false);
        let mut out = Vec::new();
        r.start(
            &Head {
                status: 201,
                reason: "Created",
                fields: &fields,
                length: Some(3),
            },
            &mut out,
        );
        assert_eq!(r.write(b"abcd", &mut out), 3);
        assert!(r.finish().is_ok());
        r.end(0, &mut out);
        let text = String::from_utf8(stdout_text(&out)).unwrap();
        assert_eq!(
            text,
            "Status: 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nX-Accel-Buffering: no\r\n\r\nabc"
        );
        assert_eq!(r.served().bytes, 3);
    }

    #[test]
    fn a_plain_200_has_no_status_field_but_a_200_with_location_has() {
        let start = |fields: &[(String, Vec<u8>)]| {
            let mut r = Response::new(1, false);
            let mut out = Vec::new();
            r.start(
                &Head {
                    status: 200,
                    reason: "OK",
                    fields,
                    length: None,
                },
                &mut out,
            );
            String::from_utf8(stdout_text(&out)).unwrap()
        };
        assert_eq!(start(&[]), "X-Accel-Buffering: no\r\n\r\n");
        let located = [("Location".to_string(), b"http://x/".to_vec())];
        assert!(start(&located).starts_with("Status: 200 OK\r\n"));
    }

    #[test]
    fn nph_status_line_becomes_status_field() {
        let mut r = Response::new(1, false);
        let mut out = Vec::new();
        r.start_raw(404);
        r.write(b"HTTP/1.1 404 Not", &mut out);
        r.write(b" Found\r\nA: b\r\n\r\nx", &mut out);
        let text = String::from_utf8(stdout_text(&out)).unwrap();
        assert_eq!(
            text,
            "Status: 404 Not Found\r\nX-Accel-Buffering: no\r\nA: b\r\n\r\nx"
        );
    }
}
