//! A clean stop, once the listeners are closed: let the running
//! requests finish within the grace period, then stop the scripts still
//! running (SIGTERM, then SIGKILL, to their process groups) and give
//! their requests a moment to end. Another SIGINT or SIGTERM meanwhile
//! cuts it short: every script's group gets SIGKILL at once.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::signals::Stop;
use crate::cgi::{KILL_GRACE, running};
use crate::drain::Drain;
use crate::log;

/// How often the stop looks at what is still running.
const POLL: Duration = Duration::from_millis(20);

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
enum Waited {
    Done,
    TimedOut,
    /// Another signal came.
    Hurried,
}

/// Drains `drain` (already begun) within `grace`.
pub fn drain(drain: &Drain, grace: Duration, stop: &Stop) {
    log::info(format_args!(
        "stopping: {} requests running, waiting up to {}s",
        drain.in_flight(),
        grace.as_secs_f64()
    ));
    let waited = wait_for(|| drain.in_flight() == 0, grace, Some(stop));
    if waited == Waited::Done {
        return;
    }
    let waited = if waited == Waited::Hurried {
        log::warn(format_args!(
            "second signal: stopping {} scripts at once",
            running::count()
        ));
        Waited::Hurried
    } else {
        log::warn(format_args!("stopping {} scripts", running::count()));
        running::signal_all(Signal::SIGTERM);
        wait_for(|| running::count() == 0, KILL_GRACE, Some(stop))
    };
    if waited != Waited::Done {
        running::signal_all(Signal::SIGKILL);
    }
    // Their requests end as the scripts' pipes close; the signals are
    // not waited for again.
    wait_for(|| drain.in_flight() == 0, KILL_GRACE * 2, None);
}

/// Polls `done` until it holds, `limit` passes, or a signal comes on
/// `stop`.
fn wait_for(done: impl Fn() -> bool, limit: Duration, stop: Option<&Stop>) -> Waited {
    let deadline = crate::io::wait::after(limit);
    while !done() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Waited::TimedOut;
        }
        match stop {
            Some(stop) if stop.wait(left.min(POLL)) => return Waited::Hurried,
            Some(_) => {}
            None => std::thread::sleep(left.min(POLL)),
        }
    }
    Waited::Done
}
