//! The story of a script's failure, told to a developer (the `--debug`
//! error page): which script, the cause in plain words, how it ended,
//! the header bytes it wrote, and the end of its stderr. Control
//! characters are shown escaped, so a stray carriage return is visible.

use std::fmt::Write;
use std::path::Path;

use super::Failure;
use crate::reply::error_line;

pub fn render(f: &Failure, script_name: &[u8], file: &Path) -> String {
    let mut page = error_line(f.status, f.short);
    page.push('\n');
    let _ = writeln!(page, "script:  {}", visible(script_name));
    let _ = writeln!(page, "file:    {}", file.display());
    let _ = writeln!(page, "cause:   {}", f.detail);
    if let Some(ended) = &f.ended {
        let _ = writeln!(page, "ended:   {ended}");
    }
    if !f.head.is_empty() {
        let _ = write!(
            page,
            "\nheader bytes received ({}):\n{}\n",
            f.head.len(),
            visible(&f.head)
        );
    }
    if !f.stderr.is_empty() {
        let _ = write!(
            page,
            "\nstderr (the last {} bytes):\n{}\n",
            f.stderr.len(),
            visible(&f.stderr)
        );
    }
    page.push_str("\n(rcgi --debug; without it, this page holds only its first line.)\n");
    page
}

/// Text with newlines and tabs kept and other control characters shown
/// as escapes (`\r`, `\x00`).
fn visible(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_everything_with_control_characters_visible() {
        let f = Failure {
            status: 502,
            short: "malformed script headers",
            detail: "header line without a colon: \"Hello\"".into(),
            ended: Some("exit 0 after 1.0ms".into()),
            head: b"Content-Type: text/html\r\nHello\x00\n".to_vec(),
            stderr: b"warning: x\n".to_vec(),
        };
        let page = render(&f, b"/cgi-bin/x.pl", Path::new("/srv/x.pl"));
        assert!(page.starts_with("502 Bad Gateway: malformed script headers\n\n"));
        assert!(page.contains("script:  /cgi-bin/x.pl\n"));
        assert!(page.contains("cause:   header line without a colon"));
        assert!(page.contains("ended:   exit 0 after 1.0ms"));
        assert!(page.contains("Content-Type: text/html\\r\nHello\\x00\n"));
        assert!(page.contains("stderr (the last 11 bytes):\nwarning: x\n"));
    }
}
