//! Test harness: starts the real `rcgi` binary on an ephemeral port,
//! writes real scripts into temporary folders, and talks HTTP/1.1 to it
//! over real sockets with a small client that reads exactly what is on
//! the wire (so framing errors show).
#![allow(dead_code)]

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub mod fastcgi_backend;
pub mod fcgi;
pub mod front_servers;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// What rcgi's first start-up line holds (after its time and level).
pub const LISTENING: &str = " rcgi listening on ";

/// A running `rcgi` and what it logs.
pub struct Server {
    child: Child,
    /// The address of its first listening line; `0.0.0.0:0` when that
    /// is a Unix socket (see [`Server::listening`]).
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

    /// Makes a fifo `name` in the root: a script that reads it (`read x <
    /// ./name`) waits there until the test calls [`open_gate`].
    pub fn gate(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let made = Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo {}", path.display());
        path
    }
}

/// Lets a script waiting on the fifo `gate` go on.
pub fn open_gate(gate: &Path) {
    fs::OpenOptions::new()
        .write(true)
        .open(gate)
        .and_then(|mut f| f.write_all(b"go\n"))
        .expect("open the gate");
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

    /// Starts rcgi after `setup` has had its say on the command. Without
    /// `--listen` in `args`, it listens on a free port of 127.0.0.1 (or
    /// of the `--bind` address in `args`).
    pub fn start_custom(root: &Path, args: &[&str], setup: impl FnOnce(&mut Command)) -> Server {
        Server::start_command(root, args, |cmd| {
            setup(cmd);
            cmd.arg("--root").arg(root);
        })
    }

    /// Starts rcgi in the folder `cwd` with only `args` (and a free
    /// port), as a person types `rcgi` there.
    pub fn start_in(cwd: &Path, args: &[&str]) -> Server {
        Server::start_command(cwd, args, |cmd| {
            cmd.current_dir(cwd);
        })
    }

    fn start_command(root: &Path, args: &[&str], setup: impl FnOnce(&mut Command)) -> Server {
        let has_bind = args.contains(&"--bind");
        let has_port = args.iter().any(|a| *a == "--port" || *a == "-p");
        let has_listen = args.contains(&"--listen");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcgi"));
        setup(&mut cmd);
        if !has_port && !has_listen {
            cmd.args(["--port", "0"]);
        }
        if !has_bind && !has_listen {
            cmd.args(["--bind", "127.0.0.1"]);
        }
        keep_root_unless_named(&mut cmd, args);
        Server::spawn(root, cmd.args(args))
    }

    /// Runs `cmd` (an rcgi) and waits for its first listening line.
    pub fn spawn(root: &Path, cmd: &mut Command) -> Server {
        Server::spawn_until(root, cmd, LISTENING)
    }

    /// Runs `cmd` (an rcgi, or a program that starts one) and waits for a
    /// stderr line starting with `ready`.
    pub fn spawn_until(root: &Path, cmd: &mut Command, ready: &'static str) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rcgi");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        collect_lines(
            child.stderr.take().unwrap(),
            stderr.clone(),
            Some((ready, tx)),
        );
        collect_lines(child.stdout.take().unwrap(), stdout.clone(), None);
        let line = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "no line {ready:?} on stderr; stderr: {:?}",
                stderr.lock().unwrap()
            )
        });
        Server {
            addr: listening_addr(&line).unwrap_or_else(|| "0.0.0.0:0".parse().unwrap()),
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

    /// The places of its listening lines so far (`http://127.0.0.1:80`,
    /// `unix:/path`).
    pub fn listening(&self) -> Vec<String> {
        let mut places: Vec<String> = Vec::new();
        for line in self.stderr() {
            let Some((_, url)) = line
                .split_once(" rcgi listening on ")
                .or_else(|| line.split_once(" rcgi also serves "))
            else {
                continue;
            };
            let place = match url.strip_prefix("http://") {
                Some(tcp) => format!("http://{}", tcp.split('/').next().unwrap_or("")),
                None => url.split(' ').next().unwrap_or("").to_string(),
            };
            if !places.contains(&place) {
                places.push(place);
            }
        }
        places
    }

    /// Sends `signal` to rcgi.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        signal(self.child.id() as i32, sig);
    }

    /// Waits for rcgi to exit by itself; its exit status.
    pub fn wait_exit(mut self) -> ExitStatus {
        wait_until("rcgi to exit", || self.child.try_wait().unwrap())
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

    /// rcgi's threads: the main one, plus one per connection being served.
    pub fn threads(&self) -> usize {
        fs::read_dir(format!("/proc/{}/task", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
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
    mut ready: Option<(&'static str, mpsc::Sender<String>)>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if ready
                .as_ref()
                .is_some_and(|(text_in, _)| text.contains(text_in))
            {
                if let Some((_, tx)) = ready.take() {
                    let _ = tx.send(text.clone());
                }
            }
            lines.lock().unwrap().push(text);
            line.clear();
        }
    });
}

/// The address in `TIME info rcgi listening on http://ADDR/...`; None
/// for a Unix socket (`... rcgi listening on unix:/path for ...`).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once(" rcgi listening on http://")?;
    let end = rest.find('/').expect("a / after the address");
    Some(rest[..end].parse().expect("a socket address"))
}

/// An error log line's level (`info`, `warn`, `error`), after its time.
pub fn level(line: &str) -> &str {
    line.split(' ').nth(1).unwrap_or_default()
}

/// An error log line without its time and level: `rcgi: ...`. Fails the
/// test if the line does not start with an RFC 3339 time (UTC, to the
/// millisecond) and a level.
pub fn message(line: &str) -> &str {
    let mut parts = line.splitn(3, ' ');
    let (time, level, rest) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let b = time.as_bytes();
    let timed = b.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && b[23] == b'Z';
    assert!(
        timed && ["info", "warn", "error"].contains(&level),
        "not a timed error log line: {line:?}"
    );
    rest
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

/// One client connection, reading responses one after another: over
/// TCP, or a Unix socket.
pub struct Client<S = TcpStream> {
    pub reader: BufReader<S>,
    pub writer: S,
}

impl Client<TcpStream> {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to rcgi");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    /// Waits until rcgi has read everything this client has sent: the
    /// receive queue of rcgi's end of the connection (in /proc/net/tcp)
    /// is empty. Lets a test choose how a request is cut into reads.
    pub fn wait_until_received(&self) {
        let server = self.writer.peer_addr().unwrap();
        let client = self.writer.local_addr().unwrap();
        wait_until("rcgi to read what was sent", || {
            (receive_queue(server, client)? == 0).then_some(())
        });
    }
}

impl Client<UnixStream> {
    /// A connection to the Unix socket at `path`.
    pub fn unix(path: &Path) -> Client<UnixStream> {
        let stream = UnixStream::connect(path).expect("connect to rcgi's Unix socket");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }
}

impl<S: Read + Write> Client<S> {
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

    /// True if the server has closed the connection: a read gets
    /// end-of-file or a reset within the wait. Data, or the wait running
    /// out with nothing, is false.
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(n) => n == 0,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    }
}

/// The bytes waiting to be read on the IPv4 socket at `local` connected
/// to `remote`, from /proc/net/tcp (its `rx_queue` column).
fn receive_queue(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => panic!("IPv4 only"),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&local.as_str()) || f.get(2) != Some(&remote.as_str()) {
            return None;
        }
        let rx = f.get(4)?.split(':').nth(1)?;
        u64::from_str_radix(rx, 16).ok()
    })
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

// Real programs (the `legacy_*` tests): looking them up, running them as
// clients kept away from the user's configuration, and building what
// they send.

/// The path of `program` (a name looked up in `PATH`, or a path); fails
/// the test, naming the Debian package to install, when it is missing.
/// `.ci/run` installs every one of them.
pub fn require(program: &str, package: &str) -> PathBuf {
    let found = if program.contains('/') {
        Some(PathBuf::from(program)).filter(|p| is_executable(p))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| is_executable(p))
        })
    };
    found.unwrap_or_else(|| {
        panic!("{program} is not installed: apt-get install {package} (.ci/run installs it)")
    })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Fails the test unless Perl can load `module` (from `package`).
pub fn require_perl_module(module: &str, package: &str) {
    let ok = Command::new("perl")
        .args([&format!("-M{module}"), "-e1"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Perl module {module} is missing: apt-get install {package} (.ci/run installs it)"
    );
}

/// The SHA-256 of `data` in lower-case hex (by coreutils' `sha256sum`).
pub fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("sha256sum output");
    writer.join().unwrap().expect("feed sha256sum");
    assert!(out.status.success(), "sha256sum failed");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_string()
}

/// A command for a real client program (`git`, `curl`) that reads none
/// of the user's configuration (`HOME` is `home`) and uses no proxy.
pub fn client_command(program: &str, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "CURL_HOME",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("no_proxy", "*")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Ada Tester")
        .env("GIT_AUTHOR_EMAIL", "ada@example.org")
        .env("GIT_COMMITTER_NAME", "Ada Tester")
        .env("GIT_COMMITTER_EMAIL", "ada@example.org");
    cmd
}

/// Runs `cmd` to its end; fails the test with its output unless it
/// succeeded. Returns its stdout.
pub fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `git ARGS` in `dir`, as a client kept off the user's configuration;
/// returns its stdout as text.
pub fn git(dir: &Path, home: &Path, args: &[&str]) -> String {
    let out = run_ok(client_command("git", home).current_dir(dir).args(args));
    String::from_utf8(out).expect("git prints text")
}

/// Makes a bare repository at `bare` (branch `main`) holding one commit,
/// `subject`, of `files`.
pub fn bare_repo(bare: &Path, home: &Path, files: &[(&str, &[u8])], subject: &str) {
    let work = home.join(format!(
        "seed-{}",
        bare.file_name().unwrap().to_string_lossy()
    ));
    fs::create_dir_all(&work).unwrap();
    git(&work, home, &["init", "-q", "-b", "main"]);
    for (name, data) in files {
        let path = work.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }
    git(&work, home, &["add", "-A"]);
    git(&work, home, &["commit", "-q", "-m", subject]);
    let bare_text = bare.to_str().unwrap();
    git(&work, home, &["clone", "-q", "--bare", ".", bare_text]);
    git(bare, home, &["symbolic-ref", "HEAD", "refs/heads/main"]);
}

/// One part of a `multipart/form-data` body: a field, or a file when
/// `filename` is set.
pub struct Part<'a> {
    pub name: &'a str,
    pub filename: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub data: &'a [u8],
}

/// A `multipart/form-data` body of `parts`, built by hand as a browser
/// would send it. Its `Content-Type` is
/// `multipart/form-data; boundary=BOUNDARY`.
pub fn multipart(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

/// Sends one `POST path` with `body` (HTTP/1.1, `Content-Length`,
/// connection closed after) and reads the response.
pub fn post(server: &Server, path: &str, content_type: &str, body: &[u8]) -> Response {
    let mut c = server.connect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes());
    c.send(body);
    c.response()
}

/// Sends one `POST path` with `body` in chunks of `chunk` bytes
/// (`Transfer-Encoding: chunked`) and reads the response.
pub fn post_chunked(
    server: &Server,
    path: &str,
    content_type: &str,
    body: &[u8],
    chunk: usize,
) -> Response {
    let mut c = server.connect();
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for piece in body.chunks(chunk.max(1)) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    c.send(&raw);
    c.response()
}

/// The text of the fenced code block that follows the first line of
/// README.md containing `marker`, so that a test runs a configuration as
/// the README writes it.
pub fn readme_block(marker: &str) -> String {
    let readme = include_str!("../../README.md");
    let after = readme
        .split_once(marker)
        .unwrap_or_else(|| panic!("README.md has no {marker:?}"))
        .1;
    let fence = after.find("\n```").expect("a code block after the marker");
    let block = &after[fence + 1..];
    let body_start = block.find('\n').unwrap() + 1;
    let end = block[body_start..]
        .find("\n```")
        .expect("the end of the block");
    block[body_start..body_start + end + 1].to_string()
}

/// `text` with `from` replaced by `to`; fails the test if `from` is not
/// in it (the README changed under the test).
pub fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in:\n{text}");
    text.replace(from, to)
}

/// Whether a cgroup2 folder can be made where this process is (what
/// rcgi tries at start).
pub fn cgroup_usable() -> Result<(), String> {
    let info = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    let mount = info
        .lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            (right.starts_with("cgroup2 ") && fields.get(3) == Some(&"/"))
                .then(|| fields[4].to_string())
        })
        .ok_or("no cgroup2 mount")?;
    let own = fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("no cgroup2 line in /proc/self/cgroup")?
        .to_string();
    let probe = Path::new(&mount)
        .join(own.trim_start_matches('/'))
        .join(format!("rcgi-probe-{}", std::process::id()));
    fs::create_dir(&probe).map_err(|e| format!("mkdir {}: {e}", probe.display()))?;
    let _ = fs::remove_dir(&probe);
    Ok(())
}

/// As root (CI), rcgi would run as nobody, who cannot reach or write
/// the tests' temporary folders: an rcgi a test starts keeps root
/// unless its arguments name a user.
pub fn keep_root_unless_named(cmd: &mut Command, args: &[&str]) {
    if nix::unistd::Uid::effective().is_root() && !args.contains(&"--user") {
        cmd.args(["--user", "root"]);
    }
}

/// A file of contrib/, as shipped.
pub fn contrib(name: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("contrib")
            .join(name),
    )
    .unwrap()
}

/// Commits `len` bytes of noise in the clone `work` (git compresses
/// none of it, so a pack over http.postBuffer goes chunked) and pushes
/// it to origin's main with curl's trace on; returns the bytes and the
/// trace.
pub fn push_noise(work: &Path, home: &Path, len: usize, message: &str) -> (Vec<u8>, String) {
    let big = noise(len, 0x5eed);
    fs::write(work.join("big.bin"), &big).unwrap();
    git(work, home, &["add", "big.bin"]);
    git(work, home, &["commit", "-q", "-m", message]);
    let trace = home.join("push-trace.txt");
    run_ok(
        client_command("git", home)
            .current_dir(work)
            .env("GIT_TRACE_CURL", &trace)
            .env("GIT_TRACE_CURL_NO_DATA", "1")
            .args(["push", "-q", "origin", "main"]),
    );
    (big, fs::read_to_string(&trace).unwrap())
}
