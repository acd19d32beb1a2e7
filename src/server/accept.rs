//! The accept loop: take each connection as it comes on any listener,
//! within the connection bound, and give it a thread of its own running
//! the listener's front end; past the bound, a connection gets a 503 at
//! once and is closed. Accept failures are never fatal: running out of
//! descriptors or memory pauses accepting for a moment instead of
//! spinning. At the stop, the connections already queued are taken
//! before the listeners close.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::MsgFlags;

use super::Shared;
use super::listen::{Front, Listener};
use super::signals::Stop;
use crate::front::fastcgi;
use crate::front::http::{connection, head};
use crate::io::stream::Stream;
use crate::log;
use crate::stats::STATS;

/// Stack for a connection thread: buffers live on the heap.
const THREAD_STACK: usize = 256 * 1024;
/// The pause after accepting failed for want of descriptors or memory.
const BACK_OFF: Duration = Duration::from_millis(100);
/// The pause after a connection thread could not be started.
const THREAD_BACK_OFF: Duration = Duration::from_millis(10);
/// Connections taken from one listener before looking at the others
/// (and at the stop signal) again.
const ACCEPT_BATCH: usize = 64;
/// The most connections taken from one listener's queue at the stop.
const QUEUED_AT_STOP: usize = 4096;

/// A count of connections served now, bounded.
pub struct Slots {
    limit: usize,
    used: AtomicUsize,
}

impl Slots {
    pub fn new(limit: usize) -> Slots {
        Slots {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes a place if one is free.
    fn try_take(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a place back; true if it was the last one taken.
    fn release(&self) -> bool {
        self.used.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// Accepts connections on every listener until `stop` is readable;
/// takes the signal's mark.
pub fn until_stopped(listeners: &[Listener], stop: &Stop, shared: &Arc<Shared>) {
    loop {
        let mut fds: Vec<PollFd> = listeners
            .iter()
            .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN))
            .collect();
        fds.push(PollFd::new(stop.fd(), PollFlags::POLLIN));
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                log::error(format_args!("poll on the listeners failed: {e}"));
                thread::sleep(BACK_OFF);
                continue;
            }
        }
        let ready: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(false)).collect();
        if ready.last() == Some(&true) {
            stop.take();
            return;
        }
        for (listener, _) in listeners.iter().zip(ready).filter(|(_, r)| *r) {
            accept_waiting(listener, shared, ACCEPT_BATCH);
        }
    }
}

/// At the stop, before the listeners close: takes the connections that
/// already wait in their queues (closing a listener would reset them),
/// so that their requests are answered.
pub fn take_queued(listeners: &[Listener], shared: &Arc<Shared>) {
    for listener in listeners {
        accept_waiting(listener, shared, QUEUED_AT_STOP);
    }
}

/// Accepts up to `most` connections waiting on `listener`.
fn accept_waiting(listener: &Listener, shared: &Arc<Shared>, most: usize) {
    for _ in 0..most {
        match listener.accept() {
            Ok(stream) => start_connection(shared, stream, listener.front),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                back_off(&e);
                return;
            }
        }
    }
}

fn back_off(e: &io::Error) {
    if let Some(nix::libc::EMFILE | nix::libc::ENFILE | nix::libc::ENOBUFS | nix::libc::ENOMEM) =
        e.raw_os_error()
    {
        log::error(format_args!("accept: {e}; pausing"));
        thread::sleep(BACK_OFF);
    }
}

fn start_connection(shared: &Arc<Shared>, stream: Stream, front: Front) {
    if !shared.slots.try_take() {
        match front {
            Front::Http => refuse_busy(stream),
            // No request id is known yet to answer: the web server sees
            // the connection close (nginx answers its client 502).
            Front::FastCgi => log::warn(format_args!(
                "{}: FastCGI connection refused: too many connections",
                stream.peer_name()
            )),
        }
        return;
    }
    let shared_for_thread = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            // Gives the place back however the thread ends, a panic too.
            let _place = Place(&shared_for_thread.slots);
            let _open = STATS.connection();
            let s = &*shared_for_thread;
            match front {
                Front::Http => connection::serve(stream, &s.http, &s.proxy, &s.site),
                Front::FastCgi => fastcgi::connection::serve(stream, &s.fastcgi, &s.site),
            }
        });
    if let Err(e) = spawned {
        shared.slots.release();
        log::error(format_args!("cannot start a connection thread: {e}"));
        thread::sleep(THREAD_BACK_OFF);
    }
}

/// A connection's place in the bound, freed on drop.
struct Place<'a>(&'a Slots);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.0.release() {
            give_back_memory();
        }
    }
}

/// Once no connection is left, hands the memory the connections freed
/// back to the system: glibc's malloc keeps freed memory in its
/// per-thread arenas, which would leave an idle rcgi as large as its
/// busiest moment.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_back_memory() {
    // SAFETY: malloc_trim only releases free memory of the allocator; it
    // takes no pointer, and it locks each arena it trims, so other threads
    // may allocate meanwhile.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Other C libraries (musl) have no arenas to trim.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_memory() {}

/// Past the connection bound: a 503 sent without waiting, then close.
fn refuse_busy(stream: Stream) {
    let retry = [("Retry-After".to_string(), b"1".to_vec())];
    let (out, _) = head::refusal(503, "too many connections", &retry);
    let _ = nix::sys::socket::send(stream.as_fd().as_raw_fd(), &out, MsgFlags::MSG_NOSIGNAL);
}
