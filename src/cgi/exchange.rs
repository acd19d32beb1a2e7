//! The exchange with a running script: one `poll` loop that moves the
//! request body to the script's stdin, the script's stdout to the client
//! ([`Stdout`]), and its stderr to the log, all at once, so a script that
//! writes before it has read all its input never deadlocks and a slow
//! client only slows its own script. The client is whatever the front
//! end made of it ([`Client`]): the exchange sees a descriptor to poll, a
//! body and a sink.
//!
//! [`Exchange::run`] ends when the script's stdout has ended and the
//! response is sent, or earlier: at a fault in the script's headers, at
//! the script's deadline, or when the client goes away, stalls or sends
//! its body too slowly. It never signals the script; the caller decides
//! its fate, then [`Exchange::settle`] waits for it to exit while its
//! stderr drains.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};

use super::end::End;
use super::script::Script;
use super::spawn::Pipes;
use super::stderr::StderrLog;
use super::stdout::Stdout;
use crate::client::{BodyError, Client, Fed, Hangup};
use crate::io::scratch::read_with;
use crate::io::wait;
use crate::status::Refusal;

/// How long a script's stdout may stay open after the script itself has
/// exited (held by a background process) before the response ends anyway.
pub const STDOUT_LINGER: Duration = Duration::from_secs(2);

pub struct Exchange<'a> {
    client: &'a mut dyn Client,
    pipes: Pipes,
    stderr_open: bool,
    /// The client's body goes to the script's stdin.
    streams_body: bool,
    pub stdout: Stdout,
    pub stderr: StderrLog,
    deadline: Instant,
    last_client: Instant,
    /// Watching the client for end of stream while no body is read from
    /// it (until pipelined requests arrive, which show it is still there).
    watch_hangup: bool,
    /// The script's stdin took no more: wait for it before reading more
    /// of the body.
    stdin_full: bool,
    exited_at: Option<Instant>,
}

/// What each descriptor is ready for after one `poll`.
struct Ready {
    client: PollFlags,
    stdin: PollFlags,
    stdout: PollFlags,
    stderr: PollFlags,
    exit: PollFlags,
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
        client: &'a mut dyn Client,
        pipes: Pipes,
        stdout: Stdout,
        stderr: StderrLog,
        deadline: Instant,
    ) -> Exchange<'a> {
        Exchange {
            streams_body: pipes.stdin.is_some(),
            client,
            pipes,
            stderr_open: true,
            stdout,
            stderr,
            deadline,
            last_client: Instant::now(),
            watch_hangup: true,
            stdin_full: false,
            exited_at: None,
        }
    }

    /// The client, for what follows the exchange.
    pub fn client(&mut self) -> &mut dyn Client {
        self.client
    }

    /// Runs the exchange until it ends.
    pub fn run(&mut self, script: &mut Script) -> End {
        let result = self.pump_body().and_then(|()| {
            while self.stdout.open || self.client.pending() {
                self.check_time(script)?;
                self.step(script)?;
            }
            Ok(())
        });
        // Body bytes the script did not take are dropped.
        if self.streams_body {
            self.client.discard();
        }
        match (result, self.stdout.killed) {
            (Err(end), _) => end,
            (Ok(()), Some(signal)) => End::Killed(signal),
            (Ok(()), None) => self.stdout.take_redirect().map_or(End::Done, End::Redirect),
        }
    }

    /// The deadlines: the script's, the client's stall bound and its
    /// body's, and the grace for a stdout held open by a background
    /// process.
    fn check_time(&mut self, script: &mut Script) -> Result<(), End> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(End::Timeout);
        }
        if self.waits_on_client() && now >= self.stall_deadline() {
            return Err(if self.wants_body() {
                End::BodyStalled
            } else {
                End::ClientGone("client stopped reading")
            });
        }
        if self.body_deadline().is_some_and(|d| now >= d) {
            return Err(End::BadBody(Refusal::new(408, "request body too slow")));
        }
        if let Some(exited) = self.exited_at {
            if self.stdout.open && now >= exited + STDOUT_LINGER {
                crate::log::warn(format_args!(
                    "{}: exited, but background processes {:?} hold its stdout open; response ended without them",
                    self.stderr.name,
                    script.group_members()
                ));
                self.stdout.end(self.client, script)?;
            }
        }
        Ok(())
    }

    /// The next moment a deadline can pass.
    fn next_deadline(&self) -> Instant {
        let mut until = self.deadline;
        if self.waits_on_client() {
            until = until.min(self.stall_deadline());
        }
        if let Some(body) = self.body_deadline() {
            until = until.min(body);
        }
        if let Some(exited) = self.exited_at {
            until = until.min(exited + STDOUT_LINGER);
        }
        until
    }

    fn stall_deadline(&self) -> Instant {
        self.last_client + self.client.stall_limit()
    }

    /// When the body must have arrived by, while rcgi waits for it.
    fn body_deadline(&self) -> Option<Instant> {
        let owed = self.streams_body && !self.client.complete();
        owed.then(|| self.client.deadline()).flatten()
    }

    fn waits_on_client(&self) -> bool {
        self.wants_body() || self.client.pending()
    }

    /// The client still owes body bytes and none are buffered.
    fn wants_body(&self) -> bool {
        self.streams_body && self.client.wants_input()
    }

    /// Whether a client that closes its connection now has gone away
    /// from a response it wanted: not while its body is still read (that
    /// is seen otherwise), not after pipelined requests showed it is
    /// there, and not once it has its whole response (a script may go on
    /// working after it).
    fn watches_hangup(&self) -> bool {
        let body_complete = !self.streams_body || self.client.complete();
        self.watch_hangup && body_complete && !self.client.delivered()
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
        let ready = self.wait(script)?;
        if !ready.stderr.is_empty() {
            self.read_stderr();
        }
        if !ready.exit.is_empty() {
            self.exited_at = Some(Instant::now());
        }
        if !ready.stdin.is_empty() {
            self.stdin_full = false;
            self.pump_body()?;
        }
        self.client_events(ready.client)?;
        if !ready.stdout.is_empty() {
            let progress = self
                .stdout
                .readable(self.client, &self.pipes.stdout, script)?;
            self.sent(progress);
        }
        Ok(())
    }

    /// Waits, until the next deadline, for any descriptor to be ready for
    /// what the exchange wants of it now.
    fn wait(&self, script: &Script) -> Result<Ready, End> {
        let mut client = PollFlags::empty();
        if (self.wants_body() && !self.stdin_full) || self.watches_hangup() {
            client |= PollFlags::POLLIN;
        }
        if self.client.pending() {
            client |= PollFlags::POLLOUT;
        }
        let mut fds = vec![PollFd::new(self.client.fd(), client)];
        let mut slots = Slots::default();
        if let Some(stdin) = &self.pipes.stdin {
            if self.client.has_data() || self.stdin_full {
                slots.stdin = add(&mut fds, stdin.as_fd(), PollFlags::POLLOUT);
            }
        }
        if self.stdout.wants_read(self.client) {
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
        match poll(&mut fds, wait::timeout(wait)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(End::ClientGone(e.desc())),
        }
        let events = |slot: Option<usize>| {
            slot.and_then(|i| fds[i].revents())
                .unwrap_or(PollFlags::empty())
        };
        Ok(Ready {
            client: events(Some(0)),
            stdin: events(slots.stdin),
            stdout: events(slots.stdout),
            stderr: events(slots.stderr),
            exit: events(slots.exit),
        })
    }

    fn client_events(&mut self, events: PollFlags) -> Result<(), End> {
        let gone = PollFlags::POLLERR | PollFlags::POLLHUP;
        if self.wants_body() && events.intersects(PollFlags::POLLIN | gone) {
            self.read_client()?;
        } else if events.intersects(gone) {
            return Err(End::ClientGone("connection reset"));
        }
        if events.contains(PollFlags::POLLIN) && self.watches_hangup() {
            match self.client.hangup() {
                Hangup::Gone => return Err(End::ClientGone("client closed the connection")),
                // Pipelined requests wait unread: the client is still there.
                Hangup::Busy => self.watch_hangup = false,
                Hangup::Quiet => {}
            }
        }
        if events.contains(PollFlags::POLLOUT) {
            let progress = self.stdout.flush(self.client)?;
            self.sent(progress);
        }
        Ok(())
    }

    /// Moves body bytes that wait in memory to the script's stdin.
    fn pump_body(&mut self) -> Result<(), End> {
        if self.streams_body {
            let fed = self
                .client
                .feed(&mut self.pipes.stdin, false)
                .map_err(body_end)?;
            // Time the script held the body back is not the client's stall.
            self.sent(fed == Fed::Some);
            self.stdin_full = fed == Fed::StdinFull;
        }
        Ok(())
    }

    /// Reads body bytes from the client and passes them on.
    fn read_client(&mut self) -> Result<(), End> {
        let fed = self
            .client
            .feed(&mut self.pipes.stdin, true)
            .map_err(body_end)?;
        self.sent(fed == Fed::Some);
        self.stdin_full = fed == Fed::StdinFull;
        Ok(())
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
            if poll(&mut fds, wait::timeout(left)).is_err_and(|e| e != Errno::EINTR) {
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
        BodyError::Gone(gone) => End::ClientGone(gone.0),
        BodyError::Refused(e) => End::BadBody(e),
    }
}

/// Adds a descriptor to a `poll` set; returns its slot.
fn add<'f>(fds: &mut Vec<PollFd<'f>>, fd: BorrowedFd<'f>, events: PollFlags) -> Option<usize> {
    fds.push(PollFd::new(fd, events));
    Some(fds.len() - 1)
}
