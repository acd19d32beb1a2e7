//! `PATH`: the status page for people, one HTML document that reloads
//! itself: the server's state and uptime, requests by status, the
//! scripts running now (pid, age, URL), the slowest recent requests, and
//! the limits in force. Everything from a request is escaped.

use std::fmt::Write;
use std::time::Duration;

use super::View;

pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";
/// How often the page reloads itself, in seconds.
const RELOAD_SECONDS: u32 = 5;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:60em}\
table{border-collapse:collapse;margin-bottom:1.5em}\
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}";

pub fn render(v: &View) -> String {
    let s = &v.stats;
    let path = escape(&v.settings.path);
    let mut o = String::with_capacity(8192);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{RELOAD_SECONDS}\">\
         <title>rcgi status</title><style>{STYLE}</style></head><body>\n\
         <h1>rcgi status</h1>\n<p>{} &middot; <a href=\"{path}?format=json\">JSON</a> \
         &middot; <a href=\"{path}/metrics\">metrics</a> &middot; <a href=\"{path}/health\">health</a></p>\n",
        escape(crate::SOFTWARE)
    );
    rows(&mut o, "Server", &["", ""], &server_rows(v));
    let by_status: Vec<Vec<String>> = s
        .by_status
        .iter()
        .map(|(code, n)| {
            vec![
                format!("{code} {}", crate::status::reason(*code)),
                n.to_string(),
            ]
        })
        .collect();
    rows(
        &mut o,
        "Requests by status",
        &["status", "requests"],
        &by_status,
    );
    let scripts: Vec<Vec<String>> = s
        .scripts
        .iter()
        .map(|p| {
            vec![
                p.pid.to_string(),
                human(p.started.elapsed()),
                p.target.clone(),
            ]
        })
        .collect();
    rows(
        &mut o,
        "Scripts running now",
        &["pid", "age", "URL"],
        &scripts,
    );
    let heading = format!("Slowest of the last {} requests", crate::stats::RECENT);
    let columns = ["took", "status", "method", "URL", "ended"];
    rows(&mut o, &heading, &columns, &slowest_rows(v));
    rows(
        &mut o,
        "Limits in force",
        &["option", "value"],
        &limit_rows(v),
    );
    o.push_str("</body></html>\n");
    o
}

fn server_rows(v: &View) -> Vec<Vec<String>> {
    let s = &v.stats;
    let state = if v.draining { "draining" } else { "serving" };
    [
        ("state", state.to_string()),
        ("uptime", human(s.uptime)),
        ("connections open", s.connections_open.to_string()),
        ("connections accepted", s.connections.to_string()),
        ("requests in flight", v.in_flight.to_string()),
        ("requests answered", s.requests().to_string()),
        ("scripts started", s.scripts_started.to_string()),
        ("response body bytes", s.body_bytes.to_string()),
    ]
    .into_iter()
    .map(|(k, val)| vec![k.to_string(), val])
    .collect()
}

fn slowest_rows(v: &View) -> Vec<Vec<String>> {
    v.stats
        .slowest
        .iter()
        .map(|f| {
            let ago = v.now.duration_since(f.at).unwrap_or_default();
            vec![
                human(f.duration),
                f.status.to_string(),
                f.method.clone(),
                f.target.clone(),
                format!("{} ago", human(ago)),
            ]
        })
        .collect()
}

fn limit_rows(v: &View) -> Vec<Vec<String>> {
    v.settings
        .limits
        .iter()
        .map(|(k, val)| vec![k.clone(), val.clone()])
        .collect()
}

/// A heading and a table (or "none"); every cell is escaped.
fn rows(o: &mut String, heading: &str, columns: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(o, "<h2>{}</h2>", escape(heading));
    if rows.is_empty() {
        o.push_str("<p>none</p>\n");
        return;
    }
    o.push_str("<table>");
    if columns.iter().any(|c| !c.is_empty()) {
        o.push_str("<tr>");
        for c in columns {
            let _ = write!(o, "<th>{}</th>", escape(c));
        }
        o.push_str("</tr>");
    }
    for row in rows {
        o.push_str("<tr>");
        for cell in row {
            let numeric = !cell.is_empty() && cell.bytes().all(|b| b.is_ascii_digit());
            let class = if numeric { " class=\"n\"" } else { "" };
            let _ = write!(o, "<td{class}>{}</td>", escape(cell));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>\n");
}

/// `1.2 ms`, `3.40 s`, `2 h 5 min`.
fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    match d.as_secs() {
        0 if secs < 1.0 => format!("{:.1} ms", secs * 1000.0),
        0..60 => format!("{secs:.2} s"),
        60..3600 => format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60),
        _ => format!("{} h {} min", d.as_secs() / 3600, d.as_secs() % 3600 / 60),
    }
}

/// Text fit for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_times_readable() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(human(Duration::from_micros(1500)), "1.5 ms");
        assert_eq!(human(Duration::from_millis(3400)), "3.40 s");
        assert_eq!(human(Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(human(Duration::from_secs(7500)), "2 h 5 min");
    }
}
