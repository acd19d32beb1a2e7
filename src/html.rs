//! The few HTML pages rcgi writes itself (folder listings, the request
//! inspector): escaping of everything put in them, and the page around
//! their content, with one small style sheet.

use std::fmt::Write;

/// The style every page shares: readable on a laptop and a phone, no
/// external resources.
const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em;color:#222}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.4em}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd;vertical-align:top}\
th{background:#f4f4f4}table.kv th{width:14em}td.n{text-align:right;font-variant-numeric:tabular-nums}\
code,pre,td.m{font-family:ui-monospace,monospace;font-size:.92em}pre{background:#f6f6f6;padding:.6em;overflow:auto;white-space:pre-wrap}\
a{color:#0645ad}.s2{color:#1a7f37}.s3{color:#0645ad}.s4{color:#b35900}.s5,.sig{color:#c62828;font-weight:600}.run{color:#777}\
.note{color:#555;font-size:.9em}";

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    push_escaped(&mut out, text);
    out
}

/// Bytes (a file name, a header value, a script's stderr) as HTML text:
/// invalid UTF-8 becomes U+FFFD, control characters other than newline
/// and tab are shown as `\xNN`, and the rest is escaped.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut visible = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => visible.push(c),
            c if c.is_control() => {
                let _ = write!(visible, "\\x{:02x}", c as u32);
            }
            c => visible.push(c),
        }
    }
    escape(&visible)
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A whole page: `title` is plain text (escaped here), `body` is HTML
/// already made safe by its writer.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("<b>\"it's\" & </b>"),
            "&lt;b&gt;&quot;it&#39;s&quot; &amp; &lt;/b&gt;"
        );
        assert_eq!(escape_bytes(b"a\r\n<\x1b\xff"), "a\\x0d\n&lt;\\x1b\u{fffd}");
        assert!(page("<x>", "<p>").contains("<title>&lt;x&gt;</title>"));
    }
}
