//! A URL path to a script (RFC 3875 section 8.1's questions answered):
//! below the mount's prefix, the path is walked from the script root
//! ([`crate::walk`], with its refusals); the first segment that names a
//! file is the script and the rest is `PATH_INFO`. A script must be
//! executable unless a handler runs its extension; a folder URL ending
//! in `/` runs the first index script it holds, and one without the `/`
//! is redirected to it.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::status::Refusal;
use crate::walk::{self, Walked, decode_path, encode_segment, inside, stat};

/// One script folder, where scripts live and how they run. A site has
/// any number of them, each at its own prefix ([`pick`]).
#[derive(Debug, Clone)]
pub struct Mount {
    /// The script root, canonical.
    pub root: PathBuf,
    /// The URL prefix: "" or starting with `/`, without a trailing `/`.
    pub prefix: String,
    pub handlers: Vec<Handler>,
    /// File names tried, in order, for a folder URL.
    pub index: Vec<String>,
    /// Run scripts others may write (`--allow-writable`).
    pub allow_writable: bool,
}

/// A program that runs the files with one extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// `.php`
    pub extension: String,
    /// The program, found in PATH at start.
    pub program: PathBuf,
    /// Arguments before the file's path.
    pub args: Vec<OsString>,
}

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
    /// The handler that runs it (an index into the mount's handlers), or
    /// none: it runs itself.
    pub handler: Option<usize>,
}

/// What a request path leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Script(Route),
    /// A folder named without its trailing `/`: redirect there.
    AddSlash,
    /// A folder without an index script (403, or with `--debug` a list
    /// of its scripts).
    NoIndex(PathBuf),
}

const NOT_FOUND: Refusal = Refusal::new(404, "no script at this path");

/// Maps a raw (percent-encoded) request path to a script.
pub fn resolve(mount: &Mount, path: &str) -> Result<Found, Refusal> {
    if !under_prefix(&mount.prefix, path) {
        return Err(NOT_FOUND);
    }
    let rest = &path[mount.prefix.len()..];
    let segments = decode_path(rest)?;
    match walk::walk(&mount.root, &mount.prefix, &segments)? {
        Walked::File {
            path,
            meta,
            url,
            used,
        } => {
            let mut path_info = Vec::new();
            for rest in &segments[used..] {
                path_info.push(b'/');
                path_info.extend_from_slice(rest);
            }
            script(mount, path, &meta, url, path_info).map(Found::Script)
        }
        Walked::Folder { .. } if !rest.ends_with('/') => Ok(Found::AddSlash),
        Walked::Folder { path, url } => Ok(match index(mount, &path, url)? {
            Some(route) => Found::Script(route),
            None => Found::NoIndex(path),
        }),
    }
}

/// The mount a raw request path falls under: the one with the longest
/// prefix that the path is, or lies below.
pub fn pick<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts
        .iter()
        .filter(|m| under_prefix(&m.prefix, path))
        .max_by_key(|m| m.prefix.len())
}

/// True when `path` is the prefix or below it.
pub fn under_prefix(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A file found under the script root, checked as a script.
fn script(
    mount: &Mount,
    file: PathBuf,
    meta: &Metadata,
    script_name: Vec<u8>,
    path_info: Vec<u8>,
) -> Result<Route, Refusal> {
    let name = file.file_name().map_or(&b""[..], |n| n.as_bytes());
    let handler = mount
        .handlers
        .iter()
        .position(|h| name.ends_with(h.extension.as_bytes()) && name.len() > h.extension.len());
    if handler.is_none() && meta.permissions().mode() & 0o111 == 0 {
        return Err(Refusal::new(
            403,
            "script is not executable (chmod +x it, or run its kind with --handler EXT=PROGRAM)",
        ));
    }
    if !mount.allow_writable {
        refuse_writable(mount, &file, meta)?;
    }
    Ok(Route {
        nph: name.starts_with(b"nph-"),
        script: file,
        script_name,
        path_info,
        handler,
    })
}

/// A script that others than its owner may write (mode & 022), or in a
/// folder anyone may write (mode & 002, sticky or not: anyone could add
/// a script there), from the mount's root down, is refused, as suexec
/// does: whoever can change it could run code as the scripts' user.
fn refuse_writable(mount: &Mount, file: &Path, meta: &Metadata) -> Result<(), Refusal> {
    let refuse = |what: &Path, whom: &str| {
        crate::log::warn(format_args!(
            "refused {}: {} is writable by {whom} (--allow-writable runs it)",
            file.display(),
            what.display()
        ));
        Err(Refusal::new(
            403,
            "script is writable by others than its owner",
        ))
    };
    if meta.permissions().mode() & 0o022 != 0 {
        return refuse(file, "its group or others");
    }
    let mut folder = file.parent();
    while let Some(dir) = folder {
        let mode = fs::metadata(dir).map_or(0, |m| m.permissions().mode());
        if mode & 0o002 != 0 {
            return refuse(dir, "anyone");
        }
        if dir == mount.root {
            break;
        }
        folder = dir.parent();
    }
    Ok(())
}

/// The first index script in `folder`, if any.
fn index(mount: &Mount, folder: &Path, url: Vec<u8>) -> Result<Option<Route>, Refusal> {
    for name in &mount.index {
        let file = folder.join(name);
        let Ok((meta, linked)) = stat(&file) else {
            continue;
        };
        if !meta.is_file() || (linked && !inside(&mount.root, &file)) {
            continue;
        }
        let mut script_name = url.clone();
        script_name.push(b'/');
        script_name.extend_from_slice(name.as_bytes());
        return script(mount, file, &meta, script_name, Vec::new()).map(Some);
    }
    Ok(None)
}

/// True when `file` (a file of the mount) would run as a script: a
/// handler takes its extension, or it is executable.
pub fn runs(mount: &Mount, file: &Path, meta: &Metadata) -> bool {
    script(mount, file.to_path_buf(), meta, Vec::new(), Vec::new()).is_ok()
}

/// The URL paths (percent-encoded) of the scripts under the mount, for
/// `--debug`'s list at start: files a handler runs or that are
/// executable, outside hidden folders, at most `max` of them.
pub fn list_scripts(mount: &Mount, max: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![(mount.root.clone(), mount.prefix.clone())];
    let mut visited = 0;
    while let Some((folder, url)) = folders.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            visited += 1;
            let name = entry.file_name();
            if name.as_bytes().starts_with(b".") || found.len() >= max || visited > 100 * max {
                continue;
            }
            let url = format!("{url}/{}", encode_segment(name.as_bytes()));
            let Ok((meta, linked)) = stat(&entry.path()) else {
                continue;
            };
            if linked && !inside(&mount.root, &entry.path()) {
                continue;
            }
            if meta.is_dir() {
                folders.push((entry.path(), url));
            } else if meta.is_file() && runs(mount, &entry.path(), &meta) {
                found.push(url);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("app/sub")).unwrap();
        fs::create_dir_all(root.join("site")).unwrap();
        for (name, mode) in [
            ("app/run.pl", 0o755),
            ("app/data.txt", 0o644),
            ("app/page.php", 0o644),
            ("nph-raw", 0o755),
            (".hidden", 0o755),
            ("site/index.php", 0o644),
            ("index.cgi", 0o755),
        ] {
            fs::write(root.join(name), "#!/bin/sh\n").unwrap();
            fs::set_permissions(root.join(name), fs::Permissions::from_mode(mode)).unwrap();
        }
        symlink("/bin/sh", root.join("outside")).unwrap();
        symlink("app/run.pl", root.join("inside")).unwrap();
        symlink("/tmp", root.join("tmplink")).unwrap();
        dir
    }

    fn handlers() -> Vec<Handler> {
        vec![Handler {
            extension: ".php".into(),
            program: "/usr/bin/php-cgi".into(),
            args: Vec::new(),
        }]
    }

    fn index() -> Vec<String> {
        vec!["index.cgi".into(), "index.php".into()]
    }

    fn found(root: &Path, prefix: &str, path: &str) -> Result<Found, Refusal> {
        let mount = Mount {
            root: root.to_path_buf(),
            prefix: prefix.to_string(),
            handlers: handlers(),
            index: index(),
            allow_writable: false,
        };
        resolve(&mount, path)
    }

    fn route(root: &Path, prefix: &str, path: &str) -> Route {
        match found(root, prefix, path).unwrap() {
            Found::Script(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    fn status(root: &Path, path: &str) -> u16 {
        match found(root, "/cgi-bin", path) {
            Ok(Found::Script(_)) => 200,
            Ok(Found::AddSlash) => 301,
            Ok(Found::NoIndex(_)) => 403,
            Err(e) => e.status,
        }
    }

    #[test]
    fn splits_script_and_path_info() {
        let dir = tree();
        let root = dir.path().canonicalize().unwrap();
        let r = route(&root, "/cgi-bin", "/cgi-bin/app/run.pl/a/b%20c/");
        assert_eq!(r.script, root.join("app/run.pl"));
        assert_eq!(r.script_name, b"/cgi-bin/app/run.pl");
        assert_eq!(r.path_info, b"/a/b c/");
        assert!(!r.nph && r.handler.is_none());
        let r = route(&root, "/cgi-bin", "/cgi-bin//app//run.pl");
        assert_eq!(r.script_name, b"/cgi-bin/app/run.pl");
        assert_eq!(r.path_info, b"");
        assert!(route(&root, "/cgi-bin", "/cgi-bin/nph-raw").nph);
        let r = route(&root, "", "/app/run.pl/.x");
        assert_eq!(
            (r.script_name.as_slice(), r.path_info.as_slice()),
            (&b"/app/run.pl"[..], &b"/.x"[..])
        );
    }

    #[test]
    fn handlers_and_index_scripts() {
        let dir = tree();
        let root = dir.path().canonicalize().unwrap();
        let r = route(&root, "/cgi-bin", "/cgi-bin/app/page.php/x");
        assert_eq!((r.handler, r.path_info.as_slice()), (Some(0), &b"/x"[..]));
        let r = route(&root, "/cgi-bin", "/cgi-bin/site/");
        assert_eq!(r.script, root.join("site/index.php"));
        assert_eq!(r.script_name, b"/cgi-bin/site/index.php");
        assert_eq!(r.handler, Some(0));
        let r = route(&root, "/cgi-bin", "/cgi-bin/");
        assert_eq!(r.script_name, b"/cgi-bin/index.cgi");
        assert_eq!(status(&root, "/cgi-bin/site"), 301);
        assert_eq!(status(&root, "/cgi-bin"), 301);
    }

    #[test]
    fn lists_the_scripts_it_would_run() {
        let dir = tree();
        let root = dir.path().canonicalize().unwrap();
        fs::write(root.join("app/sp ace.php"), "").unwrap();
        let mount = Mount {
            root: root.clone(),
            prefix: "/cgi-bin".to_string(),
            handlers: handlers(),
            index: index(),
            allow_writable: false,
        };
        let listed = list_scripts(&mount, 100);
        assert_eq!(
            listed,
            [
                "/cgi-bin/app/page.php",
                "/cgi-bin/app/run.pl",
                "/cgi-bin/app/sp%20ace.php",
                "/cgi-bin/index.cgi",
                "/cgi-bin/inside",
                "/cgi-bin/nph-raw",
                "/cgi-bin/site/index.php",
            ]
        );
        assert_eq!(list_scripts(&mount, 2).len(), 2);
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
            ("/cgi-bin/app/", 403),
            ("/cgi-bin/app/sub/", 403),
            ("/cgi-bin/outside", 403),
            ("/cgi-bin/tmplink/", 403),
            ("/cgi-bin/inside", 200),
            ("/cgi-bin/app/../nph-raw", 400),
            ("/cgi-bin/app/%2e%2e/nph-raw", 400),
            ("/cgi-bin/app/run.pl/../x", 400),
            ("/cgi-bin/app%2frun.pl", 400),
            ("/cgi-bin/app/run.pl%00", 400),
            ("/cgi-bin/app/run.pl/%zz", 400),
            ("/cgi-bin/app/run.pl%", 400),
            ("/cgi-bin/app/run.pl/%+f", 400),
            ("/cgi-bin/app/run.pl/%-1", 400),
            ("/cgi-bin/app/%+frun.pl", 400),
        ];
        for (path, want) in cases {
            assert_eq!(status(&root, path), want, "{path}");
        }
    }
}
