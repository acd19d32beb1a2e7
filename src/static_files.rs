//! Plain files from `--static`, served at `/` beside the scripts, so a
//! legacy site's pages and the scripts their forms post to run together.
//! GET and HEAD only, with the same path rules as scripts
//! ([`walk`]); a folder serves its `index.html` (or `index.htm`), or
//! else its [`listing`] unless listings are off; `Content-Type` comes
//! from the extension (no sniffing); `Last-Modified` with
//! `If-Modified-Since` (304); one byte `Range` (206, or 416). Nothing
//! under a script folder is ever served or listed, whatever the URL, so
//! a script's source stays private even when the folders overlap.

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::client::{Head, Request, Served, Sink};
use crate::date;
use crate::listing;
use crate::reply;
use crate::status::{Refusal, reason};
use crate::walk::{self, Walked};

/// The files a folder URL serves, in order of preference.
const INDEX_FILES: [&str; 2] = ["index.html", "index.htm"];

/// The static site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The folder served at `/`, canonical.
    pub root: PathBuf,
    /// A folder without an index file is listed (else 403).
    pub listings: bool,
    /// Folders never served nor listed, though they may lie in `root`:
    /// the script folders, canonical.
    pub private: Vec<PathBuf>,
}

enum Target {
    File(PathBuf, Metadata),
    Listing(PathBuf),
    AddSlash,
}

/// A `Range` request's meaning for a file of some length.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Absent, malformed or several ranges: send the whole file.
    Whole,
    /// Bytes `first..=last`.
    Part(u64, u64),
    Unsatisfiable,
}

/// Serves the file, listing or redirect `req` asks for; a refusal is
/// returned unsent, for the caller to log and answer.
pub fn serve<S: Sink + ?Sized>(
    site: &Settings,
    req: &Request,
    sink: &mut S,
) -> Result<Served, Refusal> {
    Ok(match find(site, req)? {
        Target::File(path, meta) => send(req, sink, &path, &meta)?,
        Target::Listing(folder) => {
            let (entries, more) =
                listing::read(&site.root, &folder, |path, _| !private(site, path));
            let page = listing::render(&req.path, &entries, more, "");
            reply::html(sink, 200, &page)
        }
        Target::AddSlash => {
            let query = req.query.as_ref().map(|q| format!("?{q}"));
            reply::moved(sink, &format!("{}/{}", req.path, query.unwrap_or_default()))
        }
    })
}

const NOT_FOUND: Refusal = Refusal::new(404, "no file at this path");

fn find(site: &Settings, req: &Request) -> Result<Target, Refusal> {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Err(Refusal::new(405, "files take GET and HEAD only"));
    }
    let segments = walk::decode_path(&req.path)?;
    let (path, meta) = match walk::walk(&site.root, "", &segments)? {
        Walked::File {
            path, meta, used, ..
        } if used == segments.len() => (path, meta),
        Walked::File { .. } => return Err(NOT_FOUND),
        Walked::Folder { path, .. } if private(site, &path) => return Err(NOT_FOUND),
        Walked::Folder { .. } if !req.path.ends_with('/') => return Ok(Target::AddSlash),
        Walked::Folder { path, .. } => match index_file(&site.root, &path) {
            Some(found) => found,
            None if site.listings => return Ok(Target::Listing(path)),
            None => return Err(Refusal::new(403, "folder without an index.html")),
        },
    };
    if private(site, &path) {
        return Err(NOT_FOUND);
    }
    Ok(Target::File(path, meta))
}

/// The folder's index file, if it has one that stays inside the root.
fn index_file(root: &Path, folder: &Path) -> Option<(PathBuf, Metadata)> {
    INDEX_FILES.iter().find_map(|name| {
        let index = folder.join(name);
        let meta = index.metadata().ok()?;
        (meta.is_file() && walk::inside(root, &index)).then_some((index, meta))
    })
}

/// True when `path` lies in a script folder. Only when the static root
/// and a script folder overlap can it (a walk never leaves the static
/// root, even through a symlink).
fn private(site: &Settings, path: &Path) -> bool {
    site.private.iter().any(|scripts| {
        let overlap = scripts.starts_with(&site.root) || site.root.starts_with(scripts);
        overlap && walk::inside(scripts, path)
    })
}

fn send<S: Sink + ?Sized>(
    req: &Request,
    sink: &mut S,
    path: &Path,
    meta: &Metadata,
) -> Result<Served, Refusal> {
    let len = meta.len();
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let mut fields = vec![
        (
            "Content-Type".to_string(),
            content_type(path).as_bytes().to_vec(),
        ),
        ("Accept-Ranges".to_string(), b"bytes".to_vec()),
    ];
    if let Some(m) = modified {
        fields.push((
            "Last-Modified".to_string(),
            date::http_date_of(m).into_bytes(),
        ));
    }
    if not_modified(req, modified) {
        return Ok(send_head(sink, 304, &fields, None));
    }
    let range = match (req.header("range"), req.header("if-range")) {
        (Some(r), None) => parse_range(r, len),
        _ => Range::Whole,
    };
    let (status, first, count) = match range {
        Range::Whole => (200, 0, len),
        Range::Part(first, last) => {
            let span = format!("bytes {first}-{last}/{len}");
            fields.push(("Content-Range".to_string(), span.into_bytes()));
            (206, first, last - first + 1)
        }
        Range::Unsatisfiable => {
            let fields = [(
                "Content-Range".to_string(),
                format!("bytes */{len}").into_bytes(),
            )];
            return Ok(send_head(sink, 416, &fields, Some(0)));
        }
    };
    let file = File::open(path).map_err(|_| Refusal::new(403, "file cannot be read"))?;
    Ok(send_part(req, sink, (status, &fields), &file, first, count))
}

/// True when the file has not changed since the `If-Modified-Since` date.
fn not_modified(req: &Request, modified: Option<u64>) -> bool {
    let since = req
        .header("if-modified-since")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(date::parse_http_date);
    matches!((modified, since), (Some(m), Some(since)) if m <= since)
}

/// Sends `count` bytes of `file` from `first`, under a head with
/// `status` and `fields`.
fn send_part<S: Sink + ?Sized>(
    req: &Request,
    sink: &mut S,
    (status, fields): (u16, &[(String, Vec<u8>)]),
    file: &File,
    first: u64,
    count: u64,
) -> Served {
    sink.start(&Head {
        status,
        reason: reason(status),
        fields,
        length: Some(count),
    });
    if !req.head_only() {
        // A short send has closed the connection; the count tells.
        let _ = sink.send_file(file, first, count);
    }
    if sink.send_all().is_err() {
        sink.close_after();
    }
    sink.served()
}

/// Sends a response head with an empty body (304, 416).
fn send_head<S: Sink + ?Sized>(
    sink: &mut S,
    status: u16,
    fields: &[(String, Vec<u8>)],
    length: Option<u64>,
) -> Served {
    sink.start(&Head {
        status,
        reason: reason(status),
        fields,
        length,
    });
    if sink.send_all().is_err() {
        sink.close_after();
    }
    sink.served()
}

/// `bytes=first-last`, `bytes=first-` or `bytes=-suffix` (one range).
fn parse_range(value: &[u8], len: u64) -> Range {
    let Some(spec) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Range::Whole;
    };
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
    };
    match (num(a), num(b)) {
        (Some(first), _) if first >= len => Range::Unsatisfiable,
        (Some(first), Some(last)) if first <= last => Range::Part(first, last.min(len - 1)),
        (Some(first), None) if b.is_empty() => Range::Part(first, len - 1),
        (None, Some(suffix)) if a.is_empty() => match suffix.min(len) {
            0 => Range::Unsatisfiable,
            n => Range::Part(len - n, len - 1),
        },
        _ => Range::Whole,
    }
}

/// The media type of a file, from its extension; text types in UTF-8.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref().unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" | "text" | "log" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/vnd.microsoft.icon",
        "bmp" => "image/bmp",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(b"bytes=0-9", 100), Range::Part(0, 9));
        assert_eq!(parse_range(b"bytes=90-200", 100), Range::Part(90, 99));
        assert_eq!(parse_range(b"bytes=95-", 100), Range::Part(95, 99));
        assert_eq!(parse_range(b"bytes=-10", 100), Range::Part(90, 99));
        assert_eq!(parse_range(b"bytes=-500", 100), Range::Part(0, 99));
        assert_eq!(parse_range(b"bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-5", 0), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=5-1", 100), Range::Whole);
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), Range::Whole);
        assert_eq!(parse_range(b"items=0-1", 100), Range::Whole);
        assert_eq!(parse_range(b"bytes=a-b", 100), Range::Whole);
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(
            content_type(Path::new("a/INDEX.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.png")), "image/png");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
