//! `PATH?format=json`: the status page's figures as one JSON object.
//! Times are in seconds (fractions allowed); strings are escaped as
//! RFC 8259 says, so any request-target is safe to embed.

use std::fmt::Write;

use super::{View, unix_seconds};
use crate::stats::BUCKETS;

pub const CONTENT_TYPE: &str = "application/json";

pub fn render(v: &View) -> String {
    let s = &v.stats;
    let limits: Vec<String> = v
        .settings
        .limits
        .iter()
        .map(|(k, val)| format!("{}:{}", string(k), string(val)))
        .collect();
    let by_status: Vec<String> = s
        .by_status
        .iter()
        .map(|(c, n)| format!("\"{c}\":{n}"))
        .collect();
    let fields = [
        ("version", string(crate::SOFTWARE)),
        ("uptime_seconds", format!("{:.3}", s.uptime.as_secs_f64())),
        ("start_time", format!("{:.3}", unix_seconds(s.start_time))),
        ("draining", v.draining.to_string()),
        ("requests", s.requests().to_string()),
        ("requests_in_flight", v.in_flight.to_string()),
        ("response_body_bytes", s.body_bytes.to_string()),
        ("connections_open", s.connections_open.to_string()),
        ("connections", s.connections.to_string()),
        ("scripts_started", s.scripts_started.to_string()),
        ("by_status", format!("{{{}}}", by_status.join(","))),
        ("duration_buckets", format!("[{}]", buckets(v).join(","))),
        ("scripts", format!("[{}]", scripts(v).join(","))),
        ("slowest", format!("[{}]", slowest(v).join(","))),
        ("limits", format!("{{{}}}", limits.join(","))),
    ];
    let fields: Vec<String> = fields
        .iter()
        .map(|(k, val)| format!("\"{k}\":{val}"))
        .collect();
    format!("{{{}}}\n", fields.join(","))
}

/// Requests per bucket (not cumulative); `le` null is past the last.
fn buckets(v: &View) -> Vec<String> {
    let s = &v.stats;
    let mut buckets: Vec<String> = BUCKETS
        .iter()
        .zip(&s.buckets)
        .map(|(le, n)| format!("{{\"le\":{le},\"requests\":{n}}}"))
        .collect();
    let past = s.buckets.last().copied().unwrap_or(0);
    buckets.push(format!("{{\"le\":null,\"requests\":{past}}}"));
    buckets
}

fn scripts(v: &View) -> Vec<String> {
    v.stats
        .scripts
        .iter()
        .map(|p| {
            format!(
                "{{\"pid\":{},\"target\":{},\"age_seconds\":{:.3}}}",
                p.pid,
                string(&p.target),
                p.started.elapsed().as_secs_f64()
            )
        })
        .collect()
}

fn slowest(v: &View) -> Vec<String> {
    v.stats
        .slowest
        .iter()
        .map(|f| {
            format!(
                "{{\"method\":{},\"target\":{},\"status\":{},\"bytes\":{},\"duration_seconds\":{:.6},\"time\":{:.3}}}",
                string(&f.method),
                string(&f.target),
                f.status,
                f.bytes,
                f.duration.as_secs_f64(),
                unix_seconds(f.at)
            )
        })
        .collect()
}

/// A JSON string of `s`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            // Keeps `</script>` from closing a script that embeds it.
            '<' => out.push_str("\\u003c"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            string("a\"b\\c\n\u{1}</x>é"),
            "\"a\\\"b\\\\c\\n\\u0001\\u003c/x>é\""
        );
    }
}
