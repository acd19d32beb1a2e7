//! What the status pages show, counted as rcgi runs: requests by status,
//! a histogram of their durations, body bytes sent, connections open,
//! the scripts running now (pid, URL, age), and the last requests (from
//! which the slowest are shown). Counters are atomics, cheap for every
//! layer to update; the running scripts and the recent requests are
//! short lists behind a lock, bounded in length and in what each entry
//! keeps. One process-wide [`STATS`]; a [`Snapshot`] is what pages
//! render.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The upper bounds of the duration histogram's buckets, in seconds
/// (the last bucket, `+Inf`, takes the rest).
pub const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];
/// Finished requests kept, to show the slowest of them.
pub const RECENT: usize = 256;
/// Bytes of a request-target kept for the pages.
pub const TARGET_BYTES: usize = 200;
/// The lowest and highest status counted by code.
const FIRST_STATUS: u16 = 100;
const LAST_STATUS: u16 = 599;
const STATUSES: usize = (LAST_STATUS - FIRST_STATUS + 1) as usize;

/// The one set of counters of the process.
pub static STATS: Stats = Stats::new();

pub struct Stats {
    started: OnceLock<(Instant, SystemTime)>,
    by_status: [AtomicU64; STATUSES],
    /// Requests per histogram bucket (not cumulative), `+Inf` last.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    duration_micros: AtomicU64,
    body_bytes: AtomicU64,
    connections_open: AtomicUsize,
    connections: AtomicU64,
    scripts_started: AtomicU64,
    next_script: AtomicU64,
    scripts: Mutex<Vec<Script>>,
    recent: Mutex<VecDeque<Finished>>,
}

/// A request as it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub method: String,
    /// Its request-target, cut to [`TARGET_BYTES`].
    pub target: String,
    pub status: u16,
    pub bytes: u64,
    pub duration: Duration,
    pub at: SystemTime,
}

/// A script running now.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    id: u64,
    pub pid: u32,
    /// The request-target it runs for, cut to [`TARGET_BYTES`].
    pub target: String,
    pub started: Instant,
}

/// Lists a script while it lives; dropping it unlists it.
pub struct Listed(u64);

impl Drop for Listed {
    fn drop(&mut self) {
        lock(&STATS.scripts).retain(|s| s.id != self.0);
    }
}

/// A connection counted while it lives.
pub struct Open;

impl Drop for Open {
    fn drop(&mut self) {
        STATS.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The bucket a duration falls in.
fn bucket(d: Duration) -> usize {
    let secs = d.as_secs_f64();
    BUCKETS
        .iter()
        .position(|&le| secs <= le)
        .unwrap_or(BUCKETS.len())
}

impl Stats {
    pub const fn new() -> Stats {
        Stats {
            started: OnceLock::new(),
            by_status: [const { AtomicU64::new(0) }; STATUSES],
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len() + 1],
            duration_micros: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            connections_open: AtomicUsize::new(0),
            connections: AtomicU64::new(0),
            scripts_started: AtomicU64::new(0),
            next_script: AtomicU64::new(0),
            scripts: Mutex::new(Vec::new()),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// Notes when the server started (the first call counts).
    pub fn start(&self) {
        self.started
            .get_or_init(|| (Instant::now(), SystemTime::now()));
    }

    /// Counts a request that ended (a response sent, or the client gone).
    pub fn request(&self, method: &str, target: &str, status: u16, bytes: u64, duration: Duration) {
        if (FIRST_STATUS..=LAST_STATUS).contains(&status) {
            self.by_status[usize::from(status - FIRST_STATUS)].fetch_add(1, Ordering::Relaxed);
        }
        self.buckets[bucket(duration)].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.duration_micros.fetch_add(micros, Ordering::Relaxed);
        self.body_bytes.fetch_add(bytes, Ordering::Relaxed);
        let finished = Finished {
            method: cut(method, TARGET_BYTES),
            target: cut(target, TARGET_BYTES),
            status,
            bytes,
            duration,
            at: SystemTime::now(),
        };
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(finished);
    }

    /// Counts a connection until the guard is dropped.
    pub fn connection(&'static self) -> Open {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        Open
    }

    /// Lists a script started for `target` until the guard is dropped.
    pub fn script(&'static self, pid: u32, target: &str) -> Listed {
        self.scripts_started.fetch_add(1, Ordering::Relaxed);
        let id = self.next_script.fetch_add(1, Ordering::Relaxed);
        lock(&self.scripts).push(Script {
            id,
            pid,
            target: cut(target, TARGET_BYTES),
            started: Instant::now(),
        });
        Listed(id)
    }

    /// The figures as they are now, with the `slowest` recent requests.
    pub fn snapshot(&self, slowest: usize) -> Snapshot {
        let (since, start_time) = *self
            .started
            .get_or_init(|| (Instant::now(), SystemTime::now()));
        let by_status = (FIRST_STATUS..=LAST_STATUS)
            .zip(&self.by_status)
            .map(|(code, n)| (code, n.load(Ordering::Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect();
        let mut recent: Vec<Finished> = lock(&self.recent).iter().cloned().collect();
        recent.sort_by_key(|f| std::cmp::Reverse(f.duration));
        recent.truncate(slowest);
        let mut scripts = lock(&self.scripts).clone();
        scripts.sort_by_key(|s| s.started);
        Snapshot {
            uptime: since.elapsed(),
            start_time,
            by_status,
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            duration_sum: Duration::from_micros(self.duration_micros.load(Ordering::Relaxed)),
            body_bytes: self.body_bytes.load(Ordering::Relaxed),
            connections_open: self.connections_open.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            scripts_started: self.scripts_started.load(Ordering::Relaxed),
            scripts,
            slowest: recent,
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

/// The figures at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub uptime: Duration,
    pub start_time: SystemTime,
    /// (status, requests), for the statuses seen, in order.
    pub by_status: Vec<(u16, u64)>,
    /// Requests per bucket of [`BUCKETS`], not cumulative, `+Inf` last.
    pub buckets: Vec<u64>,
    pub duration_sum: Duration,
    pub body_bytes: u64,
    pub connections_open: usize,
    pub connections: u64,
    pub scripts_started: u64,
    /// The scripts running, oldest first.
    pub scripts: Vec<Script>,
    /// The slowest of the recent requests, slowest first.
    pub slowest: Vec<Finished>,
}

impl Snapshot {
    pub fn requests(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_status_and_duration() {
        let s = Stats::new();
        s.request("GET", "/a", 200, 10, Duration::from_micros(500));
        s.request("GET", "/b", 200, 5, Duration::from_millis(30));
        s.request("POST", "/c", 502, 0, Duration::from_secs(100));
        s.request("GET", "/d", 0, 0, Duration::ZERO);
        let snap = s.snapshot(2);
        assert_eq!(snap.by_status, [(200, 2), (502, 1)]);
        assert_eq!(snap.requests(), 4);
        assert_eq!(snap.buckets[0], 2, "0.5 ms and 0 s are under 1 ms");
        assert_eq!(snap.buckets[bucket(Duration::from_millis(30))], 1);
        assert_eq!(
            *snap.buckets.last().unwrap(),
            1,
            "100 s is past the last bound"
        );
        assert_eq!(snap.body_bytes, 15);
        let slowest: Vec<&str> = snap.slowest.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(slowest, ["/c", "/b"]);
    }

    #[test]
    fn recent_requests_and_targets_are_bounded() {
        let s = Stats::new();
        let long = "é".repeat(TARGET_BYTES);
        for _ in 0..RECENT + 10 {
            s.request("GET", &long, 200, 0, Duration::ZERO);
        }
        assert_eq!(lock(&s.recent).len(), RECENT);
        let kept = &lock(&s.recent)[0].target;
        assert!(kept.len() <= TARGET_BYTES && kept.starts_with('é'));
    }

    #[test]
    fn scripts_are_listed_while_their_guards_live() {
        let a = STATS.script(41, "/x?1");
        let b = STATS.script(42, "/y");
        let pids = |s: &Snapshot| s.scripts.iter().map(|s| s.pid).collect::<Vec<_>>();
        let snap = STATS.snapshot(0);
        assert!(pids(&snap).contains(&41) && pids(&snap).contains(&42));
        drop(a);
        let snap = STATS.snapshot(0);
        assert!(!pids(&snap).contains(&41) && pids(&snap).contains(&42));
        drop(b);
    }
}
