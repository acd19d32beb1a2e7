//! The process groups of the scripts running now, so that shutdown can
//! stop them all. A group is listed from its start until it is reaped;
//! reaping happens with the list locked, so shutdown never signals a
//! group whose id the kernel has freed for reuse.

use std::sync::{Mutex, MutexGuard};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn list() -> MutexGuard<'static, Vec<i32>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lists a script's group.
pub fn add(group: i32) {
    list().push(group);
}

/// Unlists a group.
pub fn remove(group: i32) {
    let mut running = list();
    if let Some(i) = running.iter().position(|&p| p == group) {
        running.swap_remove(i);
    }
}

/// Runs `reap` with the list locked, and unlists `group` if it reaped.
pub fn reap_listed<T>(group: i32, reap: impl FnOnce() -> Option<T>) -> Option<T> {
    let mut running = list();
    let reaped = reap();
    if reaped.is_some() {
        running.retain(|&p| p != group);
    }
    reaped
}

/// Sends `signal` to the process group of every running script.
pub fn signal_all(signal: Signal) {
    for &group in list().iter() {
        let _ = killpg(Pid::from_raw(group), signal);
    }
}

/// How many scripts are running.
pub fn count() -> usize {
    list().len()
}
