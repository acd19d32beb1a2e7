//! Moving a body from a pipe (a script's stdout) to the client without
//! copying it through rcgi's memory. The relay is a pipe of the
//! connection's own that holds the response stream as it will go on the
//! wire: body bytes are spliced into it from the script's pipe, framing
//! bytes (chunk headers) are written between them, and the socket is fed
//! from it. Taking from the script and sending to the client overlap:
//! the script can go on writing while the relay drains.
//!
//! A chunk's length must precede its bytes, so chunked data first goes
//! into a second pipe, the stage, which says how much it was; its header
//! and then its bytes follow into the relay as the relay has room (a
//! pipe's room is counted in slots, not bytes, so what fits is only
//! known by trying). A connection makes its relay on its first large
//! body and keeps it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, SpliceFFlags, fcntl, splice};

use super::pipe::bulk_pipe;

pub struct Relay {
    read: OwnedFd,
    write: OwnedFd,
    stage_read: OwnedFd,
    stage_write: OwnedFd,
    /// What the relay pipe holds at most, in bytes (of full pages).
    capacity: usize,
    /// Bytes in the relay pipe, not yet sent.
    pending: usize,
    /// Framing bytes to write into the relay before the staged bytes.
    framing: Vec<u8>,
    /// Bytes in the stage, not yet moved into the relay.
    staged: usize,
}

fn flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
}

impl Relay {
    pub fn new() -> io::Result<Relay> {
        let (read, write) = bulk_pipe()?;
        let (stage_read, stage_write) = bulk_pipe()?;
        let capacity = fcntl(&write, FcntlArg::F_GETPIPE_SZ)?;
        Ok(Relay {
            read,
            write,
            stage_read,
            stage_write,
            capacity: capacity as usize,
            pending: 0,
            framing: Vec::new(),
            staged: 0,
        })
    }

    /// Bytes taken and not yet sent (staged ones included).
    pub fn pending(&self) -> usize {
        self.pending + self.framing.len() + self.staged
    }

    /// True when a take is worth trying: nothing waits in the stage, and
    /// the relay is at most half full.
    pub fn can_take(&self) -> bool {
        self.framing.is_empty() && self.staged == 0 && self.pending <= self.capacity / 4 * 3
    }

    /// The most worth taking at once.
    pub fn take_size(&self) -> usize {
        self.capacity - self.pending
    }

    /// Moves up to `max` bytes of what `source` holds now into the
    /// stream. Returns 0 at the end of `source`; EAGAIN when it holds
    /// nothing yet (or the relay is full).
    pub fn take_from(&mut self, source: impl AsFd, max: usize) -> nix::Result<usize> {
        let n = splice(source, None, &self.write, None, max, flags())?;
        self.pending += n;
        Ok(n)
    }

    /// Moves up to `max` bytes of what `source` holds now into the
    /// stream, after the framing `frame` gives for their count. Returns
    /// the count, 0 at the end of `source`. What does not fit in the
    /// relay yet follows as it drains (see [`Relay::give_to`]).
    pub fn take_framed(
        &mut self,
        source: impl AsFd,
        max: usize,
        frame: impl FnOnce(usize) -> Vec<u8>,
    ) -> nix::Result<usize> {
        debug_assert!(self.framing.is_empty() && self.staged == 0);
        let n = splice(&source, None, &self.stage_write, None, max, flags())?;
        if n > 0 {
            self.framing = frame(n);
            self.staged = n;
            self.shift()?;
        }
        Ok(n)
    }

    /// Moves what waits (framing, then staged bytes) into the relay, as
    /// far as it has room.
    fn shift(&mut self) -> nix::Result<()> {
        while !self.framing.is_empty() {
            match nix::unistd::write(&self.write, &self.framing) {
                Ok(n) => {
                    self.framing.drain(..n);
                    self.pending += n;
                }
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
        while self.staged > 0 {
            match splice(
                &self.stage_read,
                None,
                &self.write,
                None,
                self.staged,
                flags(),
            ) {
                Ok(n) => {
                    self.staged -= n;
                    self.pending += n;
                }
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends what the socket takes now of the stream (moving staged bytes
    /// into the relay as room appears). Returns how many were sent.
    pub fn give_to(&mut self, socket: BorrowedFd<'_>) -> nix::Result<usize> {
        let mut sent = 0;
        loop {
            if self.pending > 0 {
                match splice(&self.read, None, socket, None, self.pending, flags()) {
                    Ok(n) => {
                        self.pending -= n;
                        sent += n;
                    }
                    Err(Errno::EAGAIN) if sent > 0 => return Ok(sent),
                    Err(e) => return Err(e),
                }
            }
            let waiting = self.framing.len() + self.staged;
            self.shift()?;
            if self.pending == 0 || self.framing.len() + self.staged == waiting {
                return Ok(sent);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (client, server)
    }

    #[test]
    fn moves_bytes_from_a_pipe_to_a_socket_with_framing_between() {
        let (source_read, source_write) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
        let (mut client, server) = socket_pair();
        let mut relay = Relay::new().unwrap();
        let mut source = std::fs::File::from(source_write);
        assert_eq!(relay.take_from(&source_read, 100), Err(Errno::EAGAIN));
        source.write_all(b"hello, ").unwrap();
        assert_eq!(relay.take_from(&source_read, 100).unwrap(), 7);
        source.write_all(b"relay").unwrap();
        let n = relay
            .take_framed(&source_read, 100, |n| format!("[{n}]").into_bytes())
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!(relay.pending(), 7 + 3 + 5);
        assert_eq!(relay.give_to(server.as_fd()).unwrap(), 15);
        let mut got = [0u8; 15];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello, [5]relay");
        drop(source);
        assert_eq!(
            relay.take_from(&source_read, 100).unwrap(),
            0,
            "end of the source"
        );
    }

    #[test]
    fn a_full_relay_keeps_the_rest_staged_and_order_holds() {
        // Many small framed pieces: each uses pipe slots for its framing
        // and its data, so the relay fills by slots long before bytes.
        let (source_read, source_write) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
        let (mut client, server) = socket_pair();
        let mut relay = Relay::new().unwrap();
        let mut source = std::fs::File::from(source_write);
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            client.read_to_end(&mut all).unwrap();
            all
        });
        let mut expected = Vec::new();
        for i in 0..2000u32 {
            let piece = format!("<{i}>");
            source.write_all(piece.as_bytes()).unwrap();
            while !relay.can_take() {
                relay.give_to(server.as_fd()).ok();
            }
            let n = relay
                .take_framed(&source_read, 1 << 20, |n| format!("{n}:").into_bytes())
                .unwrap();
            expected.extend_from_slice(format!("{n}:{piece}").as_bytes());
        }
        while relay.pending() > 0 {
            relay.give_to(server.as_fd()).ok();
        }
        drop(server);
        assert_eq!(reader.join().unwrap(), expected);
    }
}
