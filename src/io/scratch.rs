//! The buffers reads from a script go into: taken from a small shared
//! pool for one read and given back at once, so that memory follows the
//! reads in progress (a few, on a few cores), not the threads alive (one
//! per connection, most of them waiting for a script).

use std::os::fd::AsFd;
use std::sync::Mutex;

/// Largest read from a script's stdout or stderr.
pub const READ_SIZE: usize = 64 * 1024;
/// Buffers the pool keeps when they are given back; one taken while
/// none is kept is allocated, one given back past this is freed.
const KEPT: usize = 4;

static POOL: Mutex<Vec<Box<[u8]>>> = Mutex::new(Vec::new());

/// Reads what `fd` holds now into a buffer of the pool and gives it to
/// `f` (with an empty slice at end-of-file).
pub fn read_with<R>(fd: impl AsFd, f: impl FnOnce(&[u8]) -> R) -> nix::Result<R> {
    let mut buf = take();
    let result = nix::unistd::read(fd, &mut buf).map(|n| f(&buf[..n]));
    give_back(buf);
    result
}

fn take() -> Box<[u8]> {
    let kept = POOL.lock().ok().and_then(|mut pool| pool.pop());
    kept.unwrap_or_else(|| vec![0; READ_SIZE].into_boxed_slice())
}

fn give_back(buf: Box<[u8]>) {
    if let Ok(mut pool) = POOL.lock()
        && pool.len() < KEPT
    {
        pool.push(buf);
    }
}

/// Frees the buffers kept: rcgi is idle (its connection threads have
/// ended), and the next read allocates one again.
pub fn release() {
    if let Ok(mut pool) = POOL.lock() {
        *pool = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A read sees what was written, and its buffer goes back to the
    /// pool, which never keeps more than KEPT.
    #[test]
    fn reads_and_gives_back() {
        let (r, w) = nix::unistd::pipe().unwrap();
        std::fs::File::from(w).write_all(b"hello").unwrap();
        let got = read_with(&r, |data| data.to_vec()).unwrap();
        assert_eq!(got, b"hello");
        let bufs: Vec<_> = (0..KEPT + 2).map(|_| take()).collect();
        bufs.into_iter().for_each(give_back);
        assert!(POOL.lock().unwrap().len() <= KEPT);
        assert!(!POOL.lock().unwrap().is_empty());
    }
}
