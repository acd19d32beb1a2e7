//! The accept loop: take each connection as it comes on any listener,
//! within the connection bound: an HTTP connection waits for its first
//! request in the poll set ([`idle`]), a FastCGI one gets a thread of
//! its own; past the bound, a connection gets a 503 at once and is
//! closed. Accept failures are never fatal: out of descriptors, the
//! reserve one is closed to take the connection and tell it 503;
//! running out of memory pauses accepting for a moment instead of
//! spinning. At the stop, the connections already queued are taken
//! before the listeners close.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::MsgFlags;

use super::Shared;
use super::idle::{self, Parked};
use super::listen::{Front, Listener};
use super::signals::Stop;
use super::workers;
use crate::front::fastcgi;
use crate::front::http::connection::Waiting;
use crate::front::http::head;
use crate::io::fd_limit::Reserve;
use crate::io::stream::Stream;
use crate::log;

/// The pause after accepting failed for want of descriptors or memory.
const BACK_OFF: Duration = Duration::from_millis(100);
/// The pause after a connection thread could not be started.
const THREAD_BACK_OFF: Duration = Duration::from_millis(10);
/// Connections taken from one listener before looking at the others
/// (and at the stop signal) again.
const ACCEPT_BATCH: usize = 64;
/// The most connections taken from one listener's queue at the stop.
const QUEUED_AT_STOP: usize = 4096;

/// Accepts connections on every listener until `stop` is readable;
/// takes the signal's mark.
pub fn until_stopped(
    listeners: &[Listener],
    stop: &Stop,
    shared: &Arc<Shared>,
    reserve: &mut Reserve,
) {
    // Made once: poll sets only each entry's events returned.
    let mut fds: Vec<PollFd> = listeners
        .iter()
        .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN))
        .collect();
    fds.push(PollFd::new(stop.fd(), PollFlags::POLLIN));
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                log::error(format_args!("poll on the listeners failed: {e}"));
                thread::sleep(BACK_OFF);
                continue;
            }
        }
        let ready = |fd: &PollFd| fd.any().unwrap_or(false);
        if fds.last().is_some_and(ready) {
            stop.take();
            return;
        }
        for (listener, _) in listeners.iter().zip(&fds).filter(|(_, fd)| ready(fd)) {
            accept_waiting(listener, shared, ACCEPT_BATCH, reserve);
        }
    }
}

/// At the stop, before the listeners close: takes the connections that
/// already wait in their queues (closing a listener would reset them),
/// so that their requests are answered.
pub fn take_queued(listeners: &[Listener], shared: &Arc<Shared>, reserve: &mut Reserve) {
    for listener in listeners {
        accept_waiting(listener, shared, QUEUED_AT_STOP, reserve);
    }
}

/// Accepts up to `most` connections waiting on `listener`.
fn accept_waiting(listener: &Listener, shared: &Arc<Shared>, most: usize, reserve: &mut Reserve) {
    for _ in 0..most {
        match listener.accept() {
            Ok(stream) => start_connection(shared, stream, listener.front),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The kernel looks for a free descriptor before it looks at
            // the queue: EMFILE also comes with nobody waiting.
            Err(e) if out_of_descriptors(&e) => match refuse_with_reserve(listener, reserve) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    back_off(&e);
                    return;
                }
            },
            Err(e) => {
                back_off(&e);
                return;
            }
        }
    }
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EMFILE | nix::libc::ENFILE)
    )
}

/// Out of descriptors: closes the reserve to take one connection, tells
/// it 503 and closes it before the reserve is taken again; the accept's
/// error if even that failed (WouldBlock: nobody was waiting).
fn refuse_with_reserve(listener: &Listener, reserve: &mut Reserve) -> io::Result<()> {
    reserve.spend(|| {
        let stream = listener.accept()?;
        log::warn(format_args!(
            "{}: connection refused: no descriptors left (RLIMIT_NOFILE)",
            stream.peer_name()
        ));
        if listener.front == Front::Http {
            refuse_busy(&stream, "no descriptors left");
        }
        Ok(())
    })
}

fn back_off(e: &io::Error) {
    if let Some(nix::libc::EMFILE | nix::libc::ENFILE | nix::libc::ENOBUFS | nix::libc::ENOMEM) =
        e.raw_os_error()
    {
        log::error(format_args!("accept: {e}; pausing"));
        thread::sleep(BACK_OFF);
    }
}

/// Within the bound, an HTTP connection goes to the poll set (or to a
/// thread if its request is already there), a FastCGI one to a thread.
fn start_connection(shared: &Arc<Shared>, stream: Stream, front: Front) {
    let Some(seat) = shared.slots.try_take() else {
        match front {
            Front::Http => refuse_busy(&stream, "too many connections"),
            // No request id is known yet to answer: the web server sees
            // the connection close (nginx answers its client 502).
            Front::FastCgi => log::warn(format_args!(
                "{}: FastCGI connection refused: too many connections",
                stream.peer_name()
            )),
        }
        return;
    };
    if front == Front::Http {
        let waiting = Waiting::new(stream, &shared.http, &shared.site.drain);
        idle::admit(shared, Parked { waiting, seat });
        return;
    }
    let s = Arc::clone(shared);
    let spawned = workers::run(move || {
        // Gives the place back however the thread ends, a panic too.
        let _seat = seat;
        fastcgi::connection::serve(stream, &s.fastcgi, &s.site);
    });
    if let Err(e) = spawned {
        log::error(format_args!("cannot start a connection thread: {e}"));
        thread::sleep(THREAD_BACK_OFF);
    }
}

/// A 503 sent without waiting, then close: past the connection bound,
/// or with no descriptors left.
fn refuse_busy(stream: &Stream, reason: &'static str) {
    let retry = [("Retry-After".to_string(), b"1".to_vec())];
    let (out, _) = head::refusal(503, reason, &retry);
    let _ = nix::sys::socket::send(stream.as_fd().as_raw_fd(), &out, MsgFlags::MSG_NOSIGNAL);
}
