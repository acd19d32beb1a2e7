//! rcgi's two logs. The error log goes to stderr, one line per event,
//! each with its time and level (`2026-11-21T10:01:40.123Z warn rcgi:
//! ...`); `--quiet` keeps only warnings and errors. The access log
//! ([`access`]) has one line per request, in the format `--log-format`
//! names, on stdout or in the `--access-log` file ([`output`]), which
//! SIGHUP reopens. Each line is written with a single `write`, so that
//! lines from different threads never interleave.

pub mod access;
mod output;

use std::fmt::{self, Write as _};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

pub use access::{Access, Format};

/// How the logs are written (`--access-log`, `--log-format`, `--quiet`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The access log's file; None for stdout.
    pub access_log: Option<PathBuf>,
    pub format: Format,
    /// The error log keeps only warnings and errors.
    pub quiet: bool,
}

/// `--quiet`: info lines are dropped.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Opens the access log and applies the settings; call once at start.
pub fn init(settings: &Settings) -> anyhow::Result<()> {
    QUIET.store(settings.quiet, Ordering::Relaxed);
    output::open(settings.access_log.as_deref(), settings.format)
}

/// Opens the access log file again (after logrotate moved it away):
/// lines go on to the old file until the new one is open, so none is
/// lost. Nothing to do when it is stdout.
pub fn reopen() {
    match output::reopen() {
        Ok(Some(path)) => info(format_args!("reopened the access log {}", path.display())),
        Ok(None) => {}
        Err(e) => error(format_args!(
            "{e:#}; the access log goes on in the old file"
        )),
    }
}

/// Writes the access log line of `a`.
pub fn access(a: &Access) {
    output::write(|format, line| access::render(format, a, line));
}

/// How much a line of the error log matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// What went as it should (a script's normal end); `--quiet` drops it.
    Info,
    /// A request refused, a client or a script misbehaving (a script's
    /// stderr too).
    Warn,
    /// rcgi itself could not do what it should.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// An event that went as it should.
pub fn info(args: fmt::Arguments) {
    line(Level::Info, args);
}

/// A request refused, or a client or a script misbehaving.
pub fn warn(args: fmt::Arguments) {
    line(Level::Warn, args);
}

/// rcgi itself failed at something.
pub fn error(args: fmt::Arguments) {
    line(Level::Error, args);
}

/// The line that says where rcgi serves: info, but written even with
/// `--quiet`, since it is what tells an operator rcgi is up.
pub fn announce(args: fmt::Arguments) {
    let mut line = start(Level::Info);
    let _ = writeln!(line, "rcgi {args}");
    write_stderr(line.as_bytes());
}

/// Writes one line to the error log at `level`.
pub fn line(level: Level, args: fmt::Arguments) {
    if dropped(level) {
        return;
    }
    let mut line = start(level);
    let _ = writeln!(line, "rcgi: {args}");
    write_stderr(line.as_bytes());
}

/// Writes lines given as bytes (each ending in `\n`, already made safe)
/// at `level`, each after the time, the level and `rcgi: `, with one
/// write.
pub fn lines(level: Level, text: &[u8]) {
    if dropped(level) || text.is_empty() {
        return;
    }
    let head = start(level);
    let mut out = Vec::with_capacity(text.len() + 40);
    for line in text.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(b"rcgi: ");
        out.extend_from_slice(line);
    }
    write_stderr(&out);
}

fn dropped(level: Level) -> bool {
    level == Level::Info && QUIET.load(Ordering::Relaxed)
}

/// `2026-11-21T10:01:40.123Z warn `
fn start(level: Level) -> String {
    let mut line = String::with_capacity(128);
    crate::date::push_rfc3339_now(&mut line);
    line.push(' ');
    line.push_str(level.as_str());
    line.push(' ');
    line
}

fn write_stderr(bytes: &[u8]) {
    let _ = std::io::stderr().lock().write_all(bytes);
}

/// A duration in milliseconds with one decimal, rounded (`1009.7`),
/// written with integer arithmetic: formatting a float takes over 1 KiB
/// of stack, and the deepest call of a connection thread decides how
/// many pages of its stack stay resident while its script runs.
pub struct Millis(pub std::time::Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = u64::try_from(self.0.as_micros()).unwrap_or(u64::MAX);
        let tenths = micros.saturating_add(50) / 100;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

/// Renders bytes from the network for a log line: printable ASCII as is,
/// everything else (and `"` and `\`) as `\xNN`, so a client cannot forge
/// log lines or end a quoted field.
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

    #[test]
    fn millis_have_one_rounded_decimal() {
        use std::time::Duration;
        let ms = |us| Millis(Duration::from_micros(us)).to_string();
        assert_eq!(ms(0), "0.0");
        assert_eq!(ms(1_009_749), "1009.7");
        assert_eq!(ms(1_009_750), "1009.8");
        assert_eq!(ms(99_960), "100.0");
        assert_eq!(Millis(Duration::MAX).to_string(), "18446744073709551.6");
    }

    #[test]
    fn lines_start_with_time_and_level() {
        let head = start(Level::Warn);
        let (time, rest) = head.split_once(' ').unwrap();
        assert_eq!(rest, "warn ");
        assert_eq!(time.len(), "2026-11-21T10:01:40.123Z".len());
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    }
}
