//! A small FastCGI client for the tests: it writes `BEGIN_REQUEST`,
//! `PARAMS` and `STDIN` records (or any bytes, to test malformed input)
//! and reads `STDOUT`, `STDERR` and `END_REQUEST` records exactly as
//! they come, over TCP or a Unix socket.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::{Server, WAIT};

pub const BEGIN_REQUEST: u8 = 1;
pub const ABORT_REQUEST: u8 = 2;
pub const END_REQUEST: u8 = 3;
pub const PARAMS: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDOUT: u8 = 6;
pub const STDERR: u8 = 7;
pub const GET_VALUES: u8 = 9;
pub const GET_VALUES_RESULT: u8 = 10;
pub const UNKNOWN_TYPE: u8 = 11;

pub const RESPONDER: u16 = 1;
pub const AUTHORIZER: u16 = 2;
pub const REQUEST_COMPLETE: u8 = 0;
pub const CANT_MPX_CONN: u8 = 1;
pub const UNKNOWN_ROLE: u8 = 3;

/// The address of rcgi's FastCGI TCP listener, from its start-up lines.
pub fn address(server: &Server) -> SocketAddr {
    super::wait_until("a FastCGI listening line", || {
        server.stderr().iter().find_map(|line| {
            let rest = line.split_once("fastcgi://")?.1;
            rest.split(' ').next()?.parse().ok()
        })
    })
}

/// One record, padded to a multiple of 8.
pub fn record(kind: u8, id: u16, content: &[u8]) -> Vec<u8> {
    assert!(content.len() <= 0xffff);
    let len = content.len() as u16;
    let padding = ((8 - content.len() % 8) % 8) as u8;
    let mut out = vec![1, kind];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[padding, 0]);
    out.extend_from_slice(content);
    out.extend(std::iter::repeat_n(0, padding as usize));
    out
}

/// Name-value pairs, with 1- or 4-byte lengths.
pub fn pairs(list: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in list {
        for len in [name.len(), value.len()] {
            if len < 128 {
                out.push(len as u8);
            } else {
                out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
            }
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

pub fn begin(id: u16, role: u16, keep: bool) -> Vec<u8> {
    let r = role.to_be_bytes();
    record(
        BEGIN_REQUEST,
        id,
        &[r[0], r[1], u8::from(keep), 0, 0, 0, 0, 0],
    )
}

/// A stream (`PARAMS`, `STDIN`) as records, ended by an empty one.
pub fn stream(kind: u8, id: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(0xfff8) {
        out.extend(record(kind, id, piece));
    }
    out.extend(record(kind, id, b""));
    out
}

/// A whole request: begin, params, the body.
pub fn request(id: u16, keep: bool, params: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = begin(id, RESPONDER, keep);
    out.extend(stream(PARAMS, id, &pairs(params)));
    out.extend(stream(STDIN, id, body));
    out
}

/// The params of a GET of `script_name` (under `/cgi-bin`).
pub fn get_params(script_name: &str) -> Vec<(&str, &str)> {
    vec![
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_NAME", script_name),
        ("REQUEST_URI", script_name),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
    ]
}

/// A request's answer, as its records said.
#[derive(Debug, Default)]
pub struct Reply {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub app_status: u32,
    pub protocol_status: u8,
}

impl Reply {
    /// The CGI-style head and the body.
    fn split(&self) -> (String, &[u8]) {
        let at = self
            .stdout
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&self.stdout)));
        (
            String::from_utf8_lossy(&self.stdout[..at]).into_owned(),
            &self.stdout[at + 4..],
        )
    }

    /// The status of the `Status:` line; 200 without one (as a web
    /// server reads it), unless there is a `Location` (a redirect).
    pub fn status(&self) -> u16 {
        match self.header("status") {
            Some(status) => status[..3].parse().expect("a status code"),
            None => {
                assert!(
                    self.header("location").is_none(),
                    "a Location without a Status"
                );
                200
            }
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.split();
        head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn body(&self) -> Vec<u8> {
        self.split().1.to_vec()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body()).into_owned()
    }
}

/// A record as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: u8,
    pub id: u16,
    pub content: Vec<u8>,
}

pub struct Conn<S> {
    pub stream: S,
}

impl Conn<TcpStream> {
    pub fn tcp(addr: SocketAddr) -> Conn<TcpStream> {
        let stream = TcpStream::connect(addr).expect("connect to rcgi's FastCGI listener");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Conn { stream }
    }
}

impl Conn<UnixStream> {
    pub fn unix(path: &Path) -> Conn<UnixStream> {
        let stream = UnixStream::connect(path).expect("connect to rcgi's FastCGI socket");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Conn { stream }
    }
}

impl<S: Read + Write> Conn<S> {
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to rcgi");
    }

    /// The next record; None at the end of the stream.
    pub fn read_record(&mut self) -> io::Result<Option<Record>> {
        let mut head = [0u8; 8];
        match self.stream.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        assert_eq!(head[0], 1, "FastCGI version");
        let len = u16::from_be_bytes([head[4], head[5]]) as usize;
        let mut content = vec![0; len + head[6] as usize];
        self.stream.read_exact(&mut content)?;
        content.truncate(len);
        Ok(Some(Record {
            kind: head[1],
            id: u16::from_be_bytes([head[2], head[3]]),
            content,
        }))
    }

    /// Reads request `id`'s records up to its `END_REQUEST`; records
    /// of other ids are returned beside it.
    pub fn reply_with_others(&mut self, id: u16) -> (Reply, Vec<Record>) {
        let mut reply = Reply::default();
        let mut others = Vec::new();
        loop {
            let r = self
                .read_record()
                .expect("read a record")
                .unwrap_or_else(|| panic!("connection closed before END_REQUEST; {reply:?}"));
            if r.id != id {
                others.push(r);
                continue;
            }
            match r.kind {
                STDOUT => reply.stdout.extend_from_slice(&r.content),
                STDERR => reply.stderr.extend_from_slice(&r.content),
                END_REQUEST => {
                    let c = &r.content;
                    reply.app_status = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                    reply.protocol_status = c[4];
                    return (reply, others);
                }
                other => panic!("unexpected record type {other}"),
            }
        }
    }

    pub fn reply(&mut self, id: u16) -> Reply {
        let (reply, others) = self.reply_with_others(id);
        assert!(others.is_empty(), "records of other requests: {others:?}");
        reply
    }

    /// True once rcgi has closed the connection (nothing more comes).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
        }
    }
}

/// Decodes name-value pairs (`GET_VALUES_RESULT`).
pub fn decode_pairs(mut data: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let len = |data: &mut &[u8]| -> usize {
        if data[0] & 0x80 == 0 {
            let n = data[0] as usize;
            *data = &data[1..];
            n
        } else {
            let n = u32::from_be_bytes([data[0] & 0x7f, data[1], data[2], data[3]]) as usize;
            *data = &data[4..];
            n
        }
    };
    while !data.is_empty() {
        let n = len(&mut data);
        let v = len(&mut data);
        let name = String::from_utf8_lossy(&data[..n]).into_owned();
        let value = String::from_utf8_lossy(&data[n..n + v]).into_owned();
        data = &data[n + v..];
        out.push((name, value));
    }
    out
}
