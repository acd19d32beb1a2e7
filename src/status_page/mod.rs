//! rcgi's status pages (`--status PATH`), served by dispatch as rcgi's
//! own pages, never as a script or a file: `PATH` is an HTML page for
//! people, `PATH?format=json` the same figures for machines
//! ([`json`]), `PATH/metrics` the Prometheus text format ([`metrics`]),
//! and `PATH/health` 200 while serving, 503 once draining. Only clients
//! in `--status-allow` get them (403 otherwise); GET and HEAD only.
//!
//! The path never meets a script's: the command line refuses a status
//! path under the scripts' prefix unless one of its segments starts with
//! `.` (the script walk never serves such a path).

pub mod html;
pub mod json;
pub mod metrics;

use std::time::SystemTime;

use crate::client::{Client, Request, Served};
use crate::drain::Drain;
use crate::peer_set::PeerSet;
use crate::reply;
use crate::stats::{STATS, Snapshot};
use crate::status::Refusal;

/// The slowest recent requests a page shows.
pub const SLOWEST: usize = 10;

/// The status pages' settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where they are, e.g. `/server-status` (no `/` at the end).
    pub path: String,
    /// Who may see them (`--status-allow`).
    pub allow: PeerSet,
    /// The limits in force, as (option, value), for the pages to show.
    pub limits: Vec<(String, String)>,
}

/// What a page shows: the counters, and the state of the server.
pub struct View<'a> {
    pub stats: Snapshot,
    pub draining: bool,
    pub in_flight: usize,
    pub now: SystemTime,
    pub settings: &'a Settings,
}

/// Answers `req` if its path is one of the status pages.
pub fn serve(
    settings: &Settings,
    drain: &Drain,
    req: &Request,
    client: &mut dyn Client,
) -> Option<Served> {
    let rest = req.path.strip_prefix(settings.path.as_str())?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    // The client a trusted proxy names, else the peer: a proxy on this
    // machine does not open the pages to everyone behind it.
    if !settings.allow.contains(req.remote()) {
        let e = Refusal::new(403, "status pages are not open to this address");
        return Some(reply::refusal(client, &e));
    }
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Some(reply::refusal(
            client,
            &Refusal::new(405, "status pages are read-only"),
        ));
    }
    let no_store = [("Cache-Control".to_string(), b"no-store".to_vec())];
    Some(match rest {
        "" | "/" => {
            let view = view(settings, drain);
            if wants_json(req) {
                let body = json::render(&view);
                reply::document(client, 200, json::CONTENT_TYPE, &body, &no_store)
            } else {
                let body = html::render(&view);
                reply::document(client, 200, html::CONTENT_TYPE, &body, &no_store)
            }
        }
        "/metrics" => {
            let body = metrics::render(&view(settings, drain));
            reply::document(client, 200, metrics::CONTENT_TYPE, &body, &no_store)
        }
        "/health" if drain.stopping() => reply::page(client, 503, "draining\n", &no_store),
        "/health" => reply::page(client, 200, "serving\n", &no_store),
        _ => reply::refusal(client, &Refusal::new(404, "no such status page")),
    })
}

fn view<'a>(settings: &'a Settings, drain: &Drain) -> View<'a> {
    View {
        stats: STATS.snapshot(SLOWEST),
        draining: drain.stopping(),
        in_flight: drain.in_flight(),
        now: SystemTime::now(),
        settings,
    }
}

/// `?format=json` among the query's parameters.
fn wants_json(req: &Request) -> bool {
    req.query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "format=json"))
}

/// Seconds since the Unix epoch.
fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The status page's path: absolute, plain characters, no `.` or `..`
/// segment, no `/` at the end; and never one a script could have (under
/// one of the script folders' `prefixes`, or above one), unless a segment
/// starts with `.`, which the script walk refuses. Returns it normalized.
pub fn check_path(path: &str, prefixes: &[String]) -> Result<String, String> {
    let trimmed = path.trim_end_matches('/');
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if !path.starts_with('/') || trimmed.is_empty() || !trimmed.chars().all(plain) {
        return Err(format!(
            "--status {path:?}: a path like /server-status (letters, digits, '-', '.', '_', '~')"
        ));
    }
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(format!("--status {path:?}: no empty, '.' or '..' segments"));
    }
    if segments.iter().any(|s| s.starts_with('.')) {
        return Ok(trimmed.to_string());
    }
    let under = |prefix: &String| {
        crate::route::under_prefix(prefix, trimmed) || crate::route::under_prefix(trimmed, prefix)
    };
    if let Some(prefix) = prefixes.iter().find(|p| under(p)) {
        return Err(format!(
            "--status {path}: a script could have this path (scripts are under {prefix}/); \
             choose one outside, or one with a segment starting with '.', like {prefix}/.status"
        ));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, prefix: &str) -> Result<String, String> {
        check_path(path, &[prefix.to_string()])
    }

    #[test]
    fn a_status_path_never_meets_a_script_path() {
        assert_eq!(
            check("/server-status", "/cgi-bin"),
            Ok("/server-status".into())
        );
        assert_eq!(check("/status/", "/cgi-bin"), Ok("/status".into()));
        assert!(check("/cgi-bin/status", "/cgi-bin").is_err());
        assert!(check("/cgi-bin", "/cgi-bin").is_err());
        assert!(check("/cgi", "/cgi/bin").is_err(), "above the prefix");
        assert_eq!(
            check("/cgi-bin/.status", "/cgi-bin"),
            Ok("/cgi-bin/.status".into())
        );
        assert!(check("/status", "").is_err(), "everything is under /");
        assert_eq!(check("/.status", ""), Ok("/.status".into()));
        assert!(check("/cgi-binx", "/cgi-bin").is_ok());
        assert!(check_path("/htbin/s", &["/cgi-bin".into(), "/htbin".into()]).is_err());
        for bad in ["status", "/", "/a b", "/a/../b", "/a//b", "/%41"] {
            assert!(check(bad, "/cgi-bin").is_err(), "{bad}");
        }
    }
}
