//! The time a request body has, whatever protocol frames it: a first
//! `--body-timeout`, then `1/--body-min-rate` seconds more for each byte
//! received (Apache mod_reqtimeout's `body=20,MinRate=500`), and the
//! time the script's stdin took nothing does not count, since then rcgi,
//! not the client, holds the body back.

use std::time::{Duration, Instant};

use super::BodyLimits;
use crate::io::wait;
use crate::status::Refusal;

/// A body over `--max-body`.
pub const TOO_LARGE: Refusal = Refusal::new(413, "request body too large");
/// A body slower than `--body-min-rate` after `--body-timeout`.
pub const TOO_SLOW: Refusal = Refusal::new(408, "request body too slow");
/// A body that stalled for `--idle-timeout`.
pub const STALLED: Refusal = Refusal::new(408, "request body not received in time");

/// The moment a wait for body bytes must end: the stall bound `idle`
/// from now, or the clock's `deadline` if sooner.
pub fn wait_until(deadline: Option<Instant>, idle: Duration) -> Instant {
    let stall = wait::after(idle);
    deadline.map_or(stall, |d| d.min(stall))
}

/// Why a wait for body bytes ended without any.
pub fn timed_out(deadline: Option<Instant>) -> Refusal {
    match deadline {
        Some(d) if Instant::now() >= d => TOO_SLOW,
        _ => STALLED,
    }
}

/// When a body must have arrived by.
#[derive(Debug, Clone, Copy)]
pub struct BodyClock {
    started: Instant,
    paused: Duration,
    paused_since: Option<Instant>,
}

impl BodyClock {
    pub fn start() -> BodyClock {
        BodyClock {
            started: Instant::now(),
            paused: Duration::ZERO,
            paused_since: None,
        }
    }

    pub fn deadline(&self, received: u64, limits: &BodyLimits) -> Option<Instant> {
        if limits.min_rate == 0 {
            return None;
        }
        if self.paused_since.is_some() {
            // No time counts while paused.
            return None;
        }
        let earned_ms = received.saturating_mul(1000) / limits.min_rate;
        let allowed = limits
            .timeout
            .saturating_add(Duration::from_millis(earned_ms))
            .saturating_add(self.paused);
        Some(
            self.started
                .checked_add(allowed)
                .unwrap_or_else(|| wait::after(allowed)),
        )
    }

    pub fn pause(&mut self) {
        self.paused_since.get_or_insert_with(Instant::now);
    }

    pub fn resume(&mut self) {
        if let Some(since) = self.paused_since.take() {
            self.paused = self.paused.saturating_add(since.elapsed());
        }
    }
}

/// How much of a request body has come, against `--max-body`, and its
/// clock: what every front end's body reader counts alike.
#[derive(Debug, Clone)]
pub struct Meter {
    limits: BodyLimits,
    /// Body bytes counted so far; never more than `limits.max`.
    taken: u64,
    clock: Option<BodyClock>,
}

impl Meter {
    pub fn new(limits: BodyLimits) -> Meter {
        Meter {
            limits,
            taken: 0,
            clock: None,
        }
    }

    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// The bytes the bound still allows.
    pub fn room(&self) -> u64 {
        self.limits.max.saturating_sub(self.taken)
    }

    /// Refuses a declared length over the bound, before anything is read.
    pub fn check_declared(&self, declared: Option<u64>) -> Result<(), Refusal> {
        match declared {
            Some(n) if n > self.limits.max => Err(TOO_LARGE),
            _ => Ok(()),
        }
    }

    /// The total after `n` more bytes, if the bound allows it.
    pub fn after(&self, n: u64) -> Result<u64, Refusal> {
        self.taken
            .checked_add(n)
            .filter(|&t| t <= self.limits.max)
            .ok_or(TOO_LARGE)
    }

    /// Counts `n` more bytes ([`TOO_LARGE`] past the bound).
    pub fn add(&mut self, n: u64) -> Result<(), Refusal> {
        self.taken = self.after(n)?;
        Ok(())
    }

    /// Starts the clock: the body is wanted from now on.
    pub fn begin(&mut self) {
        self.clock.get_or_insert_with(BodyClock::start);
    }

    /// When the body must have arrived by, at the rate it is owed (None
    /// before [`Meter::begin`], or without a rate).
    pub fn deadline(&self) -> Option<Instant> {
        self.clock.as_ref()?.deadline(self.taken, &self.limits)
    }

    /// The script takes nothing now: the clock stops until it does.
    pub fn pause(&mut self) {
        if let Some(clock) = &mut self.clock {
            clock.pause();
        }
    }

    pub fn resume(&mut self) {
        if let Some(clock) = &mut self.clock {
            clock.resume();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_grants_time_per_byte_and_stops_while_paused() {
        let limits = BodyLimits {
            max: 1 << 20,
            timeout: Duration::from_secs(20),
            min_rate: 500,
        };
        let mut clock = BodyClock::start();
        let at = |c: &BodyClock, n| c.deadline(n, &limits).unwrap() - c.started;
        assert_eq!(at(&clock, 0), Duration::from_secs(20));
        assert_eq!(at(&clock, 1000), Duration::from_secs(22));
        assert!(at(&clock, u64::MAX) >= Duration::from_secs(20));
        clock.pause();
        assert_eq!(clock.deadline(0, &limits), None);
        clock.resume();
        assert!(at(&clock, 0) >= Duration::from_secs(20));
        let off = BodyLimits {
            min_rate: 0,
            ..limits
        };
        assert_eq!(clock.deadline(0, &off), None);
    }
}
