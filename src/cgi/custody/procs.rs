//! What /proc says of processes, and pidfds: the table of every
//! process (pid, parent, process group, session, state, start time), the
//! children of rcgi's main thread (where the kernel puts adopted
//! orphans), a process's command line for log lines, and a [`Handle`]
//! that signals exactly the process that was read, never a successor
//! that took its pid.

use std::collections::HashMap;
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sys::signal::Signal;

/// How much of a command line a log line shows.
const MAX_COMMAND: usize = 120;

/// One process, from /proc/PID/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub zombie: bool,
    /// When it started, in clock ticks after boot: with the pid, it
    /// names one process for good.
    pub start: u64,
}

/// Reads /proc/PID/stat. The command name (second field) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text.rsplit_once(") ")?.1.split(' ').collect();
    let number = |i: usize| fields.get(i)?.parse::<i64>().ok();
    Some(Stat {
        pid,
        zombie: fields.first().is_some_and(|s| *s == "Z" || *s == "X"),
        ppid: i32::try_from(number(1)?).ok()?,
        pgid: i32::try_from(number(2)?).ok()?,
        sid: i32::try_from(number(3)?).ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Every process now.
pub fn all() -> Vec<Stat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// rcgi's children that the kernel gave it as a subreaper: orphans are
/// reparented to the main thread (the first thread alive), whose
/// `children` file lists them. Without that file (a kernel without
/// CONFIG_PROC_CHILDREN), every process is read.
pub fn adopted() -> Vec<Stat> {
    let me = std::process::id();
    match fs::read_to_string(format!("/proc/{me}/task/{me}/children")) {
        Ok(list) => list
            .split_ascii_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter_map(stat)
            .collect(),
        Err(_) => {
            let me = i32::try_from(me).unwrap_or(i32::MAX);
            all().into_iter().filter(|s| s.ppid == me).collect()
        }
    }
}

/// Processes by parent, for walking down from a process.
pub fn by_parent(table: &[Stat]) -> HashMap<i32, Vec<Stat>> {
    let mut map: HashMap<i32, Vec<Stat>> = HashMap::new();
    for s in table {
        map.entry(s.ppid).or_default().push(*s);
    }
    map
}

/// `roots` and all their descendants in `table`, each once.
pub fn with_descendants(roots: Vec<Stat>, table: &[Stat]) -> Vec<Stat> {
    let children = by_parent(table);
    let mut found = roots;
    let mut i = 0;
    while let Some(s) = found.get(i).copied() {
        for child in children.get(&s.pid).into_iter().flatten() {
            if !found.iter().any(|f| f.pid == child.pid) {
                found.push(*child);
            }
        }
        i += 1;
    }
    found
}

/// The command line of `pid`, its arguments joined by spaces, at most
/// [`MAX_COMMAND`] bytes; its name (`comm`) when it has none.
pub fn command(pid: i32) -> String {
    let line = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut text: Vec<u8> = line
        .iter()
        .take(MAX_COMMAND)
        .map(|&b| if b == 0 { b' ' } else { b })
        .collect();
    while text.last() == Some(&b' ') {
        text.pop();
    }
    if text.is_empty() {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        return format!("[{}]", comm.trim_end());
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// A pidfd: a descriptor for one process, readable once it exits, that
/// signals only that process.
pub struct Handle {
    fd: OwnedFd,
    pub pid: i32,
}

impl Handle {
    /// Opens a pidfd for the process `seen` describes, if that process is
    /// still the one with its pid (same start time) after the opening.
    pub fn open(seen: &Stat) -> Option<Handle> {
        // SAFETY: pidfd_open(2) takes a pid and flags, touches no memory
        // of ours, and returns a new close-on-exec descriptor or -1.
        let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, seen.pid, 0) };
        let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        // SAFETY: the descriptor was just created for us; nothing else
        // owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let still = stat(seen.pid).is_some_and(|now| now.start == seen.start);
        still.then_some(Handle { fd, pid: seen.pid })
    }

    /// Sends `signal` to the process (not to a successor with its pid).
    pub fn signal(&self, signal: Signal) {
        let fd = self.fd.as_fd();
        // SAFETY: pidfd_send_signal(2) with a pidfd we own, a signal
        // number, a null siginfo (allowed: the kernel fills it in) and no
        // flags; it touches no memory of ours.
        unsafe {
            nix::libc::syscall(
                nix::libc::SYS_pidfd_send_signal,
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                signal as i32,
                std::ptr::null::<nix::libc::siginfo_t>(),
                0,
            );
        }
    }

    /// Readable once the process has exited.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_stat() {
        let me = i32::try_from(std::process::id()).unwrap();
        let s = stat(me).expect("own stat");
        assert_eq!(s.pid, me);
        assert!(!s.zombie);
        assert!(s.start > 0);
        assert_eq!(s.pgid, nix::unistd::getpgrp().as_raw());
    }

    #[test]
    fn descendants_are_found_below_roots_only() {
        let p = |pid, ppid| Stat {
            pid,
            ppid,
            pgid: pid,
            sid: pid,
            zombie: false,
            start: 1,
        };
        let table = [p(10, 1), p(11, 10), p(12, 11), p(20, 1), p(21, 20)];
        let found: Vec<i32> = with_descendants(vec![p(10, 1)], &table)
            .iter()
            .map(|s| s.pid)
            .collect();
        assert_eq!(found, [10, 11, 12]);
    }

    #[test]
    fn a_command_line_is_bounded() {
        let me = i32::try_from(std::process::id()).unwrap();
        let line = command(me);
        assert!(!line.is_empty() && line.len() <= MAX_COMMAND, "{line}");
    }
}
