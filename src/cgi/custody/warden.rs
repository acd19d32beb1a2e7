//! The warden: one thread that owns what requests left behind. A
//! request that ends with processes still running hands them over as a
//! [`Leftover`] (its process group, or its cgroup) with a deadline, its
//! end plus the linger; the warden also adopts the orphans the kernel
//! reparents to rcgi that no running request can claim, each with the
//! linger from when it is first seen. When a deadline passes, what is
//! left is killed (SIGKILL; one warn line per process, bounded) and
//! watched until gone. Every round also reaps the exited adoptees, so no
//! zombie stays. Requests never wait for any of it.
//!
//! The thread sleeps in `poll` on a wake pipe, the pidfds of what it
//! killed and the `cgroup.events` of cgroups it waits on, and looks
//! again every [`BUSY_ROUND`] while it holds anything, every
//! [`IDLE_ROUND`] otherwise.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;

use super::cgroup::Tree;
use super::leftover::{Leftover, Members, belongs, commands, gone, in_request_cgroup, log_kills};
use super::owned;
use super::procs::{self, Handle, Stat};
use crate::io::wait;

/// How often the warden looks while it holds leftovers.
const BUSY_ROUND: Duration = Duration::from_millis(50);
/// How often it looks for orphans to reap when it holds nothing.
const IDLE_ROUND: Duration = Duration::from_secs(1);
/// The least time between two rounds, however many requests end.
const MIN_ROUND: Duration = Duration::from_millis(10);
/// Descriptors one `poll` of the warden watches at most.
const MAX_WATCHED: usize = 1024;

/// What request threads share with the warden.
pub struct Warden {
    pub linger: Option<Duration>,
    pub cgroups: Option<Tree>,
    wake: OwnedFd,
    poked: AtomicBool,
    inbox: Mutex<Inbox>,
    quiet: Condvar,
}

#[derive(Default)]
struct Inbox {
    leftovers: Vec<Leftover>,
    stopping: bool,
    /// Stopping, and nothing is left.
    stopped: bool,
}

impl Warden {
    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for a round soon (a leftover came, or rcgi stops).
    fn poke(&self) {
        if !self.poked.swap(true, Ordering::AcqRel) {
            let _ = nix::unistd::write(&self.wake, b"w");
        }
    }

    /// Hands a leftover over.
    pub fn hand_over(&self, leftover: Leftover) {
        self.inbox().leftovers.push(leftover);
        self.poke();
    }

    /// Kills everything left now and waits, up to `limit`, until all of it
    /// is gone and reaped.
    pub fn stop(&self, limit: Duration) -> bool {
        self.inbox().stopping = true;
        self.poke();
        let deadline = wait::after(limit);
        let mut inbox = self.inbox();
        while !inbox.stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inbox = match self.quiet.wait_timeout(inbox, left) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }
}

/// Makes the warden and starts its thread.
pub fn start(linger: Option<Duration>, cgroups: Option<Tree>) -> std::io::Result<&'static Warden> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    let warden: &'static Warden = Box::leak(Box::new(Warden {
        linger,
        cgroups,
        wake: write,
        poked: AtomicBool::new(false),
        inbox: Mutex::new(Inbox::default()),
        quiet: Condvar::new(),
    }));
    std::thread::Builder::new()
        .name("warden".into())
        .spawn(move || Watch::new(warden, read).run())?;
    Ok(warden)
}

/// The warden thread's own state.
struct Watch {
    warden: &'static Warden,
    wake: OwnedFd,
    held: Vec<Leftover>,
    /// Killed processes, until they exit.
    dying: Vec<Handle>,
    stopping: bool,
    last_round: Instant,
}

impl Watch {
    fn new(warden: &'static Warden, wake: OwnedFd) -> Watch {
        Watch {
            warden,
            wake,
            held: Vec::new(),
            dying: Vec::new(),
            stopping: false,
            last_round: Instant::now(),
        }
    }

    fn run(mut self) {
        loop {
            self.sleep();
            self.warden.poked.store(false, Ordering::Release);
            let mut drained = [0u8; 64];
            while matches!(nix::unistd::read(&self.wake, &mut drained), Ok(n) if n > 0) {}
            {
                let mut inbox = self.warden.inbox();
                self.held.append(&mut inbox.leftovers);
                self.stopping = inbox.stopping;
            }
            self.last_round = Instant::now();
            let adopted = self.round();
            if self.stopping && self.held.is_empty() && self.dying.is_empty() && adopted == 0 {
                self.warden.inbox().stopped = true;
                self.warden.quiet.notify_all();
            }
        }
    }

    /// Waits for a reason to look again: a poke, a watched process or
    /// cgroup changing, the next deadline, or the round's interval.
    fn sleep(&mut self) {
        let since = self.last_round.elapsed();
        if since < MIN_ROUND {
            std::thread::sleep(MIN_ROUND - since);
        }
        let busy = !self.held.is_empty() || !self.dying.is_empty();
        let mut until = wait::after(if busy { BUSY_ROUND } else { IDLE_ROUND });
        for deadline in self
            .held
            .iter()
            .filter(|l| !l.killed)
            .filter_map(|l| l.deadline)
        {
            until = until.min(deadline);
        }
        let mut fds = vec![PollFd::new(self.wake.as_fd(), PollFlags::POLLIN)];
        for held in &self.held {
            if let Some(fd) = match &held.members {
                Members::Cgroup(slot) => slot.events_fd(),
                _ => None,
            } {
                fds.push(PollFd::new(fd, PollFlags::POLLPRI));
            }
        }
        fds.extend(
            self.dying
                .iter()
                .map(|h| PollFd::new(h.fd(), PollFlags::POLLIN)),
        );
        fds.truncate(MAX_WATCHED);
        let left = until.saturating_duration_since(Instant::now());
        match poll(&mut fds, wait::timeout(left)) {
            Ok(_) | Err(Errno::EINTR) => {}
            // Not seen with valid descriptors; do not spin.
            Err(_) => std::thread::sleep(BUSY_ROUND),
        }
    }

    /// One look at everything: reap, adopt orphans, settle leftovers.
    /// Returns how many adoptees are still there.
    fn round(&mut self) -> usize {
        let adopted = procs::adopted();
        if adopted.iter().any(|c| c.zombie) {
            owned::exclusive().reap(&adopted);
        }
        let alive: Vec<Stat> = adopted.into_iter().filter(|c| !c.zombie).collect();
        if self.warden.linger.is_some() {
            self.adopt(&alive);
        }
        let mut held = std::mem::take(&mut self.held);
        let mut table = None;
        held.retain_mut(|leftover| !self.settle(leftover, &mut table));
        self.held = held;
        self.dying.retain(|h| !exited(h));
        alive.len()
    }

    /// Takes charge of the orphans no request and no leftover claims.
    fn adopt(&mut self, alive: &[Stat]) {
        let owned = owned::snapshot();
        let new: Vec<Stat> = alive
            .iter()
            .filter(|o| {
                let engine = owned
                    .iter()
                    .any(|&p| p == o.pid || p == o.pgid || p == o.sid);
                !engine && !self.claims(o)
            })
            .copied()
            .collect();
        if new.is_empty() {
            return;
        }
        let mut leftover = Leftover::new(
            Members::Orphans(new),
            "orphans rcgi adopted".into(),
            self.warden.linger,
        );
        if self.stopping {
            leftover.deadline = Some(Instant::now());
        }
        self.held.push(leftover);
    }

    /// Whether a leftover held already covers `s`, or a request cgroup
    /// holds it (its request's custody will see to it).
    fn claims(&self, s: &Stat) -> bool {
        let held = self.held.iter().any(|l| match &l.members {
            Members::Group(key) => s.pgid == *key,
            Members::Orphans(orphans) => orphans
                .iter()
                .any(|o| s.pid == o.pid || s.pgid == o.pid || s.sid == o.pid),
            Members::Cgroup(_) => false,
        });
        held || (self.warden.cgroups.is_some() && in_request_cgroup(s.pid))
    }

    /// Ends a leftover whose processes are gone, kills one whose time
    /// has come; true when it is done with.
    fn settle(&mut self, leftover: &mut Leftover, table: &mut Option<Vec<Stat>>) -> bool {
        if gone(&leftover.members) {
            if let Members::Cgroup(slot) =
                std::mem::replace(&mut leftover.members, Members::Group(0))
            {
                if let Some(tree) = &self.warden.cgroups {
                    tree.give_back(slot);
                }
            }
            return true;
        }
        let due = leftover.deadline.is_some_and(|d| Instant::now() >= d);
        if !(due || (self.stopping && self.warden.linger.is_some())) {
            return false;
        }
        let killed = self.kill(leftover, table);
        leftover.killed = true;
        killed == 0 && !matches!(leftover.members, Members::Cgroup(_))
    }

    /// Kills what is left of `leftover`; how many processes. The first
    /// time, each is logged (before the kill, while its command line can
    /// still be read).
    fn kill(&mut self, leftover: &Leftover, table: &mut Option<Vec<Stat>>) -> usize {
        let first = !leftover.killed;
        match &leftover.members {
            Members::Cgroup(slot) => {
                let pids = slot.members(usize::MAX);
                let commands = if first { commands(&pids) } else { Vec::new() };
                if !slot.kill() {
                    self.kill_each(pids.iter().filter_map(|&p| procs::stat(p)).collect());
                }
                log_kills(leftover, &commands, pids.len());
                pids.len()
            }
            members => {
                // One reading of every process serves a round's kills.
                let table = table.get_or_insert_with(procs::all);
                // No script starts while its victims are chosen and killed.
                let exclusive = owned::exclusive();
                let roots: Vec<Stat> = table
                    .iter()
                    .filter(|s| belongs(members, s) && !exclusive.engine_has(s))
                    .copied()
                    .collect();
                let victims: Vec<Stat> = procs::with_descendants(roots, table)
                    .into_iter()
                    .filter(|s| !s.zombie && !exclusive.engine_has(s))
                    .collect();
                let pids: Vec<i32> = victims.iter().map(|s| s.pid).collect();
                let commands = if first { commands(&pids) } else { Vec::new() };
                self.kill_each(victims);
                // Logged after the lock is let go: a slow log holds no spawn.
                drop(exclusive);
                log_kills(leftover, &commands, pids.len());
                pids.len()
            }
        }
    }

    /// SIGKILL to each process, by pidfd; watched until they exit.
    fn kill_each(&mut self, victims: Vec<Stat>) {
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        for victim in victims.iter().filter(|v| !v.zombie && v.pid != me) {
            if let Some(handle) = Handle::open(victim) {
                handle.signal(Signal::SIGKILL);
                if self.dying.len() < MAX_WATCHED {
                    self.dying.push(handle);
                }
            }
        }
    }
}

fn exited(handle: &Handle) -> bool {
    let mut fds = [PollFd::new(handle.fd(), PollFlags::POLLIN)];
    poll(&mut fds, nix::poll::PollTimeout::ZERO).is_ok_and(|n| n > 0)
}
