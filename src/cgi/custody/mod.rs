//! Custody: nothing a request starts outlives it by more than the
//! linger (`--linger`, 5 s by default). A [`Custody`] is one request's
//! containment, from before its script is spawned until after it is
//! reaped: then whatever the request left running (in the script's
//! process group and session, or in the request's cgroup) goes to the
//! [`warden`], which kills it when the linger is over and reaps what
//! rcgi adopted. rcgi is a child subreaper ([`owned`]), so processes
//! that `setsid` and double-fork away from their request come back to
//! it as orphans instead of escaping to init.
//!
//! Two ways to hold a request's processes ([`Contain`]): a cgroup v2
//! leaf per request ([`cgroup`]) when rcgi can make a cgroup2 folder of
//! its own, which nothing can leave; or the script's process group and
//! session plus the adopted orphans ([`procs`]), anywhere.

pub mod cgroup;
pub mod owned;
pub mod procs;
pub mod warden;

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::bail;
use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;

pub use owned::{Admission, admit};
use warden::{Leftover, Members, Warden};

/// How long what a request started may run on after its request ends,
/// unless `--linger` says otherwise.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);
/// How long the end of rcgi waits for the leftovers it kills to go.
pub const STOP_WAIT: Duration = Duration::from_secs(5);

/// How requests' processes are held (`--contain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contain {
    /// A cgroup when rcgi can make one, else sessions and groups.
    Auto,
    /// A cgroup v2 leaf per request; rcgi refuses to start without one.
    Cgroup,
    /// Process group and session, and the orphans rcgi adopts.
    Session,
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

static WARDEN: OnceLock<&'static Warden> = OnceLock::new();

/// Sets custody up for the process: subreaper, the cgroup folder if
/// any, the warden's thread, and one line saying how requests are held.
/// Call once, as root before any privilege drop if there is one (the
/// cgroup folder is made then).
pub fn start(settings: &Settings) -> anyhow::Result<()> {
    owned::become_subreaper()?;
    let tree = match settings.contain {
        Contain::Session => {
            log_session("--contain session");
            None
        }
        Contain::Auto => cgroup::Tree::make()
            .map_err(|why| log_session(&format!("no cgroup: {why}")))
            .ok(),
        Contain::Cgroup => match cgroup::Tree::make() {
            Ok(tree) => Some(tree),
            Err(why) => bail!("--contain cgroup: {why} (--contain session works without cgroups)"),
        },
    };
    if let Some(tree) = &tree {
        let controllers = match tree.controllers.as_str() {
            "" => "none: no pids.max or memory.max",
            some => some,
        };
        crate::log::info(format_args!(
            "requests contained in cgroups under {} (controllers: {controllers})",
            tree.base.display()
        ));
    }
    match settings.linger {
        Some(linger) => crate::log::info(format_args!(
            "what a request leaves running is killed {}s after it ends (--linger)",
            linger.as_secs_f64()
        )),
        None => crate::log::warn(format_args!(
            "--linger unlimited: what requests leave running is never killed"
        )),
    }
    let warden = warden::start(settings.linger, tree)?;
    let _ = WARDEN.set(warden);
    Ok(())
}

fn log_session(why: &str) {
    crate::log::info(format_args!(
        "requests contained by process group and session, as subreaper ({why})"
    ));
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

/// One request's processes, from its script's spawn to after its reaping.
pub struct Custody {
    pid: i32,
    request: String,
    slot: Option<cgroup::Slot>,
    released: bool,
}

impl Custody {
    /// Takes charge of the script `pid` just spawned under `admission`.
    pub fn new(pid: u32, admission: Admission, request: &[u8]) -> Custody {
        let pid = i32::try_from(pid).unwrap_or(i32::MAX);
        owned::own(pid, admission);
        let slot = WARDEN
            .get()
            .and_then(|w| w.cgroups.as_ref())
            .and_then(|tree| enter_cgroup(tree, pid));
        Custody {
            pid,
            request: String::from_utf8_lossy(request).into_owned(),
            slot,
            released: false,
        }
    }

    /// The script is reaped: what it left goes to the warden.
    pub fn end(mut self) {
        self.release();
    }

    fn release(&mut self) {
        self.released = true;
        owned::disown(self.pid);
        let Some(warden) = WARDEN.get() else {
            return;
        };
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
            None if warden.linger.is_some() && group_alive(self.pid) => {
                let leftover = Leftover::new(Members::Group(self.pid), request, warden.linger);
                warden.hand_over(leftover);
            }
            None => warden.poke(),
        }
    }
}

impl Drop for Custody {
    fn drop(&mut self) {
        if !self.released {
            self.release();
        }
    }
}

/// Moves the script into a request cgroup. Until the spawn starts it
/// there (CLONE_INTO_CGROUP), a script that forks at once may have a
/// child outside it: that child is an orphan of the session path.
fn enter_cgroup(tree: &cgroup::Tree, pid: i32) -> Option<cgroup::Slot> {
    let slot = tree
        .take()
        .map_err(|e| crate::log::warn(format_args!("cannot make a request cgroup: {e}")))
        .ok()?;
    match slot.enter(pid) {
        Ok(()) => Some(slot),
        Err(e) => {
            crate::log::warn(format_args!(
                "cannot move script {pid} into {}: {e}",
                slot.dir.display()
            ));
            tree.give_back(slot);
            None
        }
    }
}

/// Whether a process is left in the group (the script's pid).
fn group_alive(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None) != Err(Errno::ESRCH)
}
