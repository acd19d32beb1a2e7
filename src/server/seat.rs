//! A connection's seat: its place within `--max-connections` (a
//! [`Slots`] bound), counted in the statistics while it lives. A seat
//! travels with its connection, from the accept loop to the poll set and
//! to each thread that serves it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::stats::{self, STATS};

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
        self.slots.used.fetch_sub(1, Ordering::AcqRel);
    }
}
