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
