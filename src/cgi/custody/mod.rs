//! Custody: nothing a request starts outlives it by more than the
//! linger (`--linger`, 5 s by default). A [`Custody`] is one request's
//! containment, from before its script is spawned until after it is
//! reaped: then whatever the request left running (in the script's
//! process group, or in the request's cgroup) goes to the
//! [`warden`], which kills it when the linger is over and reaps what
//! rcgi adopted. rcgi is a child subreaper ([`owned`]), so processes
//! that `setsid` and double-fork away from their request come back to
//! it as orphans instead of escaping to init.
//!
//! Two ways to hold a request's processes ([`Contain`]): a cgroup v2
//! leaf per request ([`cgroup`]) when rcgi can make a cgroup2 folder of
//! its own, which nothing can leave; or the script's process group plus
//! the adopted orphans ([`procs`]), anywhere. A script leads a process
//! group, not a session: where the kernel's autogroup is on (most
//! distributions), each new session is a scheduling group of its own,
//! and a script per group made the scheduler starve some scripts for
//! tens of milliseconds under load.

pub mod cgroup;
pub mod leftover;
pub mod owned;
pub mod procs;
pub mod warden;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::bail;
use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;

use leftover::{Leftover, Members};
use owned::{Admission, admit};
use warden::Warden;

/// How long what a request started may run on after its request ends,
/// unless `--linger` says otherwise.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);
/// How long the end of rcgi waits for the leftovers it kills to go.
pub const STOP_WAIT: Duration = Duration::from_secs(5);

/// How requests' processes are held (`--contain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contain {
    /// A cgroup when rcgi can make one, else process groups.
    Auto,
    /// A cgroup v2 leaf per request; rcgi refuses to start without one.
    Cgroup,
    /// The script's process group, and the orphans rcgi adopts.
    Group,
}

/// What custody runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long leftovers may run after their request; None: for ever
    /// (`--linger unlimited`, rcgi's behaviour before custody).
    pub linger: Option<Duration>,
    pub contain: Contain,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            linger: Some(DEFAULT_LINGER),
            contain: Contain::Auto,
        }
    }
}

/// Whether `--contain auto` takes the cgroup path. The spawn joins a
/// script to its request's cgroup in the child, before exec (so nothing
/// the script runs starts outside it), but that join is a write to
/// `cgroup.procs`, a migration that takes the kernel's cgroup lock every
/// fork on the machine waits for: measured here, moving scripts that way
/// cost the hello rate at 8 connections 10-14%, and two thirds of it
/// while other work forked heavily. `clone3` with CLONE_INTO_CGROUP
/// would avoid the migration; until the spawn uses it, auto holds
/// requests by process group and `--contain cgroup` asks for cgroups.
pub const SPAWN_PLACES_IN_CGROUP: bool = false;

static WARDEN: OnceLock<&'static Warden> = OnceLock::new();

/// Sets custody up for the process: subreaper, the cgroup folder if
/// any, the warden's thread. Returns the line that says how requests are
/// held, for the server to log after its listening lines. Call once, as
/// root before any privilege drop if there is one (the cgroup folder is
/// made then).
pub fn start(settings: &Settings) -> anyhow::Result<String> {
    owned::become_subreaper()?;
    let (tree, held) = match settings.contain {
        Contain::Group => (None, group("--contain group")),
        Contain::Auto if !SPAWN_PLACES_IN_CGROUP => (
            None,
            group("auto: --contain cgroup gives each request a cgroup, at a cost to every spawn"),
        ),
        Contain::Auto => match cgroup::Tree::make(false) {
            Ok(tree) => {
                let held = in_cgroups(&tree);
                (Some(tree), held)
            }
            Err(why) => (None, group(&format!("no cgroup: {why}"))),
        },
        Contain::Cgroup => match cgroup::Tree::make(true) {
            Ok(tree) => {
                let held = in_cgroups(&tree);
                (Some(tree), held)
            }
            Err(why) => bail!("--contain cgroup: {why} (--contain group works without cgroups)"),
        },
    };
    let line = match settings.linger {
        Some(linger) => format!(
            "what a request leaves running is stopped {}s after it (--linger), {held}",
            linger.as_secs_f64()
        ),
        None => {
            crate::log::warn(format_args!(
                "--linger unlimited: what requests leave running may run for ever"
            ));
            format!("what requests leave running is {held}")
        }
    };
    let warden = warden::start(settings.linger, tree)?;
    let _ = WARDEN.set(warden);
    Ok(line)
}

fn in_cgroups(tree: &cgroup::Tree) -> String {
    let controllers = match tree.controllers.as_str() {
        "" => "none: no pids.max or memory.max",
        some => some,
    };
    format!(
        "held in cgroups under {} (controllers: {controllers})",
        tree.base.display()
    )
}

fn group(why: &str) -> String {
    format!("held by process group, rcgi as subreaper ({why})")
}

/// At the end of rcgi: kills every leftover now (unless the linger is
/// unlimited), waits for them to go, and removes the cgroup folder.
pub fn stop() {
    let Some(warden) = WARDEN.get() else {
        return;
    };
    if warden.linger.is_some() && !warden.stop(STOP_WAIT) {
        crate::log::warn(format_args!(
            "leftover processes still there {}s after they were killed",
            STOP_WAIT.as_secs()
        ));
    }
    if let Some(tree) = &warden.cgroups {
        tree.remove();
    }
}

/// Gives the cgroup folder (if custody uses one) to the user rcgi is
/// about to become. Call after [`start`], before dropping root.
pub fn give_to(uid: u32, gid: u32) -> std::io::Result<()> {
    match WARDEN.get().and_then(|w| w.cgroups.as_ref()) {
        Some(tree) => tree.give_to(uid, gid),
        None => Ok(()),
    }
}

/// One request's processes, from before its script's spawn to after its
/// reaping.
pub struct Custody {
    /// Held from before the spawn until the script is owned.
    admission: Option<Admission>,
    /// The script, once started.
    pid: Option<i32>,
    request: String,
    slot: Option<cgroup::Slot>,
    /// The slot's folder, open for the spawn, whose child joins it.
    folder: Option<OwnedFd>,
}

impl Custody {
    /// Before a spawn: the admission that keeps the reaper of orphans
    /// off the new script, and the request's cgroup, if custody uses one.
    pub fn prepare(request: &[u8]) -> Custody {
        let admission = admit();
        let slot = WARDEN
            .get()
            .and_then(|w| w.cgroups.as_ref())
            .and_then(|tree| {
                tree.take()
                    .map_err(|e| {
                        crate::log::warn(format_args!("cannot make a request cgroup: {e}"))
                    })
                    .ok()
            });
        Custody {
            admission: Some(admission),
            pid: None,
            request: String::from_utf8_lossy(request).into_owned(),
            folder: None,
            slot,
        }
    }

    /// The request cgroup's folder, for the spawn: the child joins it
    /// before exec. Opened at the first call.
    pub fn cgroup(&mut self) -> Option<BorrowedFd<'_>> {
        if self.folder.is_none() {
            self.folder = self.slot.as_ref().and_then(cgroup::Slot::open);
        }
        self.folder.as_ref().map(|f| f.as_fd())
    }

    /// The script `pid` has started (in [`Custody::cgroup`], if any: the
    /// spawn's child joined it before exec).
    pub fn started(&mut self, pid: u32) {
        let pid = i32::try_from(pid).unwrap_or(i32::MAX);
        self.pid = Some(pid);
        if let Some(admission) = self.admission.take() {
            owned::own(pid, admission);
        }
        self.folder = None;
    }

    /// The script is reaped: what it left goes to the warden (as when a
    /// custody is dropped on any other way out).
    pub fn end(self) {}

    fn release(&mut self) {
        self.admission = None;
        let Some(warden) = WARDEN.get() else {
            return;
        };
        let Some(pid) = self.pid else {
            // Never started: the cgroup is empty.
            if let (Some(slot), Some(tree)) = (self.slot.take(), &warden.cgroups) {
                tree.give_back(slot);
            }
            return;
        };
        owned::disown(pid);
        let request = std::mem::take(&mut self.request);
        match self.slot.take() {
            Some(slot) if !slot.populated() => {
                if let Some(tree) = &warden.cgroups {
                    tree.give_back(slot);
                }
            }
            Some(slot) => {
                let leftover = Leftover::new(Members::Cgroup(slot), request, warden.linger);
                warden.hand_over(leftover);
            }
            None if warden.linger.is_some() && group_alive(pid) => {
                let leftover = Leftover::new(Members::Group(pid), request, warden.linger);
                warden.hand_over(leftover);
            }
            // Nothing left in the group: no wake-up of the warden per
            // request; an orphan that left the group is found by its next
            // round (at most IDLE_ROUND away).
            None => {}
        }
    }
}

impl Drop for Custody {
    fn drop(&mut self) {
        self.release();
    }
}

/// Whether a process is left in the group (the script's pid).
fn group_alive(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None) != Err(Errno::ESRCH)
}
