//! A script's stderr, passed to rcgi's error log line by line (at the
//! warn level), each line tagged with the script and its pid. Lines are collected from whatever
//! pieces the pipe delivers; a line longer than 4 KiB is cut into pieces
//! of that size, so a flood without newlines cannot grow memory. Control
//! characters other than tab are written as `\xNN`.

use std::io::Write;

use crate::log::Level;
use crate::record::Record;

const MAX_LINE: usize = 4096;
/// How much of the end of stderr is kept, to show with a failure.
const TAIL: usize = 4096;

pub struct StderrLog {
    /// `/cgi-bin/x.sh[1234]`, to name the script in other log lines.
    pub name: String,
    /// `/cgi-bin/x.sh[1234]: `
    tag: Vec<u8>,
    partial: Vec<u8>,
    /// The last bytes of stderr.
    tail: Vec<u8>,
    /// Lines logged so far.
    pub lines: u64,
    /// The request inspector's record (`--debug`), shown the tail as it
    /// grows.
    pub record: Option<Record>,
}

impl StderrLog {
    pub fn new(script_name: &[u8], pid: u32) -> StderrLog {
        let mut name = Vec::new();
        escape_into(&mut name, script_name);
        let name = format!("{}[{pid}]", String::from_utf8_lossy(&name));
        let tag = format!("{name}: ").into_bytes();
        StderrLog {
            name,
            tag,
            partial: Vec::new(),
            tail: Vec::new(),
            lines: 0,
            record: None,
        }
    }

    /// Takes the next piece of stderr and logs the lines it completes,
    /// all with one write.
    pub fn push(&mut self, data: &[u8]) {
        self.keep_tail(data);
        if let Some(record) = &self.record {
            record.stderr(&self.tail);
        }
        let mut out = Vec::new();
        for &b in data {
            if b == b'\n' {
                self.line(&mut out);
            } else {
                self.partial.push(b);
                if self.partial.len() >= MAX_LINE {
                    self.line(&mut out);
                }
            }
        }
        crate::log::lines(Level::Warn, &out);
    }

    /// The last 4 KiB of stderr.
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }

    fn keep_tail(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(TAIL)..];
        let excess = (self.tail.len() + data.len()).saturating_sub(TAIL);
        self.tail.drain(..excess);
        self.tail.extend_from_slice(data);
    }

    /// Logs an unfinished last line.
    pub fn flush(&mut self) {
        if !self.partial.is_empty() {
            let mut out = Vec::new();
            self.line(&mut out);
            crate::log::lines(Level::Warn, &out);
        }
    }

    fn line(&mut self, out: &mut Vec<u8>) {
        let line = self.partial.strip_suffix(b"\r").unwrap_or(&self.partial);
        out.extend_from_slice(&self.tag);
        escape_into(out, line);
        out.push(b'\n');
        self.partial.clear();
        self.lines += 1;
    }
}

fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if (b < 0x20 && b != b'\t') || b == 0x7f {
            let _ = write!(out, "\\x{b:02x}");
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_tagged_escaped_and_bounded() {
        let mut log = StderrLog::new(b"/cgi-bin/x", 7);
        let mut out = Vec::new();
        log.partial.extend_from_slice(b"a\x1bb\r");
        log.line(&mut out);
        assert_eq!(out, b"/cgi-bin/x[7]: a\\x1bb\n");
        log.push(&vec![b'z'; MAX_LINE * 2 + 5]);
        assert_eq!(log.lines, 3);
        assert_eq!(log.partial.len(), 5);
        log.push(b"the end\n");
        assert_eq!(log.tail().len(), TAIL);
        assert!(log.tail().ends_with(b"zzthe end\n"));
    }
}
