//! The listener: accept connections, give each a thread of its own within
//! the connection bound, and stop cleanly on SIGINT or SIGTERM: stop
//! accepting, let running requests finish within a grace period, then
//! stop the scripts still running (SIGTERM, then SIGKILL, to their
//! process groups).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use crate::cgi::{KILL_GRACE, process};
use crate::cli::Config;
use crate::gate::Gate;
use crate::http::response::{self, Connection};
use crate::log;

/// What every connection thread shares.
pub struct Shared {
    pub config: Config,
    /// Connections being served.
    pub connections: Gate,
    /// Scripts running.
    pub scripts: Gate,
    /// Requests being served (not idle connections), for shutdown.
    pub requests: Gate,
    stopping: AtomicBool,
}

impl Shared {
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// Stack for a connection thread: buffers live on the heap.
const THREAD_STACK: usize = 256 * 1024;

pub fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.addr)
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "rcgi listening on http://{}{}/ (root {})",
        url_host(addr),
        config.prefix,
        config.root.display()
    );
    if config.debug {
        list_scripts(&config, addr);
    }
    let stop = crate::shutdown::install().context("cannot install signal handlers")?;
    let shared = Arc::new(Shared {
        connections: Gate::new(config.limits.max_connections, 0),
        scripts: Gate::new(config.limits.max_scripts, config.limits.max_scripts),
        requests: Gate::new(usize::MAX, 0),
        config,
        stopping: AtomicBool::new(false),
    });
    accept_until_stopped(&listener, &stop, &shared);
    drop(listener);
    shut_down(&shared);
    Ok(())
}

/// `--debug`: say which scripts there are, and their URLs.
fn list_scripts(config: &Config, addr: SocketAddr) {
    let scripts = crate::route::list_scripts(&crate::serve::mount(config), 200);
    if scripts.is_empty() {
        log::error(format_args!("no scripts under {}", config.root.display()));
    }
    for url in scripts {
        log::error(format_args!("script http://{}{url}", url_host(addr)));
    }
}

/// `127.0.0.1:8000` or `[::1]:8000`.
fn url_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

fn accept_until_stopped(
    listener: &TcpListener,
    stop: &crate::shutdown::Stop,
    shared: &Arc<Shared>,
) {
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                log::error(format_args!("poll on the listener failed: {e}"));
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        if fds[1].any().unwrap_or(false) {
            return;
        }
        match listener.accept() {
            Ok((stream, _)) => start_connection(shared, stream),
            Err(e) => back_off(&e),
        }
    }
}

/// Accept failures are never fatal; running out of descriptors or memory
/// pauses accepting for a moment instead of spinning.
fn back_off(e: &io::Error) {
    let pause = match e.raw_os_error() {
        Some(nix::libc::EMFILE | nix::libc::ENFILE | nix::libc::ENOBUFS | nix::libc::ENOMEM) => {
            log::error(format_args!("accept: {e}; pausing"));
            Duration::from_millis(100)
        }
        _ => Duration::ZERO,
    };
    thread::sleep(pause);
}

fn start_connection(shared: &Arc<Shared>, stream: TcpStream) {
    if !shared.connections.try_take() {
        refuse_busy(stream);
        return;
    }
    let shared_for_thread = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            // Gives the place back however the thread ends, a panic too.
            let _place = Place(&shared_for_thread.connections);
            crate::connection::handle(&shared_for_thread, stream);
        });
    if let Err(e) = spawned {
        shared.connections.release();
        log::error(format_args!("cannot start a connection thread: {e}"));
        thread::sleep(Duration::from_millis(10));
    }
}

/// A connection's place in the connection bound, freed on drop.
struct Place<'a>(&'a Gate);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.release();
        if self.0.used() == 0 {
            give_back_memory();
        }
    }
}

/// Once no connection is left, hands the memory the connections freed
/// back to the system: malloc keeps freed memory in its per-thread
/// arenas, which would leave an idle rcgi as large as its busiest moment.
fn give_back_memory() {
    // SAFETY: malloc_trim only releases free memory of the allocator; it
    // takes no pointer, and it locks each arena it trims, so other threads
    // may allocate meanwhile.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Past the connection bound: a 503 sent without waiting, then close.
fn refuse_busy(stream: TcpStream) {
    let mut out = Vec::new();
    let retry = [("Retry-After".to_string(), b"1".to_vec())];
    response::error_page(
        &mut out,
        503,
        "too many connections",
        false,
        Connection::Close,
        &retry,
    );
    let _ = stream.set_nonblocking(true);
    let _ = io::Write::write(&mut &stream, &out);
}

/// Waits for running requests, within the grace period, then stops the
/// scripts that are still running and gives their requests a moment to
/// end.
fn shut_down(shared: &Shared) {
    shared.stopping.store(true, Ordering::Relaxed);
    let grace = shared.config.limits.shutdown_grace;
    log::error(format_args!(
        "stopping: {} requests running, waiting up to {}s",
        shared.requests.used(),
        grace.as_secs()
    ));
    if !wait_for(|| shared.requests.used() == 0, grace) {
        log::error(format_args!("stopping {} scripts", process::running()));
        process::signal_all(Signal::SIGTERM);
        if !wait_for(|| process::running() == 0, KILL_GRACE) {
            process::signal_all(Signal::SIGKILL);
        }
        wait_for(|| shared.requests.used() == 0, KILL_GRACE * 2);
    }
}

/// Polls `done` until it holds or `limit` passes; true if it held.
fn wait_for(done: impl Fn() -> bool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}
