//! One request, whatever protocol brought it, to its response. First,
//! with `--auth-file`, a request to a protected path must authenticate
//! ([`auth`]: 401 otherwise, before anything is read or run; each local
//! redirect too). Then the
//! script folder with the longest prefix the path falls under takes it
//! ([`route::pick`]); a path under none goes to the static files
//! (`--static`), or is 404. Under a folder, the path is routed to a
//! script, what can be refused before the body is read is refused (and
//! logged with its reason), the body is made ready (a body of unknown
//! length is spooled to a temporary file, or streamed with `--chunked
//! stream`), the script runs, and its local redirects are followed.
//! Refusals are rcgi's own pages ([`reply`]); so are the status pages
//! ([`status_page`], `--status`), answered before anything else. With
//! `--debug`, `/.rcgi/`
//! is the [`inspector`], and every other request is recorded for it
//! ([`crate::record`]).

use std::ffi::OsString;
use std::fs::File;
use std::io::Seek;
use std::path::Path;
use std::time::Duration;

use crate::auth;
use crate::cgi::{self, Job, Ran, Stdin, env};
use crate::client::{BodyError, Client, Request, Served};
use crate::drain::Drain;
use crate::gate::Gate;
use crate::inspector;
use crate::io::stream::PeerName;
use crate::listing;
use crate::log::Escaped;
use crate::record::tap::Tap;
use crate::record::{Arrival, Record, Recorder};
use crate::reply;
use crate::route::{self, Found, Mount, Route};
use crate::static_files;
use crate::status::Refusal;
use crate::status_page;

/// How long a request waits for a free script slot before 503.
const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Local redirects followed for one request.
const REDIRECT_HOPS: usize = 10;

/// How a body of unknown length (chunked) reaches a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkedMode {
    /// Decoded into a temporary file; the script gets CONTENT_LENGTH.
    #[default]
    Spool,
    /// Decoded as it comes into the script's stdin, without
    /// CONTENT_LENGTH; the script reads to end-of-file.
    Stream,
}

/// What requests are served from, and how.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The script folders, each at its prefix (the longest prefix a path
    /// falls under wins).
    pub mounts: Vec<Mount>,
    /// The static site (`--static`), for paths under no mount.
    pub static_files: Option<static_files::Settings>,
    pub chunked: ChunkedMode,
    /// Failure pages tell the whole story, script folders without an
    /// index script list their scripts, and the request inspector runs
    /// (`--debug`).
    pub debug: bool,
    pub env: env::Settings,
    pub script: cgi::Limits,
    /// Scripts running at once.
    pub max_scripts: usize,
    /// `--auth-file`: who may make which requests.
    pub auth: Option<auth::Settings>,
    /// The status pages (`--status`), if on.
    pub status: Option<status_page::Settings>,
}

/// The settings, the slots of the scripts running now, whether the
/// server is stopping, and with `--debug` the request inspector's record
/// of the last requests.
pub struct Site {
    pub settings: Settings,
    scripts: Gate,
    recorder: Option<Recorder>,
    pub drain: Drain,
}

impl Site {
    pub fn new(settings: Settings) -> std::io::Result<Site> {
        let n = settings.max_scripts;
        Ok(Site {
            recorder: settings.debug.then(Recorder::default),
            settings,
            scripts: Gate::new(n, n),
            drain: Drain::new()?,
        })
    }
}

/// Serves one request (setting its user once it is authenticated):
/// the status pages first; with `--debug`, the inspector's pages, and a
/// record of every other request.
pub fn serve(site: &Site, req: &mut Request, client: &mut dyn Client) -> Served {
    if let Some(status) = &site.settings.status {
        if let Some(served) = status_page::serve(status, &site.drain, req, client) {
            return served;
        }
    }
    if let Err(refused) = authenticate(&site.settings, req, client) {
        return refused;
    }
    let req = &*req;
    let Some(recorder) = &site.recorder else {
        return route_request(site, req, client, None);
    };
    if inspector::claims(&req.path) {
        return match inspector::serve(recorder, req, client) {
            Ok(served) => served,
            Err(e) => refuse(client, req, &e),
        };
    }
    let record = recorder.begin(&Arrival {
        method: &req.method,
        target: &req.target,
        protocol: req.protocol,
        peer: PeerName(req.peer).to_string(),
        headers: &req.headers,
        body: client.length(),
    });
    let mut tap = Tap::new(client, &record);
    let served = route_request(site, req, &mut tap, Some(&record));
    record.finish(served.status, served.bytes);
    served
}

/// With `--auth-file`, lets `req` through to a protected path only with
/// good credentials (then sets its user), else answers 401 and logs why.
#[inline(never)]
fn authenticate(s: &Settings, req: &mut Request, client: &mut dyn Client) -> Result<(), Served> {
    let Some(a) = &s.auth else {
        return Ok(());
    };
    match auth::check(a, req) {
        Ok(Some(user)) => req.user = Some(user),
        Ok(None) => {}
        Err(denied) => {
            // The first request of a browser comes without credentials:
            // that is no failure.
            if let Some(user) = &denied.user {
                crate::log::warn(format_args!(
                    "{}: authentication failed for user \"{}\" on {}: {}",
                    req.remote_ip(),
                    crate::log::Escaped(user.as_bytes()),
                    crate::log::Escaped(req.path.as_bytes()),
                    denied.why
                ));
            } else if denied.why != "no credentials" {
                crate::log::warn(format_args!(
                    "{}: authentication failed on {}: {}",
                    req.remote_ip(),
                    crate::log::Escaped(req.path.as_bytes()),
                    denied.why
                ));
            }
            client.discard();
            return Err(reply::unauthorized(client, &auth::challenge(a)));
        }
    }
    Ok(())
}

fn route_request(
    site: &Site,
    req: &Request,
    client: &mut dyn Client,
    record: Option<&Record>,
) -> Served {
    let s = &site.settings;
    if req.path == "*" {
        return refuse(client, req, &Refusal::new(404, "no resource for OPTIONS *"));
    }
    let Some(mount) = route::pick(&s.mounts, &req.path) else {
        return outside_mounts(s, req, client);
    };
    let route = match route::resolve(mount, &req.path) {
        Ok(Found::Script(route)) => route,
        Ok(Found::AddSlash) => return reply::moved(client, &with_slash(req)),
        Ok(Found::NoIndex(folder)) => return no_index(s, mount, &folder, req, client),
        Err(e) => return refuse(client, req, &e),
    };
    if let Err(e) = client.check_length() {
        return refuse(client, req, &e);
    }
    let Some(_slot) = site.scripts.enter_within(SLOT_WAIT) else {
        crate::log::warn(format_args!(
            "{}: 503 too many scripts running",
            Escaped(req.target.as_bytes())
        ));
        return reply::busy(client, "too many scripts running");
    };
    if client.begin().is_err() {
        return Served {
            status: 499,
            bytes: 0,
            close: true,
            script: None,
        };
    }
    let (stdin, content_length) = match (client.length(), s.chunked) {
        (Some(0), _) => (Stdin::Empty, Some(0)),
        (Some(n), _) => (Stdin::Body, Some(n)),
        (None, _) if client.complete() => (Stdin::Empty, None),
        (None, ChunkedMode::Stream) => {
            if let Some(record) = record {
                record.body(None, true);
            }
            (Stdin::Body, None)
        }
        (None, ChunkedMode::Spool) => match spool(client) {
            Ok((file, n)) => (Stdin::File(file), Some(n)),
            Err(served) => return served,
        },
    };
    let run = Run {
        s,
        record,
        stdin,
        content_length,
    };
    run_with_redirects(run, req, client, (mount, route))
}

/// A script run's settings, its input, and the inspector's record.
struct Run<'a> {
    s: &'a Settings,
    record: Option<&'a Record>,
    stdin: Stdin,
    content_length: Option<u64>,
}

/// A path under no script folder: a static file, or 404.
#[inline(never)]
fn outside_mounts(s: &Settings, req: &Request, client: &mut dyn Client) -> Served {
    let Some(files) = &s.static_files else {
        return refuse(
            client,
            req,
            &Refusal::new(404, "no script folder at this path"),
        );
    };
    match static_files::serve(files, req, client) {
        Ok(served) => served,
        Err(e) => refuse(client, req, &e),
    }
}

/// Logs a refused request with its reason, and answers it.
#[inline(never)]
fn refuse(client: &mut dyn Client, req: &Request, e: &Refusal) -> Served {
    crate::log::warn(format_args!(
        "{} {}: {e}",
        Escaped(req.method.as_bytes()),
        Escaped(req.target.as_bytes())
    ));
    reply::refusal(client, e)
}

/// A script folder URL without an index script: 403, or with `--debug`
/// the list of what it holds.
#[inline(never)]
fn no_index(
    s: &Settings,
    mount: &Mount,
    folder: &Path,
    req: &Request,
    client: &mut dyn Client,
) -> Served {
    if !s.debug {
        let e = Refusal::new(
            403,
            "folder without an index script (add index.cgi, or run rcgi --debug to list its scripts here)",
        );
        return refuse(client, req, &e);
    }
    let (entries, more) = listing::read(&mount.root, folder, |path, meta| {
        meta.is_dir() || route::runs(mount, path, meta)
    });
    let note = "No index script here (index.cgi, or --index NAME): rcgi --debug lists the \
                scripts and folders instead. Without --debug this URL answers 403.";
    let page = listing::render(&req.path, &entries, more, note);
    reply::html(client, 200, &page)
}

/// Reads a body of unknown length into an unnamed temporary file (gone
/// when closed, even if rcgi dies); returns it rewound, with its length,
/// or the refusal sent.
#[inline(never)]
fn spool(client: &mut dyn Client) -> Result<(File, u64), Served> {
    let mut file = match tempfile::tempfile() {
        Ok(file) => file,
        Err(e) => return Err(reply::refusal(client, &cannot_store(e))),
    };
    let refused = match client.spool(&file) {
        Ok(n) => match file.rewind() {
            Ok(()) => return Ok((file, n)),
            Err(e) => cannot_store(e),
        },
        Err(BodyError::Refused(e)) => e,
        Err(BodyError::Gone(gone)) => Refusal::new(400, gone.0),
    };
    Err(reply::refusal(client, &refused))
}

fn cannot_store(e: std::io::Error) -> Refusal {
    crate::log::error(format_args!("cannot spool a chunked body: {e}"));
    Refusal::new(500, "cannot store the request body")
}

/// The request's path with a `/` added (and its query kept).
fn with_slash(req: &Request) -> String {
    match &req.query {
        Some(q) => format!("{}/?{q}", req.path),
        None => format!("{}/", req.path),
    }
}

/// Runs the script, then the scripts its local redirects name.
fn run_with_redirects(
    mut run: Run,
    original: &Request,
    client: &mut dyn Client,
    (mut mount, mut route): (&Mount, Route),
) -> Served {
    let s = run.s;
    // Boxed: this frame stays on the stack for the whole run of each
    // script, and a redirect is rare.
    let mut redirected: Option<Box<Request>> = None;
    for _hop in 0..=REDIRECT_HOPS {
        let req = redirected.as_deref().unwrap_or(original);
        let stdin = std::mem::replace(&mut run.stdin, Stdin::Empty);
        let mut job = job(s, mount, req, &route, stdin, run.content_length);
        job.record = run.record;
        let target = match cgi::run(client, job) {
            Ran::Served(served) => return served,
            Ran::Redirect(target) => target,
        };
        let next;
        (next, mount, route) = match follow(s, original, &target, client) {
            Ok(found) => found,
            Err(served) => return served,
        };
        redirected = Some(next);
        run.content_length = None;
    }
    refuse(
        client,
        original,
        &Refusal::new(500, "too many local redirects"),
    )
}

/// The request a local redirect to `target` makes, authenticated, and
/// the script it names; or the refusal sent.
#[inline(never)]
fn follow<'s>(
    s: &'s Settings,
    original: &Request,
    target: &[u8],
    client: &mut dyn Client,
) -> Result<(Box<Request>, &'s Mount, Route), Served> {
    let mut next = match redirect_request(original, target) {
        Ok(next) => Box::new(next),
        Err(e) => return Err(refuse(client, original, &e)),
    };
    if next.user.is_none() {
        authenticate(s, &mut next, client)?;
    }
    match redirect_route(s, &next.path) {
        Ok((mount, route)) => Ok((next, mount, route)),
        Err(e) => Err(refuse(client, &next, &e)),
    }
}

/// The script a local redirect's path names, in any script folder.
#[inline(never)]
fn redirect_route<'s>(s: &'s Settings, path: &str) -> Result<(&'s Mount, Route), Refusal> {
    let mount = route::pick(&s.mounts, path).ok_or(Refusal::new(
        404,
        "local redirect outside the script folders",
    ))?;
    match route::resolve(mount, path)? {
        Found::Script(r) => Ok((mount, r)),
        Found::AddSlash | Found::NoIndex(_) => Err(Refusal::new(404, "local redirect to a folder")),
    }
}

/// What it takes to run `route` for `req`.
#[inline(never)]
fn job<'a>(
    s: &'a Settings,
    mount: &'a Mount,
    req: &'a Request,
    route: &'a Route,
    stdin: Stdin,
    content_length: Option<u64>,
) -> Job<'a> {
    let mut extra: Vec<(OsString, OsString)> = Vec::new();
    if matches!(stdin, Stdin::Body) && content_length.is_none() {
        extra.push(("HTTP_TRANSFER_ENCODING".into(), "chunked".into()));
    }
    let (program, args) = match route.handler.map(|i| &mount.handlers[i]) {
        Some(h) => {
            // php-cgi's cgi.force_redirect wants proof it runs under a
            // server.
            extra.push(("REDIRECT_STATUS".into(), "200".into()));
            let mut args = h.args.clone();
            args.push(route.script.clone().into_os_string());
            (h.program.as_path(), args)
        }
        None => (route.script.as_path(), Vec::new()),
    };
    let env = env::build(&env::Inputs {
        req,
        route,
        content_length,
        document_root: &mount.root,
        extra,
        settings: &s.env,
    });
    Job {
        program,
        args,
        dir: route.script.parent().unwrap_or(&mount.root),
        name: &route.script_name,
        target: &req.target,
        file: &route.script,
        env,
        stdin,
        nph: route.nph,
        limits: &s.script,
        debug: s.debug,
        record: None,
    }
}

/// The request a local redirect makes: a GET (HEAD stays HEAD) of the
/// new path, with the original headers but no body.
#[inline(never)]
fn redirect_request(original: &Request, location: &[u8]) -> Result<Request, Refusal> {
    let location =
        std::str::from_utf8(location).map_err(|_| Refusal::new(502, "invalid local redirect"))?;
    let location = location.split('#').next().unwrap_or(location);
    let (path, query) = match location.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (location, None),
    };
    let headers = original
        .headers
        .iter()
        .filter(|(n, _)| {
            !["content-length", "content-type", "transfer-encoding"]
                .iter()
                .any(|h| n.eq_ignore_ascii_case(h))
        })
        .cloned()
        .collect();
    let method = if original.head_only() { "HEAD" } else { "GET" };
    Ok(Request {
        method: method.to_string(),
        target: location.to_string(),
        path: path.to_string(),
        query,
        headers,
        ..original.clone()
    })
}
