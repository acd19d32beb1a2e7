//! Who rcgi and its scripts run as (`--user`, `--group`). rcgi binds its
//! sockets and opens its files as whoever started it, then [`assume`]s
//! the identity for good: the user's groups (`initgroups`), its group,
//! its user id, real, effective and saved, checked to be unable to
//! regain root. Scripts inherit it, so the spawn path switches no user.
//!
//! Started by root without `--user`, rcgi runs as `nobody` and says so;
//! `--user root` keeps root, and says that too. Started by anyone else,
//! rcgi stays who it is (`--user` may only name that user). Whoever it
//! becomes must be able to reach the folders it serves, or rcgi stops at
//! start with one line saying what to add.

use std::ffi::CString;
use std::path::Path;

use anyhow::{Context, bail};
use nix::unistd::{self, Gid, Group, Uid, User};

use crate::log;

/// The user rcgi becomes when root starts it without `--user`.
pub const FALLBACK_USER: &str = "nobody";

/// `--user` and `--group`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub user: Option<String>,
    pub group: Option<String>,
}

/// Who rcgi is to become, looked up.
struct Target {
    user: User,
    gid: Gid,
    /// Chosen by rcgi, not by the operator.
    fallback: bool,
}

/// Becomes the configured user, then checks that it can reach every
/// folder in `folders`. Call after the listeners are bound and the
/// files rcgi needs are open; `hand_over(uid, gid)` runs just before the
/// drop, as root, to give the user what it will need (custody's cgroup
/// folder).
pub fn assume(
    settings: &Settings,
    folders: &[&Path],
    hand_over: impl FnOnce(u32, u32) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    if !Uid::effective().is_root() {
        return stay(settings);
    }
    let target = target(settings)?;
    hand_over(target.user.uid.as_raw(), target.gid.as_raw())
        .with_context(|| format!("cannot give {} what it needs", target.user.name))?;
    drop_to(&target)?;
    for folder in folders {
        check_reachable(&target, folder)?;
    }
    announce(&target);
    Ok(())
}

/// Not root: `--user` and `--group` may only name who rcgi is.
fn stay(settings: &Settings) -> anyhow::Result<()> {
    let uid = Uid::effective();
    if let Some(name) = &settings.user {
        let user = lookup_user(name)?;
        if user.uid != uid {
            bail!("--user {name}: only root can switch users (rcgi runs as uid {uid})");
        }
    }
    if let Some(name) = &settings.group {
        let group = lookup_group(name)?;
        if group.gid != Gid::effective() {
            bail!("--group {name}: only root can switch groups");
        }
    }
    Ok(())
}

fn lookup_user(name: &str) -> anyhow::Result<User> {
    User::from_name(name)
        .with_context(|| format!("--user {name}: cannot look the user up"))?
        .with_context(|| format!("--user {name}: no such user"))
}

fn lookup_group(name: &str) -> anyhow::Result<Group> {
    Group::from_name(name)
        .with_context(|| format!("--group {name}: cannot look the group up"))?
        .with_context(|| format!("--group {name}: no such group"))
}

fn target(settings: &Settings) -> anyhow::Result<Target> {
    let fallback = settings.user.is_none();
    let name = settings.user.as_deref().unwrap_or(FALLBACK_USER);
    let user = lookup_user(name).map_err(|e| {
        if fallback {
            anyhow::anyhow!(
                "started as root, rcgi runs as {FALLBACK_USER}, but there is no such user: add --user NAME (or --user root)"
            )
        } else {
            e
        }
    })?;
    let gid = match &settings.group {
        Some(group) => lookup_group(group)?.gid,
        None => user.gid,
    };
    Ok(Target {
        user,
        gid,
        fallback,
    })
}

/// The groups, the group, the user; then proof that root is gone.
fn drop_to(target: &Target) -> anyhow::Result<()> {
    let name = &target.user.name;
    let c_name = CString::new(name.as_str()).context("a user name with a NUL")?;
    unistd::initgroups(&c_name, target.gid)
        .with_context(|| format!("cannot take the groups of {name}"))?;
    unistd::setresgid(target.gid, target.gid, target.gid)
        .with_context(|| format!("cannot switch to group {}", target.gid))?;
    let uid = target.user.uid;
    unistd::setresuid(uid, uid, uid).with_context(|| format!("cannot switch to user {name}"))?;
    if uid.is_root() {
        return Ok(());
    }
    let ids = unistd::getresuid().context("cannot read the user ids back")?;
    let regained = unistd::setuid(Uid::from_raw(0)).is_ok();
    if regained
        || [ids.real, ids.effective, ids.saved]
            .iter()
            .any(|&id| id != uid)
    {
        bail!("switched to {name} but could still become root: refusing to serve");
    }
    Ok(())
}

/// The folder must be searchable and readable by who rcgi now is.
fn check_reachable(target: &Target, folder: &Path) -> anyhow::Result<()> {
    use nix::unistd::AccessFlags;
    if unistd::access(folder, AccessFlags::R_OK | AccessFlags::X_OK).is_ok() {
        return Ok(());
    }
    let name = &target.user.name;
    let folder = folder.display();
    if target.fallback {
        bail!(
            "started as root, rcgi runs as {name}, who cannot reach {folder}: add --user NAME (a user who can) or --user root"
        );
    }
    bail!(
        "--user {name} cannot reach {folder}: give {name} read and search rights on it, or choose another --user"
    )
}

fn announce(target: &Target) {
    let name = &target.user.name;
    let (uid, gid) = (target.user.uid, target.gid);
    if uid.is_root() {
        log::warn(format_args!(
            "running as root, and so do the scripts (--user root)"
        ));
    } else if target.fallback {
        log::warn(format_args!(
            "started as root without --user: rcgi and its scripts run as {name} (uid {uid}, gid {gid}); --user NAME chooses another user"
        ));
    } else {
        log::info(format_args!(
            "running as {name} (uid {uid}, gid {gid}), and so do the scripts"
        ));
    }
}
