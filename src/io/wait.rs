//! Waiting for a descriptor to be ready (or the first of two), with a
//! deadline: the one blocking wait of non-blocking descriptors.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Waits until `fd` is ready for `events` (or has an error or hang-up)
/// or `deadline` passes; a timeout is an error of kind `TimedOut`.
pub fn ready(fd: BorrowedFd<'_>, events: PollFlags, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let mut fds = [PollFd::new(fd, events)];
        match poll(&mut fds, timeout(left)) {
            Ok(0) | Err(Errno::EINTR) => {}
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until `first` or `second` is readable (or has an error or
/// hang-up) or `deadline` passes; true if `first` is, which wins when
/// both are. A timeout is an error of kind `TimedOut`.
pub fn readable_first(
    first: BorrowedFd<'_>,
    second: BorrowedFd<'_>,
    deadline: Instant,
) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let mut fds = [
            PollFd::new(first, PollFlags::POLLIN),
            PollFd::new(second, PollFlags::POLLIN),
        ];
        match poll(&mut fds, timeout(left)) {
            Ok(0) | Err(Errno::EINTR) => {}
            Ok(_) => return Ok(fds[0].any().unwrap_or(false)),
            Err(e) => return Err(e.into()),
        }
    }
}

/// A `poll` timeout for `left`, rounded up to the next millisecond so a
/// wait never ends just before its deadline.
pub fn timeout(left: Duration) -> PollTimeout {
    let rounded = left.saturating_add(Duration::from_nanos(999_999));
    PollTimeout::try_from(rounded).unwrap_or(PollTimeout::MAX)
}

/// `now + d`, or the farthest moment a year away if that cannot be
/// represented (every bound rcgi takes is at most a day).
pub fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d.min(FAR))
        .or_else(|| now.checked_add(Duration::from_secs(1)))
        .unwrap_or(now)
}

/// Farther than any deadline rcgi sets.
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
