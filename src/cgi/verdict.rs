//! How a run of a script went, told once and in two ways: in words, on
//! the log line that closes every run (with the script's exit status and
//! run time), and as what the client gets. When nothing was sent yet, a
//! failure becomes an error page here: one line, or under `--debug` the
//! whole story ([`report`]). A response cut short, or a client gone,
//! ends the connection.
//!
//! [`report`]: super::report

use super::end::End;
use super::exchange::Exchange;
use super::stdout::Stdout;
use super::{Failure, Job, Ran, report, start_failure};
use crate::client::{Client, Served};
use crate::log::{self, Escaped};
use crate::reply;

/// What the client gets.
enum Verdict {
    /// The response went out (perhaps with a problem for the log).
    Sent,
    Redirect(Vec<u8>),
    /// A response was begun and then cut.
    Cut,
    /// The client went away.
    Gone,
    /// Nothing was sent: an error page says why.
    Failed(Failure),
}

/// Logs how the run ended and finishes the client's response.
#[inline(never)]
pub fn conclude(mut ex: Exchange, end: End, ended: String, job: &Job) -> Ran {
    if matches!(end, End::BadBody(_) | End::BodyStalled) {
        ex.client().abandon();
    }
    let (words, verdict) = judge(end, &ex.stdout);
    let name = &ex.stderr.name;
    if words.is_empty() {
        log::info(format_args!("{name}: {ended}"));
    } else {
        log::warn(format_args!("{name}: {words}; {ended}"));
    }
    let raw_status = ex.stdout.raw_status();
    let stderr = ex.stderr.tail().to_vec();
    let client = ex.client();
    match verdict {
        Verdict::Sent => Ran::Served(served(client, raw_status)),
        Verdict::Redirect(target) => Ran::Redirect(target),
        Verdict::Cut => {
            client.close_after();
            Ran::Served(served(client, raw_status))
        }
        Verdict::Gone => {
            client.close_after();
            let s = served(client, raw_status);
            let status = if s.status == 0 { 499 } else { s.status };
            Ran::Served(Served { status, ..s })
        }
        Verdict::Failed(mut f) => {
            f.ended = Some(ended);
            f.stderr = stderr;
            Ran::Served(failure_page(client, &f, job))
        }
    }
}

/// The script could not be started: log why, and answer with the page.
#[inline(never)]
pub fn not_started(client: &mut dyn Client, job: &Job, e: &std::io::Error) -> Ran {
    let f = start_failure::explain(job.program, e);
    log::warn(format_args!(
        "{}: cannot start {}: {}",
        Escaped(job.name),
        job.program.display(),
        f.detail
    ));
    if let Some(record) = job.record {
        record.ended(&format!("not started: {}", f.detail), &[]);
    }
    client.discard();
    Ran::Served(failure_page(client, &f, job))
}

/// What was sent; an `nph-` response's status is the one its bytes
/// carry.
fn served(client: &dyn Client, raw_status: Option<u16>) -> Served {
    let s = client.served();
    Served {
        status: raw_status.unwrap_or(s.status),
        ..s
    }
}

/// What the short page adds under its line.
const HINT: &str =
    "\nrcgi's error log has the details; run rcgi with --debug to see them on this page.\n";

/// The short page, or with `--debug` the whole story.
fn failure_page(client: &mut dyn Client, f: &Failure, job: &Job) -> Served {
    let body = if job.debug {
        report::render(f, job.name, job.file)
    } else {
        reply::error_line(f.status, f.short) + HINT
    };
    reply::page(client, f.status, &body, &[])
}

/// What an exchange's end means: the words for the log line, and the
/// verdict.
fn judge(end: End, stdout: &Stdout) -> (String, Verdict) {
    let failed = |status, short, detail: String, head: Vec<u8>| {
        let f = Failure {
            status,
            short,
            detail: detail.clone(),
            ended: None,
            head,
            stderr: Vec::new(),
        };
        (detail, Verdict::Failed(f))
    };
    match end {
        End::Done => (stdout.problem.clone().unwrap_or_default(), Verdict::Sent),
        End::Redirect(target) => ("local redirect".into(), Verdict::Redirect(target)),
        End::ClientGone(why) => (format!("{why}; script stopped"), Verdict::Gone),
        _ if stdout.started() => (
            format!("{}; response cut", mid_response(&end)),
            Verdict::Cut,
        ),
        End::Fault(f) => failed(502, f.short, format!("bad output: {}", f.detail), f.head),
        End::Timeout => failed(
            504,
            "script timed out",
            "timed out before its headers".into(),
            stdout.head_so_far(),
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
            stdout.head_so_far(),
        ),
    }
}

/// Why a response that had begun was cut.
fn mid_response(end: &End) -> String {
    match end {
        End::Timeout => "timed out mid-response".into(),
        End::Killed(signal) => format!("killed by {} mid-response", signal.as_str()),
        End::BodyStalled => "request body stalled mid-response".into(),
        End::BadBody(e) => format!("request body refused mid-response: {e}"),
        _ => "failed mid-response".into(),
    }
}
