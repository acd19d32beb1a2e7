//! One client connection: read a request, serve it, log it, and go on to
//! the next one while keep-alive allows (pipelined requests are answered
//! in order, as they are read one after the other). A request rcgi
//! refuses to parse gets its error status and ends the connection.

use std::net::TcpStream;
use std::time::Instant;

use crate::http::HttpError;
use crate::http::conn::Conn;
use crate::http::request::{self, ReadError, Request};
use crate::http::response::{self, Connection};
use crate::log::{self, Access, Escaped};
use crate::serve::{self, Served};
use crate::server::Shared;

pub fn handle(shared: &Shared, stream: TcpStream) {
    let limits = &shared.config.limits;
    let mut conn = match Conn::new(stream, limits.head_bytes) {
        Ok(conn) => conn,
        Err(e) => {
            log::error(format_args!("cannot set up a connection: {e}"));
            return;
        }
    };
    loop {
        let req = match request::read(&mut conn, limits) {
            Ok(req) => req,
            Err(ReadError::Closed | ReadError::Idle) => break,
            Err(ReadError::Io(_)) => return,
            Err(ReadError::Bad(e)) => {
                refuse(&mut conn, &e);
                break;
            }
        };
        let started = Instant::now();
        let served = if shared.stopping() {
            refuse(&mut conn, &HttpError::new(503, "server shutting down"));
            break;
        } else {
            let _busy = shared.requests.try_enter();
            serve::serve(shared, &mut conn, &req)
        };
        access(&conn, &req, &served, started);
        if served.close || !req.keep_alive || shared.stopping() {
            break;
        }
    }
    conn.close();
}

/// Answers a request that could not be parsed (or come at a bad time),
/// and logs it; the connection ends after.
fn refuse(conn: &mut Conn, e: &HttpError) {
    let mut out = Vec::with_capacity(256);
    let bytes = response::error_page(&mut out, e.status, e.reason, false, Connection::Close, &[]);
    let _ = conn.write_all(&out, std::time::Duration::from_secs(5));
    log::error(format_args!("{}: {e}", conn.peer));
    log::access(&Access {
        client: conn.peer.ip(),
        request_line: format_args!("-"),
        status: e.status,
        bytes,
        duration: std::time::Duration::ZERO,
    });
}

fn access(conn: &Conn, req: &Request, served: &Served, started: Instant) {
    log::access(&Access {
        client: conn.peer.ip(),
        request_line: format_args!(
            "{} {} {}",
            Escaped(req.method.as_bytes()),
            Escaped(req.target.as_bytes()),
            req.version.as_str()
        ),
        status: served.status,
        bytes: served.bytes,
        duration: started.elapsed(),
    });
}
