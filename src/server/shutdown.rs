//! A clean stop: take no new requests, let the running ones finish
//! within the grace period, then stop the scripts still running
//! (SIGTERM, then SIGKILL, to their process groups) and give their
//! requests a moment to end.

use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::cgi::{KILL_GRACE, running};
use crate::drain::Drain;
use crate::log;

/// How often the stop looks at what is still running.
const POLL: Duration = Duration::from_millis(20);

pub fn drain(drain: &Drain, grace: Duration) {
    drain.begin();
    log::info(format_args!(
        "stopping: {} requests running, waiting up to {}s",
        drain.in_flight(),
        grace.as_secs_f64()
    ));
    if wait_for(|| drain.in_flight() == 0, grace) {
        return;
    }
    log::warn(format_args!("stopping {} scripts", running::count()));
    running::signal_all(Signal::SIGTERM);
    if !wait_for(|| running::count() == 0, KILL_GRACE) {
        running::signal_all(Signal::SIGKILL);
    }
    wait_for(|| drain.in_flight() == 0, KILL_GRACE * 2);
}

/// Polls `done` until it holds or `limit` passes; true if it held.
fn wait_for(done: impl Fn() -> bool, limit: Duration) -> bool {
    let deadline = crate::io::wait::after(limit);
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
    true
}
