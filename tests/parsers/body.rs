//! Drives rcgi's request body reader over a real loopback connection the
//! way the exchange does: the client's bytes arrive in the pieces a test
//! chooses, and each time the reader is fed into a script's stdin (a
//! pipe this side drains). Shared by the property tests and the
//! whole-request fuzz target.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ChildStdin;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::PollFlags;
use rcgi::client::{BodyError, Fed};
use rcgi::front::BodyLimits;
use rcgi::front::http::body::BodyReader;
use rcgi::front::http::request::BodyFraming;
use rcgi::front::http::socket::Socket;
use rcgi::io::wait;

/// How long any one wait of a drive may take.
const WAIT: Duration = Duration::from_secs(10);

/// How a streamed body ended.
#[derive(Debug)]
pub struct Streamed {
    /// What the script's stdin received.
    pub delivered: Vec<u8>,
    /// Ok once the body was complete; else why not.
    pub outcome: Result<(), BodyError>,
    /// What the connection holds after the body (the next request).
    pub after: Vec<u8>,
}

/// The pieces of `input` cut at `cuts` (taken modulo its length).
fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

/// A connected pair on loopback: the client's end, and rcgi's socket.
fn connection() -> (TcpStream, Socket) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    let server = rcgi::io::stream::Stream::tcp(server).expect("socket");
    (client, Socket::new(server, 64 * 1024))
}

/// Sends `input` (a body and what follows it) in the pieces `cuts` make,
/// feeding the reader after each, then closes the client's side and
/// feeds it to its end.
pub fn stream(framing: BodyFraming, limits: BodyLimits, input: &[u8], cuts: &[usize]) -> Streamed {
    let (mut client, mut socket) = connection();
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
    let mut stdin = Some(ChildStdin::from(write_end));
    let mut script = std::fs::File::from(read_end);
    let mut delivered = Vec::new();
    let Some(mut reader) = BodyReader::new(framing, limits, WAIT) else {
        return Streamed {
            delivered,
            outcome: Ok(()),
            after: Vec::new(),
        };
    };
    reader.begin();
    let mut outcome = Ok(());
    let mut pieces = pieces(input, cuts).into_iter();
    let mut closed = false;
    let deadline = Instant::now() + WAIT * 3;
    while !reader.complete() && outcome.is_ok() && Instant::now() < deadline {
        match pieces.next() {
            Some(piece) => client.write_all(piece).expect("send a piece"),
            None if !closed => {
                client.shutdown(Shutdown::Write).expect("half-close");
                closed = true;
            }
            None => {}
        }
        let readable = wait::ready(socket.fd(), PollFlags::POLLIN, Instant::now() + WAIT).is_ok();
        outcome = feed_all(
            &mut reader,
            &mut socket,
            &mut stdin,
            &mut script,
            &mut delivered,
            readable,
        );
    }
    drop(stdin);
    read_all(&mut script, &mut delivered);
    if !closed {
        for piece in pieces {
            client.write_all(piece).expect("send the rest");
        }
    }
    let after = if reader.complete() {
        rest_of(&mut client, &mut socket, closed)
    } else {
        Vec::new()
    };
    Streamed {
        delivered,
        outcome,
        after,
    }
}

/// Feeds the reader while it makes progress, draining the pipe between.
fn feed_all(
    reader: &mut BodyReader,
    socket: &mut Socket,
    stdin: &mut Option<ChildStdin>,
    script: &mut std::fs::File,
    delivered: &mut Vec<u8>,
    mut readable: bool,
) -> Result<(), BodyError> {
    loop {
        let fed = reader.feed(socket, stdin, readable)?;
        read_all(script, delivered);
        readable = false;
        if fed == Fed::Nothing || reader.complete() {
            return Ok(());
        }
    }
}

fn read_all(script: &mut std::fs::File, delivered: &mut Vec<u8>) {
    let mut buf = [0u8; 64 * 1024];
    while let Ok(n @ 1..) = script.read(&mut buf) {
        delivered.extend_from_slice(&buf[..n]);
    }
}

/// What the connection holds after the body: its buffer, then what is
/// still on the socket.
fn rest_of(client: &mut TcpStream, socket: &mut Socket, closed: bool) -> Vec<u8> {
    if !closed {
        let _ = client.shutdown(Shutdown::Write);
    }
    loop {
        match socket.fill(64 * 1024, WAIT) {
            Ok(0) | Err(_) => return socket.buffered().to_vec(),
            Ok(_) => {}
        }
    }
}

/// Spools `input`, sent in the pieces `cuts` make from another thread,
/// into a temporary file: its content and length, or why it was refused.
pub fn spool(
    framing: BodyFraming,
    limits: BodyLimits,
    input: &[u8],
    cuts: &[usize],
) -> Result<Vec<u8>, BodyError> {
    let (mut client, mut socket) = connection();
    let pieces: Vec<Vec<u8>> = pieces(input, cuts)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let sender = std::thread::spawn(move || {
        for piece in pieces {
            if client.write_all(&piece).is_err() {
                return;
            }
        }
        let _ = client.shutdown(Shutdown::Write);
        // Keep the connection until rcgi has done with it.
        let mut sink = [0u8; 1];
        let _ = client.read(&mut sink);
    });
    let mut reader = BodyReader::new(framing, limits, WAIT).expect("a body");
    let file = tempfile::tempfile().expect("temporary file");
    let result = reader.spool(&mut socket, &file).map(|n| {
        let mut content = Vec::new();
        let mut f = &file;
        std::io::Seek::rewind(&mut f).unwrap();
        f.read_to_end(&mut content).unwrap();
        assert_eq!(content.len() as u64, n, "the length told is the file's");
        content
    });
    drop(socket);
    let _ = sender.join();
    result
}

/// Chunked coding of `chunks` (each a declared size and the data sent
/// for it, which may be shorter), then the last chunk and `after`.
pub fn chunked(chunks: &[(u64, Vec<u8>)], after: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (size, data) in chunks {
        out.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        out.extend_from_slice(data);
        if data.len() as u64 != *size {
            // A truncated chunk: nothing can follow it.
            return out;
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out.extend_from_slice(after);
    out
}
