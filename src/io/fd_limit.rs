//! rcgi's own descriptor limit: at start its soft `RLIMIT_NOFILE` is
//! raised to the hard limit (idle connections hold a descriptor each and
//! no thread, so thousands of them are cheap), while scripts get back
//! the soft limit rcgi started with (a script that `select`s on a
//! descriptor above 1023 would break). And the reserve: one descriptor
//! held open so that, when the process runs out of them, the accept
//! loop can still take a connection and tell its client 503.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Where the kernel caps `RLIMIT_NOFILE` when the hard limit is
/// unlimited.
const NR_OPEN: &str = "/proc/sys/fs/nr_open";

/// The limit rcgi started with, (soft, hard), once it was raised.
static STARTED_WITH: OnceLock<(u64, u64)> = OnceLock::new();

/// How the limit was raised: from, to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub from: u64,
    pub to: u64,
}

/// Raises the soft limit to the hard one, once, at start. None when it
/// already was there.
pub fn raise() -> io::Result<Option<Raised>> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let to = if hard == nix::libc::RLIM_INFINITY {
        nr_open().unwrap_or(soft)
    } else {
        hard
    };
    if to <= soft {
        return Ok(None);
    }
    setrlimit(Resource::RLIMIT_NOFILE, to, hard)?;
    let _ = STARTED_WITH.set((soft, hard));
    Ok(Some(Raised { from: soft, to }))
}

/// The limit a script gets when no `--limit-files` says otherwise:
/// the one rcgi started with, if rcgi raised its own (else a script
/// keeps rcgi's, which is that one).
pub fn for_scripts() -> Option<(u64, u64)> {
    STARTED_WITH.get().copied()
}

fn nr_open() -> Option<u64> {
    std::fs::read_to_string(NR_OPEN).ok()?.trim().parse().ok()
}

/// One descriptor kept for the moment there are none left.
pub struct Reserve(Option<OwnedFd>);

impl Reserve {
    pub fn new() -> Reserve {
        Reserve(open_one())
    }

    /// Runs `f` with the reserve descriptor closed (so `f` can open
    /// one), then takes it again.
    pub fn spend<T>(&mut self, f: impl FnOnce() -> T) -> T {
        self.0 = None;
        let out = f();
        self.0 = open_one();
        out
    }
}

impl Default for Reserve {
    fn default() -> Self {
        Reserve::new()
    }
}

/// `/dev/null`, close-on-exec (std opens files so).
fn open_one() -> Option<OwnedFd> {
    File::open("/dev/null").ok().map(OwnedFd::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_frees_a_descriptor_while_spent() {
        let mut reserve = Reserve::new();
        assert!(reserve.0.is_some());
        let inside = reserve.spend(|| File::open("/dev/null").is_ok());
        assert!(inside && reserve.0.is_some());
    }
}
