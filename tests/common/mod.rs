//! Test harness: starts the real `rcgi` binary on an ephemeral port,
//! writes real scripts into temporary folders, and talks HTTP/1.1 to it
//! over real sockets with a small client that reads exactly what is on
//! the wire (so framing errors show).
#![allow(dead_code)]

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `rcgi` and what it logs.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub root: PathBuf,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
}

/// A folder of scripts that lives as long as the test.
pub struct Root {
    pub dir: tempfile::TempDir,
}

impl Root {
    pub fn new() -> Root {
        Root {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().canonicalize().expect("canonical root")
    }

    /// Writes an executable script (its folders are made as needed).
    pub fn script(&self, name: &str, text: &str) -> PathBuf {
        self.file(name, text, 0o755)
    }

    pub fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("script folder");
        }
        fs::write(&path, text).expect("write script");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    pub fn start(&self, args: &[&str]) -> Server {
        Server::start(&self.path(), args)
    }
}

impl Server {
    /// Starts rcgi on 127.0.0.1, a free port, with `args` added.
    pub fn start(root: &Path, args: &[&str]) -> Server {
        Server::start_with_env(root, args, &[])
    }

    /// Starts rcgi with `vars` added to its own environment.
    pub fn start_with_env(root: &Path, args: &[&str], vars: &[(&str, &str)]) -> Server {
        Server::start_custom(root, args, |cmd| {
            cmd.envs(vars.iter().copied());
        })
    }

    /// Starts rcgi after `setup` has had its say on the command.
    pub fn start_custom(root: &Path, args: &[&str], setup: impl FnOnce(&mut Command)) -> Server {
        let has_bind = args.contains(&"--bind");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcgi"));
        setup(&mut cmd);
        cmd.arg("--root").arg(root).args(["--port", "0"]);
        if !has_bind {
            cmd.args(["--bind", "127.0.0.1"]);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rcgi");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        collect_lines(child.stderr.take().unwrap(), stderr.clone(), Some(tx));
        collect_lines(child.stdout.take().unwrap(), stdout.clone(), None);
        let line = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "rcgi did not say it listens; stderr: {:?}",
                stderr.lock().unwrap()
            )
        });
        Server {
            addr: listening_addr(&line),
            child,
            root: root.to_path_buf(),
            stderr,
            stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Sends `raw` on a new connection and reads one response.
    pub fn exchange(&self, raw: &[u8]) -> Response {
        let mut c = self.connect();
        c.send(raw);
        c.response()
    }

    /// A plain `GET path` (HTTP/1.1, connection closed after).
    pub fn get(&self, path: &str) -> Response {
        self.exchange(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }

    /// rcgi's stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// rcgi's stdout (access log) lines so far.
    pub fn access_log(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits until a stderr line contains `text`; returns it.
    pub fn wait_stderr(&self, text: &str) -> String {
        wait_until(&format!("stderr line with {text:?}"), || {
            self.stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(text))
                .cloned()
        })
    }

    /// Waits until an access log line contains `text`; returns it.
    pub fn wait_access(&self, text: &str) -> String {
        wait_until(&format!("access line with {text:?}"), || {
            self.stdout
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(text))
                .cloned()
        })
    }

    /// Sends SIGTERM and waits for rcgi to exit.
    pub fn stop(mut self) -> ExitStatus {
        signal(self.child.id() as i32, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "rcgi did not stop");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Child processes of rcgi that are zombies (exited, not reaped).
    pub fn zombies(&self) -> Vec<u32> {
        children_of(self.pid())
            .into_iter()
            .filter(|&pid| proc_state(pid) == Some('Z'))
            .collect()
    }

    /// rcgi's peak resident memory so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// rcgi's open descriptors.
    pub fn open_fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

fn collect_lines(
    pipe: impl Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
    mut listening: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if text.starts_with("rcgi listening on ") {
                if let Some(tx) = listening.take() {
                    let _ = tx.send(text.clone());
                }
            }
            lines.lock().unwrap().push(text);
            line.clear();
        }
    });
}

/// The address in `rcgi listening on http://ADDR/...`.
fn listening_addr(line: &str) -> SocketAddr {
    let rest = line.trim_start_matches("rcgi listening on http://");
    let end = rest.find('/').expect("a / after the address");
    rest[..end].parse().expect("a socket address")
}

/// Polls `f` until it returns something, or fails the test.
pub fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The state letter of a process (R, S, Z, ...), or None if gone.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    after.chars().next()
}

/// Direct children of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, after)) = stat.rsplit_once(") ") else {
            continue;
        };
        let ppid = after.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// True once `pid` is gone or a zombie (killed, waiting for its reaper).
pub fn is_dead(pid: u32) -> bool {
    matches!(proc_state(pid), None | Some('Z'))
}

/// A response as read from the wire.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was framed by `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection, reading responses one after another.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to rcgi");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.writer.write_all(raw).expect("send request");
    }

    /// Reads one response; HEAD responses have no body.
    pub fn response(&mut self) -> Response {
        self.try_response(false).expect("read response")
    }

    pub fn head_response(&mut self) -> Response {
        self.try_response(true).expect("read response")
    }

    /// Reads a response head, skipping interim 1xx responses unless
    /// `keep_interim`.
    pub fn read_head(&mut self, keep_interim: bool) -> io::Result<Response> {
        loop {
            let mut head = Vec::new();
            loop {
                let n = self.reader.read_until(b'\n', &mut head)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "connection closed in head: {:?}",
                            String::from_utf8_lossy(&head)
                        ),
                    ));
                }
                if head.ends_with(b"\r\n\r\n") {
                    break;
                }
            }
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut fields);
            parsed
                .parse(&head)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let status = parsed.code.unwrap();
            let response = Response {
                status,
                reason: parsed.reason.unwrap_or("").to_string(),
                headers: parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
                body: Vec::new(),
                chunked: false,
            };
            if status >= 200 || keep_interim {
                return Ok(response);
            }
        }
    }

    pub fn try_response(&mut self, head_only: bool) -> io::Result<Response> {
        let mut r = self.read_head(false)?;
        if head_only || r.status == 204 || r.status == 304 {
            return Ok(r);
        }
        let chunked = r
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
        if chunked {
            r.chunked = true;
            while let Some(chunk) = self.read_chunk()? {
                r.body.extend_from_slice(&chunk);
            }
        } else if let Some(len) = r.header("content-length") {
            let len: usize = len.parse().expect("numeric Content-Length");
            r.body.resize(len, 0);
            self.reader.read_exact(&mut r.body)?;
        } else {
            self.reader.read_to_end(&mut r.body)?;
        }
        Ok(r)
    }

    /// Reads one chunk of a chunked body; None after the last chunk (and
    /// its empty trailer).
    pub fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let size_text = line.trim_end_matches("\r\n");
        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad chunk size line {line:?}"),
            )
        })?;
        if size == 0 {
            let mut end = String::new();
            self.reader.read_line(&mut end)?;
            assert_eq!(end, "\r\n", "rcgi sends no trailer fields");
            return Ok(None);
        }
        let mut data = vec![0; size + 2];
        self.reader.read_exact(&mut data)?;
        assert_eq!(&data[size..], b"\r\n", "chunk data ends in CRLF");
        data.truncate(size);
        Ok(Some(data))
    }

    /// True if the server has closed the connection (reads end-of-file
    /// within the wait).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// Deterministic pseudo-random bytes (xorshift), for bodies to compare.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
