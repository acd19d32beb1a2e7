//! The process: what runs once. Open the listeners (the ones systemd
//! passed, [`activation`], or its own, [`listen`], [`unix_socket`]), say
//! where rcgi serves, tell systemd it is ready ([`notify`]), accept
//! connections until SIGINT or SIGTERM ([`accept`], [`signals`]), then
//! stop cleanly ([`shutdown`]): no new connections, the running
//! requests finish within a grace period, the scripts still running
//! after it (or at a second signal) are stopped.

pub mod accept;
pub mod activation;
pub mod listen;
pub mod notify;
pub mod shutdown;
pub mod signals;
pub mod unix_socket;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::dispatch::{self, Site};
use crate::front::http;
use crate::log;
use crate::route;
use listen::{Listener, Place};

/// Everything the server runs with, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen, unless systemd passes sockets.
    pub listen: Vec<listen::Address>,
    pub sockets: listen::Settings,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long running requests may go on after SIGINT or SIGTERM.
    pub shutdown_grace: Duration,
    pub http: http::Limits,
    pub site: dispatch::Settings,
}

/// What every connection thread shares.
pub struct Shared {
    pub http: http::Limits,
    pub site: Site,
    slots: accept::Slots,
}

pub fn run(config: Config) -> anyhow::Result<()> {
    let listeners = open_listeners(&config)?;
    announce(&config.site, &listeners);
    let stop = signals::install().context("cannot install signal handlers")?;
    let shared = Arc::new(Shared {
        http: config.http,
        site: Site::new(config.site).context("cannot set up the server")?,
        slots: accept::Slots::new(config.max_connections),
    });
    let systemd = notify::Notifier::from_env();
    crate::stats::STATS.start();
    systemd.send("READY=1");
    accept::until_stopped(&listeners, &stop, &shared);
    shared.site.drain.begin();
    systemd.send("STOPPING=1");
    accept::take_queued(&listeners, &shared);
    drop(listeners);
    shutdown::drain(&shared.site.drain, config.shutdown_grace, &stop);
    Ok(())
}

/// The sockets systemd passed, or else those of the configuration.
fn open_listeners(config: &Config) -> anyhow::Result<Vec<Listener>> {
    match activation::passed()? {
        Some(passed) => {
            log::info(format_args!(
                "serving the {} sockets systemd passed (LISTEN_FDS)",
                passed.count
            ));
            activation::take(&passed)
        }
        None => listen::bind_all(&config.listen, &config.sockets),
    }
}

/// A listening line per listener, and with `--debug` the scripts found.
fn announce(site: &dispatch::Settings, listeners: &[Listener]) {
    let places: Vec<Place> = listeners.iter().map(Listener::place).collect();
    for place in &places {
        let between = match place {
            Place::Tcp(_) => "",
            Place::Unix(_) | Place::Unknown => " for ",
        };
        eprintln!(
            "rcgi listening on {place}{between}{}/ (root {})",
            site.mount.prefix,
            site.mount.root.display()
        );
    }
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
    let base = match places.first() {
        Some(tcp @ Place::Tcp(_)) => tcp.to_string(),
        _ => String::new(),
    };
    for url in scripts {
        log::info(format_args!("script {base}{url}"));
    }
}
