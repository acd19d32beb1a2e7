//! The buffer reads from a script go into: one per thread, made on first
//! use and kept, rather than one per request.

use std::cell::RefCell;
use std::os::fd::AsFd;

/// Largest read from a script's stdout or stderr.
pub const READ_SIZE: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads what `fd` holds now into the thread's buffer and gives it to
/// `f` (with an empty slice at end-of-file).
pub fn read_with<R>(fd: impl AsFd, f: impl FnOnce(&[u8]) -> R) -> nix::Result<R> {
    SCRATCH.with_borrow_mut(|buf| {
        if buf.is_empty() {
            buf.resize(READ_SIZE, 0);
        }
        let n = nix::unistd::read(fd, buf)?;
        Ok(f(&buf[..n]))
    })
}
