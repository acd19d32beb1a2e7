//! A script's stdout turned into the client's response (RFC 3875 section
//! 6), as it arrives. First the header block is collected (bounded) and
//! parsed; then one of the response types is chosen:
//!
//! - local redirect: `Location: /path` and no `Status`; nothing is sent,
//!   the rest of the output is dropped and the caller serves the path;
//! - client redirect: any other `Location` and no `Status`: 302;
//! - document: `Status` or 200, with the script's fields.
//!
//! The body is then framed as it comes: by the script's `Content-Length`,
//! else chunked for HTTP/1.1, else by closing the connection. HEAD, 204
//! and 304 get no body. An `nph-` script's output is the response itself
//! and is passed on untouched.

use super::headers::{self, ScriptHead};
use crate::http::Version;
use crate::http::framing::Framing;
use crate::http::response::{self, Connection, Head};

/// What the request asks of the response.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub version: Version,
    pub head_only: bool,
    /// The connection may stay open after this response.
    pub keep_alive: bool,
    /// The script is `nph-`: pass its output through.
    pub nph: bool,
    /// Bound on the header block.
    pub max_head: usize,
}

/// The script broke CGI before its response began: the client gets 502
/// with `short` in the page, and the log gets `detail`; `head` holds the
/// start of the header bytes received, for diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub short: &'static str,
    pub detail: String,
    pub head: Vec<u8>,
}

/// How much of a bad header block is kept to show.
const HEAD_SHOWN: usize = 4096;

fn shown_head(buf: &[u8]) -> Vec<u8> {
    buf[..buf.len().min(HEAD_SHOWN)].to_vec()
}

/// What a piece of output led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fed {
    Continue,
    /// A local redirect to this path (and query).
    Redirect(Vec<u8>),
}

enum State {
    Head { buf: Vec<u8>, scanned: usize },
    Body(Framing),
    Raw,
    Discard,
}

pub struct Output {
    ask: Ask,
    state: State,
    /// The status sent (0 until a head is sent).
    pub status: u16,
    /// Body bytes sent.
    pub body_bytes: u64,
    /// The connection must close after this response.
    pub close: bool,
    /// Something wrong after the head was sent, for the log.
    pub problem: Option<String>,
}

impl Output {
    pub fn new(ask: Ask) -> Output {
        let state = if ask.nph {
            State::Raw
        } else {
            State::Head {
                buf: Vec::new(),
                scanned: 0,
            }
        };
        Output {
            ask,
            state,
            status: 0,
            body_bytes: 0,
            close: ask.nph || !ask.keep_alive,
            problem: None,
        }
    }

    /// True once bytes of the response have been produced.
    pub fn started(&self) -> bool {
        !matches!(self.state, State::Head { .. })
    }

    /// The start of the header bytes received so far, while the head is
    /// still incomplete (for diagnosis).
    pub fn head_so_far(&self) -> Vec<u8> {
        match &self.state {
            State::Head { buf, .. } => shown_head(buf),
            _ => Vec::new(),
        }
    }

    /// How many body bytes may now be moved straight from the script to
    /// the client, without passing through [`Output::feed`]: None until
    /// the head is out, and when the body takes no more.
    pub fn relay_room(&self) -> Option<u64> {
        match &self.state {
            State::Body(framing) => framing.room(),
            State::Raw => Some(u64::MAX),
            State::Head { .. } | State::Discard => None,
        }
    }

    /// True when bytes moved straight to the client need framing between
    /// them (chunk headers, written by [`Output::relayed`]).
    pub fn relay_framed(&self) -> bool {
        matches!(self.state, State::Body(Framing::Chunked { .. }))
    }

    /// Frames `n` bytes about to be moved straight to the client (after
    /// what `out` holds); returns how many of them may go.
    pub fn relayed(&mut self, n: usize, out: &mut Vec<u8>) -> usize {
        let take = match &mut self.state {
            State::Body(framing) => framing.announce(n, out),
            State::Raw => n,
            State::Head { .. } | State::Discard => 0,
        };
        self.body_bytes += take as u64;
        take
    }

    /// True when further output is dropped (local redirect).
    pub fn discarding(&self) -> bool {
        matches!(self.state, State::Discard)
    }

    /// True once the client has been given a whole response, before the
    /// script's output has ended: all of a `Content-Length` body, or a
    /// response that has no body. (A chunked or close-delimited body is
    /// whole only at the end of the output.)
    pub fn delivered(&self) -> bool {
        match &self.state {
            State::Body(Framing::Length(0) | Framing::Empty) => true,
            State::Discard => self.status != 0,
            _ => false,
        }
    }

    /// Takes the next piece of the script's stdout; appends what to send
    /// to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<Fed, Fault> {
        match &mut self.state {
            State::Head { buf, scanned } => {
                buf.extend_from_slice(data);
                let Some((head_len, body_start)) = headers::find_end(buf, *scanned) else {
                    if buf.len() > self.ask.max_head {
                        return Err(Fault {
                            short: "script headers too large",
                            detail: format!("header block over {} bytes", self.ask.max_head),
                            head: shown_head(buf),
                        });
                    }
                    *scanned = buf.len().saturating_sub(2);
                    return Ok(Fed::Continue);
                };
                let buf = std::mem::take(buf);
                if head_len > self.ask.max_head {
                    return Err(Fault {
                        short: "script headers too large",
                        detail: format!("header block over {} bytes", self.ask.max_head),
                        head: shown_head(&buf),
                    });
                }
                let head = headers::parse(&buf[..head_len]).map_err(|e| Fault {
                    short: "malformed script headers",
                    detail: e.0,
                    head: shown_head(&buf),
                })?;
                if let Some(target) = local_redirect(&head) {
                    self.state = State::Discard;
                    return Ok(Fed::Redirect(target));
                }
                self.begin(head, out);
                self.body(&buf[body_start..], out);
            }
            _ => self.body(data, out),
        }
        Ok(Fed::Continue)
    }

    /// The script's stdout ended: finish the response.
    pub fn end(&mut self, out: &mut Vec<u8>) -> Result<(), Fault> {
        match &mut self.state {
            State::Head { buf, .. } if buf.is_empty() => Err(Fault {
                short: "script sent no output",
                detail: "no output".into(),
                head: Vec::new(),
            }),
            State::Head { buf, .. } => Err(Fault {
                short: "script output ended within its headers",
                detail: "output ended before the blank line ending the headers".into(),
                head: shown_head(buf),
            }),
            State::Body(framing) => {
                if let Err(left) = framing.finish(out) {
                    self.close = true;
                    self.problem = Some(format!(
                        "output ended {left} bytes short of its Content-Length; connection closed"
                    ));
                }
                Ok(())
            }
            State::Raw | State::Discard => Ok(()),
        }
    }

    fn body(&mut self, data: &[u8], out: &mut Vec<u8>) {
        match &mut self.state {
            State::Body(framing) => {
                let took = framing.push(data, out);
                if *framing != Framing::Empty {
                    self.body_bytes += took as u64;
                }
                if took < data.len() {
                    self.state = State::Discard;
                    self.close = true;
                    self.problem =
                        Some("output longer than its Content-Length; excess dropped".into());
                }
            }
            State::Raw => {
                if self.body_bytes == 0 && self.status == 0 {
                    self.status = raw_status(data);
                }
                out.extend_from_slice(data);
                self.body_bytes += data.len() as u64;
            }
            State::Head { .. } | State::Discard => {}
        }
    }

    /// Writes the response head for a document or client redirect.
    fn begin(&mut self, head: ScriptHead, out: &mut Vec<u8>) {
        let (status, reason) = match (&head.status, &head.location) {
            (Some((code, reason)), _) => (*code, reason.as_str()),
            (None, Some(_)) => (302, ""),
            (None, None) => (200, ""),
        };
        let reason = if reason.is_empty() {
            response::reason(status)
        } else {
            reason
        };
        let no_body = status == 204 || status == 304;
        let framing = match head.content_length {
            _ if no_body || self.ask.head_only => Framing::Empty,
            Some(n) => Framing::Length(n),
            None if self.ask.version == Version::Http11 => Framing::CHUNKED,
            None => Framing::Close,
        };
        self.close |= framing.closes();
        let connection = if self.close {
            Connection::Close
        } else if self.ask.version == Version::Http10 {
            Connection::KeepAlive
        } else {
            Connection::Default
        };
        Head {
            status,
            reason,
            fields: &head.fields,
            length: if no_body { None } else { head.content_length },
            chunked: matches!(framing, Framing::Chunked { .. }),
            connection,
        }
        .write(out);
        self.status = status;
        self.state = State::Body(framing);
    }
}

/// `Location: /path` without `Status` is a local redirect (RFC 3875
/// section 6.2.2); `//host/...` is not a path but a network reference.
fn local_redirect(head: &ScriptHead) -> Option<Vec<u8>> {
    let location = head.location.as_ref()?;
    let is_path = location.starts_with(b"/") && !location.starts_with(b"//");
    (head.status.is_none() && is_path).then(|| location.clone())
}

/// The status code of an NPH response's status line, for the log.
fn raw_status(data: &[u8]) -> u16 {
    data.strip_prefix(b"HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(version: Version, head_only: bool) -> Ask {
        Ask {
            version,
            head_only,
            keep_alive: true,
            nph: false,
            max_head: 1024,
        }
    }

    /// Feeds `script` in pieces of `step` bytes; returns the wire bytes.
    fn run(a: Ask, script: &[u8], step: usize) -> (Result<Vec<u8>, Fault>, Output) {
        let mut o = Output::new(a);
        let mut out = Vec::new();
        for piece in script.chunks(step) {
            if let Err(f) = o.feed(piece, &mut out) {
                return (Err(f), o);
            }
        }
        let r = o.end(&mut out).map(|()| out);
        (r, o)
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn document_is_chunked_for_http11_and_closed_for_http10() {
        let script = b"Content-Type: text/plain\n\nhello";
        for step in [1, 3, 100] {
            let (r, o) = run(ask(Version::Http11, false), script, step);
            let wire = text(r.unwrap());
            assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
            assert!(
                wire.contains("Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            );
            let body: String = wire.split("\r\n\r\n").nth(1).unwrap().into();
            let decoded: String = body
                .split("\r\n")
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s)
                .collect();
            assert_eq!(decoded, "hello", "step {step}");
            assert_eq!((o.status, o.body_bytes, o.close), (200, 5, false));
        }
        let (r, o) = run(ask(Version::Http10, false), script, 100);
        assert!(text(r.unwrap()).ends_with("Connection: close\r\n\r\nhello"));
        assert!(o.close);
    }

    #[test]
    fn content_length_frames_and_polices_the_body() {
        let (r, o) = run(ask(Version::Http11, false), b"Content-Length: 3\n\nabc", 2);
        assert!(text(r.unwrap()).ends_with("Content-Length: 3\r\n\r\nabc"));
        assert!(!o.close);
        let (r, o) = run(
            ask(Version::Http11, false),
            b"Content-Length: 3\n\nabcdef",
            2,
        );
        assert!(text(r.unwrap()).ends_with("\r\n\r\nabc"));
        assert!(o.close && o.problem.is_some());
        let (r, o) = run(ask(Version::Http11, false), b"Content-Length: 3\n\nab", 2);
        assert!(text(r.unwrap()).ends_with("\r\n\r\nab"));
        assert!(o.close && o.problem.is_some());
    }

    #[test]
    fn head_and_no_body_statuses_send_no_body() {
        let (r, _) = run(ask(Version::Http11, true), b"Content-Length: 3\n\nabc", 100);
        assert!(text(r.unwrap()).ends_with("Content-Length: 3\r\n\r\n"));
        let (r, o) = run(ask(Version::Http11, false), b"Status: 304\n\nabc", 100);
        let wire = text(r.unwrap());
        assert!(wire.starts_with("HTTP/1.1 304 Not Modified\r\n") && wire.ends_with("\r\n\r\n"));
        assert!(!wire.contains("chunked") && !o.close);
    }

    #[test]
    fn redirects() {
        let (r, _) = run(
            ask(Version::Http11, false),
            b"Location: http://ex.org/\n\n",
            100,
        );
        let wire = text(r.unwrap());
        assert!(
            wire.starts_with("HTTP/1.1 302 Found\r\n")
                && wire.contains("Location: http://ex.org/\r\n")
        );
        let mut o = Output::new(ask(Version::Http11, false));
        let mut out = Vec::new();
        let fed = o
            .feed(b"Location: /cgi-bin/x?y\r\n\r\nignored", &mut out)
            .unwrap();
        assert_eq!(fed, Fed::Redirect(b"/cgi-bin/x?y".to_vec()));
        assert!(out.is_empty() && o.discarding());
        let (r, _) = run(
            ask(Version::Http11, false),
            b"Status: 301 Moved\nLocation: /x\n\nsee /x",
            100,
        );
        assert!(text(r.unwrap()).starts_with("HTTP/1.1 301 Moved\r\n"));
    }

    #[test]
    fn faults_before_the_head() {
        let (r, _) = run(ask(Version::Http11, false), b"", 1);
        assert_eq!(r.unwrap_err().short, "script sent no output");
        let (r, _) = run(ask(Version::Http11, false), b"Content-Type: x\n", 1);
        assert_eq!(
            r.unwrap_err().short,
            "script output ended within its headers"
        );
        let (r, _) = run(ask(Version::Http11, false), &[b'a'; 2000], 100);
        assert_eq!(r.unwrap_err().short, "script headers too large");
        let (r, _) = run(ask(Version::Http11, false), b"Status: 99\n\n", 100);
        assert_eq!(r.unwrap_err().short, "malformed script headers");
    }

    #[test]
    fn nph_passes_through() {
        let mut a = ask(Version::Http11, false);
        a.nph = true;
        let raw = b"HTTP/1.1 418 Teapot\r\nX: y\r\n\r\nbody";
        let (r, o) = run(a, raw, 4);
        assert_eq!(r.unwrap(), raw);
        assert!(o.close);
        let (_, o) = run(a, raw, 100);
        assert_eq!(o.status, 418);
    }
}
