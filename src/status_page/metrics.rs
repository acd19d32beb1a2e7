//! `PATH/metrics`: the figures in the Prometheus text exposition format
//! (version 0.0.4), with `# HELP` and `# TYPE` for every metric, as
//! `promtool check metrics` wants them.

use std::fmt::Write;

use super::{View, unix_seconds};
use crate::stats::BUCKETS;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric's name, type and help text.
struct Metric {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const fn gauge(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        kind: "gauge",
        help,
    }
}

const fn counter(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        kind: "counter",
        help,
    }
}

const BUILD: Metric = gauge("rcgi_build_info", "The version of rcgi running.");
const START: Metric = gauge(
    "rcgi_start_time_seconds",
    "When rcgi started, in seconds since the Unix epoch.",
);
const DRAINING: Metric = gauge("rcgi_draining", "1 once rcgi has begun to stop, else 0.");
const REQUESTS: Metric = counter("rcgi_requests_total", "Requests answered, by status code.");
const DURATION: Metric = Metric {
    name: "rcgi_request_duration_seconds",
    kind: "histogram",
    help: "How long requests took, from their head to their end.",
};
const IN_FLIGHT: Metric = gauge("rcgi_requests_in_flight", "Requests being served now.");
const BYTES: Metric = counter(
    "rcgi_response_body_bytes_total",
    "Response body bytes sent.",
);
const CONNECTIONS: Metric = counter("rcgi_connections_total", "Connections accepted.");
const OPEN: Metric = gauge("rcgi_connections_open", "Connections open now.");
const STARTED: Metric = counter("rcgi_scripts_started_total", "Scripts started.");
const RUNNING: Metric = gauge("rcgi_scripts_running", "Scripts running now.");

pub fn render(v: &View) -> String {
    let s = &v.stats;
    let mut out = String::with_capacity(4096);
    let version = crate::SOFTWARE.trim_start_matches("rcgi/");
    metric(&mut out, &BUILD);
    let _ = writeln!(out, "rcgi_build_info{{version=\"{version}\"}} 1");
    single(
        &mut out,
        &START,
        format!("{:.3}", unix_seconds(s.start_time)),
    );
    single(&mut out, &DRAINING, u8::from(v.draining));
    metric(&mut out, &REQUESTS);
    for (code, n) in &s.by_status {
        let _ = writeln!(out, "rcgi_requests_total{{code=\"{code}\"}} {n}");
    }
    histogram(&mut out, v);
    single(&mut out, &IN_FLIGHT, v.in_flight);
    single(&mut out, &BYTES, s.body_bytes);
    single(&mut out, &CONNECTIONS, s.connections);
    single(&mut out, &OPEN, s.connections_open);
    single(&mut out, &STARTED, s.scripts_started);
    single(&mut out, &RUNNING, s.scripts.len());
    out
}

/// A metric with one sample and no labels.
fn single(out: &mut String, m: &Metric, value: impl std::fmt::Display) {
    metric(out, m);
    let _ = writeln!(out, "{} {value}", m.name);
}

fn metric(out: &mut String, m: &Metric) {
    let _ = writeln!(
        out,
        "# HELP {0} {1}\n# TYPE {0} {2}",
        m.name, m.help, m.kind
    );
}

/// `rcgi_request_duration_seconds`: cumulative buckets, sum and count.
fn histogram(out: &mut String, v: &View) {
    let s = &v.stats;
    let name = DURATION.name;
    metric(out, &DURATION);
    let mut cumulative = 0;
    for (le, n) in BUCKETS.iter().zip(&s.buckets) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", s.requests());
    let _ = writeln!(out, "{name}_sum {:.6}", s.duration_sum.as_secs_f64());
    let _ = writeln!(out, "{name}_count {}", s.requests());
}
