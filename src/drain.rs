//! Draining: the flag that says the server has begun to stop, a
//! descriptor that becomes readable at that moment (so a connection
//! waiting for its next request can `poll` it and close at once), and
//! the count of requests still being served, which shutdown waits for.
//! Front ends hold an [`InFlight`] while they serve a request (from the
//! moment a new connection is accepted until its first request is
//! answered, then for each request that arrives), and end a connection
//! after its current request once [`Drain::stopping`].

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use nix::fcntl::OFlag;

#[derive(Debug)]
pub struct Drain {
    stopping: AtomicBool,
    in_flight: Arc<AtomicUsize>,
    /// A pipe: its read end hangs up (readable for `poll`) once the write
    /// end, dropped by [`Drain::begin`], is closed.
    signal: OwnedFd,
    closed_at_stop: Mutex<Option<OwnedFd>>,
}

/// One request being served; dropping it ends it. It owns its share of
/// the count, so a connection can carry it from thread to thread (a new
/// connection waits for its first request in the poll set).
pub struct InFlight(Arc<AtomicUsize>);

impl Drain {
    pub fn new() -> io::Result<Drain> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        Ok(Drain {
            stopping: AtomicBool::new(false),
            in_flight: Arc::new(AtomicUsize::new(0)),
            signal: read,
            closed_at_stop: Mutex::new(Some(write)),
        })
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// From now on, front ends take no new request; those waiting for one
    /// are woken.
    pub fn begin(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let mut write = self
            .closed_at_stop
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        write.take();
    }

    /// Readable (hung up) once the stop has begun.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.signal.as_fd()
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request until the guard is dropped.
    pub fn request(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(&self.in_flight))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

    fn signalled(drain: &Drain) -> bool {
        let mut fds = [PollFd::new(drain.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap() == 1
    }

    #[test]
    fn counts_requests_until_their_guards_drop() {
        let drain = Drain::new().unwrap();
        let a = drain.request();
        let b = drain.request();
        assert_eq!(drain.in_flight(), 2);
        drop(a);
        assert_eq!(drain.in_flight(), 1);
        drop(b);
        assert_eq!(drain.in_flight(), 0);
        assert!(!drain.stopping() && !signalled(&drain));
        drain.begin();
        assert!(drain.stopping() && signalled(&drain));
    }
}
