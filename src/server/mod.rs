//! The process: what runs once. Open the listeners (the ones systemd
//! passed, [`activation`], or its own, [`listen`], [`unix_socket`]),
//! become the user scripts run as ([`identity`]), say
//! where rcgi serves, tell systemd it is ready ([`notify`]), accept
//! connections until SIGINT or SIGTERM ([`accept`], each with its
//! [`seat`], [`signals`]), serving them on threads that are reused
//! ([`workers`]), keeping those that wait for a request in one
//! poll set ([`idle`]), then
//! stop cleanly ([`shutdown`]): no new connections, the running
//! requests finish within a grace period, the scripts still running
//! after it (or at a second signal) are stopped.

pub mod accept;
pub mod activation;
pub mod identity;
pub mod idle;
pub mod listen;
pub mod malloc;
pub mod notify;
pub mod seat;
pub mod shutdown;
pub mod signals;
pub mod unix_socket;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::cgi::custody;
use crate::dispatch::{self, Site};
use crate::forwarded;
use crate::front::{fastcgi, http};
use crate::io::fd_limit;
use crate::log;
use crate::route;
use listen::{Front, Listener, Place};

/// Scripts `--debug` lists at start, per script folder.
const MAX_LISTED: usize = 200;

/// Everything the server runs with, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen for HTTP, unless systemd passes sockets.
    pub listen: Vec<listen::Address>,
    /// Where to listen for FastCGI (`--fastcgi`), unless systemd passes
    /// sockets.
    pub fastcgi: Vec<listen::Address>,
    pub sockets: listen::Settings,
    /// The host name `--bind` gave, resolved to the one TCP address.
    pub bind_name: Option<String>,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long running requests may go on after SIGINT or SIGTERM.
    pub shutdown_grace: Duration,
    /// What a request may leave running, and how it is held.
    pub custody: custody::Settings,
    pub http: http::Limits,
    /// Whose forwarded headers are heard.
    pub proxy: forwarded::Settings,
    pub site: dispatch::Settings,
    pub log: log::Settings,
    /// Who rcgi and its scripts run as.
    pub identity: identity::Settings,
}

/// What every connection thread shares.
pub struct Shared {
    pub http: http::Limits,
    pub fastcgi: fastcgi::Limits,
    pub proxy: forwarded::Settings,
    pub site: Site,
    slots: Arc<seat::Slots>,
    /// Where HTTP connections wait for a request.
    idle: idle::PollSet,
}

pub fn run(config: Config) -> anyhow::Result<()> {
    log::init(&config.log)?;
    raise_fd_limit();
    let listeners = open_listeners(&config)?;
    let held = custody::start(&config.custody).context("cannot set up custody of scripts")?;
    let stop = signals::install().context("cannot install signal handlers")?;
    signals::on_hangup(log::reopen).context("cannot install the SIGHUP handler")?;
    // Here, with the sockets bound and the files open, comes what must
    // be done as whoever started rcgi (a cgroup folder for the requests,
    // owned by the user to come) before it drops to that user for good.
    identity::assume(
        &config.identity,
        &served_folders(&config.site),
        custody::give_to,
    )?;
    let shared = Arc::new(Shared {
        fastcgi: fastcgi::Limits {
            params_timeout: config.http.header_timeout,
            idle_timeout: config.http.idle_timeout,
            body: config.http.body,
            max_connections: config.max_connections,
        },
        http: config.http,
        proxy: config.proxy,
        site: Site::new(config.site).context("cannot set up the server")?,
        slots: seat::Slots::new(config.max_connections),
        idle: idle::PollSet::new().context("cannot make the poll set")?,
    });
    idle::start(&shared).context("cannot start the poll set's thread")?;
    let mut reserve = fd_limit::Reserve::new();
    // The poll set's thread runs by the time rcgi says it listens.
    announce(
        &shared.site.settings,
        &listeners,
        config.bind_name.as_deref(),
    );
    log::info(format_args!("{held}"));
    let systemd = notify::Notifier::from_env();
    crate::stats::STATS.start();
    systemd.send("READY=1");
    accept::until_stopped(&listeners, &stop, &shared, &mut reserve);
    shared.site.drain.begin();
    systemd.send("STOPPING=1");
    accept::take_queued(&listeners, &shared, &mut reserve);
    drop(listeners);
    shutdown::drain(&shared.site.drain, config.shutdown_grace, &stop);
    custody::stop();
    Ok(())
}

/// Raises rcgi's descriptor limit (idle connections hold one each);
/// scripts get the one it started with back.
fn raise_fd_limit() {
    match fd_limit::raise() {
        Ok(Some(raised)) => log::info(format_args!(
            "open-files limit (RLIMIT_NOFILE) raised from {} to {}; scripts keep {}",
            raised.from, raised.to, raised.from
        )),
        Ok(None) => {}
        Err(e) => log::warn(format_args!(
            "cannot raise the open-files limit (RLIMIT_NOFILE): {e}"
        )),
    }
}

/// The folders rcgi serves, which its user must be able to reach.
fn served_folders(site: &dispatch::Settings) -> Vec<&std::path::Path> {
    let mut folders: Vec<&std::path::Path> = site.mounts.iter().map(|m| m.root.as_path()).collect();
    folders.extend(site.static_files.iter().map(|f| f.root.as_path()));
    folders
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
        None => {
            let mut all = listen::bind_all(&config.listen, Front::Http, &config.sockets)?;
            all.extend(listen::bind_all(
                &config.fastcgi,
                Front::FastCgi,
                &config.sockets,
            )?);
            Ok(all)
        }
    }
}

/// The listening line with the first URL served, a line for each other
/// URL (other listeners, script folders, the static site, the
/// inspector), and with `--debug` the scripts found.
fn announce(site: &dispatch::Settings, listeners: &[Listener], bind_name: Option<&str>) {
    let places: Vec<Place> = listeners.iter().map(Listener::place).collect();
    let mut urls: Vec<String> = Vec::new();
    for (place, listener) in places.iter().zip(listeners) {
        // `http://127.0.0.1:8000/cgi-bin/`, `unix:/run/rcgi.sock for /cgi-bin/`,
        // `fastcgi://127.0.0.1:9000 for /cgi-bin/`, `fastcgi unix:/run/f.sock for ...`.
        let base = match (listener.front, place) {
            (Front::Http, Place::Tcp(_)) => place.to_string(),
            (Front::Http, _) => format!("{place} for "),
            (Front::FastCgi, Place::Tcp(addr)) => format!("fastcgi://{addr} for "),
            (Front::FastCgi, _) => format!("fastcgi {place} for "),
        };
        urls.extend(site_urls(site, &base));
    }
    for (i, url) in urls.iter().enumerate() {
        let lead = if i == 0 {
            "listening on"
        } else {
            "also serves"
        };
        log::announce(format_args!("{lead} {url}"));
    }
    let http_first = places
        .iter()
        .zip(listeners)
        .find(|(_, l)| l.front == Front::Http)
        .map(|(p, _)| p);
    if let (Some(name), Some(Place::Tcp(addr))) = (bind_name, http_first) {
        log::info(format_args!("--bind {name}: bound to {}", addr.ip()));
    }
    if site.debug {
        let base = match http_first {
            Some(tcp @ Place::Tcp(_)) => tcp.to_string(),
            _ => String::new(),
        };
        list_scripts(site, &base);
    }
}

/// What one listener serves, each URL after `base`.
fn site_urls(site: &dispatch::Settings, base: &str) -> Vec<String> {
    let mut urls: Vec<String> = site
        .mounts
        .iter()
        .map(|m| format!("{base}{}/ (root {})", m.prefix, m.root.display()))
        .collect();
    if let Some(files) = &site.static_files {
        let listed = if files.listings { ", listed" } else { "" };
        urls.push(format!(
            "{base}/ (static files from {}{listed})",
            files.root.display()
        ));
    }
    if site.debug {
        urls.push(format!("{base}/.rcgi/ (request inspector)"));
    }
    if let Some(status) = &site.status {
        urls.push(format!("{base}{} (status pages)", status.path));
    }
    urls
}

/// `--debug`: the URL of every script found.
fn list_scripts(site: &dispatch::Settings, base: &str) {
    for mount in &site.mounts {
        let scripts = route::list_scripts(mount, MAX_LISTED);
        if scripts.is_empty() {
            log::warn(format_args!("no scripts under {}", mount.root.display()));
        }
        for url in scripts {
            log::info(format_args!("script {base}{url}"));
        }
    }
}
