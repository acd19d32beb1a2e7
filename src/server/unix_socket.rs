//! Unix sockets rcgi makes itself (`--listen unix:/path`): a stale
//! socket file left by a process that died is replaced, a live one (a
//! server answers there) is an error; the socket is made with no access
//! for others, then given `--socket-mode` and `--socket-group`; its file
//! is removed when rcgi closes it, if it is still the same file.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, chown};

use crate::log;

/// The mode of a new socket file, unless `--socket-mode` says another.
pub const DEFAULT_MODE: u32 = 0o660;
/// The mask while the socket is made: no one but rcgi's user can connect
/// before its mode and group are set.
const PRIVATE: Mode = Mode::from_bits_truncate(0o177);

/// How rcgi makes a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Permission bits of the socket file (`--socket-mode`).
    pub mode: u32,
    /// Its group (`--socket-group`), if not rcgi's own.
    pub group: Option<Gid>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: DEFAULT_MODE,
            group: None,
        }
    }
}

/// A socket file rcgi made: removed on drop if it is still the one
/// (another process may have replaced it meanwhile).
pub struct OwnedPath {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl Drop for OwnedPath {
    fn drop(&mut self) {
        let same = fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.device && m.ino() == self.inode);
        if same {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A Unix socket bound at `path`, its file made; the caller listens.
pub fn bind_at(path: &Path, settings: &Settings) -> anyhow::Result<(OwnedFd, OwnedPath)> {
    clear_stale(path)?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path).context("the path is too long for a Unix socket")?;
    // Only the main thread runs at start, so the mask changes nothing else.
    let old_mask = umask(PRIVATE);
    let bound = bind(fd.as_raw_fd(), &addr);
    umask(old_mask);
    bound?;
    let meta = fs::symlink_metadata(path)?;
    let owned = OwnedPath {
        path: path.to_path_buf(),
        device: meta.dev(),
        inode: meta.ino(),
    };
    if let Some(group) = settings.group {
        chown(path, None, Some(group)).context("cannot set the socket's group")?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(settings.mode))
        .context("cannot set the socket's mode")?;
    Ok((fd, owned))
}

/// Removes a socket file nothing listens on; refuses a live one, and any
/// file that is not a socket.
fn clear_stale(path: &Path) -> anyhow::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !meta.file_type().is_socket() {
        bail!("{} exists and is not a socket", path.display());
    }
    match UnixStream::connect(path) {
        Ok(_) => bail!("another server is listening there"),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            fs::remove_file(path).context("cannot remove the stale socket")?;
            log::info(format_args!(
                "replaced the stale socket {} (nothing listened on it)",
                path.display()
            ));
            Ok(())
        }
        Err(e) => Err(e).context("cannot tell whether the socket there is in use"),
    }
}
