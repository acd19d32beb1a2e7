//! Running one script for one request (RFC 3875): start it
//! ([`process`]) with its environment ([`env`]), hold the exchange
//! ([`exchange`]) that turns its output ([`output`], [`headers`]) into
//! the response and its stderr ([`stderr`]) into log lines, then see it
//! end: reaped when it exits, stopped (SIGTERM, then SIGKILL to its
//! process group) when it fails, times out or loses its client.

pub mod env;
pub mod exchange;
pub mod headers;
pub mod output;
pub mod process;
pub mod start_failure;
pub mod stderr;

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::http::conn::Conn;
use exchange::{End, Exchange};
use output::{Ask, Output};
use process::Input;
use stderr::StderrLog;

/// How long a stopped script has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

/// One run of a script.
pub struct Job<'a> {
    pub program: &'a Path,
    pub dir: &'a Path,
    /// Names the script in log lines (its SCRIPT_NAME).
    pub name: &'a [u8],
    pub env: &'a env::Env,
    pub input: Input,
    /// Body bytes to move from the client to stdin (with `Input::Pipe`).
    pub body: u64,
    pub ask: Ask,
    pub timeout: Duration,
    pub idle: Duration,
}

/// How a run ended, for the caller to finish the request.
#[derive(Debug)]
pub enum Outcome {
    /// The response was sent; `close` if the connection cannot go on.
    Sent {
        status: u16,
        bytes: u64,
        close: bool,
    },
    /// A local redirect: serve this path instead. Nothing was sent.
    Redirect(Vec<u8>),
    /// Nothing was sent; the caller answers with this error.
    Failed { status: u16, short: &'static str },
    /// A response was begun and then cut; the connection must close.
    Cut { status: u16, bytes: u64 },
    /// The client went away.
    Gone { status: u16, bytes: u64 },
}

impl Outcome {
    /// Whether the connection may carry another request (once any body
    /// left unread is drained): not after a cut response, a lost client
    /// or a stalled body.
    pub fn connection_usable(&self) -> bool {
        match self {
            Outcome::Sent { close, .. } => !close,
            Outcome::Redirect(_) => true,
            Outcome::Failed { status, .. } => *status != 408,
            Outcome::Cut { .. } | Outcome::Gone { .. } => false,
        }
    }
}

/// The outcome, and how many body bytes are still unread on the wire.
pub struct Ran {
    pub outcome: Outcome,
    pub body_left: u64,
}

pub fn run(conn: &mut Conn, job: Job) -> Ran {
    let (mut script, pipes) = match process::spawn(job.program, job.dir, job.env, &job.input) {
        Ok(started) => started,
        Err(e) => {
            let why = start_failure::explain(job.program, &e);
            crate::log::error(format_args!(
                "{}: cannot start {}: {}",
                crate::log::Escaped(job.name),
                job.program.display(),
                why.detail
            ));
            return Ran {
                outcome: Outcome::Failed {
                    status: why.status,
                    short: why.short,
                },
                body_left: job.body,
            };
        }
    };
    drop(job.input);
    let deadline = script.started + job.timeout;
    let stderr = StderrLog::new(job.name, script.pid());
    let output = Output::new(job.ask);
    let mut ex = Exchange::new(conn, pipes, job.body, output, stderr, deadline, job.idle);
    let end = ex.run(&script);

    let finished = matches!(end, End::Done | End::Redirect(_));
    if !(finished && ex.settle(&script, deadline)) {
        script.signal(Signal::SIGTERM);
        ex.settle(&script, Instant::now() + KILL_GRACE);
        script.signal(Signal::SIGKILL);
    }
    let exit = script.reap();
    let took = script.started.elapsed();
    let name = &ex.stderr.name;
    let out = &ex.output;
    let ended = format!(
        "{} after {:.1}ms",
        process::describe(exit),
        took.as_secs_f64() * 1e3
    );
    let outcome = match end {
        End::Done => {
            match &out.problem {
                Some(problem) => crate::log::error(format_args!("{name}: {problem}; {ended}")),
                None => crate::log::error(format_args!("{name}: {ended}")),
            }
            Outcome::Sent {
                status: out.status,
                bytes: out.body_bytes,
                close: out.close,
            }
        }
        End::Redirect(target) => {
            crate::log::error(format_args!("{name}: local redirect; {ended}"));
            Outcome::Redirect(target)
        }
        End::Fault(fault) => {
            crate::log::error(format_args!(
                "{name}: bad output: {}; {ended}",
                fault.detail
            ));
            Outcome::Failed {
                status: 502,
                short: fault.short,
            }
        }
        End::Timeout if !out.started() => {
            crate::log::error(format_args!(
                "{name}: timed out before its headers; {ended}"
            ));
            Outcome::Failed {
                status: 504,
                short: "script timed out",
            }
        }
        End::Timeout => {
            crate::log::error(format_args!(
                "{name}: timed out mid-response, response cut; {ended}"
            ));
            Outcome::Cut {
                status: out.status,
                bytes: out.body_bytes,
            }
        }
        End::Killed(signal) => {
            crate::log::error(format_args!(
                "{name}: killed by {} mid-response; response cut; {ended}",
                signal.as_str()
            ));
            Outcome::Cut {
                status: out.status,
                bytes: out.body_bytes,
            }
        }
        End::BodyStalled if !out.started() => {
            crate::log::error(format_args!(
                "{name}: request body stalled; script stopped: {ended}"
            ));
            Outcome::Failed {
                status: 408,
                short: "request body not received in time",
            }
        }
        End::BodyStalled => {
            crate::log::error(format_args!(
                "{name}: request body stalled mid-response; response cut; {ended}"
            ));
            Outcome::Cut {
                status: out.status,
                bytes: out.body_bytes,
            }
        }
        End::ClientGone(why) => {
            crate::log::error(format_args!("{name}: {why}; script stopped: {ended}"));
            Outcome::Gone {
                status: out.status,
                bytes: out.body_bytes,
            }
        }
    };
    Ran {
        outcome,
        body_left: ex.body_left,
    }
}
