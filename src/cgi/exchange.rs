//! The exchange with a running script: one `poll` loop that moves the
//! request body to the script's stdin ([`BodyIn`]), the script's stdout
//! to the client ([`Downstream`]), and its stderr to the log, all at
//! once, so a script that writes before it has read all its input never
//! deadlocks and a slow client only slows its own script.
//!
//! [`Exchange::run`] ends when the script's stdout has ended and the
//! response is sent, or earlier: at a fault in the script's headers, at
//! the script's deadline, or when the client goes away or stalls. It
//! never signals the script; the caller decides its fate, then
//! [`Exchange::settle`] waits for it to exit while its stderr drains.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::body::{BodyError, BodyIn, Taken};
use super::downstream::{Downstream, read_with};
use super::output::{Fault, Output};
use super::process::{Pipes, Script};
use super::stderr::StderrLog;
use crate::http::conn::Conn;

/// How long a script's stdout may stay open after the script itself has
/// exited (held by a background process) before the response ends anyway.
pub const LINGER: Duration = Duration::from_secs(2);

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
    stderr_open: bool,
    /// The request body on its way to stdin, if stdin is a pipe.
    pub body: Option<BodyIn>,
    pub down: Downstream,
    pub stderr: StderrLog,
    deadline: Instant,
    idle: Duration,
    last_client: Instant,
    /// Watching the client for end of stream while no body is read from
    /// it (until pipelined requests arrive, which show it is still there).
    watch_hangup: bool,
    /// The script's stdin took no more: wait for it before reading more
    /// of the body.
    stdin_full: bool,
    exited_at: Option<Instant>,
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
        conn.forget_relayed();
        Exchange {
            conn,
            pipes,
            stderr_open: true,
            body,
            down: Downstream::new(output),
            stderr,
            deadline,
            idle,
            last_client: Instant::now(),
            watch_hangup: true,
            stdin_full: false,
            exited_at: None,
        }
    }

    /// The output, as far as it got.
    pub fn output(&self) -> &Output {
        &self.down.output
    }

    /// Runs the exchange until it ends.
    pub fn run(&mut self, script: &mut Script) -> End {
        let result = self.pump_body().and_then(|()| {
            while !self.down.done(self.conn) {
                self.check_time(script)?;
                self.step(script)?;
            }
            Ok(())
        });
        // Body bytes the script did not take are dropped.
        if let Some(body) = &mut self.body {
            body.discard_buffered(self.conn);
        }
        match (result, self.down.killed) {
            (Err(end), _) => end,
            (Ok(()), Some(signal)) => End::Killed(signal),
            (Ok(()), None) => self.down.take_redirect().map_or(End::Done, End::Redirect),
        }
    }

    /// The deadlines: the script's, the client's idle bound, and the
    /// grace for a stdout held open by a background process.
    fn check_time(&mut self, script: &mut Script) -> Result<(), End> {
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
            if self.down.open && now >= exited + LINGER {
                crate::log::error(format_args!(
                    "{}: exited, but background processes {:?} hold its stdout open; response ended without them",
                    self.stderr.name,
                    script.group_members()
                ));
                let progress = self.down.end(self.conn, script)?;
                self.sent(progress);
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
        self.wants_body() || self.down.wants_client(self.conn)
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
        let body_complete = self.body.as_ref().is_none_or(|b| b.complete());
        self.watch_hangup && body_complete && !self.down.delivered(self.conn)
    }

    /// Notes progress with the client.
    fn sent(&mut self, progress: bool) {
        if progress {
            self.last_client = Instant::now();
        }
    }

    /// One `poll` over everything there is to wait for, then the work it
    /// allows.
    fn step(&mut self, script: &mut Script) -> Result<(), End> {
        let mut client = PollFlags::empty();
        if (self.wants_body() && !self.stdin_full) || self.watches_hangup() {
            client |= PollFlags::POLLIN;
        }
        if self.down.wants_client(self.conn) {
            client |= PollFlags::POLLOUT;
        }
        let mut fds = vec![PollFd::new(self.conn.fd(), client)];
        let mut slots = Slots::default();
        if let (Some(stdin), Some(body)) = (&self.pipes.stdin, &self.body) {
            if body.has_data(self.conn) || self.stdin_full {
                slots.stdin = add(&mut fds, stdin.as_fd(), PollFlags::POLLOUT);
            }
        }
        if self.down.wants_stdout(self.conn) {
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
            self.stdin_full = false;
            self.pump_body()?;
        }
        self.client_events(client)?;
        if !stdout.is_empty() {
            let progress = self.down.readable(self.conn, &self.pipes.stdout, script)?;
            self.sent(progress);
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
            let progress = self.down.flush(self.conn)?;
            self.sent(progress);
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
        let taken = body
            .read(self.conn, &mut self.pipes.stdin)
            .map_err(body_end)?;
        self.sent(taken == Taken::Some);
        self.stdin_full = taken == Taken::StdinFull;
        self.pump_body()
    }

    /// Logs what stderr holds now; notes its end.
    fn read_stderr(&mut self) {
        let log = &mut self.stderr;
        while self.stderr_open {
            match read_with(&self.pipes.stderr, |data| {
                log.push(data);
                data.len()
            }) {
                Ok(0) => self.stderr_open = false,
                Ok(_) | Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => self.stderr_open = false,
            }
        }
    }

    /// Waits until the script has exited or `deadline` passes, logging
    /// its stderr meanwhile; true if it exited. (Without a pidfd, a
    /// script counts as exited once its stderr ends.)
    pub fn settle(&mut self, script: &Script, deadline: Instant) -> bool {
        self.pipes.stdin = None;
        if script.ended() {
            self.exited_at.get_or_insert_with(Instant::now);
        }
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
