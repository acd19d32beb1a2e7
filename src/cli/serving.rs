//! The options of where and how rcgi serves, built into their settings
//! types: the listeners (`--listen`, or `--bind` and `--port`; the Unix
//! sockets' mode and group; `--reuse-port`) and the status pages
//! (`--status`, `--status-allow`, and the limits they show).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;

use super::Args;
use super::values::Trusted;
use crate::peer_set::PeerSet;
use crate::server::{listen, unix_socket};
use crate::status_page;

/// Where to listen for HTTP (`--listen`, else the one `--bind`/`--port`
/// address, `bind`, unless `--fastcgi` is given) and how to make the
/// sockets.
pub fn listeners(
    args: &Args,
    bind: SocketAddr,
) -> anyhow::Result<(Vec<listen::Address>, listen::Settings)> {
    // With only --fastcgi, no HTTP listener.
    let addresses = if args.listen.is_empty() && args.fastcgi.is_empty() {
        vec![listen::Address::Tcp(bind)]
    } else {
        args.listen.clone()
    };
    let settings = listen::Settings {
        reuse_port: args.reuse_port,
        unix: unix_socket::Settings {
            mode: args.socket_mode,
            group: args.socket_group.as_deref().map(find_group).transpose()?,
        },
    };
    Ok((addresses, settings))
}

/// `--socket-group`: a group name, or a numeric gid.
fn find_group(name: &str) -> anyhow::Result<nix::unistd::Gid> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(nix::unistd::Gid::from_raw(gid));
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(group)) => Ok(group.gid),
        Ok(None) => bail!("--socket-group {name}: no such group"),
        Err(e) => bail!("--socket-group {name}: {e}"),
    }
}

/// `--status` and `--status-allow`, with the limits the pages show; the
/// path is checked against every script folder's prefix.
pub fn status(args: &Args, prefixes: &[String]) -> anyhow::Result<Option<status_page::Settings>> {
    let Some(path) = &args.status else {
        return Ok(None);
    };
    let path = status_page::check_path(path, prefixes).map_err(anyhow::Error::msg)?;
    let allow = if args.status_allow.is_empty() {
        PeerSet::local()
    } else {
        let mut nets = Vec::new();
        let mut unix = false;
        for entry in &args.status_allow {
            match entry {
                Trusted::Net(net) => nets.push(*net),
                Trusted::Unix => unix = true,
            }
        }
        PeerSet::new(nets, unix)
    };
    Ok(Some(status_page::Settings {
        path,
        allow,
        limits: limits_in_force(args),
    }))
}

/// The bounds in force, as the status pages show them.
fn limits_in_force(a: &Args) -> Vec<(String, String)> {
    let time = |d: Duration| format!("{}s", d.as_secs_f64());
    [
        ("--max-connections", a.max_connections.to_string()),
        ("--max-scripts", a.max_scripts.to_string()),
        ("--timeout", time(a.timeout)),
        ("--header-timeout", time(a.header_timeout)),
        ("--idle-timeout", time(a.idle_timeout)),
        ("--body-timeout", time(a.body_timeout)),
        ("--body-min-rate", format!("{} bytes/s", a.body_min_rate)),
        ("--shutdown-grace", time(a.shutdown_grace)),
        ("--max-body", format!("{} bytes", a.max_body)),
        ("--max-head", format!("{} bytes", a.max_head)),
        ("--max-fields", a.max_fields.to_string()),
        ("--max-target", format!("{} bytes", a.max_target)),
        ("--max-script-head", format!("{} bytes", a.max_script_head)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
