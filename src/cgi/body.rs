//! The request body on its way from the client to the script's stdin,
//! inside the exchange: a `Content-Length` body, or a chunked one decoded
//! as it comes (`--chunked stream`). It knows which of the connection's
//! buffered bytes are body (what follows is the next request), what is
//! still owed by the client, and when the body is complete, so stdin can
//! be closed. Once the script closes its stdin, the rest is dropped.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::ChildStdin;

use nix::errno::Errno;

use crate::http::HttpError;
use crate::http::chunked::{Decoder, FRAMING_READ, Next};
use crate::http::conn::Conn;
use crate::http::relay::BULK_PIPE;

pub enum BodyIn {
    /// `left` bytes still to come from the client, after `buffered` at
    /// the front of the connection's buffer.
    Length { left: u64, buffered: usize },
    /// Chunked: the buffer holds raw coding; `total` body bytes so far.
    Chunked {
        decoder: Decoder,
        total: u64,
        max: u64,
    },
}

/// What a [`BodyIn::read`] managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Some bytes.
    Some,
    /// Nothing had arrived.
    Nothing,
    /// The script's stdin is full: wait until it can take more.
    StdinFull,
}

/// What went wrong with a body while streaming it.
#[derive(Debug)]
pub enum BodyError {
    /// The client closed the connection, or it failed.
    Gone(&'static str),
    /// Invalid chunked coding, or past the body bound.
    Bad(HttpError),
}

impl BodyIn {
    /// A `Content-Length` body of `len` bytes, some perhaps buffered.
    pub fn length(conn: &Conn, len: u64) -> BodyIn {
        let buffered = conn
            .buffered()
            .len()
            .min(usize::try_from(len).unwrap_or(usize::MAX));
        BodyIn::Length {
            left: len - buffered as u64,
            buffered,
        }
    }

    /// A chunked body of at most `max` decoded bytes.
    pub fn chunked(max: u64) -> BodyIn {
        BodyIn::Chunked {
            decoder: Decoder::default(),
            total: 0,
            max,
        }
    }

    /// True while the client owes bytes and none are waiting in the
    /// buffer: time to read from the client.
    pub fn wants_read(&self, conn: &Conn) -> bool {
        match self {
            BodyIn::Length { left, buffered } => *left > 0 && *buffered == 0,
            BodyIn::Chunked { decoder, .. } => !decoder.is_done() && conn.buffered().is_empty(),
        }
    }

    /// True while body bytes wait in the buffer for the script.
    pub fn has_data(&self, conn: &Conn) -> bool {
        match self {
            BodyIn::Length { buffered, .. } => *buffered > 0,
            BodyIn::Chunked { decoder, .. } => !decoder.is_done() && !conn.buffered().is_empty(),
        }
    }

    /// True once the whole body has been received and passed on.
    pub fn complete(&self) -> bool {
        match self {
            BodyIn::Length { left, buffered } => *left == 0 && *buffered == 0,
            BodyIn::Chunked { decoder, .. } => decoder.is_done(),
        }
    }

    /// Body bytes still on the wire, if known (a chunked body's are not).
    pub fn unread(&self) -> Option<u64> {
        match self {
            BodyIn::Length { left, .. } => Some(*left),
            BodyIn::Chunked { decoder, .. } if decoder.is_done() => Some(0),
            BodyIn::Chunked { .. } => None,
        }
    }

    /// Takes what the client has sent, without waiting, never past a
    /// `Content-Length` body (what follows is the next request). Such a
    /// body goes straight from the socket into the script's stdin
    /// (splice) when nothing is buffered; the rest is read into the
    /// connection's buffer for [`BodyIn::pump`].
    pub fn read(
        &mut self,
        conn: &mut Conn,
        stdin: &mut Option<ChildStdin>,
    ) -> Result<Taken, BodyError> {
        let max = match self {
            BodyIn::Length { left, .. } => usize::try_from(*left).unwrap_or(usize::MAX),
            BodyIn::Chunked { decoder, .. } if decoder.data_left() == 0 && stdin.is_some() => {
                FRAMING_READ
            }
            BodyIn::Chunked { .. } => usize::MAX,
        };
        if let (Some(run), Some(pipe)) = (self.direct_run(conn), stdin.as_ref()) {
            match conn.splice_into(pipe.as_fd(), run.min(BULK_PIPE)) {
                Ok(0) => return Err(BodyError::Gone("client closed the connection mid-body")),
                Ok(n) => {
                    self.moved(n);
                    if self.complete() {
                        *stdin = None;
                    }
                    return Ok(Taken::Some);
                }
                // Woken because the socket has data: the pipe is full.
                Err(Errno::EAGAIN) => return Ok(Taken::StdinFull),
                Err(Errno::EINTR) => return Ok(Taken::Nothing),
                // The script closed its stdin: read and drop the rest.
                Err(Errno::EPIPE) => *stdin = None,
                Err(e) => return Err(BodyError::Gone(e.desc())),
            }
        }
        match conn.fill_now(max) {
            Ok(0) => Err(BodyError::Gone("client closed the connection mid-body")),
            Ok(n) => {
                if let BodyIn::Length { left, buffered } = self {
                    *left -= n as u64;
                    *buffered += n;
                }
                Ok(Taken::Some)
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => Ok(Taken::Nothing),
            Err(e) => Err(BodyError::Gone(e.desc())),
        }
    }

    /// How many body bytes may go straight from the socket to the
    /// script: with nothing buffered, the rest of a `Content-Length` body,
    /// or the rest of the current chunk.
    fn direct_run(&self, conn: &Conn) -> Option<usize> {
        let run = match self {
            BodyIn::Length { left, buffered: 0 } => *left,
            BodyIn::Chunked {
                decoder,
                total,
                max,
            } if conn.buffered().is_empty() => decoder.data_left().min(max.saturating_sub(*total)),
            _ => 0,
        };
        (run > 0).then(|| usize::try_from(run).unwrap_or(usize::MAX))
    }

    /// Counts `n` body bytes moved straight from the socket.
    fn moved(&mut self, n: usize) {
        match self {
            BodyIn::Length { left, .. } => *left -= n as u64,
            BodyIn::Chunked { decoder, total, .. } => {
                decoder.took(n);
                *total += n as u64;
            }
        }
    }

    /// Moves buffered body bytes into `stdin` as far as it takes them
    /// (dropping them if the script has closed it), and closes `stdin`
    /// once the body is complete.
    pub fn pump(
        &mut self,
        conn: &mut Conn,
        stdin: &mut Option<ChildStdin>,
    ) -> Result<(), BodyError> {
        loop {
            let ready = match self {
                BodyIn::Length { buffered, .. } => *buffered,
                BodyIn::Chunked {
                    decoder,
                    total,
                    max,
                } => {
                    let (used, next) = decoder.advance(conn.buffered()).map_err(BodyError::Bad)?;
                    conn.consume(used);
                    match next {
                        Next::Data(n) if *total + n as u64 > *max => {
                            return Err(BodyError::Bad(HttpError::new(
                                413,
                                "request body too large",
                            )));
                        }
                        Next::Data(n) => n,
                        Next::More | Next::Done => 0,
                    }
                }
            };
            if ready == 0 {
                break;
            }
            let taken = match stdin.as_mut() {
                None => ready,
                Some(pipe) => match pipe.write(&conn.buffered()[..ready]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                    // The script closed its stdin or exited: the rest of
                    // the body is read and dropped.
                    Err(_) => {
                        *stdin = None;
                        0
                    }
                },
            };
            conn.consume(taken);
            match self {
                BodyIn::Length { buffered, .. } => *buffered -= taken,
                BodyIn::Chunked { decoder, total, .. } => {
                    decoder.took(taken);
                    *total += taken as u64;
                }
            }
        }
        if self.complete() {
            *stdin = None;
        }
        Ok(())
    }

    /// Drops body bytes still buffered (the script will not read them),
    /// so the buffer starts with the next request.
    pub fn discard_buffered(&mut self, conn: &mut Conn) {
        if let BodyIn::Length { buffered, .. } = self {
            conn.consume(*buffered);
            *buffered = 0;
        }
    }
}
