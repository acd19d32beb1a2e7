//! The buffers reads from a script go into: taken from a small shared
//! pool for one read and given back at once, so that memory follows the
//! reads in progress (a few, on a few cores), not the threads alive (one
//! per connection, most of them waiting for a script).

use std::os::fd::AsFd;

use super::kept::Kept;

/// Largest read from a script's stdout or stderr.
pub const READ_SIZE: usize = 64 * 1024;
/// Buffers the pool keeps when they are given back; one taken while
/// none is kept is allocated, one given back past this is freed.
const KEPT: usize = 4;

static POOL: Kept<Box<[u8]>> = Kept::new(KEPT);

/// Reads what `fd` holds now into a buffer of the pool and gives it to
/// `f` (with an empty slice at end-of-file).
pub fn read_with<R>(fd: impl AsFd, f: impl FnOnce(&[u8]) -> R) -> nix::Result<R> {
    let mut buf = take();
    let result = nix::unistd::read(fd, &mut buf).map(|n| f(&buf[..n]));
    give_back(buf);
    result
}

fn take() -> Box<[u8]> {
    POOL.take().unwrap_or_else(|| vec![0; READ_SIZE].into())
}

fn give_back(buf: Box<[u8]>) {
    POOL.give_back(buf);
}

/// Frees the buffers kept: rcgi is idle (its connection threads have
/// ended), and the next read allocates one again.
pub fn release() {
    POOL.release();
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
        assert!(POOL.count() <= KEPT);
        assert!(POOL.count() > 0);
    }
}
