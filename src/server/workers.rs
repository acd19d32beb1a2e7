//! The threads connections are served on. A connection goes to a free
//! thread, or to a new one when none is free; a thread whose connection
//! ended waits for the next one, and ends once it has had nothing to do
//! for [`RETIRE`]. So a busy rcgi starts no thread per connection (a
//! web server that opens a FastCGI connection per request, or an HTTP
//! connection back from the poll set, takes one that is already
//! running), and an idle one keeps none. The last thread to end hands
//! the memory the connections freed back to the system, the scripts'
//! read buffers too.

use std::collections::VecDeque;
use std::io;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::io::scratch;

/// Stack for a connection thread: buffers live on the heap.
const THREAD_STACK: usize = 256 * 1024;
/// How long a thread waits for a connection before it ends.
const RETIRE: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce() + Send>;

/// Connections waiting for a free thread, and the threads.
struct Pool {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    /// Never more than `free`: each has a thread that will take it.
    jobs: VecDeque<Job>,
    /// Threads waiting for a connection.
    free: usize,
    /// Threads alive, free or not.
    alive: usize,
}

static POOL: Pool = Pool {
    state: Mutex::new(State {
        jobs: VecDeque::new(),
        free: 0,
        alive: 0,
    }),
    wake: Condvar::new(),
};

fn state() -> MutexGuard<'static, State> {
    // Nothing panics while holding the lock; a poisoned one is as good.
    POOL.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `serve` on a free connection thread, or on a new one.
pub fn run(serve: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let job: Job = Box::new(serve);
    {
        let mut s = state();
        if s.free > s.jobs.len() {
            s.jobs.push_back(job);
            drop(s);
            POOL.wake.notify_one();
            return Ok(());
        }
        s.alive += 1;
    }
    let alive = Alive;
    thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK)
        .spawn(move || work(job, alive))
        .map(drop)
}

/// A thread's life: its first connection, then the ones it is given.
fn work(first: Job, _alive: Alive) {
    let mut job = Some(first);
    while let Some(serve) = job {
        serve();
        job = next();
    }
}

/// Waits for a connection to serve; None after [`RETIRE`] without one.
fn next() -> Option<Job> {
    let mut s = state();
    s.free += 1;
    loop {
        if let Some(job) = s.jobs.pop_front() {
            s.free -= 1;
            return Some(job);
        }
        let (guard, waited) = POOL
            .wake
            .wait_timeout(s, RETIRE)
            .unwrap_or_else(|e| e.into_inner());
        s = guard;
        if waited.timed_out() && s.jobs.is_empty() {
            s.free -= 1;
            return None;
        }
    }
}

/// Counts a thread among the living until it ends (a panic too, or a
/// thread that could not be started).
struct Alive;

impl Drop for Alive {
    fn drop(&mut self) {
        let mut s = state();
        s.alive -= 1;
        let last = s.alive == 0;
        drop(s);
        if last {
            scratch::release();
            give_back_memory();
        }
    }
}

/// Hands the memory the connections freed back to the system: glibc's
/// malloc keeps freed memory in its per-thread arenas, which would leave
/// an idle rcgi as large as its busiest moment.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_back_memory() {
    // SAFETY: malloc_trim only releases free memory of the allocator; it
    // takes no pointer, and it locks each arena it trims, so other threads
    // may allocate meanwhile.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Other C libraries (musl) have no arenas to trim.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_memory() {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_thread_serves_one_connection_after_another() {
        let (tx, rx) = mpsc::channel();
        let first = tx.clone();
        run(move || first.send(thread::current().id()).unwrap()).unwrap();
        let a = rx.recv().unwrap();
        // The first thread is free once it has sent; wait for it to say so.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while state().free == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the thread never got free"
            );
            thread::yield_now();
        }
        run(move || tx.send(thread::current().id()).unwrap()).unwrap();
        let b = rx.recv().unwrap();
        assert_eq!(a, b, "the second connection ran on the free thread");
    }
}
