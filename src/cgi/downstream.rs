//! The script's stdout on its way to the client, inside the exchange.
//! Output is read into rcgi and given to [`Output`] (header block,
//! framing), whose bytes wait in a bounded send buffer; once a large body
//! streams (a read fills the whole buffer), its bytes are instead moved
//! by the kernel through the connection's relay pipe
//! ([`crate::http::relay`]), never copied through rcgi. Past `OUT_HIGH`
//! bytes waiting for the client, stdout is left unread, so a slow client
//! slows its own script and nothing else.

use std::cell::RefCell;
use std::os::fd::AsFd;
use std::process::ChildStdout;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::exchange::End;
use super::output::{Fed, Output};
use super::process::Script;
use crate::http::conn::Conn;
use crate::http::relay::enlarge_pipe;

/// Most response bytes held in memory for a slow client.
const OUT_HIGH: usize = 256 * 1024;
/// Room for a chunk's framing.
const FRAMING_ROOM: usize = 32;
/// Largest read from the script's stdout.
pub const READ_SIZE: usize = 64 * 1024;
/// How long to wait, at the end of a script's output, to learn whether it
/// was killed by a signal (its exit follows the end of its output by
/// microseconds, unless it closed stdout and went on working).
const EXIT_WAIT: Duration = Duration::from_millis(50);

pub struct Downstream {
    pub output: Output,
    /// Bytes for the client; `out[sent..]` not sent yet.
    out: Vec<u8>,
    sent: usize,
    /// The body is moved through the relay pipe rather than read.
    relaying: bool,
    /// The relay took nothing from a readable stdout: it is full, so wait
    /// until some of it is sent.
    relay_full: bool,
    /// The script's stdout has not ended.
    pub open: bool,
    /// The script was killed by this signal mid-body: what it wrote is
    /// sent, and the response is then cut.
    pub killed: Option<nix::sys::signal::Signal>,
    redirect: Option<Vec<u8>>,
}

thread_local! {
    /// The buffer reads from a script go into: one per connection thread,
    /// made once, rather than one per request.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads what `fd` holds now into the thread's buffer and gives it to
/// `f` (with an empty slice at end-of-file).
pub fn read_with<R>(fd: impl AsFd, f: impl FnOnce(&[u8]) -> R) -> nix::Result<R> {
    SCRATCH.with_borrow_mut(|buf| {
        if buf.is_empty() {
            buf.resize(READ_SIZE, 0);
        }
        let n = nix::unistd::read(fd, buf)?;
        Ok(f(&buf[..n]))
    })
}

impl Downstream {
    pub fn new(output: Output) -> Downstream {
        Downstream {
            output,
            out: Vec::new(),
            sent: 0,
            relaying: false,
            relay_full: false,
            open: true,
            killed: None,
            redirect: None,
        }
    }

    /// True when stdout should be read now.
    pub fn wants_stdout(&self, conn: &Conn) -> bool {
        let held = self.out.len() - self.sent;
        self.open
            && if self.relaying {
                held == 0 && !self.relay_full && conn.relay_can_take()
            } else {
                held < OUT_HIGH
            }
    }

    /// True when bytes wait for the client.
    pub fn wants_client(&self, conn: &Conn) -> bool {
        self.sent < self.out.len() || conn.relay_pending() > 0
    }

    /// True once the output has ended and all of it is sent.
    pub fn done(&self, conn: &Conn) -> bool {
        !self.open && !self.wants_client(conn)
    }

    /// True once the client has its whole response (see
    /// [`Output::delivered`]).
    pub fn delivered(&self, conn: &Conn) -> bool {
        self.output.delivered() && !self.wants_client(conn)
    }

    pub fn take_redirect(&mut self) -> Option<Vec<u8>> {
        self.redirect.take()
    }

    /// Stdout is readable (or at its end). Returns whether the client
    /// was sent anything.
    pub fn readable(
        &mut self,
        conn: &mut Conn,
        stdout: &ChildStdout,
        script: &mut Script,
    ) -> Result<bool, End> {
        if self.relaying {
            if let Some(room) = self.output.relay_room() {
                return self.relay(conn, stdout, room, script);
            }
            // The body takes no more (a length reached): read what is
            // left, to see whether there is an excess.
            self.relaying = false;
        }
        // Read all there is before sending: when the script has already
        // ended, the whole response goes out in one send.
        while self.out.len() - self.sent < OUT_HIGH {
            let read = read_with(stdout, |data| {
                (data.len(), self.output.feed(data, &mut self.out))
            });
            match read {
                Ok((0, _)) => return self.end(conn, script),
                Ok((n, fed)) => {
                    match fed {
                        Ok(Fed::Continue) => {}
                        Ok(Fed::Redirect(target)) => self.redirect = Some(target),
                        Err(fault) => return Err(End::Fault(fault)),
                    }
                    if n == READ_SIZE && self.output.relay_room().is_some() {
                        // A large body: from now on the kernel moves it.
                        self.relaying = true;
                        enlarge_pipe(stdout);
                        break;
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(_) => return self.end(conn, script),
            }
        }
        self.flush(conn)
    }

    /// Moves what stdout holds (at most `room` bytes) into the relay
    /// pipe, frames it, and sends what the client takes.
    fn relay(
        &mut self,
        conn: &mut Conn,
        stdout: &ChildStdout,
        room: u64,
        script: &mut Script,
    ) -> Result<bool, End> {
        let Ok(relay) = conn.relay() else {
            // No descriptors for a pipe: copy the body through rcgi.
            self.relaying = false;
            return Ok(false);
        };
        let max = usize::try_from(room)
            .unwrap_or(usize::MAX)
            .min(relay.take_size());
        let output = &mut self.output;
        let taken = if output.relay_framed() {
            relay.take_framed(stdout.as_fd(), max, |n| {
                let mut framing = Vec::with_capacity(FRAMING_ROOM);
                output.relayed(n, &mut framing);
                framing
            })
        } else {
            relay.take_from(stdout.as_fd(), max).inspect(|&n| {
                output.relayed(n, &mut Vec::new());
            })
        };
        match taken {
            Ok(0) => self.end(conn, script),
            Ok(_) => self.flush(conn),
            Err(Errno::EAGAIN) if conn.relay_pending() > 0 => {
                self.relay_full = true;
                Ok(false)
            }
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(false),
            Err(_) => self.end(conn, script),
        }
    }

    /// The script's output is over: finish the response, unless the
    /// script was killed by a signal, which leaves its body unfinished:
    /// then what it wrote goes out without the end of the framing (see
    /// [`Downstream::killed`]), so the client can tell.
    pub fn end(&mut self, conn: &mut Conn, script: &mut Script) -> Result<bool, End> {
        self.open = false;
        if self.output.started() && !self.output.discarding() {
            self.killed = script.killed_by(Instant::now() + EXIT_WAIT);
        }
        if self.killed.is_none() {
            self.output.end(&mut self.out).map_err(End::Fault)?;
        }
        self.flush(conn)
    }

    /// Sends what the socket takes now: relayed bytes first, then the
    /// buffered ones. (The relay only takes once the buffer is empty, and
    /// then only the end of the framing is buffered, so this is the order
    /// they were produced in.) Returns whether anything was sent.
    pub fn flush(&mut self, conn: &mut Conn) -> Result<bool, End> {
        let mut progress = false;
        while conn.relay_pending() > 0 {
            match conn.send_relayed() {
                Ok(0) => break,
                Ok(_) => {
                    progress = true;
                    self.relay_full = false;
                }
                Err(Errno::EAGAIN) => return Ok(progress),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(End::ClientGone(e.desc())),
            }
        }
        while self.sent < self.out.len() {
            match conn.send_now(&self.out[self.sent..]) {
                Ok(n) => {
                    self.sent += n;
                    progress = true;
                }
                Err(Errno::EAGAIN) => return Ok(progress),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(End::ClientGone(e.desc())),
            }
        }
        self.out.clear();
        self.sent = 0;
        Ok(progress)
    }
}
