//! Starting a script: std's `Command` (one `posix_spawn`, no
//! `pre_exec`), with an empty environment but the one given, in its own
//! folder and its own process group, with pipes for stdin (unless the
//! body is a file), stdout and stderr; every other descriptor rcgi holds
//! is close-on-exec, those it inherited included
//! ([`seal_inherited_fds`]).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::env::Env;
use super::running;
use super::script::Script;
use crate::io::pipe::set_nonblocking;

/// What a script reads on stdin.
pub enum Input {
    /// Nothing: end-of-file at once.
    Empty,
    /// A pipe the exchange writes the body into.
    Pipe,
    /// A file holding the whole body (a spooled chunked upload).
    File(File),
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
    running::add(child.id() as i32);
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
    let script = Script::new(child);
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
