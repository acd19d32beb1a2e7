//! SIGINT and SIGTERM, turned into a descriptor the accept loop can
//! `poll`: the handler only writes one byte to a pipe (all a signal
//! handler may safely do). Signals are not blocked anywhere, because
//! scripts inherit rcgi's signal mask; caught signals are reset to their
//! defaults in a script by `exec`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::poll::PollFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The pipe's write end, for the handler.
static WAKE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: nix::libc::c_int) {
    let fd = WAKE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the buffer is a static
        // byte and the descriptor stays open for the life of the process
        // (the `Stop` holding it is never dropped before exit).
        unsafe {
            nix::libc::write(fd, b"x".as_ptr().cast(), 1);
        }
    }
}

/// Readable once SIGINT or SIGTERM has arrived: one mark per signal.
pub struct Stop {
    read: OwnedFd,
    _write: OwnedFd,
}

impl Stop {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Takes the mark of one signal that arrived; true if there was one.
    pub fn take(&self) -> bool {
        let mut mark = [0u8; 1];
        matches!(nix::unistd::read(&self.read, &mut mark), Ok(1))
    }

    /// Waits up to `timeout` for a signal, and takes its mark; true if
    /// one came.
    pub fn wait(&self, timeout: Duration) -> bool {
        let _ = crate::io::wait::ready(
            self.fd(),
            PollFlags::POLLIN,
            crate::io::wait::after(timeout),
        );
        self.take()
    }
}

/// Installs the handlers. Call once.
pub fn install() -> io::Result<Stop> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    WAKE.store(write.as_raw_fd(), Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler does only async-signal-safe work (an atomic
        // load and a write(2)).
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(Stop {
        read,
        _write: write,
    })
}
