//! Folder listings: the HTML index of a folder, as `python -m
//! http.server` shows one: folders first, then files, each sorted by
//! name, with sizes and modification dates, every name escaped and every
//! link percent-encoded. Hidden entries (a name starting with `.`) are
//! never listed: their URLs answer 404. Which entries a listing shows
//! beyond that is its caller's choice (a static folder leaves out the
//! script folders; `--debug` lists only a script folder's scripts).

use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::date;
use crate::html;
use crate::walk::{self, encode_segment};

/// Entries shown in one listing; past it, the page says how many more.
pub const MAX_ENTRIES: usize = 5_000;
/// Entries read from one folder, shown or not, before a listing stops.
const MAX_READ: usize = 100_000;

/// One line of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file name, as the file system holds it.
    pub name: Vec<u8>,
    pub folder: bool,
    pub size: u64,
    /// Seconds since the epoch.
    pub modified: Option<u64>,
}

/// The entries of `folder` that `keep` accepts (given each entry's path
/// and metadata, symlinks followed), hidden ones and symlinks whose real
/// path lies outside `root` left out (their URLs would answer 403),
/// sorted; and how many more there were past [`MAX_ENTRIES`].
pub fn read(
    root: &Path,
    folder: &Path,
    keep: impl Fn(&Path, &Metadata) -> bool,
) -> (Vec<Entry>, usize) {
    let Ok(dir) = fs::read_dir(folder) else {
        return (Vec::new(), 0);
    };
    let mut entries = Vec::new();
    let mut more = 0usize;
    for entry in dir.flatten().take(MAX_READ) {
        let name = entry.file_name();
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let Ok((meta, linked)) = walk::stat(&path) else {
            continue;
        };
        let outside = linked && !walk::inside(root, &path);
        if outside || !(meta.is_dir() || meta.is_file()) || !keep(&path, &meta) {
            continue;
        }
        if entries.len() >= MAX_ENTRIES {
            more = more.saturating_add(1);
            continue;
        }
        entries.push(Entry {
            name: name.as_bytes().to_vec(),
            folder: meta.is_dir(),
            size: meta.len(),
            modified: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
        });
    }
    entries.sort_by(|a, b| (!a.folder, &a.name).cmp(&(!b.folder, &b.name)));
    (entries, more)
}

/// The listing page of the folder at `url` (the raw request path,
/// ending in `/`), with an optional note under the title (HTML).
pub fn render(url: &str, entries: &[Entry], more: usize, note: &str) -> String {
    let shown = String::from_utf8_lossy(&decoded(url)).into_owned();
    let mut body = format!("<h1>Index of {}</h1>\n", html::escape(&shown));
    if !note.is_empty() {
        body.push_str(&format!("<p class=note>{note}</p>\n"));
    }
    body.push_str("<table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n");
    if url != "/" {
        body.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in entries {
        let slash = if e.folder { "/" } else { "" };
        let size = if e.folder {
            String::new()
        } else {
            human_size(e.size)
        };
        let when = e.modified.map(date::http_date_of).unwrap_or_default();
        body.push_str(&format!(
            "<tr><td><a href=\"{}{slash}\">{}{slash}</a></td><td class=n>{size}</td><td>{when}</td></tr>\n",
            html::escape(&encode_segment(&e.name)),
            html::escape_bytes(&e.name),
        ));
    }
    body.push_str("</table>\n");
    if more > 0 {
        body.push_str(&format!("<p class=note>and {more} more, not shown</p>\n"));
    }
    html::page(&format!("Index of {shown}"), &body)
}

/// A raw path's `%XX` escapes decoded (for the title only; the path was
/// checked before).
fn decoded(url: &str) -> Vec<u8> {
    let bytes = url.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// 1234567 -> "1.2 MiB".
fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_links_encoded() {
        let entries = [
            Entry {
                name: b"sub dir".to_vec(),
                folder: true,
                size: 4096,
                modified: Some(0),
            },
            Entry {
                name: b"<b>.txt".to_vec(),
                folder: false,
                size: 1536,
                modified: None,
            },
        ];
        let page = render("/a%20b/", &entries, 2, "");
        assert!(page.contains("<h1>Index of /a b/</h1>"), "{page}");
        assert!(page.contains("<a href=\"sub%20dir/\">sub dir/</a>"));
        assert!(page.contains("<a href=\"%3Cb%3E.txt\">&lt;b&gt;.txt</a>"));
        assert!(page.contains("1.5 KiB") && page.contains("and 2 more"));
        assert!(!page.contains("<b>.txt"));
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024 * 1024 * 5), "5.0 MiB");
        assert_eq!(human_size(u64::MAX), "16384.0 PiB");
    }
}
