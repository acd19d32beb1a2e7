//! What a protocol front end hands to the layers below it for one
//! request: the request as CGI sees it ([`Request`]), and the client's
//! side of the exchange ([`Client`]): where the request body comes from
//! ([`Body`]) and where the response goes ([`Sink`]). The HTTP/1.1 front
//! end implements them over its socket; dispatch, static files and the
//! CGI engine use them and know nothing of sockets or of the protocol's
//! framing.

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::process::{ChildStdin, ExitStatus};
use std::time::{Duration, Instant};

use crate::fields;
use crate::io::stream::UNIX_PEER_IP;
use crate::status::Refusal;

/// A request, whatever protocol brought it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request-target as received, e.g. `/cgi-bin/x?y=1` (for logs).
    pub target: String,
    /// The target's path, still percent-encoded (`*` for `OPTIONS *`).
    pub path: String,
    /// The raw query after `?`, if any.
    pub query: Option<String>,
    /// `SERVER_PROTOCOL`, e.g. `HTTP/1.1`.
    pub protocol: &'static str,
    /// Header fields in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The host the request names (`Host`, or an absolute-form target).
    pub host: Option<String>,
    /// The address the client connected to, and the client's; None for
    /// a connection on a Unix socket, which has no IP addresses.
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    /// What the proxy in front said of the client's request, where it
    /// differs from what the connection shows.
    pub origin: Origin,
    /// Who the request is authenticated as (by rcgi, or by a proxy).
    pub user: Option<User>,
}

/// The client's request as a trusted proxy (or, for a gateway protocol,
/// the web server in front) describes it. Each field left empty means:
/// as the connection itself shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client's address (`REMOTE_ADDR`) and, if known, its port.
    pub client: Option<(IpAddr, Option<u16>)>,
    /// The client spoke https (`HTTPS=on`, `REQUEST_SCHEME=https`).
    pub https: bool,
    /// The host the client asked for (`SERVER_NAME`).
    pub server_name: Option<String>,
    /// The port the client connected to (`SERVER_PORT`).
    pub server_port: Option<u16>,
}

/// An authenticated user (`REMOTE_USER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// The scheme rcgi checked (`AUTH_TYPE`, e.g. `Basic`); None when a
    /// proxy vouched for the user.
    pub auth_type: Option<&'static str>,
}

impl Request {
    /// The client's address: the one a trusted proxy named, else the
    /// peer's; None for a client on a Unix socket that no proxy named.
    pub fn remote(&self) -> Option<IpAddr> {
        match self.origin.client {
            Some((ip, _)) => Some(ip),
            None => self.peer.map(|p| p.ip()),
        }
    }

    /// [`Request::remote`], with a Unix-socket client as loopback (it
    /// is on this machine): `REMOTE_ADDR`, the logs.
    pub fn remote_ip(&self) -> IpAddr {
        self.remote().unwrap_or(UNIX_PEER_IP)
    }

    /// The value of the first field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        fields::values(&self.headers, name).next()
    }

    /// A HEAD request: its response has no body.
    pub fn head_only(&self) -> bool {
        self.method == "HEAD"
    }
}

/// The head of a response, before any protocol frames it.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub status: u16,
    pub reason: &'a str,
    /// Fields to send as they are (already checked).
    pub fields: &'a [(String, Vec<u8>)],
    /// The body's length, if known before it is sent.
    pub length: Option<u64>,
}

/// What was sent, for the access log and the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The status sent (0 if none was).
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The connection must close now.
    pub close: bool,
    /// The script that answered, if one ran.
    pub script: Option<ScriptRun>,
}

/// A script's run, for the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRun {
    /// Its `SCRIPT_NAME`.
    pub name: Vec<u8>,
    pub pid: u32,
    pub exit: ExitStatus,
}

/// The client went away, or stopped reading; why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone(pub &'static str);

/// What went wrong with a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The client closed the connection, or it failed.
    Gone(Gone),
    /// Invalid framing, over `--max-body`, or too slow: the status says.
    Refused(Refusal),
}

impl From<Gone> for BodyError {
    fn from(e: Gone) -> Self {
        BodyError::Gone(e)
    }
}

impl From<Refusal> for BodyError {
    fn from(e: Refusal) -> Self {
        BodyError::Refused(e)
    }
}

/// What a [`Body::feed`] managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// Some body bytes moved.
    Some,
    /// Nothing had arrived.
    Nothing,
    /// The script's stdin takes no more now: wait until it can.
    StdinFull,
}

/// The request body, as the front end decodes it from its framing.
pub trait Body {
    /// The body's length if the client said it (`Content-Length`); None
    /// for a body of unknown length (chunked: not [`Body::complete`]) or
    /// no body.
    fn length(&self) -> Option<u64>;
    /// Refuses a body declared larger than the bound, before anything is
    /// read.
    fn check_length(&self) -> Result<(), Refusal>;
    /// The body is about to be read (HTTP sends `100 Continue` if asked).
    fn begin(&mut self) -> Result<(), Gone>;
    /// Reads the whole body into `file`; returns its length.
    fn spool(&mut self, file: &File) -> Result<u64, BodyError>;
    /// True while the client owes bytes and none wait: poll it for input.
    fn wants_input(&self) -> bool;
    /// True while body bytes wait for the script's stdin.
    fn has_data(&self) -> bool;
    /// True once the whole body has been received and passed on.
    fn complete(&self) -> bool;
    /// Moves what has arrived into `stdin`, without waiting; reads from
    /// the client only when `readable` (it said it had input). Closes
    /// `stdin` at the body's end; with `stdin` already closed (the script
    /// closed it) the bytes are dropped.
    fn feed(&mut self, stdin: &mut Option<ChildStdin>, readable: bool) -> Result<Fed, BodyError>;
    /// When the body must have arrived by, at the rate it is owed.
    fn deadline(&self) -> Option<Instant>;
    /// Nobody will read the rest: drops what waits in memory.
    fn discard(&mut self);
    /// The body was refused mid-way: what is left of it will never be
    /// read, so the connection cannot carry another request.
    fn abandon(&mut self);
}

/// Where a response goes; the front end frames it for its protocol.
/// Writes queue bytes; only the `send_*` methods touch the client.
pub trait Sink {
    /// Starts a response with `head`.
    fn start(&mut self, head: &Head);
    /// Starts a response whose bytes are the whole response, head
    /// included (`nph-` scripts); `status` is the one they carry, for
    /// the log.
    fn start_raw(&mut self, status: u16);
    /// True once a response has been started.
    fn started(&self) -> bool;
    /// Queues body bytes; returns how many the body takes (fewer once a
    /// declared length is reached: the rest is an excess).
    fn write(&mut self, data: &[u8]) -> usize;
    /// Body bytes the response may still take (None: no more).
    fn room(&self) -> Option<u64>;
    /// True when the sink can take the bytes of a bulk source without
    /// copying at all ([`Sink::splice_from`]); a sink that frames every
    /// piece (FastCGI records) cannot.
    fn splices(&self) -> bool {
        true
    }
    /// True when the bytes of a bulk source can be moved without copying
    /// now ([`Sink::splice_from`]): nothing else waits before them.
    fn can_splice(&self) -> bool;
    /// Moves up to `max` body bytes from `source` (a pipe) into the
    /// response. Returns 0 at the end of `source`; EAGAIN when it holds
    /// nothing, or when the response holds all it can (see
    /// [`Sink::pending`]).
    fn splice_from(&mut self, source: BorrowedFd<'_>, max: usize) -> nix::Result<usize>;
    /// Ends the body; `Err(missing)` if it is shorter than its length.
    fn finish(&mut self) -> Result<(), u64>;
    /// Bytes queued in memory, not sent yet.
    fn backlog(&self) -> usize;
    /// True while anything (queued or moved) waits to be sent.
    fn pending(&self) -> bool;
    /// Sends what the client takes now; true if anything went.
    fn send_now(&mut self) -> Result<bool, Gone>;
    /// Sends everything queued, waiting as the client reads.
    fn send_all(&mut self) -> Result<(), Gone>;
    /// Sends `len` bytes of `file` from `offset` as body bytes (after
    /// what is queued). Returns how many went.
    fn send_file(&mut self, file: &File, offset: u64, len: u64) -> Result<u64, Gone>;
    /// True once the client has the whole response: the body took all it
    /// may (its length, or none) and nothing waits.
    fn delivered(&self) -> bool;
    /// The connection ends after this response.
    fn close_after(&mut self);
    /// What was sent so far.
    fn served(&self) -> Served;
}

/// What a readable connection shows while no request body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hangup {
    /// The client has gone (closed, reset, or it abandoned the request):
    /// it cannot be waiting for an answer.
    Gone,
    /// Input waits that is no sign of leaving (pipelined requests): the
    /// connection stays readable, so stop watching it.
    Busy,
    /// Nothing to see (the front end took what came): keep watching.
    Quiet,
}

/// The client's side of one exchange.
pub trait Client: Body + Sink {
    /// The descriptor to poll for the client's input and output.
    fn fd(&self) -> BorrowedFd<'_>;
    /// What the client's connection shows when it is readable while no
    /// body is read from it: whether the client has gone.
    fn hangup(&mut self) -> Hangup;
    /// How long the client may stall (not send the body it owes, not read
    /// the response) before it counts as gone.
    fn stall_limit(&self) -> Duration;
}
