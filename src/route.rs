//! URL path to script. Under the prefix, the path's segments are
//! percent-decoded once and walked from the root: the first segment that
//! names a regular file is the script, the segments after it are
//! `PATH_INFO`. The walk refuses anything that could leave the root or
//! reveal what should stay hidden:
//!
//! - a NUL byte, an encoded `/` (`%2F`), or a `.` or `..` segment: 400;
//! - a segment of the script's path that starts with `.`: 404;
//! - a script reached through a symlink whose real path is outside the
//!   root, or that is not executable, or not a regular file: 403;
//! - a path that ends at a folder: 403.
//!
//! Empty segments (`//`) are skipped in the script's path and kept in
//! `PATH_INFO`.

use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::http::HttpError;

/// A script found for a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The file to run: the root joined with the script's segments.
    pub script: PathBuf,
    /// `SCRIPT_NAME`: the prefix and the script's segments, decoded.
    pub script_name: Vec<u8>,
    /// `PATH_INFO`: decoded; empty or starting with `/`.
    pub path_info: Vec<u8>,
    /// The script's file name starts with `nph-`: its output is the
    /// whole response, sent unparsed.
    pub nph: bool,
}

const NOT_FOUND: HttpError = HttpError::new(404, "no script at this path");

/// Maps a raw (percent-encoded) request path to a script under `root`,
/// which must be canonical. `prefix` is "" or starts with `/`.
pub fn resolve(root: &Path, prefix: &str, path: &str) -> Result<Route, HttpError> {
    let rest = path.strip_prefix(prefix).ok_or(NOT_FOUND)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Err(NOT_FOUND);
    }
    let segments = rest
        .split('/')
        .skip(1)
        .map(decode_segment)
        .collect::<Result<Vec<_>, _>>()?;

    let mut script = root.to_path_buf();
    let mut script_name = prefix.as_bytes().to_vec();
    let mut via_symlink = false;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            continue;
        }
        if segment[0] == b'.' {
            return Err(HttpError::new(404, "hidden path segment"));
        }
        script.push(OsStr::from_bytes(segment));
        script_name.push(b'/');
        script_name.extend_from_slice(segment);
        let meta = fs::symlink_metadata(&script).map_err(stat_error)?;
        let meta = if meta.file_type().is_symlink() {
            via_symlink = true;
            fs::metadata(&script).map_err(stat_error)?
        } else {
            meta
        };
        if meta.is_dir() {
            continue;
        }
        if !meta.is_file() {
            return Err(HttpError::new(403, "not a regular file"));
        }
        if via_symlink && !inside(root, &script) {
            return Err(HttpError::new(403, "script resolves outside the root"));
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(HttpError::new(403, "script is not executable"));
        }
        let mut path_info = Vec::new();
        for rest in &segments[i + 1..] {
            path_info.push(b'/');
            path_info.extend_from_slice(rest);
        }
        let nph = segment.starts_with(b"nph-");
        return Ok(Route {
            script,
            script_name,
            path_info,
            nph,
        });
    }
    Err(HttpError::new(403, "path names a folder, not a script"))
}

fn stat_error(e: std::io::Error) -> HttpError {
    match e.kind() {
        ErrorKind::PermissionDenied => HttpError::new(403, "permission denied"),
        _ => NOT_FOUND,
    }
}

/// True when the real path of `file` lies under `root`.
fn inside(root: &Path, file: &Path) -> bool {
    file.canonicalize().is_ok_and(|real| real.starts_with(root))
}

/// Decodes `%XX` escapes in one path segment, refusing what must never
/// reach the file system: NUL, `/`, and the `.` and `..` segments.
fn decode_segment(raw: &str) -> Result<Vec<u8>, HttpError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(HttpError::new(400, "invalid percent-escape in path"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err(HttpError::new(400, "NUL in path"));
    }
    if out.contains(&b'/') {
        return Err(HttpError::new(400, "encoded slash in path"));
    }
    if out == b"." || out == b".." {
        return Err(HttpError::new(400, "dot segment in path"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("app/sub")).unwrap();
        for (name, mode) in [
            ("app/run.pl", 0o755),
            ("app/data.txt", 0o644),
            ("nph-raw", 0o755),
            (".hidden", 0o755),
        ] {
            fs::write(root.join(name), "#!/bin/sh\n").unwrap();
            fs::set_permissions(root.join(name), fs::Permissions::from_mode(mode)).unwrap();
        }
        symlink("/bin/sh", root.join("outside")).unwrap();
        symlink("app/run.pl", root.join("inside")).unwrap();
        dir
    }

    fn status(root: &Path, path: &str) -> u16 {
        resolve(root, "/cgi-bin", path).map_or_else(|e| e.status, |_| 200)
    }

    #[test]
    fn splits_script_and_path_info() {
        let dir = tree();
        let root = dir.path().canonicalize().unwrap();
        let r = resolve(&root, "/cgi-bin", "/cgi-bin/app/run.pl/a/b%20c/").unwrap();
        assert_eq!(r.script, root.join("app/run.pl"));
        assert_eq!(r.script_name, b"/cgi-bin/app/run.pl");
        assert_eq!(r.path_info, b"/a/b c/");
        assert!(!r.nph);
        let r = resolve(&root, "/cgi-bin", "/cgi-bin//app//run.pl").unwrap();
        assert_eq!(r.script_name, b"/cgi-bin/app/run.pl");
        assert_eq!(r.path_info, b"");
        assert!(resolve(&root, "/cgi-bin", "/cgi-bin/nph-raw").unwrap().nph);
        let r = resolve(&root, "", "/app/run.pl/.x").unwrap();
        assert_eq!(
            (r.script_name.as_slice(), r.path_info.as_slice()),
            (&b"/app/run.pl"[..], &b"/.x"[..])
        );
    }

    #[test]
    fn refuses_what_it_must() {
        let dir = tree();
        let root = dir.path().canonicalize().unwrap();
        let cases = [
            ("/cgi-bin/missing", 404),
            ("/elsewhere/app/run.pl", 404),
            ("/cgi-binx/app/run.pl", 404),
            ("/cgi-bin/.hidden", 404),
            ("/cgi-bin/%2ehidden", 404),
            ("/cgi-bin/app/data.txt", 403),
            ("/cgi-bin/app", 403),
            ("/cgi-bin/app/sub/", 403),
            ("/cgi-bin", 403),
            ("/cgi-bin/outside", 403),
            ("/cgi-bin/inside", 200),
            ("/cgi-bin/app/../nph-raw", 400),
            ("/cgi-bin/app/%2e%2e/nph-raw", 400),
            ("/cgi-bin/app/run.pl/../x", 400),
            ("/cgi-bin/app%2frun.pl", 400),
            ("/cgi-bin/app/run.pl%00", 400),
            ("/cgi-bin/app/run.pl/%zz", 400),
            ("/cgi-bin/app/run.pl%", 400),
        ];
        for (path, want) in cases {
            assert_eq!(status(&root, path), want, "{path}");
        }
    }
}
