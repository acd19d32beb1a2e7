//! rcgi's two logs. The access log goes to stdout, one Common Log Format
//! line per request with its duration appended; the error log goes to
//! stderr, one line per event, each starting with `rcgi: `. Each line is
//! written with a single `write` so that lines from different threads
//! never interleave.

use std::fmt::{self, Write as _};
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

/// How much a line of the error log matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// What went as it should (a script's normal end).
    Info,
    /// A request refused, a client or a script misbehaving.
    Warn,
    /// rcgi itself could not do what it should.
    Error,
}

/// An event that went as it should.
pub fn info(args: fmt::Arguments) {
    line(Level::Info, args);
}

/// A request refused, or a client or a script misbehaving.
pub fn warn(args: fmt::Arguments) {
    line(Level::Warn, args);
}

/// Writes one line to the error log.
pub fn error(args: fmt::Arguments) {
    line(Level::Error, args);
}

/// Writes one line to the error log at `level` (every level is written,
/// in the same form, for now).
pub fn line(_level: Level, args: fmt::Arguments) {
    let mut line = String::with_capacity(128);
    let _ = write!(line, "rcgi: {args}");
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes preformatted bytes to the error log (already split in lines).
pub fn error_bytes(bytes: &[u8]) {
    let _ = std::io::stderr().lock().write_all(bytes);
}

/// One request, as the access log records it.
pub struct Access<'a> {
    pub client: IpAddr,
    /// The request line as received, e.g. `GET /x?y HTTP/1.1`.
    pub request_line: fmt::Arguments<'a>,
    pub status: u16,
    /// Response body bytes sent (0 prints as "-", as CLF does).
    pub bytes: u64,
    pub duration: Duration,
}

/// Writes one access log line:
/// `127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 13 0.8ms`
pub fn access(a: &Access) {
    let mut line = String::with_capacity(160);
    let _ = write!(
        line,
        "{} - - [{}] \"{}\" {} ",
        a.client,
        crate::date::log_now(),
        a.request_line,
        a.status
    );
    if a.bytes == 0 {
        line.push('-');
    } else {
        let _ = write!(line, "{}", a.bytes);
    }
    let _ = writeln!(line, " {:.1}ms", a.duration.as_secs_f64() * 1000.0);
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

/// Renders bytes from the network for a log line: printable ASCII as is,
/// everything else as `\xNN`, so a client cannot forge log lines.
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"' {
                f.write_char(b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_hides_control_bytes() {
        let s = Escaped(b"GET /a\"b\n\x01\xff").to_string();
        assert_eq!(s, "GET /a\\x22b\\x0a\\x01\\xff");
    }
}
