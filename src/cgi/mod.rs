//! The CGI engine: running one script for one request (RFC 3875). It
//! starts the script ([`spawn`]) with its environment ([`env`]), holds
//! the exchange ([`exchange`]) that feeds it the request body, turns its
//! stdout ([`stdout`], [`response`], [`header_block`]) into the response
//! and its stderr ([`stderr`]) into log lines, then sees it end: reaped
//! when it exits, stopped (SIGTERM, then SIGKILL to its process group)
//! when it fails, times out or loses its client. [`verdict`] says how it
//! went, to the log and, when nothing was sent yet, to the client.
//!
//! The engine knows requests, not sockets: the client's side is a
//! [`Client`] that a front end provides.

pub mod clone;
pub mod custody;
pub mod end;
pub mod env;
pub mod exchange;
pub mod header_block;
pub mod report;
pub mod response;
pub mod running;
pub mod script;
pub mod spawn;
pub mod start_failure;
pub mod stderr;
pub mod stdout;
pub mod verdict;

use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::client::{Client, ScriptRun, Served};
use crate::io::pipe::{BULK_PIPE, enlarge_pipe};
use crate::record::Record;
use custody::Custody;
use end::End;
use exchange::Exchange;
use spawn::Input;
use stderr::StderrLog;
use stdout::Stdout;

/// How long a stopped script has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

/// Bounds on a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Its header block, in bytes.
    pub head_bytes: usize,
    /// Its wall-clock run.
    pub timeout: Duration,
    /// Its process: resource limits and umask.
    pub process: spawn::Settings,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_bytes: 64 * 1024,
            timeout: Duration::from_secs(60),
            process: spawn::Settings::default(),
        }
    }
}

/// What the script reads on stdin.
pub enum Stdin {
    /// Nothing (end-of-file at once).
    Empty,
    /// The request body, as the client sends it.
    Body,
    /// A body already stored in a file.
    File(File),
}

/// One run of a script.
pub struct Job<'a> {
    pub program: &'a Path,
    /// Arguments after the program (a handler's, then the script).
    pub args: Vec<OsString>,
    pub dir: &'a Path,
    /// Names the script in log lines (its SCRIPT_NAME).
    pub name: &'a [u8],
    /// The request-target it runs for (the status page lists it).
    pub target: &'a str,
    /// The script's file, for `--debug` pages.
    pub file: &'a Path,
    pub env: env::Env,
    pub stdin: Stdin,
    /// `nph-`: its output is the whole response, passed on unparsed.
    pub nph: bool,
    pub limits: &'a Limits,
    /// Failure pages tell the whole story (`--debug`).
    pub debug: bool,
    /// The request inspector's record of the request (`--debug`).
    pub record: Option<&'a Record>,
}

/// Why a script produced no response, with what a developer needs to
/// see (the `--debug` page shows it all; the log gets it too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    /// The kind of failure, for any error page.
    pub short: &'static str,
    /// Exactly what was wrong.
    pub detail: String,
    /// How the script ended ("exit 1 after 3.0ms"), if it ran.
    pub ended: Option<String>,
    /// The header bytes it wrote before the failure.
    pub head: Vec<u8>,
    /// The end of its stderr.
    pub stderr: Vec<u8>,
}

/// What a run of a script comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// A response was sent (the script's, or a failure page).
    Served(Served),
    /// A local redirect: serve this path instead. Nothing was sent.
    Redirect(Vec<u8>),
}

/// How the script ended, for the log and the `--debug` page: "exit 0
/// after 3.1ms", "killed by SIGXCPU (exceeded --limit-cpu 1s) after
/// 1003.2ms"; a limit that killed it also gets a warning of its own.
#[inline(never)]
fn ended(job: &Job, script: &script::Script, exit: std::process::ExitStatus) -> String {
    let how = script::describe(exit);
    let how = match job.limits.process.rlimits.exceeded(exit) {
        Some(limit) => {
            crate::log::warn(format_args!(
                "{}: pid {} exceeded {limit} ({})",
                crate::log::Escaped(job.name),
                script.pid(),
                how.trim_start_matches("killed by ")
            ));
            format!("{how} (exceeded {limit})")
        }
        None => how,
    };
    let ms = crate::log::Millis(script.started.elapsed());
    format!("{how} after {ms}ms")
}

/// Starts the job's script in custody (owned from before its spawn, so
/// that no reaper of orphans can mistake it for one; started in the
/// request's cgroup when custody uses one).
#[inline(never)]
fn start(job: &mut Job) -> std::io::Result<(script::Script, spawn::Pipes, Custody)> {
    let input = match std::mem::replace(&mut job.stdin, Stdin::Empty) {
        Stdin::Empty => Input::Empty,
        Stdin::Body => Input::Pipe,
        Stdin::File(f) => Input::File(f),
    };
    if let Some(record) = job.record {
        record.script(job.name, &job.env);
    }
    let mut custody = Custody::prepare(job.name);
    let (script, pipes) = spawn::spawn(&spawn::Spawn {
        program: job.program,
        args: &job.args,
        dir: job.dir,
        env: &job.env,
        input: &input,
        settings: &job.limits.process,
        cgroup: custody.cgroup(),
    })?;
    custody.started(script.pid());
    Ok((script, pipes, custody))
}

pub fn run(client: &mut dyn Client, mut job: Job) -> Ran {
    let (mut script, pipes, custody) = match start(&mut job) {
        Ok(started) => started,
        Err(e) => return verdict::not_started(client, &job, &e),
    };
    if let Some(stdin) = &pipes.stdin {
        if client.length().is_some_and(|n| n > BULK_PIPE as u64) {
            enlarge_pipe(stdin);
        }
    }
    let _listed = crate::stats::STATS.script(script.pid(), job.target);
    let deadline = script
        .started
        .checked_add(job.limits.timeout)
        .unwrap_or_else(Instant::now);
    let mut stderr = StderrLog::new(job.name, script.pid());
    stderr.record = job.record.cloned();
    let stdout = Stdout::new(job.limits.head_bytes, job.nph);
    let mut ex = Exchange::new(client, pipes, stdout, stderr, deadline);
    let end = ex.run(&mut script);

    let finished = matches!(end, End::Done | End::Redirect(_));
    if !(finished && ex.settle(&script, deadline)) {
        script.signal(Signal::SIGTERM);
        ex.settle(&script, Instant::now() + KILL_GRACE);
        script.signal(Signal::SIGKILL);
    }
    let exit = script.reap();
    custody.end();
    let ended = ended(&job, &script, exit);
    if let Some(record) = job.record {
        record.ended(&ended, ex.stderr.tail());
    }
    let pid = script.pid();
    match verdict::conclude(ex, end, ended, &job) {
        Ran::Served(served) => Ran::Served(Served {
            script: Some(ScriptRun {
                name: job.name.to_vec(),
                pid,
                exit,
            }),
            ..served
        }),
        redirect => redirect,
    }
}
