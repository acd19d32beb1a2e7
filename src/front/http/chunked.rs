//! Decoding of the chunked transfer coding (RFC 9112 section 7.1), one
//! step at a time so that it works on whatever part of the body has
//! arrived. It is strict, because framing that two parsers read
//! differently is how requests are smuggled: every line ends in CRLF,
//! sizes are 1 to 16 hex digits, extensions and trailer fields hold no
//! control characters and are bounded, and trailer fields are dropped.

use crate::fields::is_text;
use crate::status::Refusal;

/// What to read at a time while framing is expected: enough for a size
/// line, so that the chunk's data can then be spliced rather than read.
pub const FRAMING_READ: usize = 256;

/// Longest chunk extension accepted on one size line.
const MAX_EXTENSION: usize = 1024;
/// Most trailer bytes accepted after the last chunk.
const MAX_TRAILER: usize = 16 * 1024;
/// Most hex digits in a chunk size (16 fill a u64).
const MAX_DIGITS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size {
        value: u64,
        digits: u32,
    },
    /// Whitespace after the size, before `;` or CRLF.
    SizeSpace {
        value: u64,
    },
    /// A chunk extension, up to CR.
    Extension {
        value: u64,
        len: usize,
    },
    /// The LF ending a size line.
    SizeLf {
        value: u64,
    },
    /// Chunk data still to come.
    Data(u64),
    DataCr,
    DataLf,
    /// The start of a trailer line, or of the final empty line.
    TrailerStart,
    Trailer,
    TrailerLf,
    FinalLf,
    Done,
}

/// What follows the framing consumed by [`Decoder::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// This many body bytes are next in the input; the caller uses some
    /// and reports how many with [`Decoder::took`].
    Data(usize),
    /// All input was used; more is needed.
    More,
    /// The body and its trailer are complete.
    Done,
}

#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    trailer: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            trailer: 0,
        }
    }
}

fn bad(reason: &'static str) -> Refusal {
    Refusal::new(400, reason)
}

impl Decoder {
    /// Steps over framing at the start of `input`. Returns how many bytes
    /// of framing it consumed and what comes next.
    pub fn advance(&mut self, input: &[u8]) -> Result<(usize, Next), Refusal> {
        let mut used = 0;
        loop {
            match self.state {
                State::Done => return Ok((used, Next::Done)),
                State::Data(left) => {
                    let avail = (input.len() - used) as u64;
                    let next = match left.min(avail) {
                        0 => Next::More,
                        n => Next::Data(n as usize),
                    };
                    return Ok((used, next));
                }
                _ => {}
            }
            let Some(&byte) = input.get(used) else {
                return Ok((used, Next::More));
            };
            self.state = self.step(byte)?;
            used += 1;
        }
    }

    /// Records that the caller used `n` of the body bytes announced by
    /// [`Next::Data`].
    pub fn took(&mut self, n: usize) {
        if let State::Data(left) = self.state {
            let left = left - (n as u64).min(left);
            self.state = if left == 0 {
                State::DataCr
            } else {
                State::Data(left)
            };
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes of chunk data still to come before the next framing, when
    /// in the middle of a chunk (0 otherwise): they may be moved without
    /// being looked at.
    pub fn data_left(&self) -> u64 {
        match self.state {
            State::Data(left) => left,
            _ => 0,
        }
    }

    /// The state after one framing byte.
    fn step(&mut self, b: u8) -> Result<State, Refusal> {
        Ok(match self.state {
            State::Size { value, digits } => match (b as char).to_digit(16) {
                Some(d) if digits < MAX_DIGITS => State::Size {
                    value: value << 4 | u64::from(d),
                    digits: digits + 1,
                },
                Some(_) => return Err(bad("chunk size too large")),
                None if digits == 0 => return Err(bad("invalid chunk size")),
                None => self.after_size(value, b)?,
            },
            State::SizeSpace { value } => self.after_size(value, b)?,
            State::Extension { value, len } => match b {
                b'\r' => State::SizeLf { value },
                _ if is_text(b) && len < MAX_EXTENSION => State::Extension {
                    value,
                    len: len + 1,
                },
                _ => return Err(bad("invalid chunk extension")),
            },
            State::SizeLf { value } => match b {
                b'\n' if value == 0 => State::TrailerStart,
                b'\n' => State::Data(value),
                _ => return Err(bad("chunk size line without CRLF")),
            },
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err(bad("chunk data longer than its size")),
            },
            State::DataLf => match b {
                b'\n' => State::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return Err(bad("chunk data without CRLF")),
            },
            State::TrailerStart => match b {
                b'\r' => State::FinalLf,
                _ => self.trailer_byte(b)?,
            },
            State::Trailer => match b {
                b'\r' => State::TrailerLf,
                _ => self.trailer_byte(b)?,
            },
            State::TrailerLf | State::FinalLf if b != b'\n' => {
                return Err(bad("trailer line without CRLF"));
            }
            State::TrailerLf => State::TrailerStart,
            State::FinalLf => State::Done,
            State::Data(_) | State::Done => unreachable!("advance handles data and the end"),
        })
    }

    /// After the size digits: optional whitespace, then `;` or CR.
    fn after_size(&self, value: u64, b: u8) -> Result<State, Refusal> {
        Ok(match b {
            b' ' | b'\t' => State::SizeSpace { value },
            b';' => State::Extension { value, len: 0 },
            b'\r' => State::SizeLf { value },
            _ => return Err(bad("invalid chunk size")),
        })
    }

    fn trailer_byte(&mut self, b: u8) -> Result<State, Refusal> {
        self.trailer += 1;
        if !is_text(b) {
            return Err(bad("invalid trailer field"));
        }
        if self.trailer > MAX_TRAILER {
            return Err(bad("trailer fields too large"));
        }
        Ok(State::Trailer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes all of `input`, fed in pieces of `step` bytes; returns the
    /// body and how many input bytes the coding took.
    fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), Refusal> {
        let mut d = Decoder::default();
        let mut body = Vec::new();
        let mut fed = 0;
        let mut pos = 0;
        loop {
            fed = (fed + step).min(input.len()).max(pos);
            let (n, next) = d.advance(&input[pos..fed])?;
            pos += n;
            match next {
                Next::Data(k) => {
                    let k = k.min(3); // take less than offered, as a pipe might
                    body.extend_from_slice(&input[pos..pos + k]);
                    d.took(k);
                    pos += k;
                }
                Next::More if fed == input.len() => return Err(bad("truncated")),
                Next::More => {}
                Next::Done => return Ok((body, pos)),
            }
        }
    }

    #[test]
    fn decodes_in_any_pieces() {
        let input = b"5\r\nhello\r\n1;a=b\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in 1..input.len() {
            let (body, used) = decode(input, step).unwrap();
            assert_eq!(body, b"hello 0123456789");
            assert_eq!(&input[used..], b"NEXT");
        }
    }

    #[test]
    fn size_may_be_followed_by_whitespace_and_extensions() {
        let (body, _) = decode(b"3 ;x\r\nabc\r\n0\r\n\r\n", 100).unwrap();
        assert_eq!(body, b"abc");
    }

    #[test]
    fn refuses_bad_framing() {
        for input in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhelloX\r\n",
            b"-1\r\n",
            b"0x5\r\n",
            b"11111111111111111\r\n",
            b"1;a\x00\r\n",
            b"1\r\r\n",
            b"0\r\nX: 1\n\r\n",
            b"0\r\n\r\r",
        ] {
            assert!(
                decode(input, 100).is_err(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn extensions_and_trailers_are_bounded() {
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_EXTENSION + 1));
        long.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert!(decode(&long, 4096).is_err());
        let mut trailer = b"0\r\n".to_vec();
        trailer.extend(std::iter::repeat_n(b'a', MAX_TRAILER + 1));
        assert!(decode(&trailer, 4096).is_err());
    }
}
