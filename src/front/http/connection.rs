//! One HTTP connection's request loop: read a request, hand it to
//! dispatch with the client's side of it, log it, and go on to the next
//! one while keep-alive allows (pipelined requests are answered in
//! order, as they are read one after the other). What a trusted proxy
//! says of each request is applied before dispatch ([`forwarded`]). A
//! request rcgi cannot
//! parse gets its error status and ends the connection; so does any
//! request once the server has begun to stop.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::Limits;
use super::client::HttpClient;
use super::head;
use super::request::{self, ReadError};
use super::socket::Socket;
use crate::client::{Request, Served};
use crate::dispatch::{self, Site};
use crate::drain::Drain;
use crate::forwarded;
use crate::log::{self, Access, access::RequestLine, access::ScriptEnd};
use crate::status::Refusal;

/// How long a refusal may take to send.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one accepted connection until it ends; `proxy` says whose
/// forwarded headers are heard.
pub fn serve(
    stream: TcpStream,
    limits: &Limits,
    proxy: &forwarded::Settings,
    site: &Site,
    drain: &Drain,
) {
    let mut socket = match Socket::new(stream, limits.head_bytes) {
        Ok(socket) => socket,
        Err(e) => {
            log::error(format_args!("cannot set up a connection: {e}"));
            return;
        }
    };
    // Malformed forwarded headers are logged once per connection.
    let mut told = false;
    loop {
        let head = match request::read(&mut socket, limits) {
            Ok(head) => head,
            Err(ReadError::Closed | ReadError::Idle) => break,
            Err(ReadError::Io(_)) => return,
            Err(ReadError::Bad(e)) => {
                refuse(&mut socket, &e);
                break;
            }
        };
        if drain.stopping() {
            refuse(&mut socket, &Refusal::new(503, "server shutting down"));
            break;
        }
        let started = Instant::now();
        let (mut req, protocol) = head.into_parts(socket.local, socket.peer);
        if let Some(bad) = forwarded::apply(proxy, Some(socket.peer.ip()), &mut req) {
            if !std::mem::replace(&mut told, true) {
                log::warn(format_args!(
                    "{}: {bad} (ignored; said once per connection)",
                    socket.peer
                ));
            }
        }
        let served = {
            let _in_flight = drain.request();
            let mut client = HttpClient::new(&mut socket, &protocol, req.head_only(), limits);
            let served = dispatch::serve(site, &mut req, &mut client);
            let clean = !served.close && client.settle_body();
            Served {
                close: served.close || !clean,
                ..served
            }
        };
        access(&req, &served, started);
        if served.close || !protocol.keep_alive || drain.stopping() {
            break;
        }
    }
    socket.close();
}

/// Answers a request that could not be parsed (or came at a bad time),
/// and logs it; the connection ends after.
fn refuse(socket: &mut Socket, e: &Refusal) {
    let (out, bytes) = head::refusal(e.status, e.reason, &[]);
    let _ = socket.write_all(&out, REFUSAL_TIMEOUT);
    log::warn(format_args!("{}: {e}", socket.peer));
    log::access(&Access {
        remote: Some(socket.peer.ip()),
        user: None,
        request: None,
        status: e.status,
        bytes,
        duration: Duration::ZERO,
        referer: None,
        user_agent: None,
        script: None,
    });
}

fn access(req: &Request, served: &Served, started: Instant) {
    let script = served.script.as_ref().map(|s| ScriptEnd {
        name: &s.name,
        pid: s.pid,
        exit: s.exit,
    });
    log::access(&Access {
        remote: Some(req.remote_ip()),
        user: req.user.as_ref().map(|u| u.name.as_str()),
        request: Some(RequestLine {
            method: &req.method,
            target: &req.target,
            protocol: req.protocol,
        }),
        status: served.status,
        bytes: served.bytes,
        duration: started.elapsed(),
        referer: req.header("referer"),
        user_agent: req.header("user-agent"),
        script,
    });
}
