//! The client side of one keep-alive connection: sends a request while
//! reading the response (non-blocking, so that an echo never deadlocks),
//! and reads the response exactly as framed on the wire.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{setsockopt, sockopt};

/// How long one request may take before it counts as an error.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// A response read from the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server will close the connection after it.
    pub close: bool,
    /// It was complete before the whole request had been sent.
    pub unsent: bool,
}

/// Reads one response incrementally from a growing buffer.
#[derive(Default)]
struct ResponseReader {
    /// Status and close flag, once the (final) head is in.
    head: Option<(u16, bool)>,
    body_start: usize,
    framing: Framing,
    body: Vec<u8>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Framing {
    #[default]
    Unknown,
    Length(usize),
    /// Offset of the next chunk-size line in the buffer.
    Chunked(usize),
    UntilClose,
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl ResponseReader {
    /// Looks at what arrived in `buf` (1xx responses are removed from it);
    /// returns the response once complete. `eof`: the server closed.
    fn poll(&mut self, buf: &mut Vec<u8>, eof: bool) -> io::Result<Option<Response>> {
        if self.head.is_none() && !self.read_head(buf)? {
            if eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("closed after {} bytes of head", buf.len()),
                ));
            }
            return Ok(None);
        }
        let (status, close) = self.head.expect("head read");
        let done = match self.framing {
            Framing::Length(n) => {
                if buf.len() > self.body_start + n {
                    return Err(invalid("bytes after the response"));
                }
                buf.len() == self.body_start + n
            }
            Framing::Chunked(_) => self.read_chunks(buf)?,
            Framing::UntilClose => eof,
            Framing::Unknown => unreachable!("set with the head"),
        };
        if !done {
            if eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed mid-body",
                ));
            }
            return Ok(None);
        }
        let body = match self.framing {
            Framing::Chunked(_) => std::mem::take(&mut self.body),
            _ => buf[self.body_start..].to_vec(),
        };
        Ok(Some(Response {
            status,
            body,
            close: close || self.framing == Framing::UntilClose,
            unsent: false,
        }))
    }

    /// Parses the head if it is all there; skips interim responses.
    fn read_head(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Response::new(&mut fields);
            let len = match r.parse(buf) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(false),
                Err(e) => return Err(invalid(format!("bad response head: {e}"))),
            };
            let status = r.code.expect("complete head has a code");
            if (100..200).contains(&status) {
                buf.drain(..len);
                continue;
            }
            let header = |name: &str| {
                r.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
                || r.version == Some(0);
            self.framing = if status == 204 || status == 304 {
                Framing::Length(0)
            } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
            {
                Framing::Chunked(len)
            } else if let Some(n) = header("content-length") {
                Framing::Length(
                    n.trim()
                        .parse()
                        .map_err(|_| invalid("bad Content-Length"))?,
                )
            } else {
                Framing::UntilClose
            };
            self.head = Some((status, close));
            self.body_start = len;
            return Ok(true);
        }
    }

    /// Decodes the chunks that have arrived; true after the last one.
    fn read_chunks(&mut self, buf: &[u8]) -> io::Result<bool> {
        let Framing::Chunked(mut at) = self.framing else {
            unreachable!("chunked framing")
        };
        loop {
            let Some(eol) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
                return Ok(false);
            };
            let line = std::str::from_utf8(&buf[at..at + eol]).map_err(|_| invalid("size"))?;
            let size = usize::from_str_radix(line, 16)
                .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
            let data = at + eol + 2;
            if size == 0 {
                // rcgi sends no trailer: the empty line must follow.
                if buf.len() < data + 2 {
                    return Ok(false);
                }
                if &buf[data..data + 2] != b"\r\n" || buf.len() > data + 2 {
                    return Err(invalid("bad end of chunked body"));
                }
                self.framing = Framing::Chunked(data + 2);
                return Ok(true);
            }
            if buf.len() < data + size + 2 {
                return Ok(false);
            }
            if &buf[data + size..data + size + 2] != b"\r\n" {
                return Err(invalid("chunk without CRLF"));
            }
            self.body.extend_from_slice(&buf[data..data + size]);
            at = data + size + 2;
            self.framing = Framing::Chunked(at);
        }
    }
}

/// One keep-alive connection, non-blocking, so that a request body can
/// be sent while the response comes back.
pub struct Conn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

/// When a request is over for the client.
#[derive(Clone, Copy)]
pub enum Until {
    /// The whole response is in.
    Complete,
    /// The head and at least this many body bytes are in (then the
    /// client hangs up).
    BodyBytes(usize),
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends `out` and reads the response, both at once.
    pub fn exchange(&mut self, out: &[u8], until: Until) -> io::Result<Response> {
        let deadline = Instant::now() + REQUEST_DEADLINE;
        let mut reader = ResponseReader::default();
        let mut sent = 0;
        let mut eof = false;
        self.buf.clear();
        loop {
            // The whole response is in (a short one, even when about to
            // hang up: an error page).
            let hanging_up = matches!(until, Until::BodyBytes(_));
            if let Some(mut r) = reader.poll(&mut self.buf, eof && !hanging_up)? {
                r.unsent = sent < out.len();
                return Ok(r);
            }
            // Time to hang up: enough of the body is in, or the server
            // closed first.
            if let (Until::BodyBytes(n), Some((status, _))) = (until, reader.head) {
                if self.buf.len() >= reader.body_start + n || eof {
                    return Ok(Response {
                        status,
                        body: Vec::new(),
                        close: true,
                        unsent: sent < out.len(),
                    });
                }
            }
            if eof {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no response in time ({} of {} bytes sent, {} bytes received)",
                        sent,
                        out.len(),
                        self.buf.len()
                    ),
                ));
            }
            let mut flags = PollFlags::POLLIN;
            if sent < out.len() {
                flags |= PollFlags::POLLOUT;
            }
            let mut fds = [PollFd::new(self.stream.as_fd(), flags)];
            let ms = left.as_millis().min(1000) as u16;
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let ready = fds[0].revents().unwrap_or(PollFlags::empty());
            if sent < out.len() && ready.intersects(PollFlags::POLLOUT | PollFlags::POLLERR) {
                match self.stream.write(&out[sent..]) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The server may answer (and close) before reading
                    // the whole body; the response decides.
                    Err(_) => sent = out.len(),
                }
            }
            if ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                let mut chunk = [0u8; 64 * 1024];
                match self.stream.read(&mut chunk) {
                    Ok(0) => eof = true,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if self.buf.is_empty() => return Err(e),
                    Err(_) => eof = true,
                }
            }
        }
    }

    /// Closes with a reset instead of a FIN.
    pub fn reset(self) {
        let _ = setsockopt(
            &self.stream,
            sockopt::Linger,
            &nix::libc::linger {
                l_onoff: 1,
                l_linger: 0,
            },
        );
    }
}
