//! One request, from its head to its response: a path outside the
//! prefix goes to the `--static` files; under it, route the path to a
//! script, refuse what can be refused before the body is read, send
//! `100 Continue`, make the body ready (a chunked body is spooled to a
//! temporary file, or streamed with `--chunked stream`), run the script,
//! and follow its local redirects. Failures become error pages
//! ([`Page`]); a body left unread ends the connection.

use std::ffi::OsString;
use std::time::Duration;

use crate::cgi::{self, Job, Outcome, Stdin, env, output::Ask, report};
use crate::cli::{ChunkedMode, Config};
use crate::http::HttpError;
use crate::http::conn::Conn;
use crate::http::request::{BodyFraming, Request};
use crate::http::response::CONTINUE;
use crate::http::spool::{drain, spool};
use crate::page::Page;
use crate::route::{self, Found, Mount, Route};
use crate::server::Shared;

/// How long a request waits for a free script slot before 503.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// What was sent, for the access log and the connection.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    /// The status sent (499 if the client left before any).
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The connection must close now.
    pub close: bool,
}

pub fn mount(cfg: &Config) -> Mount<'_> {
    Mount {
        root: &cfg.root,
        prefix: &cfg.prefix,
        handlers: &cfg.handlers,
        index: &cfg.index,
    }
}

pub fn serve(shared: &Shared, conn: &mut Conn, req: &Request) -> Served {
    let cfg = &shared.config;
    let mut page = Page::new(conn, req);
    if req.path == "*" {
        return page.error(HttpError::new(404, "no resource for OPTIONS *"));
    }
    if let Some(files) = &cfg.static_root {
        if !route::under_prefix(&cfg.prefix, &req.path) {
            return crate::files::serve(files, &cfg.root, &mut page);
        }
    }
    let route = match route::resolve(&mount(cfg), &req.path) {
        Ok(Found::Script(route)) => route,
        Ok(Found::AddSlash) => return page.moved(&with_slash(req)),
        Err(e) => return page.error(e),
    };
    if let BodyFraming::Length(n) = req.body {
        if n > cfg.limits.max_body {
            return page.error(HttpError::new(413, "request body too large"));
        }
    }
    let Some(_slot) = shared.scripts.enter_within(SLOT_WAIT) else {
        return page.busy("too many scripts running");
    };
    let continued = !(req.expect_continue && page.body_unread)
        || page
            .conn
            .write_all(CONTINUE, cfg.limits.idle_timeout)
            .is_ok();
    if !continued {
        return Served {
            status: 499,
            bytes: 0,
            close: true,
        };
    }
    let (stdin, content_length) = match (req.body, cfg.chunked) {
        (BodyFraming::None, _) => (Stdin::Empty, None),
        (BodyFraming::Length(0), _) => (Stdin::Empty, Some(0)),
        (BodyFraming::Length(n), _) => (Stdin::Length(n), Some(n)),
        (BodyFraming::Chunked, ChunkedMode::Stream) => (Stdin::Chunked, None),
        (BodyFraming::Chunked, ChunkedMode::Spool) => {
            match spool(page.conn, cfg.limits.max_body, cfg.limits.idle_timeout) {
                Ok((file, n)) => (Stdin::File(file), Some(n)),
                Err(e) => return page.error(e),
            }
        }
    };
    page.body_unread = false;
    run_with_redirects(cfg, page, route, stdin, content_length)
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
    cfg: &Config,
    mut page: Page,
    mut route: Route,
    mut stdin: Stdin,
    mut content_length: Option<u64>,
) -> Served {
    let original = page.req;
    let mut redirected: Option<Request> = None;
    for _hop in 0..=cfg.limits.redirect_hops {
        let req = redirected.as_ref().unwrap_or(original);
        let ran = cgi::run(
            page.conn,
            job(cfg, &page, req, &route, stdin, content_length),
        );
        let drained = ran.outcome.connection_usable()
            && drain(page.conn, ran.body_left, cfg.limits.idle_timeout);
        page.body_unread = !drained;
        let served = match ran.outcome {
            Outcome::Redirect(target) => {
                let next = match redirect_request(original, &target) {
                    Ok(next) => next,
                    Err(e) => return page.error(e),
                };
                route = match route::resolve(&mount(cfg), &next.path) {
                    Ok(Found::Script(r)) => r,
                    Ok(Found::AddSlash) => {
                        return page.error(HttpError::new(404, "local redirect to a folder"));
                    }
                    Err(e) => return page.error(e),
                };
                redirected = Some(next);
                (stdin, content_length) = (Stdin::Empty, None);
                continue;
            }
            Outcome::Sent {
                status,
                bytes,
                close,
            } => Served {
                status,
                bytes,
                close,
            },
            Outcome::Failed(f) => {
                let report = cfg
                    .debug
                    .then(|| report::render(&f, &route.script_name, &route.script));
                return page.failure(&f, report);
            }
            Outcome::Cut { status, bytes } => Served {
                status,
                bytes,
                close: true,
            },
            Outcome::Gone { status, bytes } => Served {
                status: if status == 0 { 499 } else { status },
                bytes,
                close: true,
            },
        };
        return Served {
            close: served.close || !drained,
            ..served
        };
    }
    page.error(HttpError::new(500, "too many local redirects"))
}

/// What it takes to run `route` for `req`.
fn job<'a>(
    cfg: &'a Config,
    page: &Page,
    req: &Request,
    route: &'a Route,
    stdin: Stdin,
    content_length: Option<u64>,
) -> Job<'a> {
    let mut extra: Vec<(OsString, OsString)> = Vec::new();
    if matches!(stdin, Stdin::Chunked) {
        extra.push(("HTTP_TRANSFER_ENCODING".into(), "chunked".into()));
    }
    let (program, args) = match route.handler.map(|i| &cfg.handlers[i]) {
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
        local: page.conn.local,
        peer: page.conn.peer,
        content_length,
        document_root: &cfg.root,
        pass_auth: cfg.pass_auth,
        extra,
        operator: &cfg.env,
    });
    Job {
        program,
        args,
        dir: route.script.parent().unwrap_or(&cfg.root),
        name: &route.script_name,
        env,
        stdin,
        max_body: cfg.limits.max_body,
        ask: Ask {
            version: req.version,
            head_only: page.head_only,
            keep_alive: page.req.keep_alive,
            nph: route.nph,
            max_head: cfg.limits.script_head_bytes,
        },
        timeout: cfg.limits.script_timeout,
        idle: cfg.limits.idle_timeout,
    }
}

/// The request a local redirect makes: a GET (HEAD stays HEAD) of the
/// new path, with the original headers but no body.
fn redirect_request(original: &Request, location: &[u8]) -> Result<Request, HttpError> {
    let location =
        std::str::from_utf8(location).map_err(|_| HttpError::new(502, "invalid local redirect"))?;
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
    let method = if original.method == "HEAD" {
        "HEAD"
    } else {
        "GET"
    };
    Ok(Request {
        method: method.to_string(),
        target: location.to_string(),
        path: path.to_string(),
        query,
        headers,
        body: BodyFraming::None,
        expect_continue: false,
        ..original.clone()
    })
}
