//! The exchange with a running script: one `poll` loop that moves the
//! request body to the script's stdin, the script's stdout through
//! [`Output`] to the client, and its stderr to the log, all at once, so a
//! script that writes before it has read all its input never deadlocks
//! and a slow client only slows its own script.
//!
//! [`Exchange::run`] ends when the script's stdout has ended and the
//! response is sent, or earlier: at a fault in the script's headers, at
//! the script's deadline, or when the client goes away or stalls. It
//! never signals the script; the caller decides its fate, then
//! [`Exchange::settle`] waits for it to exit while its stderr drains.
//!
//! Every descriptor is non-blocking. Bytes wait in two bounded places:
//! the connection's read buffer (body the script has not taken yet) and
//! `out` (response the client has not taken yet).

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::body::{BodyError, BodyIn};
use super::output::{Fault, Fed, Output};
use super::process::{Pipes, Script};
use super::stderr::StderrLog;
use crate::http::conn::Conn;

/// Most response bytes held for a slow client; past it the script's
/// stdout is left unread, so the script waits.
const OUT_HIGH: usize = 256 * 1024;
/// Largest read from the script's stdout or stderr.
const READ_SIZE: usize = 64 * 1024;
/// How long a script's stdout may stay open after the script itself has
/// exited (held by a background process) before the response ends anyway.
pub const LINGER: Duration = Duration::from_secs(2);
/// How long to wait, at the end of a script's output, to learn whether it
/// was killed by a signal (its exit follows the end of its output by
/// microseconds, unless it closed stdout and went on working).
const EXIT_WAIT: Duration = Duration::from_millis(50);

/// How the exchange ended.
#[derive(Debug)]
pub enum End {
    /// The script's output ended and the whole response was sent.
    Done,
    /// The script asked for a local redirect to this path; nothing was
    /// sent.
    Redirect(Vec<u8>),
    /// The script broke CGI before its response began.
    Fault(Fault),
    /// The script's time ran out.
    Timeout,
    /// The script was killed by this signal after its response began.
    Killed(nix::sys::signal::Signal),
    /// The client stopped sending the request body.
    BodyStalled,
    /// The request body was invalid (chunked coding) or too large.
    BadBody(crate::http::HttpError),
    /// The client closed or reset the connection, or stopped reading.
    ClientGone(&'static str),
}

pub struct Exchange<'a> {
    conn: &'a mut Conn,
    pipes: Pipes,
    stdout_open: bool,
    stderr_open: bool,
    /// The request body on its way to stdin, if stdin is a pipe.
    pub body: Option<BodyIn>,
    pub output: Output,
    out: Vec<u8>,
    sent: usize,
    pub stderr: StderrLog,
    redirect: Option<Vec<u8>>,
    deadline: Instant,
    idle: Duration,
    last_client: Instant,
    /// Watching the client for end of stream while no body is read from
    /// it (until pipelined requests arrive, which show it is still there).
    watch_hangup: bool,
    exited_at: Option<Instant>,
    scratch: Vec<u8>,
}

/// Where each descriptor sits in one `poll` set.
#[derive(Default)]
struct Slots {
    stdin: Option<usize>,
    stdout: Option<usize>,
    stderr: Option<usize>,
    exit: Option<usize>,
}

impl<'a> Exchange<'a> {
    pub fn new(
        conn: &'a mut Conn,
        pipes: Pipes,
        body: Option<BodyIn>,
        output: Output,
        stderr: StderrLog,
        deadline: Instant,
        idle: Duration,
    ) -> Exchange<'a> {
        Exchange {
            conn,
            pipes,
            stdout_open: true,
            stderr_open: true,
            body,
            output,
            out: Vec::new(),
            sent: 0,
            stderr,
            redirect: None,
            deadline,
            idle,
            last_client: Instant::now(),
            watch_hangup: true,
            exited_at: None,
            scratch: vec![0; READ_SIZE],
        }
    }

    /// Runs the exchange until it ends.
    pub fn run(&mut self, script: &Script) -> End {
        let result = self.pump_body().and_then(|()| {
            loop {
                if !self.stdout_open && self.sent == self.out.len() {
                    break Ok(());
                }
                self.check_time(script)?;
                self.step(script)?;
            }
        });
        // Body bytes the script did not take are dropped.
        if let Some(body) = &mut self.body {
            body.discard_buffered(self.conn);
        }
        match result {
            Ok(()) => self.redirect.take().map_or(End::Done, End::Redirect),
            Err(end) => end,
        }
    }

    /// The deadlines: the script's, the client's idle bound, and the
    /// grace for a stdout held open by a background process.
    fn check_time(&mut self, script: &Script) -> Result<(), End> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(End::Timeout);
        }
        if self.waits_on_client() && now >= self.last_client + self.idle {
            return Err(if self.wants_body() {
                End::BodyStalled
            } else {
                End::ClientGone("client stopped reading")
            });
        }
        if let Some(exited) = self.exited_at {
            if self.stdout_open && now >= exited + LINGER {
                crate::log::error(format_args!(
                    "{}: exited, but background processes {:?} hold its stdout open; response ended without them",
                    self.stderr.name,
                    script.group_members()
                ));
                self.end_stdout(script)?;
            }
        }
        Ok(())
    }

    /// The next moment a deadline can pass.
    fn next_deadline(&self) -> Instant {
        let mut until = self.deadline;
        if self.waits_on_client() {
            until = until.min(self.last_client + self.idle);
        }
        if let Some(exited) = self.exited_at {
            until = until.min(exited + LINGER);
        }
        until
    }

    fn waits_on_client(&self) -> bool {
        self.wants_body() || self.sent < self.out.len()
    }

    /// The client still owes body bytes and none are buffered.
    fn wants_body(&self) -> bool {
        self.body.as_ref().is_some_and(|b| b.wants_read(self.conn))
    }

    /// Whether a client that closes its connection now has gone away
    /// from a response it wanted: not while its body is still read (that
    /// is seen otherwise), not after pipelined requests showed it is
    /// there, and not once it has its whole response (a script may go on
    /// working after it).
    fn watches_hangup(&self) -> bool {
        let delivered = self.output.delivered() && self.sent == self.out.len();
        self.watch_hangup && self.body_complete() && !delivered
    }

    /// The body is complete (or there is none): nothing more is read
    /// from the client during this exchange.
    fn body_complete(&self) -> bool {
        self.body.as_ref().is_none_or(|b| b.complete())
    }

    /// One `poll` over everything there is to wait for, then the work it
    /// allows.
    fn step(&mut self, script: &Script) -> Result<(), End> {
        let mut client = PollFlags::empty();
        if self.wants_body() {
            client |= PollFlags::POLLIN;
        }
        if self.sent < self.out.len() {
            client |= PollFlags::POLLOUT;
        }
        if self.watches_hangup() {
            client |= PollFlags::POLLIN;
        }
        let mut fds = vec![PollFd::new(self.conn.fd(), client)];
        let mut slots = Slots::default();
        if let (Some(stdin), Some(body)) = (&self.pipes.stdin, &self.body) {
            if body.has_data(self.conn) {
                slots.stdin = add(&mut fds, stdin.as_fd(), PollFlags::POLLOUT);
            }
        }
        if self.stdout_open && self.out.len() - self.sent < OUT_HIGH {
            slots.stdout = add(&mut fds, self.pipes.stdout.as_fd(), PollFlags::POLLIN);
        }
        if self.stderr_open {
            slots.stderr = add(&mut fds, self.pipes.stderr.as_fd(), PollFlags::POLLIN);
        }
        if let (Some(fd), None) = (script.exit_fd(), self.exited_at) {
            slots.exit = add(&mut fds, fd, PollFlags::POLLIN);
        }
        let wait = self
            .next_deadline()
            .saturating_duration_since(Instant::now());
        let timeout =
            PollTimeout::try_from(wait + Duration::from_millis(1)).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(End::ClientGone(e.desc())),
        }
        let events = |slot: Option<usize>| {
            slot.and_then(|i| fds[i].revents())
                .unwrap_or(PollFlags::empty())
        };
        let (client, stdin, stdout, stderr, exit) = (
            events(Some(0)),
            events(slots.stdin),
            events(slots.stdout),
            events(slots.stderr),
            events(slots.exit),
        );
        drop(fds);

        if !stderr.is_empty() {
            self.read_stderr();
        }
        if !exit.is_empty() {
            self.exited_at = Some(Instant::now());
        }
        if !stdin.is_empty() {
            self.pump_body()?;
        }
        self.client_events(client)?;
        if !stdout.is_empty() {
            self.read_stdout(script)?;
        }
        Ok(())
    }

    fn client_events(&mut self, events: PollFlags) -> Result<(), End> {
        let gone = PollFlags::POLLERR | PollFlags::POLLHUP;
        if self.wants_body() && events.intersects(PollFlags::POLLIN | gone) {
            self.read_client()?;
        } else if events.intersects(gone) {
            return Err(End::ClientGone("connection reset"));
        }
        if events.contains(PollFlags::POLLIN) && self.watches_hangup() {
            if self.conn.client_closed() {
                return Err(End::ClientGone("client closed the connection"));
            }
            // Pipelined requests wait unread: the client is still there.
            self.watch_hangup = false;
        }
        if events.contains(PollFlags::POLLOUT) {
            self.flush()?;
        }
        Ok(())
    }

    /// Moves buffered body bytes to the script's stdin (see [`BodyIn`]).
    fn pump_body(&mut self) -> Result<(), End> {
        match &mut self.body {
            Some(body) => body
                .pump(self.conn, &mut self.pipes.stdin)
                .map_err(body_end),
            None => Ok(()),
        }
    }

    /// Reads body bytes from the client, then passes them on.
    fn read_client(&mut self) -> Result<(), End> {
        let Some(body) = &mut self.body else {
            return Ok(());
        };
        if body.read(self.conn).map_err(body_end)? {
            self.last_client = Instant::now();
        }
        self.pump_body()
    }

    fn read_stdout(&mut self, script: &Script) -> Result<(), End> {
        match self.pipes.stdout.read(&mut self.scratch) {
            Ok(0) => self.end_stdout(script),
            Ok(n) => {
                match self.output.feed(&self.scratch[..n], &mut self.out) {
                    Ok(Fed::Continue) => {}
                    Ok(Fed::Redirect(target)) => self.redirect = Some(target),
                    Err(fault) => return Err(End::Fault(fault)),
                }
                self.flush()
            }
            Err(e) if is_retry(&e) => Ok(()),
            Err(_) => self.end_stdout(script),
        }
    }

    /// The script's output is over: finish the response, unless the
    /// script was killed by a signal, which leaves its body unfinished: then
    /// the response is cut, so the client can tell.
    fn end_stdout(&mut self, script: &Script) -> Result<(), End> {
        self.stdout_open = false;
        if self.output.started() && !self.output.discarding() {
            if let Some(signal) = script.killed_by(Instant::now() + EXIT_WAIT) {
                return Err(End::Killed(signal));
            }
        }
        self.output.end(&mut self.out).map_err(End::Fault)?;
        self.flush()
    }

    /// Sends what the socket takes now of the pending response bytes.
    fn flush(&mut self) -> Result<(), End> {
        while self.sent < self.out.len() {
            match self.conn.send_now(&self.out[self.sent..]) {
                Ok(n) => {
                    self.sent += n;
                    self.last_client = Instant::now();
                }
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(End::ClientGone(e.desc())),
            }
        }
        self.out.clear();
        self.sent = 0;
        Ok(())
    }

    /// Logs what stderr holds now; notes its end.
    fn read_stderr(&mut self) {
        while self.stderr_open {
            match self.pipes.stderr.read(&mut self.scratch) {
                Ok(0) => self.stderr_open = false,
                Ok(n) => self.stderr.push(&self.scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => self.stderr_open = false,
            }
        }
    }

    /// Waits until the script has exited or `deadline` passes, logging
    /// its stderr meanwhile; true if it exited. (Without a pidfd, a
    /// script counts as exited once its stderr ends.)
    pub fn settle(&mut self, script: &Script, deadline: Instant) -> bool {
        self.pipes.stdin = None;
        while self.exited_at.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut fds = Vec::with_capacity(2);
            let exit = script
                .exit_fd()
                .and_then(|fd| add(&mut fds, fd, PollFlags::POLLIN));
            if self.stderr_open {
                add(&mut fds, self.pipes.stderr.as_fd(), PollFlags::POLLIN);
            }
            if fds.is_empty() {
                self.exited_at = Some(Instant::now());
                break;
            }
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            if poll(&mut fds, timeout).is_err_and(|e| e != Errno::EINTR) {
                break;
            }
            let exited = exit.is_some_and(|i| fds[i].any().unwrap_or(true));
            drop(fds);
            self.read_stderr();
            if exited {
                self.exited_at = Some(Instant::now());
            }
        }
        self.read_stderr();
        self.stderr.flush();
        self.exited_at.is_some()
    }
}

fn body_end(e: BodyError) -> End {
    match e {
        BodyError::Gone(why) => End::ClientGone(why),
        BodyError::Bad(e) => End::BadBody(e),
    }
}

/// Adds a descriptor to a `poll` set; returns its slot.
fn add<'f>(fds: &mut Vec<PollFd<'f>>, fd: BorrowedFd<'f>, events: PollFlags) -> Option<usize> {
    fds.push(PollFd::new(fd, events));
    Some(fds.len() - 1)
}

fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
