//! SIGINT and SIGTERM, turned into a descriptor the accept loop can
//! `poll`, and SIGHUP, turned into a call on a thread of its own
//! ([`on_hangup`]): each handler only writes one byte to a pipe (all a
//! signal handler may safely do). Signals are not blocked anywhere,
//! because scripts inherit rcgi's signal mask; caught signals are reset
//! to their defaults in a script by `exec`.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
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

/// The write end of the SIGHUP pipe, for its handler.
static HANGUP: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sighup(_: nix::libc::c_int) {
    let fd = HANGUP.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: as in `on_signal`: write(2) of a static byte to a
        // descriptor that stays open for the life of the process.
        unsafe {
            nix::libc::write(fd, b"h".as_ptr().cast(), 1);
        }
    }
}

/// Calls `f` on a thread of its own each time SIGHUP arrives (several
/// signals close together may make one call). Call once.
pub fn on_hangup(f: impl Fn() + Send + 'static) -> io::Result<()> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // The write end lives as long as the process: the handler may use it
    // at any time.
    HANGUP.store(
        std::mem::ManuallyDrop::new(write).as_raw_fd(),
        Ordering::Relaxed,
    );
    let mut read = File::from(read);
    thread::Builder::new()
        .name("sighup".into())
        .spawn(move || {
            let mut bytes = [0u8; 64];
            loop {
                match read.read(&mut bytes) {
                    Ok(0) => return,
                    Ok(_) => f(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // Not seen on a pipe whose write end stays open.
                    Err(_) => return,
                }
            }
        })?;
    let action = SigAction::new(
        SigHandler::Handler(on_sighup),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler does only async-signal-safe work (an atomic
    // load and a write(2)).
    unsafe { sigaction(Signal::SIGHUP, &action) }?;
    Ok(())
}
