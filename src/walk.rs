//! A URL path to a file under a root folder. The path's segments are
//! percent-decoded once and walked from the root; the walk refuses
//! anything that could leave the root or reveal what should stay hidden:
//!
//! - a bad escape, a NUL byte, an encoded `/` (`%2F`), or a `.` or `..`
//!   segment: 400;
//! - a walked segment that starts with `.`: 404;
//! - a file reached through a symlink whose real path is outside the
//!   root, or that is not a regular file: 403.
//!
//! Empty segments (`//`) are skipped. Scripts ([`crate::route`]) and
//! plain files ([`crate::static_files`]) use the same walk.

use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::path::PathBuf;

use crate::status::Refusal;

const NOT_FOUND: Refusal = Refusal::new(404, "no script at this path");

/// Where a walk ended.
#[derive(Debug)]
pub enum Walked {
    /// At a regular file, after `used` segments (the rest follow it).
    File {
        path: PathBuf,
        meta: Metadata,
        url: Vec<u8>,
        used: usize,
    },
    /// At a folder, after every segment.
    Folder { path: PathBuf, url: Vec<u8> },
}

/// The decoded segments of a path that starts with `/` (or is empty).
pub fn decode_path(path: &str) -> Result<Vec<Vec<u8>>, Refusal> {
    path.split('/').skip(1).map(decode_segment).collect()
}

/// Walks `segments` from `root` to the first regular file, or to the
/// folder they name. `url` starts the decoded URL path of what is found.
pub fn walk(root: &Path, url: &str, segments: &[Vec<u8>]) -> Result<Walked, Refusal> {
    let mut path = root.to_path_buf();
    let mut url = url.as_bytes().to_vec();
    let mut via_symlink = false;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            continue;
        }
        if segment[0] == b'.' {
            return Err(Refusal::new(404, "hidden path segment"));
        }
        path.push(OsStr::from_bytes(segment));
        url.push(b'/');
        url.extend_from_slice(segment);
        let (meta, linked) = stat(&path)?;
        via_symlink |= linked;
        if meta.is_dir() {
            continue;
        }
        if !meta.is_file() {
            return Err(Refusal::new(403, "not a regular file"));
        }
        if via_symlink && !inside(root, &path) {
            return Err(Refusal::new(403, "path resolves outside the root"));
        }
        return Ok(Walked::File {
            path,
            meta,
            url,
            used: i + 1,
        });
    }
    if via_symlink && !inside(root, &path) {
        return Err(Refusal::new(403, "path resolves outside the root"));
    }
    Ok(Walked::Folder { path, url })
}

/// The metadata of `path` (following a symlink), and whether it was one.
pub fn stat(path: &Path) -> Result<(Metadata, bool), Refusal> {
    let meta = fs::symlink_metadata(path).map_err(stat_error)?;
    if meta.file_type().is_symlink() {
        Ok((fs::metadata(path).map_err(stat_error)?, true))
    } else {
        Ok((meta, false))
    }
}

/// Percent-encodes what is not plain in a URL path segment.
pub fn encode_segment(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn stat_error(e: std::io::Error) -> Refusal {
    match e.kind() {
        ErrorKind::PermissionDenied => Refusal::new(403, "permission denied"),
        _ => NOT_FOUND,
    }
}

/// True when the real path of `file` lies under `root`.
pub fn inside(root: &Path, file: &Path) -> bool {
    file.canonicalize().is_ok_and(|real| real.starts_with(root))
}

/// Decodes `%XX` escapes in one path segment, refusing what must never
/// reach the file system: NUL, `/`, and the `.` and `..` segments.
fn decode_segment(raw: &str) -> Result<Vec<u8>, Refusal> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = match bytes.get(i + 1..i + 3) {
                Some(&[high, low]) => hex_value(high).zip(hex_value(low)),
                _ => None,
            };
            let (high, low) = byte.ok_or(Refusal::new(400, "invalid percent-escape in path"))?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err(Refusal::new(400, "NUL in path"));
    }
    if out.contains(&b'/') {
        return Err(Refusal::new(400, "encoded slash in path"));
    }
    if out == b"." || out == b".." {
        return Err(Refusal::new(400, "dot segment in path"));
    }
    Ok(out)
}

/// The value of one hex digit (no sign, no prefix: exactly `0-9a-fA-F`).
fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_segment_once_and_refuses_what_must_not_reach_the_disk() {
        assert_eq!(
            decode_path("/a%20b/%2541/c").unwrap(),
            [b"a b".to_vec(), b"%41".to_vec(), b"c".to_vec()]
        );
        for bad in [
            "/%2f", "/%00", "/..", "/%2e%2E", "/.", "/%zz", "/%", "/%+f", "/%-1", "/%f",
        ] {
            assert_eq!(decode_path(bad).unwrap_err().status, 400, "{bad}");
        }
        assert_eq!(encode_segment(b"a b/%"), "a%20b%2F%25");
    }
}
