//! The FastCGI application the web servers of `front_servers` talk to:
//! rcgi's FastCGI listener (`rcgi --fastcgi`), or `fcgiwrap` from
//! Debian's package (the program rcgi replaces) when the environment
//! variable `RCGI_TEST_FASTCGI_BACKEND=fcgiwrap` asks for it, to compare
//! the two. It listens on a Unix socket or a TCP port of 127.0.0.1.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{Server, require, wait_until};

/// Worker processes fcgiwrap is given (its default is one: one request at a time).
const FCGIWRAP_WORKERS: &str = "8";

/// The variable that picks the backend.
pub const BACKEND_VAR: &str = "RCGI_TEST_FASTCGI_BACKEND";

/// Where the backend listens.
#[derive(Clone, Debug)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Listen {
    /// A Unix socket in `dir`.
    pub fn unix(dir: &Path) -> Listen {
        Listen::Unix(dir.join("fastcgi.sock"))
    }

    /// A TCP port of 127.0.0.1 free now.
    pub fn tcp() -> Listen {
        Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], free_port())))
    }

    /// The address as rcgi's `--fastcgi` and fcgiwrap's `-s` take it.
    fn arg(&self, tcp_prefix: &str) -> String {
        match self {
            Listen::Unix(path) => format!("unix:{}", path.display()),
            Listen::Tcp(addr) => format!("{tcp_prefix}{addr}"),
        }
    }

    fn answers(&self) -> bool {
        match self {
            Listen::Unix(path) => UnixStream::connect(path).is_ok(),
            Listen::Tcp(addr) => TcpStream::connect(addr).is_ok(),
        }
    }
}

/// A port free now on 127.0.0.1 (for a server that binds its own).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The running backend.
pub enum Backend {
    /// rcgi, with its log (its `stderr()`).
    Rcgi(Server, Listen),
    /// fcgiwrap in a process group of its own, its stderr in a file.
    Fcgiwrap(Child, Listen, PathBuf),
}

impl Backend {
    /// True unless the environment asks for fcgiwrap.
    pub fn is_rcgi_chosen() -> bool {
        std::env::var(BACKEND_VAR).map_or(true, |v| v != "fcgiwrap")
    }

    /// Starts the chosen backend for the scripts of `root`, listening at
    /// `listen`; `rcgi_args` are added to rcgi's command line.
    pub fn start(root: &Path, listen: Listen, rcgi_args: &[&str]) -> Backend {
        let backend = if Backend::is_rcgi_chosen() {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcgi"));
            cmd.arg("--root")
                .arg(root)
                .arg("--fastcgi")
                .arg(listen.arg(""));
            super::keep_root_unless_named(&mut cmd, rcgi_args);
            cmd.args(["--socket-mode", "0666"]).args(rcgi_args);
            let server = Server::spawn_until(root, &mut cmd, "");
            Backend::Rcgi(server, listen.clone())
        } else {
            start_fcgiwrap(root, listen.clone())
        };
        wait_until(&format!("the FastCGI backend at {listen:?}"), || {
            backend.check_alive();
            listen.answers().then_some(())
        });
        if let Listen::Unix(path) = &listen {
            // Apache's children run as nobody.
            fs::set_permissions(path, fs::Permissions::from_mode(0o666)).expect("chmod socket");
        }
        backend
    }

    pub fn listen(&self) -> &Listen {
        match self {
            Backend::Rcgi(_, l) | Backend::Fcgiwrap(_, l, _) => l,
        }
    }

    pub fn is_rcgi(&self) -> bool {
        matches!(self, Backend::Rcgi(..))
    }

    /// What the backend logged so far.
    pub fn log(&self) -> String {
        match self {
            Backend::Rcgi(server, _) => server.stderr().join("\n"),
            Backend::Fcgiwrap(_, _, log) => fs::read_to_string(log).unwrap_or_default(),
        }
    }

    /// Waits for a line of the backend's log holding `text`.
    pub fn wait_log(&self, text: &str) -> String {
        wait_until(&format!("{text:?} in the backend's log"), || {
            self.log()
                .lines()
                .find(|l| l.contains(text))
                .map(str::to_string)
        })
    }

    fn check_alive(&self) {
        if let Backend::Rcgi(server, _) = self {
            let state = super::proc_state(server.pid());
            assert!(
                !matches!(state, None | Some('Z')),
                "rcgi --fastcgi exited: {}",
                self.log()
            );
        }
    }
}

fn start_fcgiwrap(root: &Path, listen: Listen) -> Backend {
    let fcgiwrap = require("/usr/sbin/fcgiwrap", "fcgiwrap");
    if let Listen::Unix(path) = &listen {
        // fcgiwrap will not bind over a socket file left behind.
        let _ = fs::remove_file(path);
    }
    let log = root.with_extension("fcgiwrap.log");
    let child = Command::new(fcgiwrap)
        .args(["-c", FCGIWRAP_WORKERS, "-s", &listen.arg("tcp:")])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("fcgiwrap's log"))
        .spawn()
        .expect("start fcgiwrap");
    Backend::Fcgiwrap(child, listen, log)
}

impl Drop for Backend {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- the FastCGI backend's log:\n{}", self.log());
        }
        if let Backend::Fcgiwrap(child, _, log) = self {
            // Its workers are in its group: stop them all.
            let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            let _ = fs::remove_file(log);
        }
    }
}
