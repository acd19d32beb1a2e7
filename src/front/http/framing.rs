//! How a response body is delimited on the wire (RFC 9112 section 6):
//! by a length, by chunked coding, by closing the connection, or not at
//! all (HEAD, 204, 304). Body bytes are framed as they come, so a body
//! streams without being held: either copied through rcgi ([`push`]) or
//! moved by the kernel, announced first ([`announce`]) so that their
//! chunk header goes out ahead of them.
//!
//! [`push`]: Framing::push
//! [`announce`]: Framing::announce

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`: this many bytes still to send.
    Length(u64),
    /// `Transfer-Encoding: chunked`; `open` while the data of an
    /// announced chunk is still to be followed by its CRLF.
    Chunked { open: bool },
    /// The body ends when the connection closes.
    Close,
    /// No body may be sent; body bytes are dropped.
    Empty,
}

impl Framing {
    pub const CHUNKED: Framing = Framing::Chunked { open: false };

    /// Frames as much of `data` as the framing allows into `out`; returns
    /// how many bytes of `data` it took (all but a length-framed excess).
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        if data.is_empty() {
            return 0;
        }
        let take = self.announce(data.len(), out);
        if *self != Framing::Empty {
            out.extend_from_slice(&data[..take]);
        }
        if let Framing::Chunked { open } = self {
            out.extend_from_slice(b"\r\n");
            *open = false;
        }
        take
    }

    /// Frames `n` body bytes that will follow `out` on the wire without
    /// passing through it: writes their chunk header (after the CRLF the
    /// chunk before needs) and counts them. Returns how many of the `n`
    /// the body may take (fewer when a length is reached; all for
    /// `Empty`, which drops them).
    pub fn announce(&mut self, n: usize, out: &mut Vec<u8>) -> usize {
        match self {
            Framing::Length(left) => {
                let take = (*left).min(n as u64);
                *left -= take;
                take as usize
            }
            Framing::Chunked { .. } if n == 0 => 0,
            Framing::Chunked { open } => {
                if *open {
                    out.extend_from_slice(b"\r\n");
                }
                let _ = write!(out, "{n:x}\r\n");
                *open = true;
                n
            }
            Framing::Close | Framing::Empty => n,
        }
    }

    /// How many more body bytes may be sent now, or None if the body
    /// takes no more (a length reached, or no body at all).
    pub fn room(&self) -> Option<u64> {
        match *self {
            Framing::Length(0) | Framing::Empty => None,
            Framing::Length(left) => Some(left),
            Framing::Chunked { .. } | Framing::Close => Some(u64::MAX),
        }
    }

    /// Ends the body: the last chunk for chunked coding; for a length,
    /// `Err` with the bytes still missing.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), u64> {
        match *self {
            Framing::Chunked { open } => {
                if open {
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
                *self = Framing::CHUNKED;
            }
            Framing::Length(left) if left > 0 => return Err(left),
            _ => {}
        }
        Ok(())
    }

    /// True when the connection must close to end the body.
    pub fn closes(&self) -> bool {
        *self == Framing::Close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_frames_each_piece() {
        let mut f = Framing::CHUNKED;
        let mut out = Vec::new();
        assert_eq!(f.push(b"hello", &mut out), 5);
        assert_eq!(f.push(b"", &mut out), 0);
        assert_eq!(f.push(&[b'x'; 26], &mut out), 26);
        f.finish(&mut out).unwrap();
        let mut expected = b"5\r\nhello\r\n1a\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 26]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);
    }

    #[test]
    fn announced_chunks_interleave_with_pushed_ones() {
        let mut f = Framing::CHUNKED;
        let mut wire = Vec::new();
        let mut out = Vec::new();
        f.push(b"ab", &mut out);
        assert_eq!(f.announce(3, &mut out), 3);
        wire.append(&mut out);
        wire.extend_from_slice(b"cde"); // sent by the kernel
        assert_eq!(f.announce(1, &mut out), 1);
        wire.append(&mut out);
        wire.extend_from_slice(b"f");
        f.push(b"gh", &mut out);
        f.finish(&mut out).unwrap();
        wire.append(&mut out);
        assert_eq!(
            wire,
            b"2\r\nab\r\n3\r\ncde\r\n1\r\nf\r\n2\r\ngh\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn length_takes_no_more_than_announced() {
        let mut f = Framing::Length(4);
        let mut out = Vec::new();
        assert_eq!(f.push(b"abc", &mut out), 3);
        assert_eq!(f.finish(&mut out.clone()), Err(1));
        assert_eq!(f.room(), Some(1));
        assert_eq!(f.push(b"def", &mut out), 1);
        assert_eq!(out, b"abcd");
        assert_eq!(f.room(), None);
        assert_eq!(f.finish(&mut out), Ok(()));
    }

    #[test]
    fn empty_drops_everything() {
        let mut f = Framing::Empty;
        let mut out = Vec::new();
        assert_eq!(f.push(b"abc", &mut out), 3);
        assert!(out.is_empty());
        assert_eq!(f.room(), None);
    }
}
