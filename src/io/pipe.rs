//! Pipes for moving bulk data with splice(2): made non-blocking and as
//! large as the system allows, and the one fcntl that makes an existing
//! descriptor non-blocking.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

/// Size asked for a bulk pipe (the relay's, a script's stdout or stdin
/// when a large body goes through it).
pub const BULK_PIPE: usize = 1 << 20;

/// Asks for a larger pipe buffer, so that a bulk transfer takes fewer
/// steps; a refusal (the per-user pipe memory limit) is harmless.
pub fn enlarge_pipe(fd: impl AsFd) {
    let _ = fcntl(fd, FcntlArg::F_SETPIPE_SZ(BULK_PIPE as i32));
}

/// A non-blocking pipe for splicing, as large as the system allows.
pub fn bulk_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    enlarge_pipe(&write);
    Ok((read, write))
}

pub fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok(())
}
