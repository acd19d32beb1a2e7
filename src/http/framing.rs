//! How a response body is delimited on the wire (RFC 9112 section 6):
//! by a length, by chunked coding, by closing the connection, or not at
//! all (HEAD, 204, 304). The writer frames body bytes as they come, so a
//! body streams without being held.

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`: this many bytes still to send.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body ends when the connection closes.
    Close,
    /// No body may be sent; body bytes are dropped.
    Empty,
}

/// Why a framed body could not be completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// More bytes came than the length announced.
    Long,
    /// The body ended this many bytes short of the length announced.
    Short(u64),
}

impl Framing {
    /// Frames as much of `data` as the framing allows into `out`; returns
    /// how many bytes of `data` it took (all but a length-framed excess).
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        match self {
            Framing::Length(left) => {
                let n = (*left).min(data.len() as u64) as usize;
                out.extend_from_slice(&data[..n]);
                *left -= n as u64;
                n
            }
            Framing::Chunked if data.is_empty() => 0,
            Framing::Chunked => {
                let _ = write!(out, "{:x}\r\n", data.len());
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
                data.len()
            }
            Framing::Close => {
                out.extend_from_slice(data);
                data.len()
            }
            Framing::Empty => data.len(),
        }
    }

    /// Ends the body: the last chunk for chunked coding; for a length,
    /// whether all of it was sent.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Mismatch> {
        match *self {
            Framing::Chunked => out.extend_from_slice(b"0\r\n\r\n"),
            Framing::Length(left) if left > 0 => return Err(Mismatch::Short(left)),
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
        let mut f = Framing::Chunked;
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
    fn length_takes_no_more_than_announced() {
        let mut f = Framing::Length(4);
        let mut out = Vec::new();
        assert_eq!(f.push(b"abc", &mut out), 3);
        assert_eq!(f.finish(&mut out.clone()), Err(Mismatch::Short(1)));
        assert_eq!(f.push(b"def", &mut out), 1);
        assert_eq!(out, b"abcd");
        assert_eq!(f.finish(&mut out), Ok(()));
    }

    #[test]
    fn empty_drops_everything() {
        let mut f = Framing::Empty;
        let mut out = Vec::new();
        assert_eq!(f.push(b"abc", &mut out), 3);
        assert!(out.is_empty());
    }
}
