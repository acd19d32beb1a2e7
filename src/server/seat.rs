//! A connection's seat: its place within `--max-connections` (a
//! [`Slots`] bound), counted in the statistics while it lives, and the
//! threads connections run on. A seat travels with its connection, from
//! the accept loop to the poll set and to each thread that serves it;
//! the last seat given back hands freed memory back to the system.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::stats::{self, STATS};

/// Stack for a connection thread: buffers live on the heap.
const THREAD_STACK: usize = 256 * 1024;

/// A count of connections served now, bounded.
pub struct Slots {
    limit: usize,
    used: AtomicUsize,
}

impl Slots {
    pub fn new(limit: usize) -> Arc<Slots> {
        Arc::new(Slots {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Takes a place if one is free.
    pub fn try_take(self: &Arc<Self>) -> Option<Seat> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()?;
        Some(Seat {
            slots: Arc::clone(self),
            _open: STATS.connection(),
        })
    }
}

/// One connection's place in the bound, freed on drop.
pub struct Seat {
    slots: Arc<Slots>,
    _open: stats::Open,
}

impl Drop for Seat {
    fn drop(&mut self) {
        if self.slots.used.fetch_sub(1, Ordering::AcqRel) == 1 {
            give_back_memory();
        }
    }
}

/// Runs `serve` on a connection thread of its own.
pub fn spawn(serve: impl FnOnce() + Send + 'static) -> io::Result<()> {
    thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK)
        .spawn(serve)
        .map(drop)
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
