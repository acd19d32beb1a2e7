//! The script's header block (RFC 3875 section 6.3): lines ending in LF
//! or CRLF up to an empty line. Field names are case-insensitive; the CGI
//! fields `Status`, `Location` and `Content-Type` may appear once each
//! (an empty value counts as absent). `Content-Length` is kept to frame
//! the body; `Connection`, `Keep-Alive`, `TE` and `Upgrade` are about
//! rcgi's connection, not the script's, and are dropped. Anything that
//! would not be valid HTTP on the wire (a name that is not a token, a
//! control character or bare CR in a value, a continuation line, a bad
//! Status) makes the whole block invalid, and so does `Transfer-Encoding`:
//! a script that frames its own body would have it framed twice.

use crate::fields::{is_tchar, parse_length, trim_ows};

/// A parsed header block.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScriptHead {
    /// From `Status: NNN reason`; the reason may be empty.
    pub status: Option<(u16, String)>,
    pub location: Option<Vec<u8>>,
    pub content_length: Option<u64>,
    /// The fields to send on, in order (with `Location` and
    /// `Content-Type`, without the dropped ones and `Status` and
    /// `Content-Length`).
    pub fields: Vec<(String, Vec<u8>)>,
}

/// Why a header block is refused; the text says exactly what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

/// Fields that belong to rcgi's connection with the client.
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
];

/// Finds the end of the header block in `buf`, starting the search at
/// `from` (so that a block arriving in pieces is scanned once). Returns
/// the length of the block without its final empty line, and where the
/// body starts.
pub fn find_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    if from == 0 {
        if buf.starts_with(b"\n") {
            return Some((0, 1));
        }
        if buf.starts_with(b"\r\n") {
            return Some((0, 2));
        }
    }
    let mut i = from;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        let rest = &buf[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some((nl + 1, nl + 2));
        }
        if rest.starts_with(b"\r\n") {
            return Some((nl + 1, nl + 3));
        }
        i = nl + 1;
    }
    None
}

/// Parses a header block (as delimited by [`find_end`]).
pub fn parse(block: &[u8]) -> Result<ScriptHead, Invalid> {
    let mut head = ScriptHead::default();
    let mut content_type = false;
    for raw in block.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            continue; // only the split's empty tail
        }
        let (name, value) = split_field(line)?;
        let lower = name.to_ascii_lowercase();
        let cgi_field = matches!(lower.as_str(), "status" | "location" | "content-type");
        if cgi_field && value.is_empty() {
            continue;
        }
        match lower.as_str() {
            "status" => {
                if head.status.is_some() {
                    return Err(invalid("more than one Status field"));
                }
                head.status = Some(parse_status(value)?);
            }
            "location" => {
                if head.location.is_some() {
                    return Err(invalid("more than one Location field"));
                }
                head.location = Some(value.to_vec());
                head.fields.push((name.to_string(), value.to_vec()));
            }
            "content-type" => {
                if content_type {
                    return Err(invalid("more than one Content-Type field"));
                }
                content_type = true;
                head.fields.push((name.to_string(), value.to_vec()));
            }
            "content-length" => {
                let n = parse_length(value)
                    .ok_or_else(|| invalid(format!("invalid Content-Length {}", shown(value))))?;
                if head.content_length.is_some_and(|l| l != n) {
                    return Err(invalid("conflicting Content-Length fields"));
                }
                head.content_length = Some(n);
            }
            "transfer-encoding" => {
                return Err(invalid(format!(
                    "Transfer-Encoding {} (rcgi frames the body; a script must not)",
                    shown(value)
                )));
            }
            _ if HOP_BY_HOP.contains(&lower.as_str()) => {}
            _ => head.fields.push((name.to_string(), value.to_vec())),
        }
    }
    Ok(head)
}

fn invalid(s: impl Into<String>) -> Invalid {
    Invalid(s.into())
}

/// The bytes of a script's line, printable for the log.
fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(80)];
    format!("\"{}\"", crate::log::Escaped(cut))
}

/// `name: value` with optional whitespace around the value.
fn split_field(line: &[u8]) -> Result<(&str, &[u8]), Invalid> {
    if line[0] == b' ' || line[0] == b'\t' {
        return Err(invalid(format!("continuation line {}", shown(line))));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| invalid(format!("header line without a colon: {}", shown(line))))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(invalid(format!("invalid header name {}", shown(name))));
    }
    let value = trim_ows(&line[colon + 1..]);
    if let Some(&bad) = value
        .iter()
        .find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(invalid(format!(
            "control character 0x{bad:02x} in the value of {}",
            shown(name)
        )));
    }
    // A token is ASCII, so this cannot fail.
    let name = std::str::from_utf8(name).map_err(|_| invalid("invalid header name"))?;
    Ok((name, value))
}

/// `NNN` or `NNN reason`, NNN from 200 to 599 (an interim 1xx status
/// would leave the response unfinished).
fn parse_status(value: &[u8]) -> Result<(u16, String), Invalid> {
    let bad = || invalid(format!("invalid Status {}", shown(value)));
    let (code, reason) = match value.get(3) {
        None => (value, &b""[..]),
        Some(b' ') | Some(b'\t') => (&value[..3], value[4..].trim_ascii()),
        Some(_) => return Err(bad()),
    };
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let code: u16 = std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    if !(200..=599).contains(&code) {
        return Err(bad());
    }
    let reason = String::from_utf8(reason.to_vec()).map_err(|_| bad())?;
    Ok((code, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> Result<ScriptHead, Invalid> {
        parse(s.as_bytes())
    }

    #[test]
    fn finds_the_blank_line_in_any_line_ending() {
        assert_eq!(find_end(b"A: b\n\nbody", 0), Some((5, 6)));
        assert_eq!(find_end(b"A: b\r\n\r\nbody", 0), Some((6, 8)));
        assert_eq!(find_end(b"A: b\r\n\nbody", 0), Some((6, 7)));
        assert_eq!(find_end(b"\nbody", 0), Some((0, 1)));
        assert_eq!(find_end(b"\r\nbody", 0), Some((0, 2)));
        assert_eq!(find_end(b"A: b\r\n", 0), None);
        assert_eq!(find_end(b"A: b\r\nC: d\n", 4), None);
    }

    #[test]
    fn parses_cgi_and_other_fields() {
        let h = head("Status: 404 Nothing Here\r\nContent-type: text/plain\nX-A:  1 \nContent-Length: 5\nConnection: close\nUpgrade: h2c\n").unwrap();
        assert_eq!(h.status, Some((404, "Nothing Here".into())));
        assert_eq!(h.content_length, Some(5));
        assert_eq!(
            h.fields,
            vec![
                ("Content-type".into(), b"text/plain".to_vec()),
                ("X-A".into(), b"1".to_vec())
            ]
        );
        assert_eq!(
            head("Status: 201\n").unwrap().status,
            Some((201, String::new()))
        );
        assert_eq!(
            head("Location: /x\n").unwrap().location,
            Some(b"/x".to_vec())
        );
        assert_eq!(head("Location:\n").unwrap().location, None);
    }

    #[test]
    fn refuses_what_would_break_http() {
        for block in [
            "Status: 200 OK\nStatus: 404\n",
            "Status: 99\n",
            "Status: 100 Continue\n",
            "Status: 600 Nope\n",
            "Status: 2000\n",
            "Status: abc\n",
            "Location: /a\nLocation: /b\n",
            "Content-Type: a\ncontent-type: b\n",
            "Content-Length: x\n",
            "Content-Length: 1\nContent-Length: 2\n",
            "No colon here\n",
            "Bad Name: x\n",
            ": empty name\n",
            "X-A: one\n two\n",
            "X-A: a\rb\n",
            "X-A: a\x01b\n",
            "X-A: a\x7fb\n",
            "Transfer-Encoding: chunked\n",
            "X-A: a\r\r\n",
            "X-A: a\x0c\n",
            "Status: 200\x0c\n",
        ] {
            assert!(head(block).is_err(), "{block:?}");
        }
    }
}
