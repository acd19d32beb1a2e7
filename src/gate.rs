//! A counting bound on things that run at once (connections, scripts):
//! a permit is taken before and given back, by drop, after.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct Gate {
    limit: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

/// A taken place; dropping it frees the place.
pub struct Permit<'a> {
    gate: &'a Gate,
}

impl Gate {
    pub fn new(limit: usize) -> Gate {
        Gate {
            limit,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Takes a place if one is free now.
    pub fn try_enter(&self) -> Option<Permit<'_>> {
        self.enter_within(Duration::ZERO)
    }

    /// Takes a place, waiting at most `wait` for one to be freed.
    pub fn enter_within(&self, wait: Duration) -> Option<Permit<'_>> {
        let deadline = Instant::now() + wait;
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used >= self.limit {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            used = self
                .freed
                .wait_timeout(used, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *used += 1;
        Some(Permit { gate: self })
    }

    /// Takes a place if one is free now, without a permit: the caller
    /// must [`Gate::release`] it (for places held across threads).
    pub fn try_take(&self) -> bool {
        self.try_enter().map(std::mem::forget).is_some()
    }

    /// Frees a place taken with [`Gate::try_take`].
    pub fn release(&self) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(1);
        self.freed.notify_one();
    }

    /// Places taken now.
    pub fn used(&self) -> usize {
        *self.used.lock().unwrap_or_else(|p| p.into_inner())
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

    #[test]
    fn bounds_and_frees() {
        let gate = Gate::new(2);
        let a = gate.try_enter().unwrap();
        let _b = gate.try_enter().unwrap();
        assert!(gate.try_enter().is_none());
        assert!(gate.enter_within(Duration::from_millis(20)).is_none());
        drop(a);
        assert!(gate.try_enter().is_some());
        assert_eq!(gate.used(), 1);
    }

    #[test]
    fn a_waiter_gets_the_freed_place() {
        let gate = std::sync::Arc::new(Gate::new(1));
        assert!(gate.try_take());
        let g = gate.clone();
        let waiter = std::thread::spawn(move || g.enter_within(Duration::from_secs(5)).is_some());
        std::thread::sleep(Duration::from_millis(50));
        gate.release();
        assert!(waiter.join().unwrap());
    }
}
