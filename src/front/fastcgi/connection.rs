//! One FastCGI connection's loop: wait for a `BEGIN_REQUEST` (answering
//! management records meanwhile), refuse roles other than the responder
//! (`FCGI_UNKNOWN_ROLE`), read the `PARAMS` stream within its bounds,
//! build the request, hand it to dispatch, end it with
//! `FCGI_END_REQUEST`, log it, and go on while `FCGI_KEEP_CONN` asks.
//! A malformed record, a `PARAMS` stream over its bound or too slow, or
//! a failed connection ends the connection with a log line. Once the
//! server stops, an idle connection closes and a request that arrived
//! is the connection's last.

use std::time::{Duration, Instant};

use super::Limits;
use super::client::FcgiClient;
use super::conn::Conn;
use super::incoming::{self, Event};
use super::params::{self, MAX_PARAMS, Pairs};
use super::record::{self, CANT_MPX_CONN, REQUEST_COMPLETE, RESPONDER, UNKNOWN_ROLE};
use super::request;
use crate::client::Served;
use crate::dispatch::{self, Site};
use crate::drain::Drain;
use crate::front::access;
use crate::io::stream::Stream;
use crate::io::wait;
use crate::log;
use crate::reply;

/// How long a new connection may take to send its first request once
/// the server stops.
const LAST_CALL: Duration = Duration::from_secs(1);

/// Why the connection ends early.
type Broken = String;

/// A request's beginning.
struct Begin {
    id: u16,
    role: u16,
    keep: bool,
}

/// Serves one accepted connection until it ends.
pub fn serve(stream: Stream, limits: &Limits, site: &Site) {
    let drain = &site.drain;
    let mut conn = Conn::new(stream);
    // A new connection counts as a request from the start, so that a
    // stop answers what its web server sent as the listener closed.
    let mut busy = Some(drain.request());
    loop {
        let begin = match next_begin(&mut conn, limits, drain, busy.is_some()) {
            Ok(Some(begin)) => begin,
            Ok(None) => break,
            Err(why) => {
                log::warn(format_args!(
                    "{} (FastCGI): {why}; connection closed",
                    conn.peer_name()
                ));
                break;
            }
        };
        busy.get_or_insert_with(|| drain.request());
        let kept = match request(&mut conn, &begin, limits, site) {
            Ok(kept) => kept,
            Err(why) => {
                log::warn(format_args!(
                    "{} (FastCGI): {why}; connection closed",
                    conn.peer_name()
                ));
                break;
            }
        };
        busy = None;
        if !kept || !begin.keep || drain.stopping() {
            break;
        }
    }
    drop(busy);
    conn.close();
}

/// Waits for the next `BEGIN_REQUEST`; None when the connection should
/// end quietly: the web server closed it, it stayed idle past the idle
/// timeout, or the server is stopping (a new connection, `first`, still
/// gets [`LAST_CALL`]).
fn next_begin(
    conn: &mut Conn,
    limits: &Limits,
    drain: &Drain,
    first: bool,
) -> Result<Option<Begin>, Broken> {
    let idle = wait::after(limits.idle_timeout);
    loop {
        match incoming::next(conn, limits.max_connections).map_err(|e| e.to_string())? {
            Some(Event::Begin { id, role, keep }) => return Ok(Some(Begin { id, role, keep })),
            // Records of requests that ended (the rest of a body): dropped.
            Some(_) => continue,
            None => {}
        }
        conn.send_all(limits.idle_timeout)
            .map_err(|g| g.0.to_string())?;
        // Records that keep coming for no request do not keep it open.
        if Instant::now() >= idle {
            return Ok(None);
        }
        if conn.eof && conn.has_bytes() {
            return Err("connection closed mid-record".into());
        }
        if conn.eof {
            return Ok(None);
        }
        let arrived = match wait::readable_first(conn.fd(), drain.fd(), idle) {
            Ok(true) => true,
            Ok(false) if first && drain.stopping() => {
                let last_call = idle.min(wait::after(LAST_CALL));
                conn.wait_readable(last_call).is_ok()
            }
            Ok(false) | Err(_) => false,
        };
        if !arrived {
            return Ok(None);
        }
        match conn.read_now() {
            Ok(_) | Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}

/// Serves one request; true if the connection can carry another.
fn request(conn: &mut Conn, begin: &Begin, limits: &Limits, site: &Site) -> Result<bool, Broken> {
    if begin.role != RESPONDER {
        log::warn(format_args!(
            "{} (FastCGI): role {} refused: rcgi is a responder",
            conn.peer_name(),
            begin.role
        ));
        record::end_request(&mut conn.out, begin.id, 0, UNKNOWN_ROLE);
        return Ok(true);
    }
    let Some(pairs) = read_params(conn, begin.id, limits)? else {
        // Aborted before it began: nothing ran.
        record::end_request(&mut conn.out, begin.id, 0, REQUEST_COMPLETE);
        return Ok(true);
    };
    let started = Instant::now();
    let built = request::build(&pairs, &site.settings.mounts, conn.local(), conn.peer());
    let declared = built.as_ref().ok().and_then(|b| b.content_length);
    let head_only = built.as_ref().is_ok_and(|b| b.req.head_only());
    let mut client = FcgiClient::new(conn, begin.id, declared, head_only, limits);
    let (req, served) = match built {
        Ok(built) => {
            let mut req = built.req;
            let served = dispatch::serve(site, &mut req, &mut client);
            (Some(req), served)
        }
        Err(e) => {
            log::warn(format_args!("FastCGI request refused: {e}"));
            (None, reply::refusal(&mut client, &e))
        }
    };
    let ended = client.end(app_status(&served));
    if let Some(req) = &req {
        access::record(req, &served, started);
    }
    // A response longer or shorter than its length still ends with its
    // END_REQUEST (the records stay whole); one cut short does not.
    ended
}

/// The script's exit code for `FCGI_END_REQUEST` (0 when none ran).
fn app_status(served: &Served) -> u32 {
    served
        .script
        .as_ref()
        .and_then(|s| s.exit.code())
        .map_or(0, |c| c as u32)
}

/// Reads request `id`'s `PARAMS` stream within [`MAX_PARAMS`] bytes
/// and the params timeout, refusing other requests meanwhile; None if
/// the web server aborted the request.
fn read_params(conn: &mut Conn, id: u16, limits: &Limits) -> Result<Option<Pairs>, Broken> {
    let deadline = wait::after(limits.params_timeout);
    let mut stream: Vec<u8> = Vec::new();
    loop {
        match incoming::next(conn, limits.max_connections).map_err(|e| e.to_string())? {
            Some(Event::Params(i, data)) if i == id => {
                if data.is_empty() {
                    return params::decode(&stream).map(Some).map_err(|e| e.to_string());
                }
                if stream.len().saturating_add(data.len()) > MAX_PARAMS {
                    return Err(format!("PARAMS over {MAX_PARAMS} bytes"));
                }
                stream.extend_from_slice(&data);
                continue;
            }
            Some(Event::Abort(i)) if i == id => return Ok(None),
            Some(Event::Begin { id: other, .. }) if other != id => {
                record::end_request(&mut conn.out, other, 0, CANT_MPX_CONN);
                continue;
            }
            Some(Event::Begin { .. }) => return Err("BEGIN_REQUEST twice".into()),
            Some(Event::Stdin(i, _)) if i == id => {
                return Err("STDIN before the end of PARAMS".into());
            }
            Some(_) => continue,
            None => {}
        }
        if conn.eof {
            return Err("connection closed in PARAMS".into());
        }
        conn.send_now().map_err(|g| g.0.to_string())?;
        if Instant::now() >= deadline || conn.wait_readable(deadline).is_err() {
            return Err("PARAMS not received in time".into());
        }
        match conn.read_now() {
            Ok(_) | Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}
