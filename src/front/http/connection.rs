//! One HTTP connection's request loop: read a request, hand it to
//! dispatch with the client's side of it, log it, and go on to the next
//! one while keep-alive allows (pipelined requests are answered in
//! order, as they are read one after the other). What a trusted proxy
//! says of each request is applied before dispatch ([`forwarded`]). A
//! request rcgi cannot parse gets its error status and ends the
//! connection. Once the server has begun to stop, a request that has
//! arrived is answered with `Connection: close`.
//!
//! Between requests a connection is [`Waiting`]: nothing is buffered,
//! and it is handed back to the caller (the server's poll set), which
//! calls [`resume`] on a thread once the next request begins to arrive.
//! A new connection starts out waiting, so a silent client never holds
//! a thread.

use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use super::Limits;
use super::client::HttpClient;
use super::head;
use super::request::{self, ReadError};
use super::socket::Socket;
use crate::client::Served;
use crate::dispatch::{self, Site};
use crate::drain::{Drain, InFlight};
use crate::forwarded;
use crate::front::access;
use crate::io::stream::{Stream, UNIX_PEER_IP};
use crate::io::wait;
use crate::log::{self, Access};
use crate::stats::STATS;
use crate::status::Refusal;

/// How long a refusal may take to send.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a kept-alive connection keeps its thread after a response
/// before it goes back to the poll set: a busy client's next request
/// usually comes sooner, and is then read without a hand-over.
pub const KEEP_WARM: Duration = Duration::from_millis(50);

/// A connection between two requests, with nothing buffered.
pub struct Waiting {
    socket: Socket,
    /// Malformed forwarded headers are logged once per connection.
    told: bool,
    /// A new connection counts as a request from the start (until its
    /// first request is answered), so that a stop answers what its
    /// client sent as the listener closed.
    fresh: Option<InFlight>,
    /// When it began to wait.
    pub since: Instant,
}

impl Waiting {
    /// A connection just accepted.
    pub fn new(stream: Stream, limits: &Limits, drain: &Drain) -> Waiting {
        Waiting {
            socket: Socket::new(stream, limits.head_bytes),
            told: false,
            fresh: Some(drain.request()),
            since: Instant::now(),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.fd()
    }

    /// True until its first request: it still gets its last call when
    /// the server stops.
    pub fn is_fresh(&self) -> bool {
        self.fresh.is_some()
    }
}

/// Serves a waiting connection whose next request has begun to arrive
/// (or whose client closed), until the connection ends (None) or waits
/// again with nothing buffered.
pub fn resume(
    mut waiting: Waiting,
    limits: &Limits,
    proxy: &forwarded::Settings,
    site: &Site,
) -> Option<Waiting> {
    let drain = &site.drain;
    let mut busy = waiting.fresh.take().unwrap_or_else(|| drain.request());
    loop {
        let head = match request::read(&mut waiting.socket, limits) {
            Ok(head) => head,
            Err(ReadError::Closed | ReadError::Idle) => break,
            Err(ReadError::Io(_)) => return None,
            Err(ReadError::Bad(e)) => {
                refuse(&mut waiting.socket, &e);
                break;
            }
        };
        let served = answer(&mut waiting, head, limits, proxy, site);
        drop(busy);
        if !served {
            break;
        }
        waiting.since = Instant::now();
        if !next_request(&waiting.socket, drain) {
            if drain.stopping() {
                break;
            }
            waiting.socket.shed();
            return Some(waiting);
        }
        busy = drain.request();
    }
    waiting.socket.close();
    None
}

/// Serves one request; false when the connection must end after it.
fn answer(
    waiting: &mut Waiting,
    head: request::Request,
    limits: &Limits,
    proxy: &forwarded::Settings,
    site: &Site,
) -> bool {
    let drain = &site.drain;
    let started = Instant::now();
    // Once stopping, a request that arrived is answered, and is the
    // connection's last (the client's response says so).
    let socket = &mut waiting.socket;
    let (mut req, protocol) = head.into_parts(socket.local, socket.peer);
    let peer_ip = socket.peer.map(|p| p.ip());
    if let Some(bad) = forwarded::apply(proxy, peer_ip, &mut req) {
        if !std::mem::replace(&mut waiting.told, true) {
            log::warn(format_args!(
                "{}: {bad} (ignored; said once per connection)",
                socket.peer_name()
            ));
        }
    }
    let mut client = HttpClient::new(socket, &protocol, req.head_only(), limits, drain);
    let served = dispatch::serve(site, &mut req, &mut client);
    let clean = !served.close && client.settle_body();
    let served = Served {
        close: served.close || !clean,
        ..served
    };
    access::record(&req, &served, started);
    !(served.close || !protocol.keep_alive || drain.stopping())
}

/// True when the next request has begun to arrive (or the client
/// closed, which the read that follows sees) within [`KEEP_WARM`];
/// false when the connection should wait in the poll set instead, or
/// end (the server stopping).
fn next_request(socket: &Socket, drain: &Drain) -> bool {
    if !socket.buffered().is_empty() {
        return true;
    }
    matches!(
        wait::readable_first(socket.fd(), drain.fd(), wait::after(KEEP_WARM)),
        Ok(true)
    )
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
