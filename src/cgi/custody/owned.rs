//! Which of rcgi's children belong to the engine, and the reaping of
//! the others. rcgi is a child subreaper, so orphans of the requests
//! become its children; their exit statuses are nobody's, and rcgi reaps
//! them by pid. It never calls `waitpid(-1)`, which would steal the
//! status of a script the engine is waiting for.
//!
//! A script is *owned* from before its spawn ([`admit`] holds a shared
//! lock across it) until after the engine has reaped it ([`disown`]). The
//! reaping of adoptees, and every kill of leftovers, takes the lock
//! exclusively ([`exclusive`]), so it never sees a script in the instant
//! between its birth and its listing.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::procs::Stat;

static SPAWNING: RwLock<()> = RwLock::new(());
static OWNED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn owned() -> MutexGuard<'static, Vec<i32>> {
    OWNED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Held across a spawn, until the new script is owned.
pub struct Admission(#[allow(dead_code)] RwLockReadGuard<'static, ()>);

/// Call before spawning a script.
pub fn admit() -> Admission {
    Admission(SPAWNING.read().unwrap_or_else(|p| p.into_inner()))
}

/// Lists a just-spawned script as the engine's (and lets go of the
/// admission).
pub fn own(pid: i32, admission: Admission) {
    owned().push(pid);
    drop(admission);
}

/// Unlists a script the engine has reaped.
pub fn disown(pid: i32) {
    let mut list = owned();
    if let Some(i) = list.iter().position(|&p| p == pid) {
        list.swap_remove(i);
    }
}

/// The scripts the engine owns now.
pub fn snapshot() -> Vec<i32> {
    owned().clone()
}

/// No spawn is under way while this lives, and the owned list is
/// complete.
pub struct Exclusive {
    _spawning: RwLockWriteGuard<'static, ()>,
    pub owned: Vec<i32>,
}

pub fn exclusive() -> Exclusive {
    let spawning = SPAWNING.write().unwrap_or_else(|p| p.into_inner());
    Exclusive {
        owned: owned().clone(),
        _spawning: spawning,
    }
}

impl Exclusive {
    /// Whether `s` is a script the engine owns, or lives in one's group
    /// (it is that script's business while the script runs).
    pub fn engine_has(&self, s: &Stat) -> bool {
        self.owned.iter().any(|&p| p == s.pid || p == s.pgid)
    }

    /// Reaps the adopted orphans among `children` that have exited; how
    /// many.
    pub fn reap(&self, children: &[Stat]) -> usize {
        let mut reaped = 0;
        for child in children.iter().filter(|c| c.zombie) {
            if self.owned.contains(&child.pid) {
                continue;
            }
            let pid = Pid::from_raw(child.pid);
            if waitpid(pid, Some(WaitPidFlag::WNOHANG)).is_ok_and(|s| s.pid().is_some()) {
                reaped += 1;
            }
        }
        reaped
    }
}

/// Makes rcgi the reaper of every orphan its scripts leave
/// (PR_SET_CHILD_SUBREAPER), so none escapes to init.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(pid: i32, pgid: i32, sid: i32) -> Stat {
        Stat {
            pid,
            ppid: 1,
            pgid,
            sid,
            zombie: false,
            start: 1,
        }
    }

    #[test]
    fn a_script_is_the_engines_from_its_admission_to_its_disowning() {
        // Pids no real process of this test has.
        let (script, other) = (i32::MAX - 7, i32::MAX - 8);
        let admission = admit();
        own(script, admission);
        let ex = exclusive();
        assert!(ex.engine_has(&stat(script, script, script)));
        // Its background child, in its group: the engine's while it runs.
        assert!(ex.engine_has(&stat(other, script, 1)));
        assert!(!ex.engine_has(&stat(other, other, other)));
        drop(ex);
        disown(script);
        assert!(!exclusive().engine_has(&stat(script, script, script)));
    }
}
