//! Soak load for a running rcgi: many requests over concurrent keep-alive
//! connections, a mix of script outcomes, idle connections held open all
//! along, and a check that rcgi ends where it started (descriptors,
//! memory, no zombie children). `scripts/soak.sh` sets up the scripts and
//! the server and runs this; run by hand:
//!
//!     cargo run --release --example soak -- --addr 127.0.0.1:8000 --pid PID
//!
//! The scripts it expects under the prefix (see scripts/soak.sh):
//! `hello` (prints `hello from soak`), `echo` (sends the body back),
//! `fail` (exits without output: 502), `sleep` (sleeps past rcgi's
//! --timeout: 504), `stream` (a long body) and `trickle` (a line, then a
//! pause); `missing/...` must not exist (404).
//!
//! Exit code 0 only if every request got the status its kind expects,
//! every echo came back byte-exact, and rcgi's descriptors, memory and
//! children are back to their starting level after the run.

mod client;
mod load;
mod procfs;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;

use client::{Conn, Until};
use load::{HELLO_BODY, Kind, Tally, run_load};
use procfs::{RssLog, Stalls, cpu_ticks, settle, status_field};

#[derive(Parser, Debug, Clone)]
#[command(about = "Soak load for a running rcgi")]
pub struct Args {
    /// rcgi's address.
    #[arg(long)]
    pub addr: SocketAddr,
    /// rcgi's pid, to check its descriptors, memory and children.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Requests in the measured run.
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
    /// Concurrent keep-alive connections sending requests.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Connections opened first and held open, idle, the whole time.
    #[arg(long, default_value_t = 1000)]
    pub idle: usize,
    /// Requests sent before the starting level is measured.
    #[arg(long, default_value_t = 10_000)]
    pub warmup: usize,
    /// Largest echo body, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    pub max_echo: usize,
    /// URL prefix of the scripts.
    #[arg(long, default_value = "/cgi-bin")]
    pub prefix: String,
    /// How much rcgi's resident memory may grow over the run, in KiB.
    #[arg(long, default_value_t = 2048)]
    pub rss_slack_kib: u64,
    /// Seed of the pseudo-random choices (kinds, sizes, chunking).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Writes every error of the warm-up and the run to this file.
    #[arg(long, value_name = "FILE")]
    pub errors_file: Option<std::path::PathBuf>,
    /// Gives up (and fails) after this many seconds in all.
    #[arg(long, default_value_t = 3600)]
    pub give_up_after: u64,
}

/// When the soak began, for the time of errors.
pub static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Opens `n` connections and sends nothing on them.
fn open_idle(addr: SocketAddr, n: usize) -> io::Result<Vec<Conn>> {
    (0..n).map(|_| Conn::connect(addr)).collect()
}

/// Sends one hello on each idle connection; returns how many answered 200.
fn check_idle(idle: Vec<Conn>, args: &Args) -> usize {
    let request = format!("GET {}/hello HTTP/1.1\r\nHost: soak\r\n\r\n", args.prefix).into_bytes();
    let per_thread = idle.len().div_ceil(16).max(1);
    let mut groups: Vec<Vec<Conn>> = Vec::new();
    let mut idle = idle;
    while !idle.is_empty() {
        let rest = idle.split_off(idle.len().saturating_sub(per_thread));
        groups.push(rest);
    }
    let handles: Vec<_> = groups
        .into_iter()
        .map(|group| {
            let request = request.clone();
            thread::spawn(move || {
                group
                    .into_iter()
                    .filter_map(|mut c| c.exchange(&request, Until::Complete).ok())
                    .filter(|r| r.status == 200 && r.body == HELLO_BODY)
                    .count()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn print_tally(label: &str, t: &Tally) {
    let mut kinds: BTreeMap<Kind, Vec<(u16, u64)>> = BTreeMap::new();
    for (&(kind, status), &n) in &t.by_kind {
        kinds.entry(kind).or_default().push((status, n));
    }
    println!(
        "{label}: {} requests, {} errors",
        t.requests(),
        t.errors.len()
    );
    for (kind, statuses) in kinds {
        let total: u64 = statuses.iter().map(|(_, n)| n).sum();
        let detail: Vec<String> = statuses
            .iter()
            .map(|(s, n)| {
                if *s == 0 {
                    format!("no response: {n}")
                } else {
                    format!("{s}: {n}")
                }
            })
            .collect();
        let (sum, max) = t.time.get(&kind).copied().unwrap_or_default();
        println!(
            "  {:<13} {:>7}  (expect {}; {})  mean {:.1} ms, max {:.0} ms",
            kind.name(),
            total,
            kind.expected_status(),
            detail.join(", "),
            sum.as_secs_f64() * 1e3 / total.max(1) as f64,
            max.as_secs_f64() * 1e3
        );
    }
    for (at, what) in t.errors.iter().take(20) {
        println!("  error: [{at:.1}s] {what}");
    }
    if t.errors.len() > 20 {
        println!("  ... {} more errors", t.errors.len() - 20);
    }
}

fn main() {
    let args = Args::parse();
    let stalls = Stalls::watch(*EPOCH.get_or_init(Instant::now));
    let give_up = Duration::from_secs(args.give_up_after);
    thread::spawn(move || {
        thread::sleep(give_up);
        eprintln!("soak: gave up after {}s", give_up.as_secs());
        std::process::exit(1);
    });
    let pid = args.pid;
    let mut failures: Vec<String> = Vec::new();

    let baseline = pid.map(|p| settle(p, None));
    println!(
        "soak: rcgi at {}, {} requests over {} connections, {} idle connections, {} warm-up requests",
        args.addr, args.requests, args.concurrency, args.idle, args.warmup
    );

    let idle = match open_idle(args.addr, args.idle) {
        Ok(idle) => idle,
        Err(e) => {
            println!("soak: cannot open {} idle connections: {e}", args.idle);
            println!("verdict: FAIL");
            std::process::exit(1);
        }
    };

    let warm = run_load(&args, args.warmup);
    print_tally("warm-up", &warm);
    if !warm.errors.is_empty() {
        failures.push(format!("{} errors during warm-up", warm.errors.len()));
    }
    let start = pid.map(|p| settle(p, None));

    let cpu_before = cpu_ticks();
    let rss_log = pid.map(RssLog::start);
    let began = Instant::now();
    let tally = run_load(&args, args.requests);
    let took = began.elapsed();
    let rss_samples = rss_log.map(|log| log.samples());
    let cpu_after = cpu_ticks();
    let end = pid.map(|p| settle(p, start.map(|s| s.fds)));

    print_tally("run", &tally);
    let rate = tally.requests() as f64 / took.as_secs_f64();
    println!(
        "run: {:.1} s, {:.0} requests/s, {} echo bytes checked, {} connections opened",
        took.as_secs_f64(),
        rate,
        tally.echo_bytes,
        tally.connections
    );
    let all = cpu_after.0.saturating_sub(cpu_before.0).max(1);
    println!(
        "machine: longest stall of a 10 ms sleeper {} ms; CPU steal {:.1}%; load average {}",
        stalls.worst.load(Ordering::Relaxed),
        100.0 * cpu_after.1.saturating_sub(cpu_before.1) as f64 / all as f64,
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Some(path) = &args.errors_file {
        let text: String = warm
            .errors
            .iter()
            .map(|e| (e, "warm-up"))
            .chain(tally.errors.iter().map(|e| (e, "run")))
            .map(|((at, what), phase)| format!("{at:.3}s {phase}: {what}\n"))
            .collect();
        if let Err(e) = fs::write(path, text) {
            println!("soak: cannot write {}: {e}", path.display());
        }
    }
    let noted = stalls.noted.lock().expect("stall log").clone();
    if !noted.is_empty() {
        let list: Vec<String> = noted
            .iter()
            .take(20)
            .map(|(at, ms)| format!("{at:.1}s ({ms} ms)"))
            .collect();
        println!(
            "machine: {} stalls over {} ms, at: {}",
            noted.len(),
            Stalls::NOTED,
            list.join(", ")
        );
    }
    if !tally.errors.is_empty() {
        failures.push(format!("{} errors", tally.errors.len()));
    }
    if tally.requests() != args.requests as u64 {
        failures.push(format!(
            "{} of {} requests done",
            tally.requests(),
            args.requests
        ));
    }

    let idle_count = idle.len();
    let idle_ok = check_idle(idle, &args);
    println!("idle connections: {idle_ok} of {idle_count} still served after the run");
    if idle_ok != idle_count {
        failures.push(format!("{} idle connections lost", idle_count - idle_ok));
    }

    if let (Some(pid), Some(baseline), Some(start), Some(end)) = (pid, baseline, start, end) {
        // With the idle connections closed, rcgi should be back where it began.
        let after_idle = settle(pid, Some(baseline.fds));
        println!(
            "fds: {} at start (after warm-up, {} idle connections open), {} at end; {} before any connection, {} after the idle ones closed",
            start.fds, idle_count, end.fds, baseline.fds, after_idle.fds
        );
        println!(
            "rss: {} at start, {} at end (limit +{}); peak {}",
            mib(start.rss_kib),
            mib(end.rss_kib),
            mib(args.rss_slack_kib),
            mib(status_field(pid, "VmHWM"))
        );
        if let Some(samples) = &rss_samples {
            // The run in tenths: a leak climbs, an allocator levels off.
            let tenths: Vec<String> = (1..=10)
                .filter_map(|i| samples.get((samples.len() * i / 10).saturating_sub(1)))
                .map(|&k| format!("{:.1}", k as f64 / 1024.0))
                .collect();
            println!("rss during the run, by tenths (MiB): {}", tenths.join(" "));
        }
        println!(
            "threads: {} at start, {} at end; children at end: {}, zombies: {}",
            start.threads, end.threads, end.children, end.zombies
        );
        if end.fds > start.fds {
            failures.push(format!(
                "{} descriptors more than at start",
                end.fds - start.fds
            ));
        }
        if after_idle.fds > baseline.fds {
            failures.push(format!(
                "{} descriptors more than before the idle connections",
                after_idle.fds - baseline.fds
            ));
        }
        if end.rss_kib > start.rss_kib + args.rss_slack_kib {
            failures.push(format!("RSS grew by {}", mib(end.rss_kib - start.rss_kib)));
        }
        if end.zombies > 0 || after_idle.zombies > 0 {
            failures.push(format!(
                "{} zombie children",
                end.zombies.max(after_idle.zombies)
            ));
        }
        if end.children > 0 {
            failures.push(format!("{} children still running", end.children));
        }
        if end.threads > start.threads {
            failures.push(format!(
                "{} threads more than at start",
                end.threads - start.threads
            ));
        }
    } else {
        println!("(no --pid: descriptors, memory and children not checked)");
    }

    if failures.is_empty() {
        println!("verdict: PASS");
    } else {
        for f in &failures {
            println!("failed: {f}");
        }
        println!("verdict: FAIL");
        std::process::exit(1);
    }
}
