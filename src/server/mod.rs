//! The process: what runs once. Bind the listener ([`listen`]), say where
//! rcgi serves, accept connections until SIGINT or SIGTERM ([`accept`],
//! [`signals`]), then stop cleanly ([`shutdown`]): no new requests, the
//! running ones finish within a grace period, the scripts still running
//! after it are stopped.

pub mod accept;
pub mod listen;
pub mod shutdown;
pub mod signals;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::dispatch::{self, Site};
use crate::drain::Drain;
use crate::forwarded;
use crate::front::http;
use crate::log;
use crate::route;

/// Scripts `--debug` lists at start, per script folder.
const MAX_LISTED: usize = 200;

/// Everything the server runs with, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// The host name `--bind` gave, resolved to `addr`.
    pub bind_name: Option<String>,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long running requests may go on after SIGINT or SIGTERM.
    pub shutdown_grace: Duration,
    pub http: http::Limits,
    /// Whose forwarded headers are heard.
    pub proxy: forwarded::Settings,
    pub site: dispatch::Settings,
    pub log: log::Settings,
}

/// What every connection thread shares.
pub struct Shared {
    pub http: http::Limits,
    pub proxy: forwarded::Settings,
    pub site: Site,
    pub drain: Drain,
    slots: accept::Slots,
}

pub fn run(config: Config) -> anyhow::Result<()> {
    log::init(&config.log)?;
    let listener = listen::bind(config.addr)?;
    let addr = listener.local_addr()?;
    let stop = signals::install().context("cannot install signal handlers")?;
    signals::on_hangup(log::reopen).context("cannot install the SIGHUP handler")?;
    announce(&config.site, addr, config.bind_name.as_deref());
    let shared = Arc::new(Shared {
        http: config.http,
        proxy: config.proxy,
        site: Site::new(config.site),
        drain: Drain::default(),
        slots: accept::Slots::new(config.max_connections),
    });
    accept::until_stopped(&listener, &stop, &shared);
    drop(listener);
    shutdown::drain(&shared.drain, config.shutdown_grace);
    Ok(())
}

/// The listening line with the first URL served, a line for each other
/// URL (script folders, the static site, the inspector), and with
/// `--debug` the scripts found.
fn announce(site: &dispatch::Settings, addr: SocketAddr, bind_name: Option<&str>) {
    let host = listen::url_host(addr);
    let mut urls: Vec<String> = site
        .mounts
        .iter()
        .map(|m| format!("http://{host}{}/ (root {})", m.prefix, m.root.display()))
        .collect();
    if let Some(files) = &site.static_files {
        let listed = if files.listings { ", listed" } else { "" };
        urls.push(format!(
            "http://{host}/ (static files from {}{listed})",
            files.root.display()
        ));
    }
    if site.debug {
        urls.push(format!("http://{host}/.rcgi/ (request inspector)"));
    }
    for (i, url) in urls.iter().enumerate() {
        let lead = if i == 0 {
            "listening on"
        } else {
            "also serves"
        };
        log::announce(format_args!("{lead} {url}"));
    }
    if let Some(name) = bind_name {
        log::info(format_args!("--bind {name}: bound to {}", addr.ip()));
    }
    if site.debug {
        list_scripts(site, &host);
    }
}

/// `--debug`: the URL of every script found.
fn list_scripts(site: &dispatch::Settings, host: &str) {
    for mount in &site.mounts {
        let scripts = route::list_scripts(mount, MAX_LISTED);
        if scripts.is_empty() {
            log::warn(format_args!("no scripts under {}", mount.root.display()));
        }
        for url in scripts {
            log::info(format_args!("script http://{host}{url}"));
        }
    }
}
