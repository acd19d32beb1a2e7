//! Starting a script, and making sure it ends. A script is started with
//! std's `Command` (one `posix_spawn`, no `pre_exec`), with an empty
//! environment but the one given, in its own folder and its own process
//! group, with pipes for stdin (unless the body is a file), stdout and
//! stderr; every other descriptor rcgi holds is close-on-exec. The handle
//! can signal the whole group, and it always reaps the script: on drop, a
//! script still running has its group killed.
//!
//! Every running script's group is listed so that shutdown can stop them
//! all.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::env::Env;

/// Process groups of the scripts running now.
static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// What a script reads on stdin.
pub enum Input {
    /// Nothing: end-of-file at once.
    Empty,
    /// A pipe the exchange writes the body into.
    Pipe,
    /// A file holding the whole body (a decoded chunked upload).
    File(File),
}

/// A running script. The pipes are taken by the exchange.
pub struct Script {
    child: Child,
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
    pub started: Instant,
}

/// The script's ends of the exchange, non-blocking.
pub struct Pipes {
    pub stdin: Option<ChildStdin>,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// Starts `program` in `dir` with exactly `env`.
pub fn spawn(
    program: &Path,
    args: &[OsString],
    dir: &Path,
    env: &Env,
    input: &Input,
) -> io::Result<(Script, Pipes)> {
    let mut attempts = 0;
    let mut child = loop {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .process_group(0)
            .stdin(stdin(input)?)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match cmd.spawn() {
            // A script being written right now (by a deploy; in a test, by
            // a thread whose descriptor a concurrent fork holds for a
            // moment) is busy for a few milliseconds: try again.
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && attempts < 5 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other?,
        }
    };
    RUNNING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(child.id() as i32);
    let pipes = Pipes {
        stdin: child.stdin.take(),
        stdout: child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout pipe"))?,
        stderr: child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("no stderr pipe"))?,
    };
    let script = Script {
        pidfd: pidfd_open(child.id() as i32),
        child,
        status: None,
        started: Instant::now(),
    };
    if let Some(stdin) = &pipes.stdin {
        set_nonblocking(stdin)?;
    }
    set_nonblocking(&pipes.stdout)?;
    set_nonblocking(&pipes.stderr)?;
    Ok((script, pipes))
}

fn stdin(input: &Input) -> io::Result<Stdio> {
    Ok(match input {
        Input::Empty => Stdio::null(),
        Input::Pipe => Stdio::piped(),
        Input::File(f) => Stdio::from(f.try_clone()?),
    })
}

fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok(())
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
            let timeout =
                nix::poll::PollTimeout::try_from(left).unwrap_or(nix::poll::PollTimeout::MAX);
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
            let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
                let pid = self.child.id() as i32;
                running.retain(|&p| p != pid);
            }
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

    /// Stops the script: SIGTERM to its group, then after `grace`
    /// SIGKILL to whatever is left of it; then reaps it.
    pub fn stop(&mut self, grace: Duration) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.exited_by(Instant::now() + grace);
        self.signal(Signal::SIGKILL);
        self.reap()
    }

    /// Waits for the script to exit and collects its status.
    pub fn reap(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        unlist(self.child.id() as i32);
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

fn unlist(pid: i32) {
    let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = running.iter().position(|&p| p == pid) {
        running.swap_remove(i);
    }
}

/// Marks every descriptor rcgi inherited above 2 close-on-exec, so that
/// none reaches a script (everything rcgi opens itself already is). Call
/// at start, before other threads exist.
pub fn seal_inherited_fds() {
    let Ok(mut dir) = nix::dir::Dir::open(
        "/proc/self/fd",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) else {
        return;
    };
    let own = dir.as_fd().as_raw_fd();
    let fds: Vec<i32> = dir
        .iter()
        .flatten()
        .filter_map(|e| e.file_name().to_str().ok()?.parse().ok())
        .filter(|&fd| fd > 2 && fd != own)
        .collect();
    for fd in fds {
        // SAFETY: `fd` is open (just listed, and not the listing's own
        // descriptor), and no other thread exists yet to close it.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let _ = fcntl(fd, FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    }
}

/// Sends `signal` to the process group of every running script.
pub fn signal_all(signal: Signal) {
    let running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    for &pid in running.iter() {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

/// How many scripts are running.
pub fn running() -> usize {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner()).len()
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
