//! systemd socket activation (the `sd_listen_fds` protocol): when
//! `LISTEN_PID` is rcgi's pid, `LISTEN_FDS` says how many listening
//! sockets it was handed from descriptor 3 on, and `LISTEN_FDNAMES`
//! names them (`FileDescriptorName=`); rcgi serves those instead of
//! binding its own. A socket's name picks its front end
//! ([`Front::named`]).

use std::os::fd::{FromRawFd, OwnedFd};

use anyhow::{Context, bail};
use nix::sys::socket::{SockType, getsockopt, sockopt};

use super::listen::{Front, Listener};

/// The first descriptor systemd passes.
const FIRST_FD: i32 = 3;
/// The most sockets rcgi takes (a unit has a handful).
const MAX_SOCKETS: usize = 256;

/// What the environment says about activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    pub count: usize,
    pub names: Vec<String>,
}

/// Reads the activation variables: None when they are absent, pass no
/// socket, or are meant for another process (`LISTEN_PID` is not ours).
pub fn passed() -> anyhow::Result<Option<Passed>> {
    let (Some(pid), Some(fds)) = (var("LISTEN_PID"), var("LISTEN_FDS")) else {
        return Ok(None);
    };
    parse(
        &pid,
        &fds,
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )
}

fn var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn parse(pid: &str, fds: &str, names: Option<&str>, own: u32) -> anyhow::Result<Option<Passed>> {
    if pid.trim().parse::<u32>().ok() != Some(own) {
        return Ok(None);
    }
    let count: usize = fds
        .trim()
        .parse()
        .ok()
        .filter(|&n| n <= MAX_SOCKETS)
        .with_context(|| format!("LISTEN_FDS={fds:?}: not a count of at most {MAX_SOCKETS}"))?;
    let names: Vec<String> = match names {
        Some(list) => list.split(':').map(String::from).collect(),
        None => vec!["unknown".into(); count],
    };
    if count == 0 {
        return Ok(None);
    }
    if names.len() != count {
        bail!(
            "LISTEN_FDNAMES has {} names for {count} sockets",
            names.len()
        );
    }
    Ok(Some(Passed { count, names }))
}

/// Takes the sockets passed. Call once: it owns descriptors 3 and on.
pub fn take(passed: &Passed) -> anyhow::Result<Vec<Listener>> {
    let mut listeners = Vec::with_capacity(passed.count);
    for (i, name) in passed.names.iter().enumerate() {
        let fd = FIRST_FD + i as i32;
        let listener = adopt(fd, name)
            .with_context(|| format!("socket {fd} from systemd (named {name:?})"))?;
        listeners.push(listener);
    }
    Ok(listeners)
}

fn adopt(fd: i32, name: &str) -> anyhow::Result<Listener> {
    let front = Front::named(name).map_err(anyhow::Error::msg)?;
    if std::fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_err() {
        bail!("not open");
    }
    // SAFETY: the descriptor is open (listed in /proc/self/fd), systemd
    // passed it to this process (LISTEN_PID is ours), and `take` runs
    // once, so nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if getsockopt(&owned, sockopt::SockType).context("not a socket")? != SockType::Stream {
        bail!("not a stream socket");
    }
    if !getsockopt(&owned, sockopt::AcceptConn)? {
        bail!("not listening (a unit with Accept=yes passes connections; use Accept=no)");
    }
    Listener::adopt(owned, front)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_are_read_only_when_meant_for_us() {
        assert_eq!(parse("12", "2", None, 13).unwrap(), None);
        let p = parse("13", "2", Some("http:fastcgi"), 13).unwrap().unwrap();
        assert_eq!(p.count, 2);
        assert_eq!(p.names, ["http", "fastcgi"]);
        let unnamed = parse("13", "1", None, 13).unwrap().unwrap();
        assert_eq!(unnamed.names, ["unknown"]);
        assert!(parse("13", "x", None, 13).is_err());
        assert!(parse("13", "100000", None, 13).is_err());
        assert!(parse("13", "2", Some("a"), 13).is_err());
        assert_eq!(parse("13", "0", None, 13).unwrap(), None);
    }
}
