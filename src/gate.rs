//! A counting bound on things that run at once (connections, scripts):
//! a permit is taken before and given back, by drop, after. Those who
//! wait for a place form a queue that is bounded too.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct Gate {
    limit: usize,
    /// Most callers that may wait for a place at once.
    queue: usize,
    /// (places taken, callers waiting)
    state: Mutex<(usize, usize)>,
    freed: Condvar,
}

/// A taken place; dropping it frees the place.
pub struct Permit<'a> {
    gate: &'a Gate,
}

impl Gate {
    /// A gate of `limit` places where at most `queue` callers wait.
    pub fn new(limit: usize, queue: usize) -> Gate {
        Gate {
            limit,
            queue,
            state: Mutex::new((0, 0)),
            freed: Condvar::new(),
        }
    }

    /// Takes a place, waiting at most `wait` for one to be freed (if the
    /// queue has room).
    pub fn enter_within(&self, wait: Duration) -> Option<Permit<'_>> {
        let deadline = Instant::now() + wait;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 >= self.limit {
            if state.1 >= self.queue || wait.is_zero() {
                return None;
            }
            state.1 += 1;
            while state.0 >= self.limit {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = self
                    .freed
                    .wait_timeout(state, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            state.1 -= 1;
            if state.0 >= self.limit {
                return None;
            }
        }
        state.0 += 1;
        Some(Permit { gate: self })
    }

    /// Frees a place (a permit's drop).
    fn release(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 = state.0.saturating_sub(1);
        self.freed.notify_one();
    }

    /// Places taken now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Callers waiting in the queue now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.gate.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Gate {
        fn try_enter(&self) -> Option<Permit<'_>> {
            self.enter_within(Duration::ZERO)
        }
    }

    #[test]
    fn bounds_and_frees() {
        let gate = Gate::new(2, 1);
        let a = gate.try_enter().unwrap();
        let _b = gate.try_enter().unwrap();
        assert!(gate.try_enter().is_none());
        assert!(gate.enter_within(Duration::from_millis(20)).is_none());
        drop(a);
        assert!(gate.try_enter().is_some());
        assert_eq!(gate.used(), 1);
    }

    /// Waits, polling, until `n` callers wait in `gate`'s queue (so a test
    /// acts on a queued waiter, not on one still on its way).
    fn until_waiting(gate: &Gate, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while gate.waiting() != n {
            assert!(Instant::now() < deadline, "no {n} waiters in the queue");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_waiter_gets_the_freed_place() {
        let gate = std::sync::Arc::new(Gate::new(1, 1));
        let held = gate.try_enter().unwrap();
        let g = gate.clone();
        let waiter = std::thread::spawn(move || g.enter_within(Duration::from_secs(60)).is_some());
        until_waiting(&gate, 1);
        drop(held);
        assert!(waiter.join().unwrap());
        assert_eq!((gate.used(), gate.waiting()), (0, 0));
    }

    #[test]
    fn the_queue_is_bounded() {
        let gate = std::sync::Arc::new(Gate::new(1, 1));
        let held = gate.try_enter().unwrap();
        // The waiter fills the queue, for far longer than the test takes.
        let g = gate.clone();
        let waiter = std::thread::spawn(move || g.enter_within(Duration::from_secs(20)).is_some());
        until_waiting(&gate, 1);
        // Refused at once: it returns while the waiter is still queued. Had
        // it queued too, it would return only after its own wait, twice the
        // waiter's, when the waiter has left the queue.
        assert!(
            gate.enter_within(Duration::from_secs(40)).is_none(),
            "queue full"
        );
        assert_eq!(gate.waiting(), 1, "refused at once");
        drop(held);
        assert!(
            waiter.join().unwrap(),
            "the refusal left the waiter its place"
        );
        // A waiter that no one frees a place for gives up after its wait,
        // and leaves the queue.
        let _held = gate.try_enter().unwrap();
        let started = Instant::now();
        assert!(
            gate.enter_within(Duration::from_millis(50)).is_none(),
            "the waiter timed out"
        );
        assert!(started.elapsed() >= Duration::from_millis(50), "it waited");
        assert_eq!(gate.waiting(), 0);
    }
}
