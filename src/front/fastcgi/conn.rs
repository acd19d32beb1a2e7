//! One FastCGI connection's socket: a read buffer that grows to hold a
//! whole record (so a record is handled only once all of it has
//! arrived), and the queue of records to send. The socket is
//! non-blocking; the `*_now` methods never wait, the others wait with
//! `poll` until a deadline.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{MsgFlags, recv, send};

use super::record::{self, MAX_RECORD, Malformed, Whole};
use crate::client::Gone;
use crate::io::stream::{PeerName, Stream};
use crate::io::wait;

/// The read buffer at first: a request's params, or a few small records.
const FIRST_BUFFER: usize = 8 * 1024;
/// The most the read buffer grows to: two of the largest records.
const BUFFER: usize = 2 * MAX_RECORD;
/// How long a closing connection waits for the web server to take what
/// is queued.
const CLOSE_SEND: Duration = Duration::from_secs(2);
/// How long a closing connection reads what the web server still sends
/// (the rest of a body nobody read), and how much at most: unread bytes
/// would make the kernel reset the connection, and a reset can lose the
/// response the web server has not read yet.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
const CLOSE_LINGER_BYTES: usize = 1 << 20;

pub struct Conn {
    stream: Stream,
    /// `buf[start..end]` is received and not handled yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Records to send; `out[sent..]` not sent yet.
    pub out: Vec<u8>,
    sent: usize,
    /// The web server closed its side.
    pub eof: bool,
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: vec![0; FIRST_BUFFER],
            start: 0,
            end: 0,
            out: Vec::new(),
            sent: 0,
            eof: false,
        }
    }

    pub fn local(&self) -> Option<SocketAddr> {
        self.stream.local
    }

    pub fn peer(&self) -> Option<SocketAddr> {
        self.stream.peer
    }

    pub fn peer_name(&self) -> PeerName {
        self.stream.peer_name()
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// The first whole record received, and its length on the wire.
    pub fn record(&self) -> Result<Option<Whole<'_>>, Malformed> {
        record::split(&self.buf[self.start..self.end])
    }

    /// True when a whole record waits to be handled.
    pub fn has_record(&self) -> bool {
        matches!(self.record(), Ok(Some(_)) | Err(_))
    }

    /// True when bytes wait, whole records or not.
    pub fn has_bytes(&self) -> bool {
        self.start < self.end
    }

    /// Marks `n` received bytes as handled.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads what has arrived, without waiting; 0 at the end of the
    /// stream (then [`Conn::eof`]). The buffer grows to make room for the
    /// rest of a record; a full one holds a whole record.
    pub fn read_now(&mut self) -> nix::Result<usize> {
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.has_record() {
                // A whole record waits: handle it first.
                return Err(Errno::EAGAIN);
            }
            // Part of a record fills it; at BUFFER, one never does.
            let larger = (self.buf.len() * 2).min(BUFFER);
            self.buf.resize(larger, 0);
        }
        let n = recv(
            self.stream.as_fd().as_raw_fd(),
            &mut self.buf[self.end..],
            MsgFlags::empty(),
        )?;
        self.end += n;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    /// Waits until the socket is readable, or `deadline` passes.
    pub fn wait_readable(&self, deadline: Instant) -> std::io::Result<()> {
        wait::ready(self.stream.as_fd(), PollFlags::POLLIN, deadline)
    }

    /// Bytes queued, not sent yet.
    pub fn backlog(&self) -> usize {
        self.out.len() - self.sent
    }

    /// Sends what the socket takes now; true if anything went.
    pub fn send_now(&mut self) -> Result<bool, Gone> {
        let mut progress = false;
        while self.sent < self.out.len() {
            match send(
                self.stream.as_fd().as_raw_fd(),
                &self.out[self.sent..],
                MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(n) => {
                    self.sent += n;
                    progress = true;
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(Gone(e.desc())),
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
        Ok(progress)
    }

    /// Sends everything queued, waiting at most `stall` for each step.
    pub fn send_all(&mut self, stall: Duration) -> Result<(), Gone> {
        while self.backlog() > 0 {
            if !self.send_now()? && self.backlog() > 0 {
                wait::ready(self.stream.as_fd(), PollFlags::POLLOUT, wait::after(stall))
                    .map_err(|_| Gone("web server stopped reading"))?;
            }
        }
        Ok(())
    }

    /// Sends what is queued (briefly), stops sending, and reads what
    /// still comes for a moment ([`CLOSE_LINGER`]) before closing: a web
    /// server may still be sending a body nobody read (a request answered
    /// before its `STDIN` ended), and a close with bytes unread would
    /// reset the connection and lose the response.
    pub fn close(mut self) {
        let _ = self.send_all(CLOSE_SEND);
        if self.eof || self.stream.shutdown_write().is_err() {
            return;
        }
        let deadline = wait::after(CLOSE_LINGER);
        let mut drained = 0;
        while drained < CLOSE_LINGER_BYTES && self.wait_readable(deadline).is_ok() {
            self.start = 0;
            self.end = 0;
            match self.read_now() {
                Ok(0) => return,
                Ok(n) => drained += n,
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    /// Reads until a whole record waits, at most `tries` reads.
    fn read_record(conn: &mut Conn, tries: usize) -> usize {
        for _ in 0..tries {
            if let Ok(Some((_, _, len))) = conn.record() {
                return len;
            }
            let _ = conn.read_now();
        }
        panic!("no whole record after {tries} reads");
    }

    #[test]
    fn the_buffer_grows_to_a_whole_record_and_no_further() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let mut conn = Conn::new(Stream::unix(ours).unwrap());
        assert_eq!(conn.buf.len(), FIRST_BUFFER);
        // Two of the largest records (65,535 bytes, 1 of padding).
        let mut out = Vec::new();
        record::write(&mut out, 5, 1, &[b'x'; 0xffff]);
        let one = out.len();
        out.extend_from_within(..);
        theirs.write_all(&out).unwrap();
        assert_eq!(read_record(&mut conn, 100), one);
        // Both fit once the first is whole: nothing more is read until
        // one is handled.
        while conn.read_now().is_ok() {}
        assert!(conn.buf.len() <= BUFFER);
        conn.consume(one);
        assert_eq!(read_record(&mut conn, 100), one);
    }
}
