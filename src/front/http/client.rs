//! An HTTP client's side of one request, as the layers below the front
//! end see it ([`crate::client::Client`]): its body ([`BodyReader`]) and
//! its response ([`Writer`]) over the connection's socket. It also keeps
//! the one rule that joins them: a response that leaves a request body
//! unread on the wire ends the connection, unless the rest is short
//! enough to read and drop first.

use std::fs::File;
use std::os::fd::BorrowedFd;
use std::process::ChildStdin;
use std::time::{Duration, Instant};

use super::body::BodyReader;
use super::head::CONTINUE;
use super::request::Protocol;
use super::socket::Socket;
use super::writer::Writer;
use super::{Limits, Version};
use crate::client::{Body, BodyError, Client, Fed, Gone, Hangup, Head, Served, Sink};
use crate::drain::Drain;
use crate::status::Refusal;

pub struct HttpClient<'s> {
    socket: &'s mut Socket,
    body: Option<BodyReader>,
    writer: Writer,
    expect_continue: bool,
    /// The body is being read for a script (from [`Body::begin`]).
    begun: bool,
    /// Whoever read the body is done with it ([`Body::discard`]).
    done_with: bool,
    /// The body went wrong (refused, or the client left mid-body).
    broken: bool,
    idle: Duration,
    drain: &'s Drain,
}

impl<'s> HttpClient<'s> {
    pub fn new(
        socket: &'s mut Socket,
        protocol: &Protocol,
        head_only: bool,
        limits: &Limits,
        drain: &'s Drain,
    ) -> HttpClient<'s> {
        // Relayed bytes a cut response left behind go with their pipe.
        socket.forget_relayed();
        HttpClient {
            socket,
            body: BodyReader::new(protocol.body, limits.body, limits.idle_timeout),
            writer: Writer::new(
                protocol.version,
                head_only,
                protocol.keep_alive,
                limits.idle_timeout,
            ),
            expect_continue: protocol.expect_continue && protocol.version == Version::Http11,
            begun: false,
            done_with: false,
            broken: false,
            idle: limits.idle_timeout,
            drain,
        }
    }

    /// After the response: reads and drops a short unread rest of the
    /// body; true if the connection can carry another request.
    pub fn settle_body(&mut self) -> bool {
        if self.broken {
            return false;
        }
        match &mut self.body {
            None => true,
            Some(body) => body.complete() || body.drain(self.socket),
        }
    }

    /// Whether a response starting now leaves a body unread: not while a
    /// script is still reading it (the end of the request settles that),
    /// and not once a short rest has been read and dropped.
    fn leaves_body_unread(&mut self) -> bool {
        let Some(body) = &mut self.body else {
            return false;
        };
        if body.complete() {
            return false;
        }
        match (self.broken, self.begun, self.done_with) {
            (true, _, _) => true,
            // A script reads it now.
            (false, true, false) => false,
            // Whoever read it is done: drop a short rest.
            (false, true, true) => !body.drain(self.socket),
            // Never read.
            (false, false, _) => true,
        }
    }

    fn track<T>(&mut self, r: Result<T, BodyError>) -> Result<T, BodyError> {
        if r.is_err() {
            self.broken = true;
        }
        r
    }
}

impl Body for HttpClient<'_> {
    fn length(&self) -> Option<u64> {
        self.body.as_ref().and_then(BodyReader::declared)
    }

    fn check_length(&self) -> Result<(), Refusal> {
        self.body
            .as_ref()
            .map_or(Ok(()), BodyReader::check_declared)
    }

    fn begin(&mut self) -> Result<(), Gone> {
        let Some(body) = &mut self.body else {
            return Ok(());
        };
        body.begin();
        self.begun = true;
        if std::mem::take(&mut self.expect_continue) {
            self.socket.write_all(CONTINUE, self.idle).map_err(|_| {
                self.broken = true;
                Gone("client gone before 100 Continue")
            })?;
        }
        Ok(())
    }

    fn spool(&mut self, file: &File) -> Result<u64, BodyError> {
        let r = match &mut self.body {
            Some(body) => body.spool(self.socket, file),
            None => Ok(0),
        };
        self.track(r)
    }

    fn wants_input(&self) -> bool {
        self.body
            .as_ref()
            .is_some_and(|b| b.wants_input(self.socket))
    }

    fn has_data(&self) -> bool {
        self.body.as_ref().is_some_and(|b| b.has_data(self.socket))
    }

    fn complete(&self) -> bool {
        self.body.as_ref().is_none_or(BodyReader::complete)
    }

    fn feed(&mut self, stdin: &mut Option<ChildStdin>, readable: bool) -> Result<Fed, BodyError> {
        let r = match &mut self.body {
            Some(body) => body.feed(self.socket, stdin, readable),
            None => {
                *stdin = None;
                Ok(Fed::Nothing)
            }
        };
        self.track(r)
    }

    fn deadline(&self) -> Option<Instant> {
        self.body.as_ref().and_then(BodyReader::deadline)
    }

    fn abandon(&mut self) {
        self.broken = true;
    }

    fn discard(&mut self) {
        self.done_with = true;
        if let Some(body) = &mut self.body {
            body.discard(self.socket);
        }
    }
}

impl Sink for HttpClient<'_> {
    fn start(&mut self, head: &Head) {
        let unread = self.leaves_body_unread();
        if self.drain.stopping() {
            // The connection's last response: say so.
            self.writer.close_after();
        }
        self.writer.start(head, unread);
    }

    fn start_raw(&mut self, status: u16) {
        self.writer.start_raw(status);
    }

    fn started(&self) -> bool {
        self.writer.started()
    }

    fn write(&mut self, data: &[u8]) -> usize {
        self.writer.write(data)
    }

    fn room(&self) -> Option<u64> {
        self.writer.room()
    }

    fn can_splice(&self) -> bool {
        self.writer.can_splice(self.socket)
    }

    fn splice_from(&mut self, source: BorrowedFd<'_>, max: usize) -> nix::Result<usize> {
        self.writer.splice_from(self.socket, source, max)
    }

    fn finish(&mut self) -> Result<(), u64> {
        self.writer.finish()
    }

    fn backlog(&self) -> usize {
        self.writer.backlog()
    }

    fn pending(&self) -> bool {
        self.writer.pending(self.socket)
    }

    fn send_now(&mut self) -> Result<bool, Gone> {
        self.writer.send_now(self.socket)
    }

    fn send_all(&mut self) -> Result<(), Gone> {
        self.writer.send_all(self.socket)
    }

    fn send_file(&mut self, file: &File, offset: u64, len: u64) -> Result<u64, Gone> {
        self.writer.send_file(self.socket, file, offset, len)
    }

    fn delivered(&self) -> bool {
        self.writer.delivered(self.socket)
    }

    fn close_after(&mut self) {
        self.writer.close_after();
    }

    fn served(&self) -> Served {
        self.writer.served()
    }
}

impl Client for HttpClient<'_> {
    fn fd(&self) -> BorrowedFd<'_> {
        self.socket.fd()
    }

    fn hangup(&mut self) -> Hangup {
        self.socket.hangup()
    }

    fn stall_limit(&self) -> Duration {
        self.idle
    }
}
