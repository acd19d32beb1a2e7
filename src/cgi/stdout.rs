//! The script's stdout on its way to the client, inside the exchange.
//! Output is read into the thread's buffer and given to the header
//! reader ([`HeadReader`]) until the response is known; then its body
//! goes to the sink as it comes. Once a large body streams (a read fills
//! the whole buffer), its bytes are moved by the kernel instead
//! ([`Sink::splice_from`]), never copied through rcgi. Past `OUT_HIGH`
//! bytes waiting for the client, stdout is left unread, so a slow client
//! slows its own script and nothing else. An `nph-` script's output is
//! the response itself and passes untouched.

use std::process::ChildStdout;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use std::os::fd::AsFd;

use super::end::End;
use super::response::{Document, HeadReader, Response, raw_status};
use super::script::Script;
use crate::client::{Client, Head};
use crate::io::pipe::enlarge_pipe;
use crate::io::scratch::{READ_SIZE, read_with};

/// Most response bytes held in memory for a slow client.
const OUT_HIGH: usize = 256 * 1024;
/// How long to wait, at the end of a script's output, to learn whether it
/// was killed by a signal (its exit follows the end of its output by
/// microseconds, unless it closed stdout and went on working).
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

enum State {
    /// The header block is still coming.
    Head(HeadReader),
    /// The response is started; body bytes go to the sink.
    Body,
    /// `nph-`: everything goes to the sink as it is.
    Raw { status: u16 },
    /// The rest is dropped (a local redirect, or an excess over the
    /// script's `Content-Length`).
    Discard,
}

pub struct Stdout {
    state: State,
    /// The body is moved by the kernel rather than read.
    splicing: bool,
    /// The sink took nothing from a readable stdout: wait until some of
    /// what it holds is sent.
    sink_full: bool,
    /// The script's stdout has not ended.
    pub open: bool,
    /// The script was killed by this signal mid-body: what it wrote is
    /// sent, and the response is then cut.
    pub killed: Option<Signal>,
    redirect: Option<Vec<u8>>,
    /// Something wrong after the response began, for the log.
    pub problem: Option<String>,
}

impl Stdout {
    /// Stdout of a script whose header block may take `max_head` bytes;
    /// `nph` passes it through.
    pub fn new(max_head: usize, nph: bool) -> Stdout {
        Stdout {
            state: if nph {
                State::Raw { status: 0 }
            } else {
                State::Head(HeadReader::new(max_head))
            },
            splicing: false,
            sink_full: false,
            open: true,
            killed: None,
            redirect: None,
            problem: None,
        }
    }

    /// True once the response has begun (or, for a local redirect, been
    /// decided): a failure can no longer be an error page.
    pub fn started(&self) -> bool {
        !matches!(self.state, State::Head(_))
    }

    /// The header bytes received so far, while the head is incomplete.
    pub fn head_so_far(&self) -> Vec<u8> {
        match &self.state {
            State::Head(reader) => reader.so_far(),
            _ => Vec::new(),
        }
    }

    /// The status of an `nph-` response, read from its first line.
    pub fn raw_status(&self) -> Option<u16> {
        match self.state {
            State::Raw { status } => Some(status),
            _ => None,
        }
    }

    /// True when stdout should be read now.
    pub fn wants_read(&self, sink: &dyn Client) -> bool {
        self.open
            && if self.splicing {
                !self.sink_full && sink.can_splice()
            } else {
                sink.backlog() < OUT_HIGH
            }
    }

    pub fn take_redirect(&mut self) -> Option<Vec<u8>> {
        self.redirect.take()
    }

    /// Stdout is readable (or at its end). Returns whether the client
    /// was sent anything.
    pub fn readable(
        &mut self,
        client: &mut dyn Client,
        stdout: &ChildStdout,
        script: &mut Script,
    ) -> Result<bool, End> {
        if self.splicing {
            if let Some(room) = client.room() {
                return self.splice(client, stdout, room, script);
            }
            // The body takes no more (a length reached): read what is
            // left, to see whether there is an excess.
            self.splicing = false;
        }
        // Read all there is before sending: when the script has already
        // ended, the whole response goes out in one send.
        while client.backlog() < OUT_HIGH {
            let read = read_with(stdout, |data| (data.len(), self.take(data, client)));
            match read {
                Ok((0, _)) => return self.end(client, script),
                Ok((n, taken)) => {
                    taken?;
                    if n == READ_SIZE
                        && self.streams_body()
                        && client.room().is_some()
                        && client.splices()
                    {
                        // A large body: from now on the kernel moves it.
                        self.splicing = true;
                        enlarge_pipe(stdout);
                        break;
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(_) => return self.end(client, script),
            }
        }
        self.flush(client)
    }

    fn streams_body(&self) -> bool {
        matches!(self.state, State::Body | State::Raw { .. })
    }

    /// Takes one piece of output.
    fn take(&mut self, data: &[u8], client: &mut dyn Client) -> Result<(), End> {
        match &mut self.state {
            State::Head(reader) => match reader.feed(data).map_err(End::Fault)? {
                None => {}
                Some(Response::LocalRedirect(target)) => {
                    self.redirect = Some(target);
                    self.state = State::Discard;
                }
                Some(Response::Document { head, body }) => {
                    start(client, &head);
                    self.state = State::Body;
                    self.body(&body, client);
                }
            },
            State::Raw { status } => {
                if !client.started() {
                    *status = raw_status(data);
                    client.start_raw(*status);
                }
                client.write(data);
            }
            State::Body => self.body(data, client),
            State::Discard => {}
        }
        Ok(())
    }

    fn body(&mut self, data: &[u8], client: &mut dyn Client) {
        if client.write(data) < data.len() {
            self.state = State::Discard;
            client.close_after();
            self.problem = Some("output longer than its Content-Length; excess dropped".into());
        }
    }

    /// Moves what stdout holds (at most `room` bytes) into the sink
    /// without copying, and sends what the client takes.
    fn splice(
        &mut self,
        client: &mut dyn Client,
        stdout: &ChildStdout,
        room: u64,
        script: &mut Script,
    ) -> Result<bool, End> {
        let max = usize::try_from(room).unwrap_or(usize::MAX);
        match client.splice_from(stdout.as_fd(), max) {
            Ok(0) => self.end(client, script),
            Ok(_) => self.flush(client),
            Err(Errno::EAGAIN) if client.pending() => {
                self.sink_full = true;
                Ok(false)
            }
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(false),
            // No descriptors for a pipe: copy the body through rcgi.
            Err(Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM) => {
                self.splicing = false;
                Ok(false)
            }
            Err(_) => self.end(client, script),
        }
    }

    /// The script's output is over: finish the response, unless the
    /// script was killed by a signal, which leaves its body unfinished:
    /// then what it wrote goes out without the end of the framing (see
    /// [`Stdout::killed`]), so the client can tell.
    pub fn end(&mut self, client: &mut dyn Client, script: &mut Script) -> Result<bool, End> {
        self.open = false;
        match self.state {
            State::Head(ref reader) => return Err(End::Fault(reader.ended())),
            State::Body | State::Raw { .. } => {
                self.killed = script.killed_by(Instant::now() + EXIT_WAIT);
            }
            State::Discard => {}
        }
        if self.killed.is_none() && client.started() {
            if let Err(missing) = client.finish() {
                client.close_after();
                self.problem = Some(format!(
                    "output ended {missing} bytes short of its Content-Length; connection closed"
                ));
            }
        }
        self.flush(client)
    }

    /// Sends what the client takes now; whether anything went (then the
    /// sink may take more).
    pub fn flush(&mut self, client: &mut dyn Client) -> Result<bool, End> {
        let progress = client.send_now().map_err(|gone| End::ClientGone(gone.0))?;
        if progress {
            self.sink_full = false;
        }
        Ok(progress)
    }
}

/// Starts the response for a document or client redirect.
fn start(sink: &mut dyn Client, head: &Document) {
    sink.start(&Head {
        status: head.status,
        reason: &head.reason,
        fields: &head.fields,
        length: head.length,
    });
}
