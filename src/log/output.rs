//! Where the access log goes: stdout, or a file opened for appending,
//! which [`reopen`] replaces with a new open of the same path (after
//! logrotate renamed the old one). Writers hold a shared lock while they
//! write a line, so a reopen waits for the lines under way and none is
//! lost or split between the two files.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use anyhow::Context;

use super::access::Format;

/// The access log's format and file (None: stdout).
struct Output {
    format: Format,
    file: Option<(PathBuf, File)>,
}

static OUTPUT: RwLock<Output> = RwLock::new(Output {
    format: Format::Common,
    file: None,
});

fn read() -> RwLockReadGuard<'static, Output> {
    // Nothing panics while holding the lock; a poisoned one is still whole.
    OUTPUT.read().unwrap_or_else(|e| e.into_inner())
}

/// Sets the format, and opens `path` (None: stdout).
pub fn open(path: Option<&Path>, format: Format) -> anyhow::Result<()> {
    let file = match path {
        Some(path) => Some((path.to_path_buf(), append(path)?)),
        None => None,
    };
    let mut out = OUTPUT.write().unwrap_or_else(|e| e.into_inner());
    *out = Output { format, file };
    Ok(())
}

/// Opens the file again; returns its path, or None for stdout.
pub fn reopen() -> anyhow::Result<Option<PathBuf>> {
    let Some(path) = read().file.as_ref().map(|(p, _)| p.clone()) else {
        return Ok(None);
    };
    let new = append(&path)?;
    let mut out = OUTPUT.write().unwrap_or_else(|e| e.into_inner());
    out.file = Some((path.clone(), new));
    Ok(Some(path))
}

fn append(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the access log {}", path.display()))
}

/// Writes the line `render` makes in the log's format (ending in `\n`).
pub fn write(render: impl FnOnce(Format, &mut String)) {
    let out = read();
    let mut line = String::with_capacity(256);
    render(out.format, &mut line);
    let _ = match &out.file {
        Some((_, file)) => (&*file).write_all(line.as_bytes()),
        None => std::io::stdout().lock().write_all(line.as_bytes()),
    };
}
