//! Why a script could not be started, in plain words, with the status the
//! client gets: 403 when it is not executable, 503 when the machine is
//! out of processes, memory or descriptors (try again later), else 502.
//! For a missing interpreter it reads the script's `#!` line to say which
//! one, and spots the classic cause: Windows (CRLF) line endings.

use std::io::{self, Read};
use std::path::Path;

use nix::libc;

use super::Failure;

/// Why `program` could not be started, for the error page (`short`) and
/// the log (`detail`).
pub fn explain(program: &Path, e: &io::Error) -> Failure {
    let fail = |status, short: &'static str, detail: String| Failure {
        status,
        short,
        detail,
        ended: None,
        head: Vec::new(),
        stderr: Vec::new(),
    };
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => fail(
            403,
            "script is not executable (chmod +x it, and its folders need +x too)",
            format!(
                "{e}: the file, or a folder on its path, is not executable (or the file system is mounted noexec)"
            ),
        ),
        Some(libc::ENOENT) => match missing_interpreter(program) {
            Missing::Crlf(detail) => fail(
                502,
                "the script's #! line ends in a carriage return (Windows line endings)",
                detail,
            ),
            Missing::Interpreter(detail) => fail(502, "script interpreter not found", detail),
        },
        Some(libc::ENOEXEC) => fail(
            502,
            "script is not in an executable format",
            "not a program this system can run: no #! line, and not a binary for this machine"
                .into(),
        ),
        Some(libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE | libc::ETXTBSY) => fail(
            503,
            "server too busy to start the script",
            format!("{e} (out of processes, memory or descriptors, or the file is being written)"),
        ),
        _ => fail(502, "script could not be started", e.to_string()),
    }
}

/// What ENOENT from a script that exists means.
enum Missing {
    /// Its `#!` line ends in `\r`: no interpreter has that name.
    Crlf(String),
    Interpreter(String),
}

/// The script exists, so ENOENT is about its interpreter.
fn missing_interpreter(program: &Path) -> Missing {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(program)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    let Some(line) = head.strip_prefix(b"#!") else {
        return Missing::Interpreter("a program it needs was not found".into());
    };
    let line = line.split(|&b| b == b'\n').next().unwrap_or(line);
    if line.ends_with(b"\r") {
        return Missing::Crlf("its #! line ends in a carriage return: the file has Windows (CRLF) line endings; convert it with dos2unix or sed -i 's/\\r$//'".into());
    }
    let interpreter = line
        .trim_ascii()
        .split(|b| b.is_ascii_whitespace())
        .next()
        .unwrap_or(b"");
    Missing::Interpreter(format!(
        "the interpreter on its #! line, {}, does not exist",
        String::from_utf8_lossy(interpreter)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text).unwrap();
        f
    }

    #[test]
    fn names_the_missing_interpreter_and_crlf() {
        let enoent = io::Error::from_raw_os_error(libc::ENOENT);
        let f = script(b"#!/opt/nothing/perl -w\nprint 1;\n");
        let why = explain(f.path(), &enoent);
        assert_eq!(why.status, 502);
        assert!(
            why.detail.contains("/opt/nothing/perl, does not exist"),
            "{}",
            why.detail
        );
        let f = script(b"#!/bin/sh\r\necho\r\n");
        let why = explain(f.path(), &enoent);
        assert!(why.detail.contains("CRLF") && why.short.contains("carriage return"));
    }

    #[test]
    fn statuses() {
        let f = script(b"");
        let status = |errno| explain(f.path(), &io::Error::from_raw_os_error(errno)).status;
        assert_eq!(status(libc::EACCES), 403);
        assert_eq!(status(libc::ENOEXEC), 502);
        assert_eq!(status(libc::EAGAIN), 503);
        assert_eq!(status(libc::EMFILE), 503);
        assert_eq!(status(libc::E2BIG), 502);
    }
}
