//! The request inspector's pages (`--debug` only), at `/.rcgi/`, a path
//! no script or static file can have (a segment starting with `.` is
//! never served). `/.rcgi/` lists the last requests the [`Recorder`]
//! keeps, newest first, and polls `/.rcgi/rows` every second to stay
//! current; `/.rcgi/N` shows request N whole (the CGI environment the
//! script got, the request and response headers, the body size, how the
//! script ended, its stderr) and reloads itself while the request runs.
//! Everything from a request or a script is escaped.

use std::fmt::Write;
use std::time::Duration;

use crate::client::{Request, Served, Sink};
use crate::html::{self, escape, escape_bytes};
use crate::record::{Entry, KEPT, Pairs, Recorder};
use crate::reply;
use crate::status::Refusal;

/// Where the inspector lives.
pub const PREFIX: &str = "/.rcgi";
/// How often the list asks for fresh rows, in milliseconds.
const POLL_MS: u32 = 1000;

/// True when `path` is the inspector's.
pub fn claims(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Answers one of the inspector's URLs; a refusal is returned unsent.
pub fn serve(recorder: &Recorder, req: &Request, sink: &mut dyn Sink) -> Result<Served, Refusal> {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Err(Refusal::new(405, "the inspector takes GET and HEAD only"));
    }
    let rest = &req.path[PREFIX.len()..];
    let page = match rest {
        "" => return Ok(reply::moved(sink, &format!("{PREFIX}/"))),
        "/" => list(&recorder.entries()),
        "/rows" => rows(&recorder.entries()),
        _ => {
            let id = rest[1..]
                .parse::<u64>()
                .map_err(|_| Refusal::new(404, "no such inspector page"))?;
            let entry = recorder.entry(id).ok_or(Refusal::new(
                404,
                "no such request (the inspector keeps the last 100)",
            ))?;
            detail(&entry)
        }
    };
    Ok(reply::html(sink, 200, &page))
}

/// The list page; its rows are refreshed by a small script.
fn list(entries: &[Entry]) -> String {
    let body = format!(
        "<h1>rcgi request inspector</h1>\n\
         <p class=note>The last {KEPT} requests, newest first (this page's own are not kept). \
         <span id=live>Updates itself every second while this page is open.</span></p>\n\
         <table>\n<thead><tr><th>#</th><th>Time (UTC)</th><th>Method</th><th>URL</th>\
         <th>Status</th><th>Duration</th><th>Script</th></tr></thead>\n\
         <tbody id=rows>\n{}</tbody>\n</table>\n\
         <script>\n\
         setInterval(function () {{\n\
         \x20 fetch('rows', {{cache: 'no-store'}})\n\
         \x20   .then(function (r) {{ if (!r.ok) throw r.status; return r.text(); }})\n\
         \x20   .then(function (t) {{\n\
         \x20     document.getElementById('rows').innerHTML = t;\n\
         \x20     document.getElementById('live').textContent = 'Live: updated ' + new Date().toLocaleTimeString() + '.';\n\
         \x20   }})\n\
         \x20   .catch(function () {{ document.getElementById('live').textContent = 'rcgi does not answer.'; }});\n\
         }}, {POLL_MS});\n\
         </script>",
        rows(entries)
    );
    html::page("rcgi request inspector", &body)
}

/// The table rows of the list, newest first.
fn rows(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return "<tr><td colspan=7>No requests yet: make one, and it shows here.</td></tr>\n"
            .into();
    }
    let mut out = String::new();
    for e in entries {
        let script = e.script.as_deref().map(escape_bytes).unwrap_or_default();
        let ended = e.ended.as_deref().map(short_end).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td class=n>{id}</td><td>{time}</td><td>{method}</td>\
             <td class=m><a href=\"{id}\">{target}</a></td>{status}\
             <td class=n>{duration}</td><td class=m>{script} <span class=note>{ended}</span></td></tr>",
            id = e.id,
            time = clock(e.at),
            method = escape(&e.method),
            target = escape(&e.target),
            status = status_cell(e),
            duration = duration(e.elapsed()),
            ended = escape(ended),
        );
    }
    out
}

/// The status, coloured by class; "running" until the request is over.
fn status_cell(e: &Entry) -> String {
    match (e.duration, e.status) {
        (None, 0) => "<td class=run>running</td>".into(),
        (None, s) => format!(
            "<td class=s{}>{s} <span class=run>sending</span></td>",
            s / 100
        ),
        (Some(_), s) => format!("<td class=s{}>{s}</td>", s / 100),
    }
}

/// "exit 0 after 3.1ms" -> "exit 0": the list shows how, the page when.
fn short_end(ended: &str) -> &str {
    ended.split(" after ").next().unwrap_or(ended)
}

/// One request's page; it reloads itself until the request is over.
fn detail(e: &Entry) -> String {
    let mut body = format!(
        "<p><a href=\"./\">&larr; all requests</a></p>\n<h1>#{} {} <code>{}</code></h1>\n",
        e.id,
        escape(&e.method),
        escape(&e.target)
    );
    body.push_str(&summary(e));
    body.push_str("<h2>stderr</h2>\n");
    if e.stderr.is_empty() {
        body.push_str("<p class=note>Nothing.</p>\n");
    } else {
        let _ = writeln!(
            body,
            "<p class=note>The last {} bytes.</p>\n<pre id=stderr>{}</pre>",
            e.stderr.len(),
            escape_bytes(&e.stderr)
        );
    }
    let headers = &e.response_headers;
    section(&mut body, "Response headers", headers, "None sent yet.");
    section(&mut body, "Request headers", &e.request_headers, "None.");
    section(&mut body, "CGI environment", &e.env, "No script ran.");
    if e.cut {
        body.push_str("<p class=note>Some parts were cut to the inspector's bounds.</p>\n");
    }
    if e.duration.is_none() {
        let _ = write!(
            body,
            "<script>setTimeout(function () {{ location.reload(); }}, {POLL_MS});</script>"
        );
    }
    html::page(&format!("#{} {} {}", e.id, e.method, e.target), &body)
}

/// The table at the top of a request's page.
fn summary(e: &Entry) -> String {
    let summary: [(&str, String); 9] = [
        ("Status", status_cell(e)),
        ("Duration", format!("<td>{}</td>", duration(e.elapsed()))),
        ("Time (UTC)", format!("<td>{}</td>", clock(e.at))),
        ("Client", format!("<td>{}</td>", escape(&e.peer))),
        ("Protocol", format!("<td>{}</td>", e.protocol)),
        ("Request body", format!("<td>{}</td>", body_size(e))),
        ("Response body", format!("<td>{} bytes</td>", e.bytes)),
        (
            "Script",
            format!(
                "<td class=m>{}</td>",
                e.script
                    .as_deref()
                    .map_or("(none: no script ran)".into(), escape_bytes)
            ),
        ),
        ("Script ended", ended_cell(e.ended.as_deref())),
    ];
    let mut table = String::from("<table class=kv>\n");
    for (name, cell) in summary {
        let _ = writeln!(table, "<tr><th>{name}</th>{cell}</tr>");
    }
    table.push_str("</table>\n");
    table
}

fn ended_cell(ended: Option<&str>) -> String {
    match ended {
        Some(how) if how.contains("killed") || how.starts_with("not started") => {
            format!("<td class=sig>{}</td>", escape(how))
        }
        Some(how) => format!("<td>{}</td>", escape(how)),
        None => "<td></td>".into(),
    }
}

/// A table of name-value pairs under a heading.
fn section(body: &mut String, title: &str, pairs: &Pairs, empty: &str) {
    let _ = writeln!(body, "<h2>{title}</h2>");
    if pairs.is_empty() {
        let _ = writeln!(body, "<p class=note>{empty}</p>");
        return;
    }
    body.push_str("<table class=kv>\n");
    for (name, value) in pairs {
        let _ = writeln!(
            body,
            "<tr><th class=m>{}</th><td class=m>{}</td></tr>",
            escape_bytes(name),
            escape_bytes(value)
        );
    }
    body.push_str("</table>\n");
}

fn body_size(e: &Entry) -> String {
    match (e.body, e.body_streamed) {
        (Some(n), _) => format!("{n} bytes"),
        (None, true) => "chunked, streamed to the script (length unknown)".into(),
        (None, false) => "none".into(),
    }
}

/// `12:34:56`, UTC.
fn clock(unix: u64) -> String {
    let s = unix % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `3.1 ms`, `2.35 s`.
fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Arrival;

    #[test]
    fn pages_escape_what_requests_and_scripts_send() {
        let recorder = Recorder::default();
        let headers = [("X-Evil".to_string(), b"<script>alert(1)</script>".to_vec())];
        let record = recorder.begin(&Arrival {
            method: "GET",
            target: "/cgi-bin/x.sh?<b>",
            protocol: "HTTP/1.1",
            peer: "127.0.0.1:9".into(),
            headers: &headers,
            body: Some(3),
        });
        assert!(rows(&recorder.entries()).contains("<td class=run>running</td>"));
        record.script(b"/cgi-bin/x.sh", &[("Q".into(), "<i>".into())]);
        record.ended("killed by SIGSEGV after 2.0ms", b"oops <tag>\n");
        record.finish(502, 10);
        let list = rows(&recorder.entries());
        assert!(
            list.contains("<a href=\"1\">/cgi-bin/x.sh?&lt;b&gt;</a>"),
            "{list}"
        );
        assert!(list.contains("<td class=s5>502</td>"));
        let page = detail(&recorder.entry(1).unwrap());
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("<td class=m>&lt;i&gt;</td>"));
        assert!(page.contains("oops &lt;tag&gt;"));
        assert!(page.contains("<td class=sig>killed by SIGSEGV"));
        assert!(!page.contains("<script>alert") && !page.contains("location.reload"));
        assert!(claims("/.rcgi") && claims("/.rcgi/3") && !claims("/.rcgix"));
    }
}
