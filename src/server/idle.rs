//! The poll set: every HTTP connection that waits for a request (a new
//! one for its first, a kept-alive one for its next) waits here, in one
//! epoll set owned by one thread, as in Apache's event MPM, and holds
//! no thread of its own. Once a connection is readable (a request has
//! begun to arrive, or its client closed) it gets a connection thread
//! running [`connection::resume`], which hands it back when it waits
//! again with nothing buffered. Waits are bounded by `--idle-timeout`;
//! when the drain begins, a kept-alive connection closes at once and a
//! new one gets [`LAST_CALL`] to send the request its client may have
//! sent as the listener closed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{MsgFlags, recv};

use super::Shared;
use super::seat::Seat;
use super::workers;
use crate::front::http::connection::{self, Waiting};
use crate::io::wait;
use crate::log;

/// How long a new connection may take to send its first request once
/// the server stops.
const LAST_CALL: Duration = Duration::from_secs(1);
/// Events taken from the kernel per wake-up.
const EVENTS: usize = 256;
/// The pause after the poll set failed to wait.
const BACK_OFF: Duration = Duration::from_millis(100);
/// The epoll tokens of the poll set's own descriptors.
const WAKE: u64 = u64::MAX;
const DRAIN: u64 = u64::MAX - 1;

/// A waiting connection with its seat.
pub struct Parked {
    pub waiting: Waiting,
    pub seat: Seat,
}

/// The handle connection threads and the accept loop park into.
pub struct PollSet {
    inbox: Mutex<Vec<Parked>>,
    wake: EventFd,
    epoll: Epoll,
}

impl PollSet {
    pub fn new() -> nix::Result<PollSet> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let wake = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        epoll.add(wake.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, WAKE))?;
        Ok(PollSet {
            inbox: Mutex::new(Vec::new()),
            wake,
            epoll,
        })
    }

    /// Hands a waiting connection to the poll set's thread.
    pub fn park(&self, parked: Parked) {
        let was_empty = {
            let mut inbox = self.lock();
            inbox.push(parked);
            inbox.len() == 1
        };
        if was_empty {
            let _ = self.wake.write(1);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Parked>> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A connection just accepted: served at once if its request is already
/// there, else parked.
pub fn admit(shared: &Arc<Shared>, parked: Parked) {
    let mut probe = [0u8; 1];
    let fd = parked.waiting.fd().as_raw_fd();
    let readable = match recv(fd, &mut probe, peek()) {
        Ok(_) => true,
        Err(Errno::EAGAIN | Errno::EINTR) => false,
        Err(_) => true,
    };
    if readable {
        serve(shared, parked);
    } else {
        shared.idle.park(parked);
    }
}

fn peek() -> MsgFlags {
    MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT
}

/// Serves a connection whose request has begun to arrive on a thread of
/// its own, and parks it again when it waits.
fn serve(shared: &Arc<Shared>, parked: Parked) {
    let s = Arc::clone(shared);
    let Parked { waiting, seat } = parked;
    let started = workers::run(move || {
        if let Some(waiting) = connection::resume(waiting, &s.http, &s.proxy, &s.site) {
            s.idle.park(Parked { waiting, seat });
        }
    });
    if let Err(e) = started {
        log::error(format_args!("cannot start a connection thread: {e}"));
    }
}

/// Starts the poll set's thread.
pub fn start(shared: &Arc<Shared>) -> std::io::Result<()> {
    let shared = Arc::clone(shared);
    shared
        .site
        .drain
        .fd()
        .try_clone_to_owned()
        .and_then(|drain| {
            let events = EpollEvent::new(EpollFlags::EPOLLIN, DRAIN);
            shared.idle.epoll.add(&drain, events)?;
            thread::Builder::new()
                .name("idle".into())
                .spawn(move || Watch::new(&shared, drain).run())
                .map(drop)
        })
}

/// One parked connection and when its wait ends.
struct Entry {
    parked: Parked,
    deadline: Instant,
}

/// The poll set's thread: its connections, by token, and their
/// deadlines, soonest first.
struct Watch<'a> {
    shared: &'a Arc<Shared>,
    drain: OwnedFd,
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
    stopping: bool,
}

impl<'a> Watch<'a> {
    fn new(shared: &'a Arc<Shared>, drain: OwnedFd) -> Watch<'a> {
        Watch {
            shared,
            drain,
            entries: Vec::new(),
            free: Vec::new(),
            deadlines: BinaryHeap::new(),
            stopping: false,
        }
    }

    fn run(mut self) {
        let mut events = vec![EpollEvent::empty(); EVENTS];
        loop {
            let timeout = self.next_deadline().map_or(PollTimeout::NONE, |d| {
                wait::timeout(d.saturating_duration_since(Instant::now()))
            });
            let n = match self.shared.idle.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => {
                    log::error(format_args!("waiting on idle connections failed: {e}"));
                    thread::sleep(BACK_OFF);
                    0
                }
            };
            for event in &events[..n] {
                match event.data() {
                    WAKE => self.take_inbox(),
                    DRAIN => self.begin_drain(),
                    token => self.ready(token),
                }
            }
            self.expire(Instant::now());
        }
    }

    /// The soonest deadline still standing.
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, token))) = self.deadlines.peek().copied() {
            match &self.entries[token] {
                Some(entry) if entry.deadline == at => return Some(at),
                _ => {
                    self.deadlines.pop();
                }
            }
        }
        None
    }

    fn take_inbox(&mut self) {
        let _ = self.shared.idle.wake.read();
        let parked = std::mem::take(&mut *self.shared.idle.lock());
        for p in parked {
            self.add(p);
        }
    }

    /// Watches a connection until it is readable or its wait is over.
    fn add(&mut self, parked: Parked) {
        if self.stopping && !parked.waiting.is_fresh() {
            return;
        }
        let limit = self.shared.http.idle_timeout;
        let mut deadline = parked
            .waiting
            .since
            .checked_add(limit)
            .unwrap_or_else(|| wait::after(limit));
        if self.stopping {
            deadline = deadline.min(wait::after(LAST_CALL));
        }
        let token = self.free.pop().unwrap_or(self.entries.len());
        let events = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP, token as u64);
        if let Err(e) = self.shared.idle.epoll.add(parked.waiting.fd(), events) {
            log::error(format_args!("cannot watch an idle connection: {e}"));
            return;
        }
        let entry = Some(Entry { parked, deadline });
        if token == self.entries.len() {
            self.entries.push(entry);
        } else {
            self.entries[token] = entry;
        }
        self.deadlines.push(Reverse((deadline, token)));
    }

    /// Takes a connection out of the set.
    fn remove(&mut self, token: usize) -> Option<Parked> {
        let entry = self.entries.get_mut(token)?.take()?;
        let _ = self.shared.idle.epoll.delete(entry.parked.waiting.fd());
        self.free.push(token);
        Some(entry.parked)
    }

    fn ready(&mut self, token: u64) {
        let Ok(token) = usize::try_from(token) else {
            return;
        };
        if let Some(parked) = self.remove(token) {
            serve(self.shared, parked);
        }
    }

    /// Closes the connections whose wait is over.
    fn expire(&mut self, now: Instant) {
        while let Some(at) = self.next_deadline() {
            if at > now {
                return;
            }
            if let Some(Reverse((_, token))) = self.deadlines.pop() {
                drop(self.remove(token));
            }
        }
    }

    /// The drain began: kept-alive connections close, new ones get
    /// their last call.
    fn begin_drain(&mut self) {
        self.stopping = true;
        let _ = self.shared.idle.epoll.delete(&self.drain);
        let last_call = wait::after(LAST_CALL);
        for token in 0..self.entries.len() {
            let fresh = match &self.entries[token] {
                Some(entry) => entry.parked.waiting.is_fresh(),
                None => continue,
            };
            if !fresh {
                drop(self.remove(token));
            } else if let Some(entry) = &mut self.entries[token] {
                entry.deadline = entry.deadline.min(last_call);
                self.deadlines.push(Reverse((entry.deadline, token)));
            }
        }
    }
}
