//! The cgroup v2 path of containment: a folder of rcgi's own in the
//! cgroup2 hierarchy (`<rcgi's cgroup>/rcgi-<pid>`), rcgi itself moved
//! into its `server` leaf, and one leaf per request (`req-N`) that the
//! script joins before it runs (in the child, before exec). Whatever the script starts stays
//! in that leaf, whatever `setsid` or double fork it does; the leaf is
//! empty when `cgroup.events` says `populated 0`, and `cgroup.kill`
//! kills all of it at once. Empty leaves are kept for reuse (a bounded
//! pool), so a request costs one write to `cgroup.procs` and one read of
//! `cgroup.events`, no mkdir.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Empty request cgroups kept for reuse; more are removed.
const MAX_POOLED: usize = 256;
/// Request cgroups made at start, so that the first requests need no
/// mkdir between their spawn and their move.
const MADE_AT_START: usize = 8;

/// rcgi's folder in the cgroup2 hierarchy.
pub struct Tree {
    pub base: PathBuf,
    /// The cgroup rcgi was in at start, to go back to at the end.
    home: PathBuf,
    /// Controllers enabled for the requests' cgroups (none: kill only).
    pub controllers: String,
    free: Mutex<Vec<Slot>>,
    next: AtomicU64,
}

/// One request's cgroup. It holds no descriptor while pooled.
pub struct Slot {
    pub dir: PathBuf,
    /// Its `cgroup.events`, while the warden waits on it.
    events: Option<File>,
}

impl Slot {
    /// Readable with POLLPRI when `populated` changes (once
    /// [`Slot::watch`] has opened it).
    pub fn events_fd(&self) -> Option<BorrowedFd<'_>> {
        self.events.as_ref().map(|f| f.as_fd())
    }

    /// Opens `cgroup.events` to be polled.
    pub fn watch(&mut self) {
        self.events = File::open(self.dir.join("cgroup.events")).ok();
    }

    /// Whether a live process is in it.
    pub fn populated(&self) -> bool {
        let mut text = [0u8; 256];
        let read = match &self.events {
            Some(file) => file.read_at(&mut text, 0),
            None => {
                File::open(self.dir.join("cgroup.events")).and_then(|f| f.read_at(&mut text, 0))
            }
        };
        match read {
            Ok(n) => text[..n]
                .split(|&b| b == b'\n')
                .any(|l| l == b"populated 1"),
            // Unreadable: call it populated, so it is killed, not reused.
            Err(_) => true,
        }
    }

    /// Its processes (pids), at most `max`.
    pub fn members(&self, max: usize) -> Vec<i32> {
        let text = fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.parse().ok())
            .take(max)
            .collect()
    }

    /// SIGKILL to everything in it (`cgroup.kill`, Linux 5.14); false if
    /// the kernel has no `cgroup.kill`.
    pub fn kill(&self) -> bool {
        fs::write(self.dir.join("cgroup.kill"), b"1").is_ok()
    }

    /// Its folder, open for the spawn: the child joins it by way of this
    /// descriptor (`cgroup.procs` under it) before exec.
    pub fn open(&self) -> Option<OwnedFd> {
        File::open(&self.dir).ok().map(OwnedFd::from)
    }
}

/// Where the cgroup2 hierarchy is mounted (from /proc/self/mountinfo),
/// if its root is the hierarchy's root.
fn mount_point() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split(' ').next()? != "cgroup2" {
            return None;
        }
        let mut fields = left.split(' ');
        let root = fields.nth(3)?;
        let point = fields.next()?;
        (root == "/").then(|| PathBuf::from(point))
    })
}

/// rcgi's own cgroup, from the `0::` line of /proc/self/cgroup.
fn own_cgroup() -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

impl Tree {
    /// Makes rcgi's folder and moves rcgi into its `server` leaf; the
    /// reason it cannot, as an error. Unless `forced`, only where the
    /// cgroup is rcgi's to divide: the root of its hierarchy (a machine or
    /// a container without a manager), or one that systemd delegated.
    pub fn make(forced: bool) -> Result<Tree, String> {
        let mount = mount_point().ok_or("no cgroup2 file system is mounted")?;
        let own = own_cgroup().ok_or("/proc/self/cgroup has no cgroup2 line")?;
        let home = mount.join(own.trim_start_matches('/'));
        if !forced && own != "/" && !delegated(&home) {
            return Err(format!(
                "rcgi's cgroup {own} is not delegated to it (systemd: Delegate=yes; or --contain cgroup)"
            ));
        }
        remove_stale(&home);
        let base = home.join(format!("rcgi-{}", std::process::id()));
        let made = fs::create_dir(&base)
            .and_then(|()| fs::create_dir(base.join("server")))
            .and_then(|()| write_pid(&base.join("server"), std::process::id()));
        if let Err(e) = made {
            let _ = fs::remove_dir(base.join("server"));
            let _ = fs::remove_dir(&base);
            return Err(format!("cannot make {}: {e}", base.display()));
        }
        let controllers = fs::read_to_string(base.join("cgroup.subtree_control"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let tree = Tree {
            base,
            home,
            controllers,
            free: Mutex::new(Vec::new()),
            next: AtomicU64::new(0),
        };
        for _ in 0..MADE_AT_START {
            let slot = tree
                .make_slot()
                .map_err(|e| format!("cannot make a request cgroup: {e}"))?;
            tree.give_back(slot);
        }
        Ok(tree)
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An empty request cgroup: a pooled one, or a new one.
    pub fn take(&self) -> io::Result<Slot> {
        if let Some(slot) = self.pool().pop() {
            return Ok(slot);
        }
        self.make_slot()
    }

    fn make_slot(&self) -> io::Result<Slot> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let dir = self.base.join(format!("req-{n}"));
        fs::create_dir(&dir)?;
        Ok(Slot { dir, events: None })
    }

    /// Takes back an empty request cgroup.
    pub fn give_back(&self, mut slot: Slot) {
        slot.events = None;
        let mut pool = self.pool();
        if pool.len() < MAX_POOLED {
            pool.push(slot);
        } else {
            drop(pool);
            let _ = fs::remove_dir(&slot.dir);
        }
    }

    /// Gives the folder to `uid`:`gid`, so that rcgi can still move
    /// scripts and make and remove request cgroups after it drops root.
    /// Call before the drop.
    pub fn give_to(&self, uid: u32, gid: u32) -> io::Result<()> {
        let (uid, gid) = (Some(uid), Some(gid));
        let mut dirs = vec![self.base.clone(), self.base.join("server")];
        dirs.extend(self.pool().iter().map(|slot| slot.dir.clone()));
        for dir in dirs {
            std::os::unix::fs::chown(&dir, uid, gid)?;
            for file in ["cgroup.procs", "cgroup.kill", "cgroup.subtree_control"] {
                let path = dir.join(file);
                if path.exists() {
                    std::os::unix::fs::chown(path, uid, gid)?;
                }
            }
        }
        Ok(())
    }

    /// At exit: rcgi goes back where it was, and its folder is removed
    /// (what cannot be, because rcgi may no longer move itself, is removed
    /// by the next rcgi that starts there).
    pub fn remove(&self) {
        for slot in self.pool().drain(..) {
            let _ = fs::remove_dir(&slot.dir);
        }
        let _ = write_pid(&self.home, std::process::id());
        let _ = fs::remove_dir(self.base.join("server"));
        let _ = fs::remove_dir(&self.base);
    }
}

/// Whether systemd marked the cgroup as delegated (the `trusted.delegate`
/// or `user.delegate` attribute, systemd 251 and later).
fn delegated(dir: &Path) -> bool {
    let Ok(folder) = File::open(dir) else {
        return false;
    };
    let names: [&[u8]; 2] = [b"trusted.delegate\0", b"user.delegate\0"];
    names.iter().any(|name| {
        let mut value = [0u8; 8];
        // SAFETY: fgetxattr(2) on a descriptor we hold, with a
        // NUL-terminated name and a buffer of the length given; it writes
        // at most that many bytes and returns their count or -1.
        let n = unsafe {
            nix::libc::fgetxattr(
                std::os::fd::AsRawFd::as_raw_fd(&folder),
                name.as_ptr().cast(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        n > 0 && value[0] == b'1'
    })
}

fn write_pid(dir: &Path, pid: u32) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))?
        .write_all(pid.to_string().as_bytes())
}

/// Removes the empty folders an rcgi that died left under `home`.
fn remove_stale(home: &Path) {
    let Ok(entries) = fs::read_dir(home) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("rcgi-")) else {
            continue;
        };
        if pid
            .parse::<i32>()
            .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            continue;
        }
        let dir = entry.path();
        if let Ok(leaves) = fs::read_dir(&dir) {
            for leaf in leaves.flatten().filter(|l| l.path().is_dir()) {
                let _ = fs::remove_dir(leaf.path());
            }
        }
        let _ = fs::remove_dir(&dir);
    }
}
