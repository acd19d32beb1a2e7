//! A running script: waiting for its exit (a pidfd makes it pollable),
//! signalling its whole process group, and reaping it. The handle always
//! reaps: on drop, a script still running has its group killed. Its
//! group stays listed in [`running`] until it is reaped.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::running;
use crate::io::wait;

/// A running script.
pub struct Script {
    child: Child,
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
    pub started: Instant,
}

/// A descriptor that becomes readable when the process exits, so that
/// waiting for it fits in a `poll` with a timeout. Linux 5.3 and later.
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags, touches no memory of
    // ours, and returns a new close-on-exec descriptor or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor was just created for us and nothing else
    // owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl Script {
    /// Takes charge of a started child whose pid is its process group.
    pub fn new(child: Child) -> Script {
        Script {
            pidfd: pidfd_open(child.id() as i32),
            child,
            status: None,
            started: Instant::now(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Readable when the script has exited, if the kernel offers it.
    pub fn exit_fd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|fd| fd.as_fd())
    }

    /// Sends `signal` to the script's whole process group, as long as the
    /// script is not reaped (until then its group id cannot be reused).
    pub fn signal(&self, signal: Signal) {
        if self.status.is_none() {
            let _ = killpg(Pid::from_raw(self.child.id() as i32), signal);
        }
    }

    /// Waits until the script has exited or `deadline` passes; true if it
    /// exited. It is not reaped yet, so its group can still be signalled.
    pub fn exited_by(&self, deadline: Instant) -> bool {
        if self.status.is_some() {
            return true;
        }
        let Some(fd) = &self.pidfd else {
            return false;
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = wait::timeout(left);
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => return false,
                Ok(_) => return true,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return false,
            }
        }
    }

    /// The signal that killed the script, if it has ended by `deadline`
    /// and that is how. A script that has ended is reaped here (it will
    /// not be signalled again: its group id could be reused).
    pub fn killed_by(&mut self, deadline: Instant) -> Option<Signal> {
        if !self.exited_by(deadline) {
            return None;
        }
        self.try_reap()?
            .signal()
            .and_then(|s| Signal::try_from(s).ok())
    }

    /// True once the script is reaped.
    pub fn ended(&self) -> bool {
        self.status.is_some()
    }

    /// Reaps the script if it has exited, without waiting. The list of
    /// running scripts stays locked meanwhile, so shutdown never signals
    /// a group whose id was freed.
    fn try_reap(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            let child = &mut self.child;
            let group = child.id() as i32;
            self.status = running::reap_listed(group, || child.try_wait().ok().flatten());
        }
        self.status
    }

    /// The processes left in the script's process group (its background
    /// children), from /proc.
    pub fn group_members(&self) -> Vec<u32> {
        let group = self.child.id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != group && process_group(pid) == Some(group))
            .collect()
    }

    /// Waits for the script to exit and collects its status.
    pub fn reap(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        running::remove(self.child.id() as i32);
        let status = loop {
            match self.child.wait() {
                Ok(status) => break status,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Only possible if someone else reaped it: call it killed.
                Err(_) => break ExitStatus::from_raw(Signal::SIGKILL as i32),
            }
        };
        self.status = Some(status);
        status
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.signal(Signal::SIGKILL);
            self.reap();
        }
    }
}

/// The process group of `pid`, from /proc/PID/stat (the fifth field; the
/// command name before it may hold spaces and parentheses).
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(") ")?.1;
    after_name.split(' ').nth(2)?.parse().ok()
}

/// "exit 0", "exit 3", "killed by SIGKILL".
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit {code}");
    }
    match status.signal().and_then(|s| Signal::try_from(s).ok()) {
        Some(sig) => format!("killed by {}", sig.as_str()),
        None => format!("ended ({status})"),
    }
}
