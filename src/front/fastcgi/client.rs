//! A FastCGI request's side of the exchange, as the layers below the
//! front end see it ([`crate::client::Client`]): its body is the request's
//! `STDIN` stream ([`StdinStream`]), its response goes out as `STDOUT`
//! records ([`Response`]). While the request runs, every record that
//! arrives is handled: management records are answered, a
//! `BEGIN_REQUEST` for another id is refused with `FCGI_CANT_MPX_CONN`,
//! and an `ABORT_REQUEST` for this one, a closed connection or a
//! malformed record ends it like a client gone over HTTP (the engine then
//! kills the script's process group).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::process::ChildStdin;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::Limits;
use super::conn::Conn;
use super::incoming::{self, Event};
use super::record::{self, CANT_MPX_CONN, STDIN};
use super::stdin::StdinStream;
use super::writer::Response;
use crate::client::{Body, BodyError, Client, Fed, Gone, Hangup, Head, Served, Sink};
use crate::front::body_clock;
use crate::front::give;
use crate::status::Refusal;

/// The most response bytes held back while the request body is still
/// coming (see [`FcgiClient::holding`]); under the engine's own bound
/// on queued output, so that it is reached before the engine stops
/// reading the script's stdout.
const HOLD_MAX: usize = 192 * 1024;
/// Bytes of a file read at once for [`Sink::send_file`].
const FILE_STEP: usize = 64 * 1024;
/// Reads one look at a readable connection makes at most (see
/// [`Client::hangup`]), so a flood of records cannot hold it.
const HANGUP_READS: usize = 16;
const CLOSED: Gone = Gone("web server closed the connection mid-request");
const ABORTED: Gone = Gone("web server aborted the request (ABORT_REQUEST)");

pub struct FcgiClient<'c> {
    conn: &'c mut Conn,
    id: u16,
    max_conns: usize,
    body: StdinStream,
    response: Response,
    /// Why the connection cannot carry another request, if it cannot.
    pub broken: Option<String>,
    /// The web server sent `ABORT_REQUEST`: it wants the request's end.
    aborted: bool,
    stall: Duration,
}

impl<'c> FcgiClient<'c> {
    pub fn new(
        conn: &'c mut Conn,
        id: u16,
        declared: Option<u64>,
        head_only: bool,
        limits: &Limits,
    ) -> FcgiClient<'c> {
        let mut client = FcgiClient {
            conn,
            id,
            max_conns: limits.max_connections,
            body: StdinStream::new(declared, limits.body),
            response: Response::new(id, head_only),
            broken: None,
            aborted: false,
            stall: limits.idle_timeout,
        };
        client.note_empty_body();
        client
    }

    /// A body of unknown length whose end arrived with the params (a GET
    /// from nginx, which sends `CONTENT_LENGTH` empty) is known empty
    /// before dispatch asks: it is not spooled, and the script gets no
    /// `CONTENT_LENGTH`, as over HTTP.
    fn note_empty_body(&mut self) {
        if self.body.declared().is_some_and(|n| n > 0) {
            return;
        }
        let len = match self.conn.record() {
            Ok(Some((h, content, len)))
                if h.kind == STDIN && h.id == self.id && content.is_empty() =>
            {
                len
            }
            _ => return,
        };
        self.conn.consume(len);
        let _ = self.body.push(Vec::new());
    }

    /// Ends the request (`FCGI_END_REQUEST` with the script's exit
    /// status) and sends what is queued: Ok(true) if the connection can
    /// carry another request, Ok(false) if it must close (a response cut
    /// short gets no end, so that it does not look complete), Err(why)
    /// if it failed.
    pub fn end(mut self, app_status: u32) -> Result<bool, String> {
        // An aborted request ends as the spec asks, cut or not.
        let cut = self.response.cut() && !self.aborted;
        if !cut {
            self.response.end(app_status, &mut self.conn.out);
        }
        if let Err(gone) = self.conn.send_all(self.stall) {
            self.broken.get_or_insert_with(|| gone.0.to_string());
        }
        match self.broken {
            Some(why) => Err(why),
            None => Ok(!cut),
        }
    }

    /// Whether the script's output waits for the end of the body: nginx
    /// stops sending a request body once the response has begun, so a
    /// script that writes its head before reading its input would lose
    /// the rest of it. Output is held back until the whole body has
    /// arrived, unless [`HOLD_MAX`] bytes wait: a script that writes that
    /// much before reading all its input needs its output to flow to go
    /// on.
    fn holding(&self) -> bool {
        !self.body.arrived() && self.conn.backlog() < HOLD_MAX
    }

    fn lost(&mut self, gone: Gone) -> Gone {
        self.broken.get_or_insert_with(|| gone.0.to_string());
        gone
    }

    /// The next piece of this request's `STDIN` among the records that
    /// have arrived whole, handling the others on the way.
    fn next_stdin(&mut self) -> Result<Option<Vec<u8>>, Gone> {
        loop {
            let event = match incoming::next(self.conn, self.max_conns) {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(None),
                Err(bad) => {
                    self.broken = Some(bad.0.to_string());
                    return Err(Gone(bad.0));
                }
            };
            match event {
                Event::Stdin(id, data) if id == self.id => return Ok(Some(data)),
                // The request ends (its END_REQUEST follows); the
                // connection can carry the next one.
                Event::Abort(id) if id == self.id => {
                    self.aborted = true;
                    return Err(ABORTED);
                }
                Event::Begin { id, .. } if id != self.id => {
                    record::end_request(&mut self.conn.out, id, 0, CANT_MPX_CONN);
                }
                Event::Begin { .. } => {
                    return Err(self.lost(Gone("BEGIN_REQUEST for a request already running")));
                }
                // Records of requests refused or ended: dropped.
                _ => {}
            }
        }
    }

    /// Reads what has arrived; false if nothing had.
    fn read(&mut self) -> Result<bool, Gone> {
        loop {
            return match self.conn.read_now() {
                Ok(0) => Err(self.lost(CLOSED)),
                Ok(_) => Ok(true),
                Err(Errno::EAGAIN) => Ok(false),
                Err(Errno::EINTR) => continue,
                Err(e) => Err(self.lost(Gone(e.desc()))),
            };
        }
    }

    /// Takes one piece of the body into the stream.
    fn push(&mut self, data: Vec<u8>) -> Result<(), BodyError> {
        self.body.push(data).map_err(|e| {
            self.broken.get_or_insert_with(|| e.reason.to_string());
            BodyError::Refused(e)
        })
    }

    /// The moment a wait for the body must end.
    fn wait_until(&self) -> Instant {
        body_clock::wait_until(self.body.deadline(), self.stall)
    }

    fn timed_out(&self) -> Refusal {
        body_clock::timed_out(self.body.deadline())
    }
}

impl Body for FcgiClient<'_> {
    fn length(&self) -> Option<u64> {
        self.body.declared()
    }

    fn check_length(&self) -> Result<(), Refusal> {
        self.body.check_declared()
    }

    fn begin(&mut self) -> Result<(), Gone> {
        self.body.begin();
        Ok(())
    }

    fn spool(&mut self, file: &File) -> Result<u64, BodyError> {
        self.body.begin();
        let mut writer = BufWriter::with_capacity(FILE_STEP, file);
        let mut total: u64 = 0;
        loop {
            let n = self.body.waiting().len();
            if n > 0 {
                writer.write_all(self.body.waiting()).map_err(disk)?;
                total = total.saturating_add(n as u64);
                self.body.advance(n);
                continue;
            }
            if self.body.ended() {
                break;
            }
            match self.next_stdin()? {
                Some(data) => self.push(data)?,
                None => {
                    if self.conn.wait_readable(self.wait_until()).is_err() {
                        self.broken = Some("request body timed out".into());
                        return Err(BodyError::Refused(self.timed_out()));
                    }
                    self.read()?;
                }
            }
        }
        writer.flush().map_err(disk)?;
        Ok(total)
    }

    fn wants_input(&self) -> bool {
        !self.body.ended() && self.body.waiting().is_empty() && !self.conn.has_record()
    }

    fn has_data(&self) -> bool {
        !self.body.complete() && (!self.body.waiting().is_empty() || self.conn.has_record())
    }

    fn complete(&self) -> bool {
        self.body.complete()
    }

    fn feed(
        &mut self,
        stdin: &mut Option<ChildStdin>,
        mut readable: bool,
    ) -> Result<Fed, BodyError> {
        let mut fed = Fed::Nothing;
        loop {
            if !self.body.waiting().is_empty() {
                match give(stdin, self.body.waiting()) {
                    Some(n) => {
                        self.body.advance(n);
                        fed = Fed::Some;
                        continue;
                    }
                    None => {
                        self.body.pause();
                        // Bytes that moved before the pipe filled are
                        // progress: the client is not stalling.
                        return Ok(if fed == Fed::Some {
                            fed
                        } else {
                            Fed::StdinFull
                        });
                    }
                }
            }
            if self.body.ended() {
                *stdin = None;
                return Ok(fed);
            }
            match self.next_stdin()? {
                Some(data) => self.push(data)?,
                None if readable => {
                    readable = false;
                    if !self.read()? {
                        return Ok(fed);
                    }
                }
                None => return Ok(fed),
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.body.deadline()
    }

    fn discard(&mut self) {
        self.body.discard();
    }

    /// What is left of the body comes as records of a request that has
    /// ended, which are dropped: nothing to do.
    fn abandon(&mut self) {}
}

impl Sink for FcgiClient<'_> {
    fn start(&mut self, head: &Head) {
        self.response.start(head, &mut self.conn.out);
    }

    fn start_raw(&mut self, status: u16) {
        self.response.start_raw(status);
    }

    fn started(&self) -> bool {
        self.response.started()
    }

    fn write(&mut self, data: &[u8]) -> usize {
        self.response.write(data, &mut self.conn.out)
    }

    fn room(&self) -> Option<u64> {
        self.response.room()
    }

    fn splices(&self) -> bool {
        false
    }

    fn can_splice(&self) -> bool {
        false
    }

    fn splice_from(&mut self, _source: BorrowedFd<'_>, _max: usize) -> nix::Result<usize> {
        Err(Errno::EOPNOTSUPP)
    }

    fn finish(&mut self) -> Result<(), u64> {
        self.response.finish()
    }

    fn backlog(&self) -> usize {
        self.conn.backlog()
    }

    /// Not while output is held back: nothing to send yet.
    fn pending(&self) -> bool {
        self.conn.backlog() > 0 && !self.holding()
    }

    fn send_now(&mut self) -> Result<bool, Gone> {
        if self.holding() {
            return Ok(false);
        }
        self.conn.send_now().map_err(|g| self.lost(g))
    }

    fn send_all(&mut self) -> Result<(), Gone> {
        self.conn.send_all(self.stall).map_err(|g| self.lost(g))
    }

    fn send_file(&mut self, file: &File, offset: u64, len: u64) -> Result<u64, Gone> {
        let mut buf = vec![0; FILE_STEP];
        let mut sent: u64 = 0;
        while sent < len {
            let want = usize::try_from(len - sent)
                .unwrap_or(FILE_STEP)
                .min(FILE_STEP);
            let at = offset.saturating_add(sent);
            let n = match file.read_at(&mut buf[..want], at) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.write(&buf[..n]);
            self.send_all()?;
            sent += n as u64;
        }
        Ok(sent)
    }

    fn delivered(&self) -> bool {
        self.response.whole() && self.conn.backlog() == 0
    }

    fn close_after(&mut self) {
        self.response.close_after();
    }

    fn served(&self) -> Served {
        self.response.served()
    }
}

impl Client for FcgiClient<'_> {
    fn fd(&self) -> BorrowedFd<'_> {
        self.conn.fd()
    }

    /// Reads what came: the end of the connection, or this request's
    /// `ABORT_REQUEST`, is the client gone; anything else is handled.
    fn hangup(&mut self) -> Hangup {
        for _ in 0..HANGUP_READS {
            match self.read() {
                Err(_) => return Hangup::Gone,
                Ok(more) => match self.next_stdin() {
                    Err(_) => return Hangup::Gone,
                    // Body bytes nobody reads: dropped.
                    Ok(Some(_)) => {}
                    Ok(None) if more => {}
                    Ok(None) => return Hangup::Quiet,
                },
            }
        }
        Hangup::Quiet
    }

    fn stall_limit(&self) -> Duration {
        self.stall
    }
}

fn disk(e: std::io::Error) -> BodyError {
    crate::log::error(format_args!("cannot spool a request body: {e}"));
    BodyError::Refused(Refusal::new(500, "cannot store the request body"))
}
