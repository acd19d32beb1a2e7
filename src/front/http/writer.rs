//! One HTTP/1.1 response on its way out: its head ([`head`]) and its body
//! framed as it comes ([`framing`]): by a length, chunked for HTTP/1.1,
//! by closing the connection for HTTP/1.0, or not at all (HEAD, 204,
//! 304). Bytes wait in a queue until the socket takes them; a bulk body
//! is moved by the kernel through the connection's relay pipe
//! ([`crate::io::relay`]) instead, with its chunk framing between the
//! pieces. The writer also decides the `Connection` field: the response
//! ends the connection when the client asked, when its body is delimited
//! by the close, or when a request body is left unread.
//!
//! [`head`]: super::head
//! [`framing`]: super::framing

use std::fs::File;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::errno::Errno;

use super::Version;
use super::framing::Framing;
use super::head::{ConnectionField, Head as WireHead};
use super::socket::Socket;
use crate::client::{Gone, Head, Served};
use crate::io::wait;

/// Room for a chunk's framing.
const FRAMING_ROOM: usize = 32;

enum State {
    NotStarted,
    Framed(Framing),
    /// An `nph-` response: bytes pass as they are.
    Raw,
}

pub struct Writer {
    version: Version,
    head_only: bool,
    /// The client asked to keep the connection.
    keep_alive: bool,
    state: State,
    /// Bytes for the client; `out[sent..]` not sent yet.
    out: Vec<u8>,
    sent: usize,
    status: u16,
    bytes: u64,
    close: bool,
    /// How long one step of sending may wait for the client.
    stall: Duration,
}

impl Writer {
    pub fn new(version: Version, head_only: bool, keep_alive: bool, stall: Duration) -> Writer {
        Writer {
            version,
            head_only,
            keep_alive,
            state: State::NotStarted,
            out: Vec::new(),
            sent: 0,
            status: 0,
            bytes: 0,
            close: false,
            stall,
        }
    }

    pub fn started(&self) -> bool {
        !matches!(self.state, State::NotStarted)
    }

    /// Writes the head; `body_unread`: a request body is left on the
    /// wire, so the connection ends after this response.
    pub fn start(&mut self, head: &Head, body_unread: bool) {
        let no_body = head.status == 204 || head.status == 304;
        let framing = match head.length {
            _ if no_body || self.head_only => Framing::Empty,
            Some(n) => Framing::Length(n),
            None if self.version == Version::Http11 => Framing::CHUNKED,
            None => Framing::Close,
        };
        self.close |= framing.closes() || !self.keep_alive || body_unread;
        let connection = match (self.close, self.version) {
            (true, _) => ConnectionField::Close,
            (false, Version::Http10) => ConnectionField::KeepAlive,
            (false, Version::Http11) => ConnectionField::Default,
        };
        WireHead {
            status: head.status,
            reason: head.reason,
            fields: head.fields,
            length: if no_body { None } else { head.length },
            chunked: matches!(framing, Framing::Chunked { .. }),
            connection,
        }
        .write(&mut self.out);
        self.status = head.status;
        self.state = State::Framed(framing);
    }

    pub fn start_raw(&mut self, status: u16) {
        self.status = status;
        self.close = true;
        self.state = State::Raw;
    }

    pub fn write(&mut self, data: &[u8]) -> usize {
        match &mut self.state {
            State::NotStarted => 0,
            State::Framed(framing) => {
                let took = framing.push(data, &mut self.out);
                if *framing != Framing::Empty {
                    self.bytes = self.bytes.saturating_add(took as u64);
                }
                took
            }
            State::Raw => {
                self.out.extend_from_slice(data);
                self.bytes = self.bytes.saturating_add(data.len() as u64);
                data.len()
            }
        }
    }

    pub fn room(&self) -> Option<u64> {
        match &self.state {
            State::NotStarted => None,
            State::Framed(framing) => framing.room(),
            State::Raw => Some(u64::MAX),
        }
    }

    pub fn backlog(&self) -> usize {
        self.out.len() - self.sent
    }

    pub fn can_splice(&self, socket: &Socket) -> bool {
        self.backlog() == 0 && socket.relay_can_take()
    }

    pub fn pending(&self, socket: &Socket) -> bool {
        self.backlog() > 0 || socket.relay_pending() > 0
    }

    /// Moves up to `max` bytes of `source` into the relay, framed.
    pub fn splice_from(
        &mut self,
        socket: &mut Socket,
        source: BorrowedFd<'_>,
        max: usize,
    ) -> nix::Result<usize> {
        let relay = socket
            .relay()
            .map_err(|e| e.raw_os_error().map_or(Errno::ENOMEM, Errno::from_raw))?;
        let max = max.min(relay.take_size());
        match &mut self.state {
            State::Framed(framing @ Framing::Chunked { .. }) => {
                let n = relay.take_framed(source, max, |n| {
                    let mut framing_bytes = Vec::with_capacity(FRAMING_ROOM);
                    framing.announce(n, &mut framing_bytes);
                    framing_bytes
                })?;
                self.bytes = self.bytes.saturating_add(n as u64);
                Ok(n)
            }
            State::Framed(framing) => {
                let n = relay.take_from(source, max)?;
                self.bytes = self
                    .bytes
                    .saturating_add(framing.announce(n, &mut Vec::new()) as u64);
                Ok(n)
            }
            State::Raw => {
                let n = relay.take_from(source, max)?;
                self.bytes = self.bytes.saturating_add(n as u64);
                Ok(n)
            }
            State::NotStarted => Err(Errno::EINVAL),
        }
    }

    pub fn finish(&mut self) -> Result<(), u64> {
        match &mut self.state {
            State::Framed(framing) => framing.finish(&mut self.out),
            State::Raw | State::NotStarted => Ok(()),
        }
    }

    /// Sends what the socket takes now: relayed bytes first, then the
    /// queued ones. (The relay only takes once the queue is empty, and
    /// then only the end of the framing is queued, so this is the order
    /// they were produced in.) Returns whether anything was sent.
    pub fn send_now(&mut self, socket: &mut Socket) -> Result<bool, Gone> {
        let mut progress = false;
        while socket.relay_pending() > 0 {
            match socket.send_relayed() {
                Ok(0) => break,
                Ok(_) => progress = true,
                Err(Errno::EAGAIN) => return Ok(progress),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.gone(e)),
            }
        }
        while self.sent < self.out.len() {
            match socket.send_now(&self.out[self.sent..]) {
                Ok(n) => {
                    self.sent += n;
                    progress = true;
                }
                Err(Errno::EAGAIN) => return Ok(progress),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.gone(e)),
            }
        }
        self.out.clear();
        self.sent = 0;
        Ok(progress)
    }

    /// Sends everything, waiting for the client at most the stall bound
    /// at each step.
    pub fn send_all(&mut self, socket: &mut Socket) -> Result<(), Gone> {
        while self.pending(socket) {
            if !self.send_now(socket)? && self.pending(socket) {
                socket
                    .wait_writable(wait::after(self.stall))
                    .map_err(|_| self.gone(Errno::ETIMEDOUT))?;
            }
        }
        Ok(())
    }

    /// Sends the queue, then `len` bytes of `file` from `offset` as body
    /// bytes (by sendfile). Returns how many of the file's bytes went.
    pub fn send_file(
        &mut self,
        socket: &mut Socket,
        file: &File,
        offset: u64,
        len: u64,
    ) -> Result<u64, Gone> {
        self.send_all(socket)?;
        let sent = socket
            .send_file(file, offset, len, self.stall)
            .map_err(|_| self.gone(Errno::EPIPE))?;
        if let State::Framed(Framing::Length(left)) = &mut self.state {
            *left = left.saturating_sub(sent);
        }
        self.bytes = self.bytes.saturating_add(sent);
        if sent < len {
            self.close = true;
        }
        Ok(sent)
    }

    pub fn delivered(&self, socket: &Socket) -> bool {
        let whole = matches!(
            self.state,
            State::Framed(Framing::Length(0) | Framing::Empty)
        );
        whole && !self.pending(socket)
    }

    pub fn close_after(&mut self) {
        self.close = true;
    }

    pub fn served(&self) -> Served {
        Served {
            status: self.status,
            bytes: self.bytes,
            close: self.close,
            script: None,
        }
    }

    /// A failed send: the connection is over.
    fn gone(&mut self, e: Errno) -> Gone {
        self.close = true;
        Gone(e.desc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(length: Option<u64>) -> Head<'static> {
        Head {
            status: 200,
            reason: "OK",
            fields: &[],
            length,
        }
    }

    fn text(w: &Writer) -> String {
        String::from_utf8(w.out.clone()).unwrap()
    }

    #[test]
    fn frames_by_version_and_length() {
        let mut w = Writer::new(Version::Http11, false, true, Duration::from_secs(1));
        w.start(&head(None), false);
        assert_eq!(w.write(b"hello"), 5);
        w.finish().unwrap();
        let wire = text(&w);
        assert!(
            wire.contains("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            "{wire}"
        );
        assert_eq!(
            w.served(),
            Served {
                status: 200,
                bytes: 5,
                close: false,
                script: None,
            }
        );

        let mut w = Writer::new(Version::Http10, false, true, Duration::from_secs(1));
        w.start(&head(None), false);
        w.write(b"hello");
        assert!(text(&w).ends_with("Connection: close\r\n\r\nhello"));
        assert!(w.served().close);

        let mut w = Writer::new(Version::Http10, false, true, Duration::from_secs(1));
        w.start(&head(Some(2)), false);
        assert!(text(&w).contains("Content-Length: 2\r\nConnection: keep-alive\r\n"));
        assert_eq!(w.write(b"abc"), 2, "the excess is refused");
        assert_eq!(w.room(), None);
    }

    #[test]
    fn head_requests_and_bodiless_statuses_send_no_body() {
        let mut w = Writer::new(Version::Http11, true, true, Duration::from_secs(1));
        w.start(&head(Some(3)), false);
        assert_eq!(w.write(b"abc"), 3);
        assert!(text(&w).ends_with("Content-Length: 3\r\n\r\n"));
        assert_eq!(w.served().bytes, 0);
        let mut w = Writer::new(Version::Http11, false, true, Duration::from_secs(1));
        let not_modified = Head {
            status: 304,
            reason: "Not Modified",
            fields: &[],
            length: Some(3),
        };
        w.start(&not_modified, false);
        w.write(b"abc");
        let wire = text(&w);
        assert!(
            !wire.contains("Content-Length") && !wire.contains("chunked"),
            "{wire}"
        );
        assert!(wire.ends_with("\r\n\r\n"));
    }

    #[test]
    fn the_connection_closes_when_it_must() {
        let mut w = Writer::new(Version::Http11, false, false, Duration::from_secs(1));
        w.start(&head(Some(0)), false);
        assert!(text(&w).contains("Connection: close\r\n"));
        let mut w = Writer::new(Version::Http11, false, true, Duration::from_secs(1));
        w.start(&head(Some(0)), true);
        assert!(
            text(&w).contains("Connection: close\r\n"),
            "a body is left unread"
        );
        let mut w = Writer::new(Version::Http11, false, true, Duration::from_secs(1));
        w.start(&head(Some(4)), false);
        assert_eq!(w.finish(), Err(4));
    }
}
