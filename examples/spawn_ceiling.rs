//! The spawn ceiling: how many times per second this machine can start a
//! small program the way rcgi starts a script, with no HTTP around it.
//!
//! Each thread loops: start PROGRAM with std's `Command`, stdin and stdout
//! piped (no `pre_exec`, so std uses `posix_spawn`), close its stdin, read
//! all its output, reap it. After the given time it prints the number of
//! starts per second. A fork-per-request host can approach this rate but
//! not pass it; `scripts/bench.sh` divides rcgi's requests/s by it.
//!
//! ```text
//! cargo run --release --example spawn_ceiling -- [--threads N] [--seconds S] PROGRAM
//! ```
//!
//! Prints one line ending in `<rate> starts/s`. Exits with code 1 if a
//! start fails, the program exits unsuccessfully or writes nothing.

use std::io::{self, Read};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: spawn_ceiling [--threads N] [--seconds S] PROGRAM";

struct Options {
    threads: usize,
    seconds: f64,
    program: String,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        threads: 1,
        seconds: 5.0,
        program: String::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--threads" => {
                options.threads = value("--threads")?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--threads takes a positive integer")?;
            }
            "--seconds" => {
                options.seconds = value("--seconds")?
                    .parse()
                    .ok()
                    .filter(|&s: &f64| s > 0.0 && s.is_finite())
                    .ok_or("--seconds takes a positive number")?;
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ if options.program.is_empty() => options.program = arg,
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    if options.program.is_empty() {
        return Err(USAGE.to_string());
    }
    Ok(options)
}

/// One start: spawn, close stdin, read stdout to its end, reap.
fn start_once(program: &str, output: &mut Vec<u8>) -> io::Result<()> {
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    drop(child.stdin.take());
    output.clear();
    // Invariant: stdout was set to Stdio::piped() above.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let read = stdout.read_to_end(output);
    drop(stdout);
    let status = child.wait()?;
    read?;
    if !status.success() {
        return Err(io::Error::other(format!("{program} ended with {status}")));
    }
    if output.is_empty() {
        return Err(io::Error::other(format!("{program} wrote nothing")));
    }
    Ok(())
}

/// Starts `program` in a loop until `stop` is set; returns the count.
fn spawn_loop(program: &str, stop: &AtomicBool) -> io::Result<u64> {
    let mut output = Vec::with_capacity(4096);
    let mut starts = 0;
    while !stop.load(Ordering::Relaxed) {
        if let Err(err) = start_once(program, &mut output) {
            stop.store(true, Ordering::Relaxed);
            return Err(err);
        }
        starts += 1;
    }
    Ok(starts)
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("spawn_ceiling: {message}");
            return ExitCode::from(2);
        }
    };
    let stop = AtomicBool::new(false);
    let began = Instant::now();
    let results: Vec<io::Result<u64>> = thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads)
            .map(|_| scope.spawn(|| spawn_loop(&options.program, &stop)))
            .collect();
        let deadline = began + Duration::from_secs_f64(options.seconds);
        while !stop.load(Ordering::Relaxed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                stop.store(true, Ordering::Relaxed);
            }
            thread::sleep(left.min(Duration::from_millis(100)));
        }
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a thread panicked")))
            })
            .collect()
    });
    // The last starts finish after the deadline: count their time too.
    let elapsed = began.elapsed().as_secs_f64();
    let mut starts = 0;
    for result in results {
        match result {
            Ok(n) => starts += n,
            Err(err) => {
                eprintln!("spawn_ceiling: {}: {err}", options.program);
                return ExitCode::FAILURE;
            }
        }
    }
    let plural = if options.threads == 1 { "" } else { "s" };
    println!(
        "{}: {} thread{plural}, {starts} starts in {elapsed:.2} s: {:.0} starts/s",
        options.program,
        options.threads,
        starts as f64 / elapsed
    );
    ExitCode::SUCCESS
}
