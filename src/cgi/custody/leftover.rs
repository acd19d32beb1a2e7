//! What a request left running ([`Leftover`]): its members (a process
//! group, adopted orphans, or a cgroup), which processes of
//! the table they are, whether they are gone, and the warn lines of
//! their kill.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;

use super::cgroup::Slot;
use super::procs::{self, Stat};
use crate::io::wait;
use crate::log;

/// Kill lines logged per leftover; the rest are counted.
const MAX_LOGGED: usize = 5;

/// What a request left running.
pub enum Members {
    /// The processes of the script's process group (the script's pid),
    /// and their descendants.
    Group(i32),
    /// The orphans rcgi adopted in one round, with the processes whose
    /// session or group they lead, and their descendants.
    Orphans(Vec<Stat>),
    /// Everything in the request's cgroup.
    Cgroup(Slot),
}

pub struct Leftover {
    pub members: Members,
    /// The request it belongs to, for log lines.
    pub request: String,
    /// When its linger began.
    pub since: Instant,
    /// When it is killed; never for `--linger unlimited`.
    pub deadline: Option<Instant>,
    /// Killed once already (its kill is logged once).
    pub killed: bool,
}

impl Leftover {
    pub fn new(mut members: Members, request: String, linger: Option<Duration>) -> Leftover {
        if let Members::Cgroup(slot) = &mut members {
            slot.watch();
        }
        let since = Instant::now();
        Leftover {
            members,
            request,
            since,
            deadline: linger.map(wait::after),
            killed: false,
        }
    }
}

/// Whether process `s` is one of a group's or an orphan's leftovers.
pub fn belongs(members: &Members, s: &Stat) -> bool {
    if s.zombie {
        return false;
    }
    match members {
        Members::Group(key) => s.pgid == *key,
        Members::Orphans(orphans) => orphans
            .iter()
            .any(|o| (s.pid == o.pid && s.start == o.start) || s.pgid == o.pid || s.sid == o.pid),
        Members::Cgroup(_) => false,
    }
}

/// Whether nothing of `members` is running any more.
pub fn gone(members: &Members) -> bool {
    match members {
        Members::Group(key) => killpg(Pid::from_raw(*key), None) == Err(Errno::ESRCH),
        Members::Orphans(orphans) => orphans.iter().all(|o| {
            let dead = procs::stat(o.pid).is_none_or(|s| s.zombie || s.start != o.start);
            dead && killpg(Pid::from_raw(o.pid), None) == Err(Errno::ESRCH)
        }),
        Members::Cgroup(slot) => !slot.populated(),
    }
}

/// Whether `pid` is in one of this rcgi's request cgroups.
pub fn in_request_cgroup(pid: i32) -> bool {
    let mine = format!("/rcgi-{}/req-", std::process::id());
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .is_ok_and(|t| t.lines().any(|l| l.starts_with("0::") && l.contains(&mine)))
}

/// The command lines of the first few of `pids`, read before they are
/// killed (a dead process has none).
pub fn commands(pids: &[i32]) -> Vec<(i32, String)> {
    pids.iter()
        .take(MAX_LOGGED)
        .map(|&pid| (pid, procs::command(pid)))
        .collect()
}

/// One warn line per killed process (the first few, `named`), then a
/// count of the rest; nothing when `named` is empty (a kill repeated).
pub fn log_kills(leftover: &Leftover, named: &[(i32, String)], killed: usize) {
    if named.is_empty() {
        return;
    }
    let after = match leftover.members {
        Members::Orphans(_) => "rcgi adopted it",
        _ => "its request ended",
    };
    let elapsed = leftover.since.elapsed().as_secs_f64();
    for (pid, command) in named {
        log::warn(format_args!(
            "{}: killed leftover pid {pid} ({command}), still running {elapsed:.1}s after {after} (--linger)",
            leftover.request,
        ));
    }
    if killed > named.len() {
        log::warn(format_args!(
            "{}: killed {} more leftover processes",
            leftover.request,
            killed - named.len()
        ));
    }
}
