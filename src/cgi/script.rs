//! A running script: waiting for its exit (a pidfd makes it pollable),
//! signalling its whole process group, and reaping it. The handle always
//! reaps: on drop, a script still running has its group killed. Its
//! group stays listed in [`running`] until it is reaped.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::running;
use crate::io::wait;

/// A running script.
pub struct Script {
    pid: i32,
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
    pub started: Instant,
}

impl Script {
    /// Takes charge of a started child whose pid is its process group,
    /// with its pidfd (readable once it exits) if the kernel gave one.
    pub fn new(pid: i32, pidfd: Option<OwnedFd>) -> Script {
        Script {
            pid,
            pidfd,
            status: None,
            started: Instant::now(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Readable when the script has exited, if the kernel offers it.
    pub fn exit_fd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|fd| fd.as_fd())
    }

    /// Sends `signal` to the script's whole process group, as long as the
    /// script is not reaped (until then its group id cannot be reused).
    pub fn signal(&self, signal: Signal) {
        if self.status.is_none() {
            let _ = killpg(Pid::from_raw(self.pid), signal);
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
            let pid = self.pid;
            self.status = running::reap_listed(pid, || wait(pid, WaitPidFlag::WNOHANG));
        }
        self.status
    }

    /// The processes left in the script's process group (its background
    /// children), from /proc.
    pub fn group_members(&self) -> Vec<u32> {
        let group = self.pid();
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
        running::remove(self.pid);
        // Only None if someone else reaped it: call it killed.
        let status = wait(self.pid, WaitPidFlag::empty())
            .unwrap_or(ExitStatus::from_raw(Signal::SIGKILL as i32));
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

/// Waits for `pid` (at once with WNOHANG): its status once it has
/// exited, None while it runs or if it is not ours to reap.
fn wait(pid: i32, flags: WaitPidFlag) -> Option<ExitStatus> {
    loop {
        return match waitpid(Pid::from_raw(pid), Some(flags)) {
            Ok(WaitStatus::Exited(_, code)) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
            Ok(WaitStatus::Signaled(_, signal, core)) => {
                let core = if core { 0x80 } else { 0 };
                Some(ExitStatus::from_raw(signal as i32 | core))
            }
            Err(Errno::EINTR) => continue,
            Ok(_) | Err(_) => None,
        };
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
