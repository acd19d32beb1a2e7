//! Draining: the flag that says the server has begun to stop, and the
//! count of requests still being served, which shutdown waits for. Front
//! ends hold a [`InFlight`] while they serve a request, and refuse new
//! ones once [`Drain::stopping`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct Drain {
    stopping: AtomicBool,
    in_flight: AtomicUsize,
}

/// One request being served; dropping it ends it.
pub struct InFlight<'a>(&'a Drain);

impl Drain {
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// From now on, front ends take no new request.
    pub fn begin(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request until the guard is dropped.
    pub fn request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_until_their_guards_drop() {
        let drain = Drain::default();
        let a = drain.request();
        let b = drain.request();
        assert_eq!(drain.in_flight(), 2);
        drop(a);
        assert_eq!(drain.in_flight(), 1);
        drop(b);
        assert_eq!(drain.in_flight(), 0);
        assert!(!drain.stopping());
        drain.begin();
        assert!(drain.stopping());
    }
}
