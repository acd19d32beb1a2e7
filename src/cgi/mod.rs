//! Running one script for one request (RFC 3875): start it
//! ([`process`]) with its environment ([`env`]), hold the exchange
//! ([`exchange`]) that moves its input ([`body`]), turns its output
//! ([`output`], [`headers`]) into the response and its stderr
//! ([`stderr`]) into log lines, then see it end: reaped when it exits,
//! stopped (SIGTERM, then SIGKILL to its process group) when it fails,
//! times out or loses its client. Every end is logged with the script's
//! exit status and run time.

pub mod body;
pub mod downstream;
pub mod env;
pub mod exchange;
pub mod headers;
pub mod output;
pub mod process;
pub mod report;
pub mod start_failure;
pub mod stderr;

use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::http::conn::Conn;
use body::BodyIn;
use exchange::{End, Exchange};
use output::{Ask, Output};
use process::Input;
use stderr::StderrLog;

/// How long a stopped script has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

/// What the script reads on stdin.
pub enum Stdin {
    /// Nothing (end-of-file at once).
    Empty,
    /// A `Content-Length` body of this many bytes, from the client.
    Length(u64),
    /// A chunked body, decoded as it comes from the client.
    Chunked,
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
    pub env: env::Env,
    pub stdin: Stdin,
    pub max_body: u64,
    pub ask: Ask,
    pub timeout: Duration,
    pub idle: Duration,
}

/// Why a script produced no response, with what a developer needs to
/// see (the `--debug` page shows it all; the log gets it too).
#[derive(Debug, Clone)]
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
    /// Nothing was sent; the caller answers with an error page.
    Failed(Box<Failure>),
    /// A response was begun and then cut; the connection must close.
    Cut { status: u16, bytes: u64 },
    /// The client went away.
    Gone { status: u16, bytes: u64 },
}

impl Outcome {
    /// Whether the connection may carry another request (once any body
    /// left unread is drained): not after a cut response, a lost client,
    /// or a body that stalled or was refused mid-way.
    pub fn connection_usable(&self) -> bool {
        match self {
            Outcome::Sent { close, .. } => !close,
            Outcome::Redirect(_) => true,
            Outcome::Failed(f) => ![400, 408, 413].contains(&f.status),
            Outcome::Cut { .. } | Outcome::Gone { .. } => false,
        }
    }
}

/// The outcome, and the body bytes still unread on the wire (None if
/// unknown: a chunked body cut short).
pub struct Ran {
    pub outcome: Outcome,
    pub body_left: Option<u64>,
}

pub fn run(conn: &mut Conn, mut job: Job) -> Ran {
    let (input, body) = match std::mem::replace(&mut job.stdin, Stdin::Empty) {
        Stdin::Empty => (Input::Empty, None),
        Stdin::Length(n) => (Input::Pipe, Some(BodyIn::length(conn, n))),
        Stdin::Chunked => (Input::Pipe, Some(BodyIn::chunked(job.max_body))),
        Stdin::File(f) => (Input::File(f), None),
    };
    let started = process::spawn(job.program, &job.args, job.dir, &job.env, &input);
    drop(input);
    let (mut script, pipes) = match started {
        Ok(started) => started,
        Err(e) => return not_started(conn, &job, &e, body),
    };
    if let (Some(stdin), Some(body)) = (&pipes.stdin, &body) {
        if body
            .unread()
            .is_some_and(|n| n > crate::http::relay::BULK_PIPE as u64)
        {
            crate::http::relay::enlarge_pipe(stdin);
        }
    }
    let deadline = script.started + job.timeout;
    let stderr = StderrLog::new(job.name, script.pid());
    let output = Output::new(job.ask);
    let mut ex = Exchange::new(conn, pipes, body, output, stderr, deadline, job.idle);
    let end = ex.run(&mut script);

    let finished = matches!(end, End::Done | End::Redirect(_));
    if !(finished && ex.settle(&script, deadline)) {
        script.signal(Signal::SIGTERM);
        ex.settle(&script, Instant::now() + KILL_GRACE);
        script.signal(Signal::SIGKILL);
    }
    let exit = script.reap();
    let ended = format!(
        "{} after {:.1}ms",
        process::describe(exit),
        script.started.elapsed().as_secs_f64() * 1e3
    );
    let (words, mut outcome) = verdict(end, ex.output());
    let name = &ex.stderr.name;
    if words.is_empty() {
        crate::log::error(format_args!("{name}: {ended}"));
    } else {
        crate::log::error(format_args!("{name}: {words}; {ended}"));
    }
    if let Outcome::Failed(f) = &mut outcome {
        f.ended = Some(ended);
        f.stderr = ex.stderr.tail().to_vec();
    }
    Ran {
        outcome,
        body_left: ex.body.as_ref().map_or(Some(0), BodyIn::unread),
    }
}

/// The script could not be started: log why, and say what the body
/// left on the wire.
fn not_started(conn: &mut Conn, job: &Job, e: &std::io::Error, body: Option<BodyIn>) -> Ran {
    let why = start_failure::explain(job.program, e);
    crate::log::error(format_args!(
        "{}: cannot start {}: {}",
        crate::log::Escaped(job.name),
        job.program.display(),
        why.detail
    ));
    let body_left = match body {
        Some(mut body) => {
            body.discard_buffered(conn);
            body.unread()
        }
        None => Some(0),
    };
    let failure = Failure {
        status: why.status,
        short: why.short,
        detail: why.detail,
        ended: None,
        head: Vec::new(),
        stderr: Vec::new(),
    };
    Ran {
        outcome: Outcome::Failed(Box::new(failure)),
        body_left,
    }
}

/// What an exchange's end means: the words for the log line, and the
/// outcome.
fn verdict(end: End, out: &Output) -> (String, Outcome) {
    let (status, bytes) = (out.status, out.body_bytes);
    let failed = |status, short, detail: String, head: Vec<u8>| {
        let f = Failure {
            status,
            short,
            detail: detail.clone(),
            ended: None,
            head,
            stderr: Vec::new(),
        };
        (detail, Outcome::Failed(Box::new(f)))
    };
    match end {
        End::Done => {
            let close = out.close;
            let words = out.problem.clone().unwrap_or_default();
            (
                words,
                Outcome::Sent {
                    status,
                    bytes,
                    close,
                },
            )
        }
        End::Redirect(target) => ("local redirect".into(), Outcome::Redirect(target)),
        End::ClientGone(why) => (
            format!("{why}; script stopped"),
            Outcome::Gone { status, bytes },
        ),
        _ if out.started() => {
            let why = match &end {
                End::Timeout => "timed out mid-response".to_string(),
                End::Killed(signal) => format!("killed by {} mid-response", signal.as_str()),
                End::BodyStalled => "request body stalled mid-response".into(),
                End::BadBody(e) => format!("request body refused mid-response: {e}"),
                _ => "failed mid-response".into(),
            };
            (
                format!("{why}; response cut"),
                Outcome::Cut { status, bytes },
            )
        }
        End::Fault(f) => failed(502, f.short, format!("bad output: {}", f.detail), f.head),
        End::Timeout => failed(
            504,
            "script timed out",
            "timed out before its headers".into(),
            out.head_so_far(),
        ),
        End::BodyStalled => failed(
            408,
            "request body not received in time",
            "request body stalled".into(),
            Vec::new(),
        ),
        End::BadBody(e) => failed(
            e.status,
            e.reason,
            format!("request body refused: {e}"),
            Vec::new(),
        ),
        End::Killed(signal) => failed(
            502,
            "script sent no output",
            format!("killed by {}", signal.as_str()),
            out.head_so_far(),
        ),
    }
}
