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

/// Everything the server runs with, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
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
    announce(&config.site, addr);
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

/// The listening line, and with `--debug` the scripts found.
fn announce(site: &dispatch::Settings, addr: SocketAddr) {
    let host = listen::url_host(addr);
    log::announce(format_args!(
        "listening on http://{host}{}/ (root {})",
        site.mount.prefix,
        site.mount.root.display()
    ));
    if !site.debug {
        return;
    }
    let scripts = route::list_scripts(&site.mount, 200);
    if scripts.is_empty() {
        log::warn(format_args!(
            "no scripts under {}",
            site.mount.root.display()
        ));
    }
    for url in scripts {
        log::info(format_args!("script http://{host}{url}"));
    }
}
