//! One request, from its head to its response: route the path to a
//! script, refuse what can be refused before the body is read, send
//! `100 Continue`, make the body ready (a chunked body is decoded into a
//! temporary file), run the script, and follow its local redirects.
//! Every failure becomes a short error page; what it costs the
//! connection (a body left unread) decides whether the connection goes on.

use std::io::{BufWriter, Seek, Write};
use std::time::Duration;

use crate::cgi::{self, Job, Outcome, env, output::Ask, process::Input};
use crate::cli::Limits;
use crate::http::chunked::{Decoder, Next};
use crate::http::conn::Conn;
use crate::http::request::{BodyFraming, Request, is_timeout};
use crate::http::response::{self, CONTINUE, Connection};
use crate::http::{HttpError, Version};
use crate::route::{self, Route};
use crate::server::Shared;

/// How long a request waits for a free script slot before 503.
const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Most unread body bytes read and dropped to keep a connection open.
const DRAIN_MAX: u64 = 256 * 1024;

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

pub fn serve(shared: &Shared, conn: &mut Conn, req: &Request) -> Served {
    let cfg = &shared.config;
    let head_only = req.method == "HEAD";
    let mut page = Page {
        conn,
        req,
        head_only,
        body_unread: req.body != BodyFraming::None && req.body != BodyFraming::Length(0),
    };
    if req.path == "*" {
        return page.error(HttpError::new(404, "no resource for OPTIONS *"));
    }
    let route = match route::resolve(&cfg.root, &cfg.prefix, &req.path) {
        Ok(route) => route,
        Err(e) => return page.error(e),
    };
    if let BodyFraming::Length(n) = req.body {
        if n > cfg.limits.max_body {
            return page.error(HttpError::new(413, "request body too large"));
        }
    }
    let Some(_slot) = shared.scripts.enter_within(SLOT_WAIT) else {
        return page.busy();
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
    let (input, body, content_length) = match req.body {
        BodyFraming::None => (Input::Empty, 0, None),
        BodyFraming::Length(0) => (Input::Empty, 0, Some(0)),
        BodyFraming::Length(n) => (Input::Pipe, n, Some(n)),
        BodyFraming::Chunked => match spool(page.conn, &cfg.limits) {
            Ok((file, n)) => (Input::File(file), 0, Some(n)),
            Err(e) => return page.error(e),
        },
    };
    page.body_unread = false;
    run_with_redirects(shared, page, route, input, body, content_length)
}

/// Runs the script, then the scripts its local redirects name.
fn run_with_redirects(
    shared: &Shared,
    mut page: Page,
    mut route: Route,
    mut input: Input,
    mut body: u64,
    mut content_length: Option<u64>,
) -> Served {
    let cfg = &shared.config;
    let original = page.req;
    let mut redirected: Option<Request> = None;
    let mut hops = 0;
    loop {
        let req = redirected.as_ref().unwrap_or(original);
        let env = env::build(&env::Inputs {
            req,
            route: &route,
            local: page.conn.local,
            peer: page.conn.peer,
            content_length,
            document_root: &cfg.root,
            pass_auth: cfg.pass_auth,
            operator: &cfg.env,
        });
        let dir = route.script.parent().unwrap_or(&cfg.root);
        let ran = cgi::run(
            page.conn,
            Job {
                program: &route.script,
                dir,
                name: &route.script_name,
                env: &env,
                input,
                body,
                ask: Ask {
                    version: req.version,
                    head_only: page.head_only,
                    keep_alive: original.keep_alive,
                    nph: route.nph,
                    max_head: cfg.limits.script_head_bytes,
                },
                timeout: cfg.limits.script_timeout,
                idle: cfg.limits.idle_timeout,
            },
        );
        let drained = ran.outcome.connection_usable()
            && drain(page.conn, ran.body_left, cfg.limits.idle_timeout);
        page.body_unread = !drained;
        let served = match ran.outcome {
            Outcome::Redirect(target) => {
                hops += 1;
                if hops > cfg.limits.redirect_hops {
                    return page.error(HttpError::new(500, "too many local redirects"));
                }
                let next = match redirect_request(original, &target) {
                    Ok(next) => next,
                    Err(e) => return page.error(e),
                };
                route = match route::resolve(&cfg.root, &cfg.prefix, &next.path) {
                    Ok(r) => r,
                    Err(e) => return page.error(e),
                };
                redirected = Some(next);
                (input, body, content_length) = (Input::Empty, 0, None);
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
            Outcome::Failed { status, short } => {
                return page.error(HttpError::new(status, short));
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
    Ok(Request {
        method: if original.method == "HEAD" {
            "HEAD"
        } else {
            "GET"
        }
        .to_string(),
        target: location.to_string(),
        path: path.to_string(),
        query,
        headers,
        body: BodyFraming::None,
        expect_continue: false,
        ..original.clone()
    })
}

/// Decodes a chunked body into an unnamed temporary file (gone when
/// closed, even if rcgi dies); returns it rewound, with its length.
fn spool(conn: &mut Conn, limits: &Limits) -> Result<(std::fs::File, u64), HttpError> {
    let disk = |e: std::io::Error| {
        crate::log::error(format_args!("cannot spool a chunked body: {e}"));
        HttpError::new(500, "cannot store the request body")
    };
    let file = tempfile::tempfile().map_err(disk)?;
    let mut writer = BufWriter::with_capacity(64 * 1024, file);
    let mut decoder = Decoder::default();
    let mut total: u64 = 0;
    loop {
        let (used, next) = decoder.advance(conn.buffered())?;
        conn.consume(used);
        match next {
            Next::Data(n) => {
                total += n as u64;
                if total > limits.max_body {
                    return Err(HttpError::new(413, "request body too large"));
                }
                writer.write_all(&conn.buffered()[..n]).map_err(disk)?;
                decoder.took(n);
                conn.consume(n);
            }
            Next::More => match conn.fill(usize::MAX, limits.idle_timeout) {
                Ok(0) => return Err(HttpError::new(400, "connection closed mid-body")),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    return Err(HttpError::new(408, "request body not received in time"));
                }
                Err(_) => return Err(HttpError::new(400, "connection failed mid-body")),
            },
            Next::Done => break,
        }
    }
    let mut file = writer.into_inner().map_err(|e| disk(e.into_error()))?;
    file.rewind().map_err(disk)?;
    Ok((file, total))
}

/// Reads and drops `left` unread body bytes if there are few enough;
/// true if the connection is clean for its next request.
fn drain(conn: &mut Conn, mut left: u64, idle: Duration) -> bool {
    if left > DRAIN_MAX {
        return false;
    }
    while left > 0 {
        match conn.fill(left as usize, idle) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                conn.consume(n);
                left -= n as u64;
            }
        }
    }
    true
}

/// Writes rcgi's own responses for one request.
struct Page<'a, 'c> {
    conn: &'c mut Conn,
    req: &'a Request,
    head_only: bool,
    /// A body is still on the wire: the connection cannot go on.
    body_unread: bool,
}

impl Page<'_, '_> {
    fn error(&mut self, e: HttpError) -> Served {
        self.send(e.status, e.reason, &[])
    }

    fn busy(&mut self) -> Served {
        let retry = [("Retry-After".to_string(), b"1".to_vec())];
        self.send(503, "too many scripts running", &retry)
    }

    fn send(&mut self, status: u16, detail: &str, fields: &[(String, Vec<u8>)]) -> Served {
        let close = self.body_unread || !self.req.keep_alive || status == 400;
        let connection = match (close, self.req.version) {
            (true, _) => Connection::Close,
            (false, Version::Http10) => Connection::KeepAlive,
            (false, Version::Http11) => Connection::Default,
        };
        let mut out = Vec::with_capacity(256);
        let bytes =
            response::error_page(&mut out, status, detail, self.head_only, connection, fields);
        let sent = self.conn.write_all(&out, Duration::from_secs(10)).is_ok();
        Served {
            status,
            bytes,
            close: close || !sent,
        }
    }
}
