//! The end of a request, whatever protocol brought it: its access log
//! line and its count in the statistics.

use std::time::Instant;

use crate::client::{Request, Served};
use crate::log::{self, Access, access::RequestLine, access::ScriptEnd};
use crate::stats::STATS;

/// Logs and counts a request served since `started`.
pub fn record(req: &Request, served: &Served, started: Instant) {
    let took = started.elapsed();
    STATS.request(&req.method, &req.target, served.status, served.bytes, took);
    let script = served.script.as_ref().map(|s| ScriptEnd {
        name: &s.name,
        pid: s.pid,
        exit: s.exit,
    });
    log::access(&Access {
        remote: Some(req.remote_ip()),
        user: req.user.as_ref().map(|u| u.name.as_str()),
        request: Some(RequestLine {
            method: &req.method,
            target: &req.target,
            protocol: req.protocol,
        }),
        status: served.status,
        bytes: served.bytes,
        duration: took,
        referer: req.header("referer"),
        user_agent: req.header("user-agent"),
        script,
    });
}
