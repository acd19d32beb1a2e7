//! A script's response as RFC 3875 section 6 defines it, before any
//! protocol frames it. The header block is collected as it arrives
//! (bounded) and parsed ([`header_block`]); then it is one of:
//!
//! - a local redirect: `Location: /path` and no `Status`; the caller
//!   serves the path instead and drops the rest of the output;
//! - a client redirect: any other `Location` and no `Status`: 302;
//! - a document: `Status`, or 200, with the script's fields.
//!
//! [`header_block`]: super::header_block

use super::header_block::{self, ScriptHead};
use crate::status;

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

/// What a complete header block asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Serve this path (and query) instead.
    LocalRedirect(Vec<u8>),
    /// Send a response with this head; `body` holds the first body bytes
    /// (those that came with the header block).
    Document { head: Document, body: Vec<u8> },
}

/// The head of a document or client redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub status: u16,
    pub reason: String,
    pub fields: Vec<(String, Vec<u8>)>,
    /// The script's `Content-Length`, if it gave one.
    pub length: Option<u64>,
}

/// Collects the header block as the script writes it.
#[derive(Debug)]
pub struct HeadReader {
    buf: Vec<u8>,
    scanned: usize,
    max: usize,
}

impl HeadReader {
    /// A reader that refuses a header block over `max` bytes.
    pub fn new(max: usize) -> HeadReader {
        HeadReader {
            buf: Vec::new(),
            scanned: 0,
            max,
        }
    }

    /// Takes the next piece of output; the response once the header block
    /// is complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Response>, Fault> {
        self.buf.extend_from_slice(data);
        let Some((head_len, body_start)) = header_block::find_end(&self.buf, self.scanned) else {
            if self.buf.len() > self.max {
                return Err(self.too_large());
            }
            self.scanned = self.buf.len().saturating_sub(2);
            return Ok(None);
        };
        if head_len > self.max {
            return Err(self.too_large());
        }
        let head = header_block::parse(&self.buf[..head_len]).map_err(|e| Fault {
            short: "malformed script headers",
            detail: e.0,
            head: shown_head(&self.buf),
        })?;
        let body = self.buf.split_off(body_start);
        self.buf.clear();
        Ok(Some(match local_redirect(&head) {
            Some(target) => Response::LocalRedirect(target),
            None => Response::Document {
                head: document(head),
                body,
            },
        }))
    }

    /// The script's output ended before its header block did.
    pub fn ended(&self) -> Fault {
        if self.buf.is_empty() {
            Fault {
                short: "script sent no output",
                detail: "no output".into(),
                head: Vec::new(),
            }
        } else {
            Fault {
                short: "script output ended within its headers",
                detail: "output ended before the blank line ending the headers".into(),
                head: shown_head(&self.buf),
            }
        }
    }

    /// The start of the header bytes received so far (for diagnosis).
    pub fn so_far(&self) -> Vec<u8> {
        shown_head(&self.buf)
    }

    fn too_large(&self) -> Fault {
        Fault {
            short: "script headers too large",
            detail: format!("header block over {} bytes", self.max),
            head: shown_head(&self.buf),
        }
    }
}

/// `Location: /path` without `Status` is a local redirect (RFC 3875
/// section 6.2.2); `//host/...` is not a path but a network reference.
fn local_redirect(head: &ScriptHead) -> Option<Vec<u8>> {
    let location = head.location.as_ref()?;
    let is_path = location.starts_with(b"/") && !location.starts_with(b"//");
    (head.status.is_none() && is_path).then(|| location.clone())
}

/// The head of a document: its `Status`, else 302 for a client redirect,
/// else 200; the standard reason phrase when the script gave none.
fn document(head: ScriptHead) -> Document {
    let (status, reason) = match head.status {
        Some((code, reason)) => (code, reason),
        None if head.location.is_some() => (302, String::new()),
        None => (200, String::new()),
    };
    let reason = if reason.is_empty() {
        status::reason(status).to_string()
    } else {
        reason
    };
    Document {
        status,
        reason,
        fields: head.fields,
        length: head.content_length,
    }
}

/// The status code of an NPH response's status line, for the log.
pub fn raw_status(data: &[u8]) -> u16 {
    data.strip_prefix(b"HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `output` in pieces of `step` bytes.
    fn read(output: &[u8], step: usize) -> Result<Option<Response>, Fault> {
        let mut r = HeadReader::new(1024);
        for piece in output.chunks(step) {
            if let Some(done) = r.feed(piece)? {
                return Ok(Some(done));
            }
        }
        Err(r.ended())
    }

    fn doc(output: &[u8]) -> (Document, Vec<u8>) {
        match read(output, 1000).unwrap() {
            Some(Response::Document { head, body }) => (head, body),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn documents_in_any_pieces() {
        for step in [1, 3, 100] {
            let Some(Response::Document { head, body }) =
                read(b"Content-Type: text/plain\n\nhello", step).unwrap()
            else {
                panic!("a document")
            };
            assert_eq!((head.status, head.reason.as_str()), (200, "OK"));
            assert_eq!(
                head.fields,
                [("Content-Type".into(), b"text/plain".to_vec())]
            );
            assert_eq!(head.length, None);
            // The body bytes that came with the block, and no more.
            assert!(b"hello".starts_with(&body), "step {step}");
        }
        let (head, body) = doc(b"Status: 404 Gone Away\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!((head.status, head.reason.as_str()), (404, "Gone Away"));
        assert_eq!((head.length, body.as_slice()), (Some(3), &b"abc"[..]));
        let (head, _) = doc(b"Status: 304\n\n");
        assert_eq!((head.status, head.reason.as_str()), (304, "Not Modified"));
    }

    #[test]
    fn redirects() {
        let (head, _) = doc(b"Location: http://ex.org/\n\n");
        assert_eq!(head.status, 302);
        assert_eq!(
            head.fields,
            [("Location".into(), b"http://ex.org/".to_vec())]
        );
        assert_eq!(
            read(b"Location: /cgi-bin/x?y\r\n\r\nignored", 4).unwrap(),
            Some(Response::LocalRedirect(b"/cgi-bin/x?y".to_vec()))
        );
        let (head, _) = doc(b"Location: //elsewhere/x\n\n");
        assert_eq!(head.status, 302, "a network-path reference is not local");
        let (head, body) = doc(b"Status: 301 Moved\nLocation: /x\n\nsee /x");
        assert_eq!((head.status, body.as_slice()), (301, &b"see /x"[..]));
    }

    #[test]
    fn faults_before_the_head() {
        assert_eq!(read(b"", 1).unwrap_err().short, "script sent no output");
        assert_eq!(
            read(b"Content-Type: x\n", 1).unwrap_err().short,
            "script output ended within its headers"
        );
        assert_eq!(
            read(&[b'a'; 2000], 100).unwrap_err().short,
            "script headers too large"
        );
        let mut long = vec![b'a'; 1100];
        long.extend_from_slice(b": b\n\n");
        assert_eq!(
            read(&long, 2000).unwrap_err().short,
            "script headers too large"
        );
        assert_eq!(
            read(b"Status: 99\n\n", 100).unwrap_err().short,
            "malformed script headers"
        );
    }

    #[test]
    fn nph_status_for_the_log() {
        assert_eq!(raw_status(b"HTTP/1.1 418 Teapot\r\n"), 418);
        assert_eq!(raw_status(b"garbage"), 0);
    }
}
