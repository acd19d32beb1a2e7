//! Idle connections: a connection waiting for its first or next request
//! waits in rcgi's poll set and holds no thread; thousands of silent
//! ones neither starve a request nor run rcgi out of descriptors (it
//! raises its own limit, keeps a reserve to say 503, and scripts keep
//! the limit it started with; out of descriptors altogether, see
//! tests/faults.rs); the idle timeout and the drain close parked
//! connections.

mod common;

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use common::{Client, Root, Server, wait_until};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;

const HELLO: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n";
/// Prints the script's own soft descriptor limit.
const FILES: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nulimit -Sn\n";
/// The silent connections of the first test.
const SILENT: usize = 2000;
/// The soft limit rcgi is started with: the usual default.
const STARTED_WITH: u64 = 1024;

/// Raises this test process's soft descriptor limit to its hard one
/// (it holds the client ends of thousands of connections).
fn raise_own_limit() {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
}

/// Starts rcgi with the descriptor limits `soft` and `hard`.
fn start_limited(root: &Root, soft: u64, hard: Option<u64>, args: &[&str]) -> Server {
    Server::start_custom(&root.path(), args, move |cmd: &mut Command| {
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls getrlimit and setrlimit, which are async-signal-safe
        // system calls; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                let (_, current) = getrlimit(Resource::RLIMIT_NOFILE)?;
                setrlimit(Resource::RLIMIT_NOFILE, soft, hard.unwrap_or(current))?;
                Ok(())
            });
        }
    })
}

/// Waits until rcgi holds at least `n` descriptors.
fn wait_for_fds(server: &Server, n: usize) {
    wait_until(&format!("rcgi to hold {n} descriptors"), || {
        (server.open_fds() >= n).then_some(())
    });
}

fn get(client: &mut Client, path: &str) -> common::Response {
    client.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    client.response()
}

#[test]
fn thousands_of_silent_connections_hold_no_thread_and_starve_no_request() {
    raise_own_limit();
    let root = Root::new();
    root.script("hello.sh", HELLO);
    root.script("files.sh", FILES);
    let max = (SILENT + 1).to_string();
    let server = start_limited(&root, STARTED_WITH, None, &["--max-connections", &max]);
    server.wait_stderr("open-files limit (RLIMIT_NOFILE) raised from 1024");
    // One silent connection first: once rcgi holds it, its poll set's
    // thread is running, and the count of threads is the one to keep.
    let fds = server.open_fds();
    let first = TcpStream::connect(server.addr).unwrap();
    wait_for_fds(&server, fds + 1);
    let threads = server.threads();
    let mut silent = vec![first];
    for _ in 1..SILENT {
        silent.push(TcpStream::connect(server.addr).unwrap());
    }
    wait_for_fds(&server, fds + SILENT);
    let grown = server.threads().saturating_sub(threads);
    assert!(
        grown <= 1,
        "{grown} more threads for {SILENT} idle connections"
    );
    // A normal request is answered meanwhile, and a script keeps the
    // limit rcgi started with.
    let mut normal = server.connect();
    assert_eq!(get(&mut normal, "/cgi-bin/hello.sh").text(), "hello\n");
    let r = get(&mut normal, "/cgi-bin/files.sh");
    assert_eq!((r.status, r.text().trim()), (200, "1024"));
    // `normal` holds the last place: a new connection gets the 503.
    let mut past = server.connect();
    past.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = past.response();
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    drop(silent);
    drop(server);
}

#[test]
fn a_kept_alive_connection_waits_without_a_thread_and_its_next_request_works() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&[]);
    let fds = server.open_fds();
    let mut client = server.connect();
    wait_for_fds(&server, fds + 1);
    let threads = server.threads();
    assert_eq!(get(&mut client, "/cgi-bin/hello.sh").text(), "hello\n");
    // Its thread lets the connection go back to the poll set, and ends
    // after a second with nothing else to do.
    wait_until("the connection thread to end", || {
        (server.threads() <= threads).then_some(())
    });
    assert_eq!(get(&mut client, "/cgi-bin/hello.sh").text(), "hello\n");
    // Pipelined requests that arrive together are all answered.
    client.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\nGET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().text(), "hello\n");
    assert_eq!(client.response().text(), "hello\n");
}

#[test]
fn the_idle_timeout_closes_parked_connections() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&["--idle-timeout", "1s"]);
    let mut silent = server.connect();
    let mut kept = server.connect();
    assert_eq!(get(&mut kept, "/cgi-bin/hello.sh").text(), "hello\n");
    assert!(silent.is_closed(), "a silent new connection was closed");
    assert!(kept.is_closed(), "an idle kept-alive connection was closed");
    // A new one is served as before.
    let mut after = server.connect();
    assert_eq!(get(&mut after, "/cgi-bin/hello.sh").status, 200);
}

#[test]
fn the_drain_closes_parked_connections() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&["--idle-timeout", "1h", "--shutdown-grace", "1h"]);
    let fds = server.open_fds();
    let mut kept = server.connect();
    let mut silent = server.connect();
    wait_for_fds(&server, fds + 2);
    let threads = server.threads();
    assert_eq!(get(&mut kept, "/cgi-bin/hello.sh").text(), "hello\n");
    wait_until("the connection thread to end", || {
        (server.threads() <= threads).then_some(())
    });
    server.signal(Signal::SIGTERM);
    assert!(kept.is_closed(), "the kept-alive connection was closed");
    assert!(silent.is_closed(), "the silent new connection was closed");
    assert!(server.wait_exit().success());
}
