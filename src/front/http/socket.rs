//! One client's socket and its read buffer, holding what was received
//! but not used yet, so that body bytes that arrive with a head, or a
//! pipelined request that arrives with a body, are never lost. It also
//! keeps the connection's relay pipe (made on its first large body).
//!
//! The socket is non-blocking, so that the exchange's `poll` loop and
//! `splice(2)` can use it directly. The methods that take a `timeout`
//! wait with `poll` until they are done or the time is up; the `*_now`
//! ones never wait.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{SpliceFFlags, splice};
use nix::poll::PollFlags;
use nix::sys::socket::{MsgFlags, recv, send};

use crate::client::Hangup;
use crate::io::relay::Relay;
use crate::io::stream::{PeerName, Stream};
use crate::io::wait;

pub struct Socket {
    stream: Stream,
    /// Our address (the one the client connected to); None on a Unix
    /// socket.
    pub local: Option<SocketAddr>,
    /// The client's address; None on a Unix socket.
    pub peer: Option<SocketAddr>,
    /// `buf[start..end]` is received but unused. It is made on the
    /// first read, small, and grows, as far as `limit`, only when it
    /// must; a connection waiting for a request has none
    /// ([`Socket::shed`]).
    buf: Vec<u8>,
    limit: usize,
    start: usize,
    end: usize,
    /// The pipe large bodies are spliced through, made when first needed.
    relay: Option<Relay>,
}

/// How long a closing connection keeps reading what the client still sends.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// How much it reads at most while lingering.
const CLOSE_LINGER_BYTES: usize = 1 << 20;
/// The read buffer's largest size (a larger head bound makes it larger).
/// Large bodies do not pass through it: they are spliced.
const BUFFER: usize = 64 * 1024;
/// The read buffer's first size: a typical request head fits.
const FIRST_BUFFER: usize = 4 * 1024;
/// Largest piece of a file handed to `sendfile` at once.
const SENDFILE_STEP: usize = 1 << 20;

impl Socket {
    /// Wraps an accepted connection (TCP or Unix, non-blocking); the
    /// buffer holds at least `head` bytes (the largest request head).
    pub fn new(stream: Stream, head: usize) -> Socket {
        Socket {
            local: stream.local,
            peer: stream.peer,
            stream,
            buf: Vec::new(),
            limit: head.max(BUFFER),
            start: 0,
            end: 0,
            relay: None,
        }
    }

    /// Names the client in log lines.
    pub fn peer_name(&self) -> PeerName {
        self.stream.peer_name()
    }

    /// The connection's relay pipe (see [`Relay`]), made if need be.
    pub fn relay(&mut self) -> io::Result<&mut Relay> {
        if self.relay.is_none() {
            self.relay = Some(Relay::new()?);
        }
        Ok(self.relay.as_mut().expect("made above"))
    }

    /// Drops relayed bytes left by a response that was cut (the pipe
    /// with them goes; another is made when needed).
    pub fn forget_relayed(&mut self) {
        if self.relay_pending() > 0 {
            self.relay = None;
        }
    }

    /// True when the relay is worth a take (see [`Relay::can_take`]);
    /// also before it is made.
    pub fn relay_can_take(&self) -> bool {
        self.relay.as_ref().is_none_or(Relay::can_take)
    }

    /// Relayed bytes waiting to be sent.
    pub fn relay_pending(&self) -> usize {
        self.relay.as_ref().map_or(0, Relay::pending)
    }

    /// Sends what the socket takes now of the relayed bytes.
    pub fn send_relayed(&mut self) -> nix::Result<usize> {
        match &mut self.relay {
            Some(relay) => relay.give_to(self.stream.as_fd()),
            None => Ok(0),
        }
    }

    /// Frees what a connection waiting for its next request does not
    /// need: the read buffer, when it is empty, and the relay pipe, when
    /// nothing is left in it.
    pub fn shed(&mut self) {
        if self.buffered().is_empty() {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
        if self.relay_pending() == 0 {
            self.relay = None;
        }
    }

    /// Received bytes not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks the first `n` buffered bytes as used. A buffer of the first
    /// size that is emptied is freed: a connection holds one only while
    /// bytes are in it, not while its script runs (the next read makes
    /// another). One that grew for a stream of body bytes is kept until
    /// [`Socket::shed`].
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() <= FIRST_BUFFER {
                self.buf = Vec::new();
            }
        }
    }

    /// Where up to `max` more bytes can go after the buffered ones: at
    /// the end, after moving the unused bytes to the front or growing
    /// the buffer if need be.
    fn room(&mut self, max: usize) -> std::ops::Range<usize> {
        if self.buf.is_empty() {
            self.buf.resize(FIRST_BUFFER.min(self.limit), 0);
        }
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() && self.buf.len() < self.limit {
            let grown = (self.buf.len() * 2).min(self.limit);
            self.buf.resize(grown, 0);
        }
        let len = (self.buf.len() - self.end).min(max);
        self.end..self.end + len
    }

    /// Waits for more bytes, at most `max`, until `timeout` passes.
    /// Returns 0 at the end of the stream; a timeout is an error of kind
    /// `TimedOut`.
    pub fn fill(&mut self, max: usize, timeout: Duration) -> io::Result<usize> {
        self.fill_by(max, wait::after(timeout))
    }

    /// [`Socket::fill`], waiting until `deadline`.
    pub fn fill_by(&mut self, max: usize, deadline: Instant) -> io::Result<usize> {
        loop {
            match self.fill_now(max) {
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLIN, deadline)?,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
                Ok(0) if self.room(max).is_empty() => {
                    return Err(io::Error::other("read buffer full"));
                }
                Ok(n) => return Ok(n),
            }
        }
    }

    /// Reads what has arrived, at most `max` bytes, without waiting.
    /// Returns 0 at the end of the stream (or with no room to read into).
    pub fn fill_now(&mut self, max: usize) -> nix::Result<usize> {
        let fd = self.stream.as_fd().as_raw_fd();
        let room = self.room(max);
        if room.is_empty() {
            return Ok(0);
        }
        let asked = room.len();
        let n = recv(fd, &mut self.buf[room], MsgFlags::empty())?;
        self.end += n;
        if n == asked && asked < max && self.buf.len() < self.limit {
            // The buffer, not the sender, limited this read: a stream of
            // body bytes is coming; let the next reads be larger.
            let grown = (self.buf.len() * 2).min(self.limit);
            self.buf.resize(grown, 0);
        }
        Ok(n)
    }

    /// Moves up to `max` received bytes straight into a pipe (splice),
    /// without waiting; only when nothing is buffered, or the order of
    /// bytes would change. Returns 0 at the end of the stream; EAGAIN
    /// when nothing has arrived or the pipe is full.
    pub fn splice_into(&mut self, pipe: BorrowedFd<'_>, max: usize) -> nix::Result<usize> {
        debug_assert!(self.buffered().is_empty());
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        splice(&self.stream, None, pipe, None, max, flags)
    }

    /// Moves up to `max` received bytes into `file` at its position, by
    /// way of `pipe` (splice: they never pass through rcgi), waiting
    /// until `deadline` for them. Only when nothing is buffered. Returns 0
    /// at the end of the stream.
    pub fn splice_to_file(
        &mut self,
        pipe: &(OwnedFd, OwnedFd),
        file: &File,
        max: usize,
        deadline: Instant,
    ) -> io::Result<usize> {
        let n = loop {
            match self.splice_into(pipe.1.as_fd(), max) {
                Ok(n) => break n,
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLIN, deadline)?,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        };
        let mut moved = 0;
        while moved < n {
            match splice(
                &pipe.0,
                None,
                file,
                None,
                n - moved,
                SpliceFFlags::SPLICE_F_MOVE,
            ) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => moved += m,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }

    /// Sends what the socket takes now, without waiting.
    pub fn send_now(&self, data: &[u8]) -> nix::Result<usize> {
        send(
            self.stream.as_fd().as_raw_fd(),
            data,
            MsgFlags::MSG_NOSIGNAL,
        )
    }

    /// Sends all of `data`, waiting at most `timeout` for each step.
    pub fn write_all(&mut self, mut data: &[u8], timeout: Duration) -> io::Result<()> {
        while !data.is_empty() {
            match self.send_now(data) {
                Ok(n) => data = &data[n..],
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLOUT, wait::after(timeout))?,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Sends `len` bytes of `file` from `offset` (the kernel copies them,
    /// with sendfile), waiting at most `timeout` for each step. Returns
    /// how many were sent.
    pub fn send_file(
        &mut self,
        file: &File,
        offset: u64,
        len: u64,
        timeout: Duration,
    ) -> io::Result<u64> {
        let mut at = i64::try_from(offset).map_err(io::Error::other)?;
        let mut sent = 0;
        while sent < len {
            let step = usize::try_from(len - sent)
                .unwrap_or(usize::MAX)
                .min(SENDFILE_STEP);
            match nix::sys::sendfile::sendfile64(&self.stream, file, Some(&mut at), step) {
                Ok(0) => break,
                Ok(n) => sent += n as u64,
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLOUT, wait::after(timeout))?,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(sent)
    }

    /// Waits until the socket can take more, or `deadline` passes.
    pub fn wait_writable(&self, deadline: Instant) -> io::Result<()> {
        self.wait(PollFlags::POLLOUT, deadline)
    }

    /// Waits until the socket is ready for `events` or `deadline` passes.
    fn wait(&self, events: PollFlags, deadline: Instant) -> io::Result<()> {
        wait::ready(self.stream.as_fd(), events, deadline)
    }

    /// Gone when the client has closed its side and sent nothing more
    /// that is still unread: it cannot be waiting for an answer. A client
    /// that half-closes after sending pipelined requests is still reading
    /// (Busy).
    pub fn hangup(&self) -> Hangup {
        let mut probe = [0u8; 1];
        match recv(
            self.stream.as_fd().as_raw_fd(),
            &mut probe,
            MsgFlags::MSG_PEEK,
        ) {
            Ok(0) if self.buffered().is_empty() => Hangup::Gone,
            Ok(_) => Hangup::Busy,
            Err(Errno::EAGAIN | Errno::EINTR) => Hangup::Quiet,
            Err(_) => Hangup::Gone,
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// Ends the connection without losing a response in flight: stop
    /// sending, then read and drop what the client still sends for a short
    /// while, so that its unread bytes do not make the kernel reset the
    /// connection before the client has read our last response.
    pub fn close(mut self) {
        if self.stream.shutdown_write().is_err() {
            return;
        }
        let deadline = Instant::now() + CLOSE_LINGER;
        let mut drained = 0;
        while drained < CLOSE_LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.start = 0;
            self.end = 0;
            match self.fill(usize::MAX, left) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_waiting_socket_sheds_its_buffer_and_reads_again() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let mut socket = Socket::new(Stream::unix(ours).unwrap(), 1024);
        assert_eq!(socket.buf.capacity(), 0, "no buffer before the first read");
        theirs.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        let n = socket.fill(usize::MAX, Duration::from_secs(5)).unwrap();
        assert_eq!(socket.buffered(), &b"GET / HTTP/1.1\r\n"[..n]);
        // Bytes still buffered are kept.
        socket.shed();
        assert_eq!(socket.buffered().len(), n);
        socket.consume(n);
        assert_eq!(socket.buf.capacity(), 0, "an emptied first buffer is freed");
        socket.shed();
        assert_eq!(socket.buf.capacity(), 0);
        theirs.write_all(b"next").unwrap();
        socket.fill(usize::MAX, Duration::from_secs(5)).unwrap();
        assert_eq!(socket.buffered(), b"next");
    }
}
