//! A request body as it comes off the wire (RFC 9112 section 6), read in
//! one place whatever becomes of it: spooled to a file before a script
//! starts, streamed into a script's stdin while it runs, or drained so
//! the connection can carry its next request. The reader knows which
//! buffered bytes are body (what follows is the next request), decodes
//! chunked coding, and counts the body with checked arithmetic against
//! `--max-body`: a chunk that declares more than the room left is
//! refused (413) before its data is read.
//!
//! It keeps time too: the body must keep arriving at `--body-min-rate`
//! bytes per second after a first `--body-timeout` (mod_reqtimeout's
//! rule; time in which the script's stdin takes nothing does not count),
//! and it may never stall for `--idle-timeout`. Both are answered 408.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::process::ChildStdin;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::chunked::{self, Decoder, FRAMING_READ};
use super::request::{BodyFraming, is_timeout};
use super::socket::Socket;
use crate::client::{BodyError, Fed, Gone};
use crate::front::body_clock::{self, Meter, TOO_LARGE};
use crate::front::{BodyLimits, give};
use crate::io::pipe::{BULK_PIPE, bulk_pipe};
use crate::status::Refusal;

/// Most unread body bytes read and dropped to keep a connection open.
pub const DRAIN_MAX: u64 = 256 * 1024;

const CLOSED: Gone = Gone("client closed the connection mid-body");

enum Framing {
    /// `Content-Length`: this many body bytes not yet passed on (in the
    /// buffer or still on the wire).
    Length(u64),
    Chunked(Decoder),
}

/// Where the next body bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// This many, at the front of the socket's buffer.
    Buffered(usize),
    /// None buffered; up to this many may move straight from the socket.
    OnSocket(usize),
    /// Framing must be read first.
    More,
    Done,
}

pub struct BodyReader {
    framing: Framing,
    /// Body bytes passed on so far, against `--max-body`, and the clock.
    meter: Meter,
    /// Longest stall.
    idle: Duration,
}

impl BodyReader {
    /// A reader for a body framed so, or None if there is no body.
    pub fn new(framing: BodyFraming, limits: BodyLimits, idle: Duration) -> Option<BodyReader> {
        let framing = match framing {
            BodyFraming::None => return None,
            BodyFraming::Length(n) => Framing::Length(n),
            BodyFraming::Chunked => Framing::Chunked(Decoder::default()),
        };
        Some(BodyReader {
            framing,
            meter: Meter::new(limits),
            idle,
        })
    }

    /// The length the client declared (`Content-Length`).
    pub fn declared(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(n) => Some(n.saturating_add(self.meter.taken())),
            Framing::Chunked(_) => None,
        }
    }

    /// Refuses a declared length over the bound, before anything is read.
    pub fn check_declared(&self) -> Result<(), Refusal> {
        self.meter.check_declared(self.declared())
    }

    /// Starts the clock: the body is wanted from now on.
    pub fn begin(&mut self) {
        self.meter.begin();
    }

    /// When the body must have arrived by, at the rate it is owed (None
    /// before [`BodyReader::begin`], or without a rate).
    pub fn deadline(&self) -> Option<Instant> {
        self.meter.deadline()
    }

    pub fn complete(&self) -> bool {
        match &self.framing {
            Framing::Length(left) => *left == 0,
            Framing::Chunked(decoder) => decoder.is_done(),
        }
    }

    /// True while the client owes bytes and none wait in the buffer.
    pub fn wants_input(&self, socket: &Socket) -> bool {
        !self.complete() && socket.buffered().is_empty()
    }

    /// True while bytes wait in the buffer (body, or framing to decode).
    pub fn has_data(&self, socket: &Socket) -> bool {
        !self.complete() && !socket.buffered().is_empty()
    }

    /// Body bytes still owed, if known (a chunked body's are not).
    pub fn unread(&self) -> Option<u64> {
        match &self.framing {
            Framing::Length(left) => Some(*left),
            Framing::Chunked(decoder) if decoder.is_done() => Some(0),
            Framing::Chunked(_) => None,
        }
    }

    /// Where the next body bytes are, after decoding the framing that
    /// waits in the buffer.
    fn next(&mut self, socket: &mut Socket) -> Result<Next, Refusal> {
        let room = self.meter.room();
        match &mut self.framing {
            Framing::Length(0) => Ok(Next::Done),
            Framing::Length(left) => {
                let buffered = socket.buffered().len() as u64;
                Ok(match buffered.min(*left) {
                    0 => Next::OnSocket(to_usize(*left)),
                    n => Next::Buffered(to_usize(n)),
                })
            }
            Framing::Chunked(decoder) => {
                let (used, next) = decoder.advance(socket.buffered())?;
                socket.consume(used);
                if decoder.data_left() > room {
                    return Err(TOO_LARGE);
                }
                Ok(match next {
                    chunked::Next::Data(n) => Next::Buffered(n),
                    chunked::Next::More if decoder.data_left() > 0 => {
                        Next::OnSocket(to_usize(decoder.data_left()))
                    }
                    chunked::Next::More => Next::More,
                    chunked::Next::Done => Next::Done,
                })
            }
        }
    }

    /// Counts `n` body bytes passed on; those `from_buffer` leave it.
    fn took(&mut self, socket: &mut Socket, n: usize, from_buffer: bool) -> Result<(), Refusal> {
        if from_buffer {
            socket.consume(n);
        }
        let n64 = n as u64;
        match &mut self.framing {
            Framing::Length(left) => *left = left.checked_sub(n64).ok_or(TOO_LARGE)?,
            Framing::Chunked(decoder) => decoder.took(n),
        }
        self.meter.add(n64)
    }

    /// The moment a wait for the client must end: its stall bound, or
    /// the rate's deadline if sooner.
    fn wait_until(&self) -> Instant {
        body_clock::wait_until(self.deadline(), self.idle)
    }

    /// Why a wait for the client ended without bytes.
    fn timed_out(&self) -> Refusal {
        body_clock::timed_out(self.deadline())
    }

    fn read_error(&self, e: io::Error) -> BodyError {
        if is_timeout(&e) {
            BodyError::Refused(self.timed_out())
        } else {
            BodyError::Gone(Gone("connection failed mid-body"))
        }
    }

    /// Reads the whole body into `file` (the data of large chunks by
    /// splice, never through rcgi); returns its length.
    pub fn spool(&mut self, socket: &mut Socket, file: &File) -> Result<u64, BodyError> {
        self.begin();
        // Small pieces are gathered; a piece of 8 KiB or more is written as it is.
        let mut writer = BufWriter::with_capacity(8 * 1024, file);
        let mut pipe = None;
        loop {
            match self.next(socket)? {
                Next::Buffered(n) => {
                    writer.write_all(&socket.buffered()[..n]).map_err(disk)?;
                    self.took(socket, n, true)?;
                }
                Next::OnSocket(run) => {
                    writer.flush().map_err(disk)?;
                    if pipe.is_none() {
                        pipe = Some(bulk_pipe().map_err(disk)?);
                    }
                    let pipe = pipe.as_ref().expect("made just above");
                    let step = run.min(BULK_PIPE);
                    let n = socket
                        .splice_to_file(pipe, file, step, self.wait_until())
                        .map_err(|e| self.read_error(e))?;
                    if n == 0 {
                        return Err(BodyError::Gone(CLOSED));
                    }
                    self.took(socket, n, false)?;
                }
                Next::More => match socket.fill_by(FRAMING_READ, self.wait_until()) {
                    Ok(0) => return Err(BodyError::Gone(CLOSED)),
                    Ok(_) => {}
                    Err(e) => return Err(self.read_error(e)),
                },
                Next::Done => break,
            }
        }
        writer.flush().map_err(disk)?;
        Ok(self.meter.taken())
    }

    /// Moves what has arrived into `stdin` without waiting (see
    /// [`crate::client::Body::feed`]); at most one read from the socket,
    /// and only when it is `readable`.
    pub fn feed(
        &mut self,
        socket: &mut Socket,
        stdin: &mut Option<ChildStdin>,
        mut readable: bool,
    ) -> Result<Fed, BodyError> {
        let mut fed = Fed::Nothing;
        loop {
            let next = self.next(socket)?;
            let from_socket = matches!(next, Next::OnSocket(_) | Next::More);
            if from_socket && !readable {
                return Ok(fed);
            }
            match next {
                Next::Done => {
                    *stdin = None;
                    return Ok(fed);
                }
                Next::Buffered(n) => match give(stdin, &socket.buffered()[..n]) {
                    Some(k) => {
                        self.took(socket, k, true)?;
                        self.resume();
                        fed = Fed::Some;
                    }
                    None => return Ok(self.stdin_full()),
                },
                Next::OnSocket(run) => {
                    readable = false;
                    match self.splice_or_read(socket, stdin, run)? {
                        Some(Fed::Some) => fed = Fed::Some,
                        Some(other) => return Ok(other),
                        None => {}
                    }
                }
                Next::More => {
                    readable = false;
                    match socket.fill_now(FRAMING_READ) {
                        Ok(0) => return Err(BodyError::Gone(CLOSED)),
                        Ok(_) => {}
                        Err(Errno::EAGAIN | Errno::EINTR) => return Ok(fed),
                        Err(e) => return Err(BodyError::Gone(Gone(e.desc()))),
                    }
                }
            }
        }
    }

    /// Moves up to `run` bytes from the (readable) socket straight into
    /// `stdin`, or, when the script has closed it, reads them into the
    /// buffer to be dropped. `Some` ends the feed with that result.
    fn splice_or_read(
        &mut self,
        socket: &mut Socket,
        stdin: &mut Option<ChildStdin>,
        run: usize,
    ) -> Result<Option<Fed>, BodyError> {
        if let Some(pipe) = stdin.as_ref() {
            match socket.splice_into(pipe.as_fd(), run.min(BULK_PIPE)) {
                Ok(0) => return Err(BodyError::Gone(CLOSED)),
                Ok(n) => {
                    self.took(socket, n, false)?;
                    self.resume();
                    return Ok(Some(Fed::Some));
                }
                // The socket is readable, so the pipe is full.
                Err(Errno::EAGAIN) => return Ok(Some(self.stdin_full())),
                Err(Errno::EINTR) => return Ok(Some(Fed::Nothing)),
                // The script closed its stdin: read and drop the rest.
                Err(Errno::EPIPE) => *stdin = None,
                Err(e) => return Err(BodyError::Gone(Gone(e.desc()))),
            }
        }
        match socket.fill_now(run) {
            Ok(0) => Err(BodyError::Gone(CLOSED)),
            Ok(_) => Ok(None),
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(Some(Fed::Nothing)),
            Err(e) => Err(BodyError::Gone(Gone(e.desc()))),
        }
    }

    /// The script takes nothing now: the clock stops until it does.
    fn stdin_full(&mut self) -> Fed {
        self.meter.pause();
        Fed::StdinFull
    }

    fn resume(&mut self) {
        self.meter.resume();
    }

    /// Drops body bytes waiting in the buffer (nobody will read them), so
    /// the buffer starts with the next request.
    pub fn discard(&mut self, socket: &mut Socket) {
        if let Framing::Length(left) = &mut self.framing {
            let n = socket.buffered().len().min(to_usize(*left));
            socket.consume(n);
            *left -= n as u64;
        }
    }

    /// Reads and drops the rest of the body if it is short enough (and
    /// its length known); true if the connection is clean for its next
    /// request.
    pub fn drain(&mut self, socket: &mut Socket) -> bool {
        self.discard(socket);
        let Some(mut left) = self.unread().filter(|&n| n <= DRAIN_MAX) else {
            return false;
        };
        while left > 0 {
            match socket.fill_by(to_usize(left), self.wait_until()) {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    socket.consume(n);
                    left -= n as u64;
                }
            }
        }
        self.framing = Framing::Length(0);
        true
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn disk(e: io::Error) -> BodyError {
    crate::log::error(format_args!("cannot spool a chunked body: {e}"));
    BodyError::Refused(Refusal::new(500, "cannot store the request body"))
}
