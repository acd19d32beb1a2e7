//! One HTTP connection's request loop: read a request, hand it to
//! dispatch with the client's side of it, log it, and go on to the next
//! one while keep-alive allows (pipelined requests are answered in
//! order, as they are read one after the other). What a trusted proxy
//! says of each request is applied before dispatch ([`forwarded`]). A
//! request rcgi cannot parse gets its error status and ends the
//! connection. Once the server has begun to stop, a connection waiting
//! for its next request closes at once, and a request that has arrived
//! is answered with `Connection: close`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use super::Limits;
use super::client::HttpClient;
use super::head;
use super::request::{self, ReadError};
use super::socket::Socket;
use crate::client::Served;
use crate::dispatch::{self, Site};
use crate::drain::Drain;
use crate::forwarded;
use crate::front::access;
use crate::io::stream::{Stream, UNIX_PEER_IP};
use crate::io::wait;
use crate::log::{self, Access};
use crate::stats::STATS;
use crate::status::Refusal;

/// How long a refusal may take to send.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a new connection may take to send its first request once
/// the server stops.
const LAST_CALL: Duration = Duration::from_secs(1);

/// Serves one accepted connection until it ends; `proxy` says whose
/// forwarded headers are heard.
pub fn serve(stream: Stream, limits: &Limits, proxy: &forwarded::Settings, site: &Site) {
    let drain = &site.drain;
    let mut socket = Socket::new(stream, limits.head_bytes);
    // A new connection counts as a request from the start, so that a stop
    // answers what its client sent as the listener closed.
    let mut busy = Some(drain.request());
    // Malformed forwarded headers are logged once per connection.
    let mut told = false;
    loop {
        if busy.is_none() {
            if !next_request(&socket, limits, drain, false) {
                break;
            }
            busy = Some(drain.request());
        } else if !next_request(&socket, limits, drain, true) {
            break;
        }
        let head = match request::read(&mut socket, limits) {
            Ok(head) => head,
            Err(ReadError::Closed | ReadError::Idle) => break,
            Err(ReadError::Io(_)) => return,
            Err(ReadError::Bad(e)) => {
                refuse(&mut socket, &e);
                break;
            }
        };
        let started = Instant::now();
        // Once stopping, a request that arrived is answered, and is the
        // connection's last (the client's response says so).
        let (mut req, protocol) = head.into_parts(socket.local, socket.peer);
        let peer_ip = socket.peer.map(|p| p.ip());
        if let Some(bad) = forwarded::apply(proxy, peer_ip, &mut req) {
            if !std::mem::replace(&mut told, true) {
                log::warn(format_args!(
                    "{}: {bad} (ignored; said once per connection)",
                    socket.peer_name()
                ));
            }
        }
        let mut client = HttpClient::new(&mut socket, &protocol, req.head_only(), limits, drain);
        let served = dispatch::serve(site, &mut req, &mut client);
        let clean = !served.close && client.settle_body();
        let served = Served {
            close: served.close || !clean,
            ..served
        };
        busy = None;
        access::record(&req, &served, started);
        if served.close || !protocol.keep_alive || drain.stopping() {
            break;
        }
    }
    drop(busy);
    socket.close();
}

/// Waits until the next request begins to arrive (or the client closes,
/// which the read that follows sees); false when the connection should
/// end quietly instead: idle past the idle timeout, or the server
/// stopping. A kept-alive connection ends at once when the server
/// stops; a new one (`first`) still gets [`LAST_CALL`] for the request
/// its client may have sent as the listener closed.
fn next_request(socket: &Socket, limits: &Limits, drain: &Drain, first: bool) -> bool {
    if !socket.buffered().is_empty() {
        return true;
    }
    let idle = wait::after(limits.idle_timeout);
    match wait::readable_first(socket.fd(), drain.fd(), idle) {
        Ok(true) => true,
        Ok(false) if first => {
            let last_call = idle.min(wait::after(LAST_CALL));
            wait::ready(socket.fd(), PollFlags::POLLIN, last_call).is_ok()
        }
        Ok(false) | Err(_) => false,
    }
}

/// Answers a request that could not be parsed (or came at a bad time),
/// and logs it; the connection ends after.
fn refuse(socket: &mut Socket, e: &Refusal) {
    let (out, bytes) = head::refusal(e.status, e.reason, &[]);
    let _ = socket.write_all(&out, REFUSAL_TIMEOUT);
    log::warn(format_args!("{}: {e}", socket.peer_name()));
    STATS.request("-", "-", e.status, bytes, Duration::ZERO);
    log::access(&Access {
        remote: Some(client_ip(socket)),
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

/// The client's address for the log (a Unix-socket client is local).
fn client_ip(socket: &Socket) -> IpAddr {
    socket.peer.map_or(UNIX_PEER_IP, |a| a.ip())
}
