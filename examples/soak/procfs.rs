//! rcgi and the machine as seen from /proc: rcgi's descriptors, memory,
//! threads and children, waiting for it to come to rest, and how loaded
//! the machine is.

use std::fs;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long rcgi may take to get back to rest after the load stops.
const SETTLE: Duration = Duration::from_secs(30);

fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A `kB` field of /proc/PID/status (VmRSS, VmHWM, Threads...).
pub fn status_field(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// rcgi's direct children: (all, zombies).
fn children(pid: u32) -> (usize, usize) {
    let (mut all, mut zombies) = (0, 0);
    let Ok(dir) = fs::read_dir("/proc") else {
        return (0, 0);
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(child) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().unwrap_or("");
        if fields.next().and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            all += 1;
            if state == "Z" {
                zombies += 1;
            }
        }
    }
    (all, zombies)
}

#[derive(Debug, Clone, Copy)]
pub struct Level {
    pub fds: usize,
    pub rss_kib: u64,
    pub threads: u64,
    pub children: usize,
    pub zombies: usize,
}

fn level(pid: u32) -> Level {
    let (children, zombies) = children(pid);
    Level {
        fds: open_fds(pid),
        rss_kib: status_field(pid, "VmRSS"),
        threads: status_field(pid, "Threads"),
        children,
        zombies,
    }
}

/// Waits until rcgi is at rest: no children, and its descriptor count
/// at `target` (if given) or unchanged for a second. Gives up after
/// [`SETTLE`] and returns the level then.
pub fn settle(pid: u32, target: Option<usize>) -> Level {
    let deadline = Instant::now() + SETTLE;
    let mut last = level(pid);
    let mut steady_since = Instant::now();
    loop {
        thread::sleep(Duration::from_millis(100));
        let now = level(pid);
        if now.fds != last.fds || now.children != last.children {
            steady_since = Instant::now();
        }
        last = now;
        let at_rest = now.children == 0
            && match target {
                Some(t) => now.fds <= t,
                None => steady_since.elapsed() >= Duration::from_secs(1),
            };
        if at_rest {
            // Threads end just after their sockets close: look again.
            thread::sleep(Duration::from_millis(300));
            return level(pid);
        }
        if Instant::now() >= deadline {
            return now;
        }
    }
}

/// Watches the machine rather than rcgi: a thread that sleeps 10 ms at a
/// time records how late it wakes up. A long stall (a loaded or paused
/// machine) explains timeouts that are no fault of rcgi's.
pub struct Stalls {
    /// The longest, in ms.
    pub worst: Arc<AtomicU64>,
    /// Those over [`Stalls::NOTED`]: (seconds since `EPOCH`, ms late).
    pub noted: Arc<Mutex<Vec<(f64, u64)>>>,
}

impl Stalls {
    pub const NOTED: u64 = 250;

    pub fn watch(epoch: Instant) -> Stalls {
        let stalls = Stalls {
            worst: Arc::new(AtomicU64::new(0)),
            noted: Arc::new(Mutex::new(Vec::new())),
        };
        let (worst, noted) = (Arc::clone(&stalls.worst), Arc::clone(&stalls.noted));
        thread::spawn(move || {
            loop {
                let t = Instant::now();
                thread::sleep(Duration::from_millis(10));
                let late = t.elapsed().saturating_sub(Duration::from_millis(10));
                let ms = late.as_millis() as u64;
                worst.fetch_max(ms, Ordering::Relaxed);
                if ms > Stalls::NOTED {
                    let at = epoch.elapsed().as_secs_f64();
                    noted.lock().expect("stall log").push((at, ms));
                }
            }
        });
        stalls
    }
}

/// CPU time of the whole machine from /proc/stat: (all, steal), in ticks.
pub fn cpu_ticks() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next() else {
        return (0, 0);
    };
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    (ticks.iter().sum(), ticks.get(7).copied().unwrap_or(0))
}

/// Records rcgi's VmRSS (KiB) every half second, for as long as the
/// returned handle lives; read it with [`RssLog::samples`].
pub struct RssLog(Arc<Mutex<Vec<u64>>>);

impl RssLog {
    pub fn start(pid: u32) -> RssLog {
        let log = Arc::new(Mutex::new(Vec::new()));
        let weak = Arc::downgrade(&log);
        thread::spawn(move || {
            while let Some(log) = weak.upgrade() {
                let rss = status_field(pid, "VmRSS");
                log.lock().expect("RSS log").push(rss);
                drop(log);
                thread::sleep(Duration::from_millis(500));
            }
        });
        RssLog(log)
    }

    pub fn samples(&self) -> Vec<u64> {
        self.0.lock().expect("RSS log").clone()
    }
}
