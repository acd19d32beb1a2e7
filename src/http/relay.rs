//! Moving a body from a pipe (a script's stdout) to the client without
//! copying it through rcgi's memory: splice(2) moves what the script
//! wrote into a pipe of the connection's own, which tells how much it
//! was (for the chunk header that must go first), then from that pipe
//! into the socket. A connection makes its relay pipe on its first large
//! body and keeps it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};

/// Size asked for the relay pipe and for a bulk producer's pipe.
pub const BULK_PIPE: usize = 1 << 20;

pub struct Relay {
    read: OwnedFd,
    write: OwnedFd,
    /// Bytes in the relay pipe, not yet sent.
    pending: usize,
}

fn flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
}

/// Asks for a larger pipe buffer, so that a bulk transfer takes fewer
/// steps; a refusal (the per-user pipe memory limit) is harmless.
pub fn enlarge_pipe(fd: impl AsFd) {
    let _ = fcntl(fd, FcntlArg::F_SETPIPE_SZ(BULK_PIPE as i32));
}

impl Relay {
    pub fn new() -> io::Result<Relay> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        enlarge_pipe(&write);
        Ok(Relay {
            read,
            write,
            pending: 0,
        })
    }

    /// Bytes taken and not yet sent.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Takes up to `max` bytes of what `source` holds now. Returns 0 at
    /// the end of `source`; EAGAIN when it holds nothing yet.
    pub fn take_from(&mut self, source: impl AsFd, max: usize) -> nix::Result<usize> {
        let n = splice(source, None, &self.write, None, max.min(BULK_PIPE), flags())?;
        self.pending += n;
        Ok(n)
    }

    /// Sends what the socket takes now of the pending bytes.
    pub fn give_to(&mut self, socket: BorrowedFd<'_>) -> nix::Result<usize> {
        let n = splice(&self.read, None, socket, None, self.pending, flags())?;
        self.pending -= n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn moves_bytes_from_a_pipe_to_a_socket() {
        let (source_read, source_write) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut relay = Relay::new().unwrap();
        assert_eq!(
            relay.take_from(&source_read, 100),
            Err(nix::errno::Errno::EAGAIN)
        );
        std::fs::File::from(source_write.try_clone().unwrap())
            .write_all(b"hello, relay")
            .unwrap();
        assert_eq!(relay.take_from(&source_read, 5).unwrap(), 5);
        assert_eq!(relay.take_from(&source_read, 100).unwrap(), 7);
        assert_eq!(relay.pending(), 12);
        assert_eq!(relay.give_to(server.as_fd()).unwrap(), 12);
        let mut got = [0u8; 12];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello, relay");
        drop(source_write);
        assert_eq!(
            relay.take_from(&source_read, 100).unwrap(),
            0,
            "end of the source"
        );
    }
}
