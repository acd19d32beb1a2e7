//! The access log's line for one request, in the three formats
//! `--log-format` offers:
//!
//! - `common`: the Common Log Format with the duration appended,
//!   `127.0.0.1 - ada [21/Nov/2026:10:01:40 +0000] "GET / HTTP/1.1" 200 14 2.1ms`;
//! - `combined`: Apache's combined format exactly (CLF, then the quoted
//!   `Referer` and `User-Agent`), as GoAccess, AWStats and fail2ban read
//!   it; it has no room for the duration;
//! - `json`: one object per line with the time, the client, the request,
//!   the status, the bytes, the duration, and the script that answered
//!   (its `SCRIPT_NAME`, pid and exit status).
//!
//! Whatever a client or a script sent is escaped: it cannot end a field
//! or a line.

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use super::Escaped;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Common,
    Combined,
    Json,
}

/// The request line's parts, as received.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub protocol: &'a str,
}

/// The script that answered, and how it ended.
#[derive(Debug, Clone, Copy)]
pub struct ScriptEnd<'a> {
    /// Its `SCRIPT_NAME`.
    pub name: &'a [u8],
    pub pid: u32,
    pub exit: ExitStatus,
}

/// One request, as the access log records it.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The client (`REMOTE_ADDR`); None when it has no IP address.
    pub remote: Option<IpAddr>,
    /// `REMOTE_USER`, if the request was authenticated.
    pub user: Option<&'a str>,
    /// None for a request whose head could not be read.
    pub request: Option<RequestLine<'a>>,
    pub status: u16,
    /// Response body bytes sent.
    pub bytes: u64,
    pub duration: Duration,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub script: Option<ScriptEnd<'a>>,
}

/// `a`'s line in `format`, ending in `\n`.
pub fn render(format: Format, a: &Access, line: &mut String) {
    match format {
        Format::Common => {
            clf(a, line);
            let _ = writeln!(line, " {}ms", super::Millis(a.duration));
        }
        Format::Combined => {
            clf(a, line);
            let (referer, agent) = (a.referer.unwrap_or(b"-"), a.user_agent.unwrap_or(b"-"));
            let _ = writeln!(line, " {} {}", Quoted(referer), Quoted(agent));
        }
        Format::Json => json(a, line),
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `host - user [date] "request" status bytes` (no newline).
fn clf(a: &Access, line: &mut String) {
    match a.remote {
        Some(ip) => {
            let _ = write!(line, "{ip}");
        }
        None => line.push('-'),
    }
    line.push_str(" - ");
    match a.user.filter(|u| !u.is_empty()) {
        Some(user) => {
            let _ = write!(line, "{}", Bare(user.as_bytes()));
        }
        None => line.push('-'),
    }
    let _ = write!(line, " [{}] \"", crate::date::log_now());
    match &a.request {
        Some(r) => {
            let _ = write!(
                line,
                "{} {} {}",
                Escaped(r.method.as_bytes()),
                Escaped(r.target.as_bytes()),
                r.protocol
            );
        }
        None => line.push('-'),
    }
    let _ = write!(line, "\" {} ", a.status);
    if a.bytes == 0 {
        line.push('-');
    } else {
        let _ = write!(line, "{}", a.bytes);
    }
}

/// A quoted field: `"..."`, escaped.
struct Quoted<'a>(&'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", Escaped(self.0))
    }
}

/// An unquoted field (the user): escaped, spaces too, so it stays one
/// field.
struct Bare<'a>(&'a [u8]);

impl fmt::Display for Bare<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in self.0.split_inclusive(|&b| b == b' ') {
            match piece.strip_suffix(b" ") {
                Some(word) => write!(f, "{}\\x20", Escaped(word))?,
                None => write!(f, "{}", Escaped(piece))?,
            }
        }
        Ok(())
    }
}

/// The JSON object of `a`, on one line.
fn json(a: &Access, line: &mut String) {
    line.push_str("{\"time\":\"");
    crate::date::push_rfc3339_now(line);
    line.push_str("\",\"remote\":");
    json_opt(line, a.remote.map(|ip| ip.to_string()).as_deref());
    line.push_str(",\"user\":");
    json_opt(line, a.user);
    let r = a.request.as_ref();
    for (name, value) in [
        ("method", r.map(|r| r.method)),
        ("target", r.map(|r| r.target)),
        ("protocol", r.map(|r| r.protocol)),
    ] {
        let _ = write!(line, ",\"{name}\":");
        json_opt(line, value);
    }
    let _ = write!(
        line,
        ",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3}",
        a.status,
        a.bytes,
        millis(a.duration)
    );
    json_script(a.script.as_ref(), line);
    line.push_str(",\"user_agent\":");
    json_bytes_opt(line, a.user_agent);
    line.push_str(",\"referer\":");
    json_bytes_opt(line, a.referer);
    line.push_str("}\n");
}

/// `"script"`, `"pid"`, `"exit_code"` and `"exit_signal"` (null when no
/// script ran, or for the half that does not apply).
fn json_script(script: Option<&ScriptEnd>, line: &mut String) {
    line.push_str(",\"script\":");
    json_bytes_opt(line, script.map(|s| s.name));
    line.push_str(",\"pid\":");
    match script {
        Some(s) => {
            let _ = write!(line, "{}", s.pid);
        }
        None => line.push_str("null"),
    }
    line.push_str(",\"exit_code\":");
    match script.and_then(|s| s.exit.code()) {
        Some(code) => {
            let _ = write!(line, "{code}");
        }
        None => line.push_str("null"),
    }
    line.push_str(",\"exit_signal\":");
    let signal =
        script
            .and_then(|s| s.exit.signal())
            .map(|n| match nix::sys::signal::Signal::try_from(n) {
                Ok(sig) => sig.as_str().to_string(),
                Err(_) => n.to_string(),
            });
    json_opt(line, signal.as_deref());
}

fn json_opt(line: &mut String, value: Option<&str>) {
    json_bytes_opt(line, value.map(str::as_bytes));
}

fn json_bytes_opt(line: &mut String, value: Option<&[u8]>) {
    match value {
        Some(v) => json_string(line, v),
        None => line.push_str("null"),
    }
}

/// A JSON string of `bytes`: UTF-8 as it is (bytes that are not UTF-8
/// become U+FFFD), `"` and `\` escaped, control characters as `\u00XX`.
pub fn json_string(line: &mut String, bytes: &[u8]) {
    line.push('"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(line, "\\u{:04x}", c as u32);
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>() -> Access<'a> {
        Access {
            remote: Some("192.0.2.7".parse().unwrap()),
            user: Some("ada lovelace"),
            request: Some(RequestLine {
                method: "GET",
                target: "/cgi-bin/x?q=\"1\"",
                protocol: "HTTP/1.1",
            }),
            status: 200,
            bytes: 14,
            duration: Duration::from_micros(2100),
            referer: None,
            user_agent: Some(b"curl/8 \"x\"\n"),
            script: Some(ScriptEnd {
                name: b"/cgi-bin/x",
                pid: 42,
                exit: ExitStatus::from_raw(3 << 8),
            }),
        }
    }

    fn line(format: Format, a: &Access) -> String {
        let mut s = String::new();
        render(format, a, &mut s);
        s
    }

    /// The line without its date, which changes.
    fn undated(s: &str) -> String {
        let (head, rest) = s.split_once(" [").unwrap();
        let (_, tail) = rest.split_once("] ").unwrap();
        format!("{head} {tail}")
    }

    #[test]
    fn common_and_combined() {
        let a = sample();
        assert_eq!(
            undated(&line(Format::Common, &a)),
            "192.0.2.7 - ada\\x20lovelace \"GET /cgi-bin/x?q=\\x221\\x22 HTTP/1.1\" 200 14 2.1ms\n"
        );
        assert_eq!(
            undated(&line(Format::Combined, &a)),
            "192.0.2.7 - ada\\x20lovelace \"GET /cgi-bin/x?q=\\x221\\x22 HTTP/1.1\" 200 14 \"-\" \"curl/8 \\x22x\\x22\\x0a\"\n"
        );
        let refused = Access {
            remote: None,
            user: None,
            request: None,
            bytes: 0,
            script: None,
            ..a
        };
        assert_eq!(
            undated(&line(Format::Combined, &refused)),
            "- - - \"-\" 200 - \"-\" \"curl/8 \\x22x\\x22\\x0a\"\n"
        );
    }

    #[test]
    fn json_escapes_and_names_the_script() {
        let s = line(Format::Json, &sample());
        assert!(s.ends_with("}\n") && s.lines().count() == 1, "{s}");
        for part in [
            "\"remote\":\"192.0.2.7\"",
            "\"user\":\"ada lovelace\"",
            "\"target\":\"/cgi-bin/x?q=\\\"1\\\"\"",
            "\"status\":200,\"bytes\":14,\"duration_ms\":2.100",
            "\"script\":\"/cgi-bin/x\",\"pid\":42,\"exit_code\":3,\"exit_signal\":null",
            "\"user_agent\":\"curl/8 \\\"x\\\"\\u000a\"",
            "\"referer\":null",
        ] {
            assert!(s.contains(part), "{part} in {s}");
        }
        let mut out = String::new();
        json_string(&mut out, b"\xff\\\x7f");
        assert_eq!(out, "\"\u{fffd}\\\\\\u007f\"");
    }
}
