//! Which folders are served where, from the command line: the script
//! folders (`--root` at `--prefix`, each `--mount PREFIX=DIR`, `./cgi-bin`
//! when nothing else is named, `./cgi-bin` and `./htbin` with
//! `--python`) and the static site (`--static`, or the current folder
//! with `--python`), each checked, with the handlers and index names
//! every script folder shares.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::Args;
use super::values::DEFAULT_PATH;
use crate::route::{Handler, Mount};
use crate::static_files;

/// The script folder `rcgi` serves when none is named.
const DEFAULT_ROOT: &str = "cgi-bin";
/// The script folders of `python -m http.server --cgi`
/// (`CGIHTTPRequestHandler.cgi_directories`), served by `--python` when
/// present.
const PYTHON_SCRIPT_FOLDERS: [&str; 2] = ["cgi-bin", "htbin"];

/// The script folders and the static site.
pub fn folders(args: &Args) -> anyhow::Result<(Vec<Mount>, Option<static_files::Settings>)> {
    let handlers: Vec<Handler> = args
        .handlers
        .iter()
        .map(|(ext, program)| find_handler(ext, program))
        .collect::<anyhow::Result<_>>()?;
    let mut index = vec!["index.cgi".to_string()];
    index.extend(args.index.iter().filter(|n| *n != "index.cgi").cloned());
    let mut mounts = Vec::new();
    for (option, prefix, dir) in wanted(args)? {
        let prefix = normalize_prefix(option, &prefix)?;
        if mounts.iter().any(|m: &Mount| m.prefix == prefix) {
            bail!(
                "{option} {}: two script folders at the same prefix",
                shown(&prefix)
            );
        }
        mounts.push(Mount {
            root: check_dir(option, &dir)?,
            prefix,
            handlers: handlers.clone(),
            index: index.clone(),
            allow_writable: args.allow_writable,
        });
    }
    let static_dir = match (&args.static_dir, args.python) {
        (Some(dir), _) => Some(check_dir("--static", dir)?),
        (None, true) => Some(check_dir("--python", Path::new("."))?),
        (None, false) => None,
    };
    let Some(root) = static_dir else {
        return Ok((mounts, None));
    };
    if mounts.iter().any(|m| m.prefix.is_empty()) {
        bail!("--static needs every script folder at a prefix other than /");
    }
    let private = mounts.iter().map(|m| m.root.clone()).collect();
    let files = static_files::Settings {
        root,
        listings: !args.no_listings,
        private,
    };
    Ok((mounts, Some(files)))
}

/// The (option, prefix, folder) of each script folder asked for.
fn wanted(args: &Args) -> anyhow::Result<Vec<(&'static str, String, PathBuf)>> {
    let mut wanted = Vec::new();
    if let Some(root) = &args.root {
        wanted.push(("--root", args.prefix.clone(), root.clone()));
    }
    for (prefix, dir) in &args.mounts {
        wanted.push(("--mount", prefix.clone(), dir.clone()));
    }
    if args.python {
        for name in PYTHON_SCRIPT_FOLDERS {
            if Path::new(name).is_dir() {
                wanted.push(("--python", format!("/{name}"), PathBuf::from(name)));
            }
        }
    } else if wanted.is_empty() && args.static_dir.is_none() {
        if !Path::new(DEFAULT_ROOT).is_dir() {
            bail!(no_default_root());
        }
        wanted.push(("--root", args.prefix.clone(), PathBuf::from(DEFAULT_ROOT)));
    }
    Ok(wanted)
}

/// What to do when `rcgi` alone finds no `./cgi-bin`.
fn no_default_root() -> String {
    let here = std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string());
    format!(
        "no ./{DEFAULT_ROOT} folder in {here} to serve. Either:\n  \
         mkdir {DEFAULT_ROOT}       and put your scripts in it, then run rcgi again;\n  \
         rcgi --root DIR    to serve the scripts of another folder;\n  \
         rcgi --python      to serve this folder as python -m http.server --cgi does.\n\
         (rcgi --help lists every option.)"
    )
}

/// "" is shown as "/".
fn shown(prefix: &str) -> &str {
    if prefix.is_empty() { "/" } else { prefix }
}

/// The canonical path of a folder named on the command line.
fn check_dir(option: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("{option} {}", dir.display()))?;
    if !canonical.is_dir() {
        bail!("{option} {}: not a directory", dir.display());
    }
    Ok(canonical)
}

/// `--handler .php=php-cgi`: the program found in rcgi's PATH now, so a
/// typo fails at start rather than at the first request.
fn find_handler(extension: &str, command: &str) -> anyhow::Result<Handler> {
    let mut words = command.split_whitespace();
    let name = words.next().unwrap_or_default();
    let program = if name.contains('/') {
        PathBuf::from(name)
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
            .with_context(|| format!("--handler {extension}={command}: {name} not found in PATH"))?
    };
    if !program.is_file() {
        bail!(
            "--handler {extension}={command}: {} is not a file",
            program.display()
        );
    }
    Ok(Handler {
        extension: extension.to_string(),
        program,
        args: words.map(OsString::from).collect(),
    })
}

/// "/cgi-bin/" -> "/cgi-bin", "/" -> "". The prefix is compared with the
/// raw request path, so it may hold only plain path characters; `/.rcgi`
/// (the request inspector) is no prefix.
fn normalize_prefix(option: &str, prefix: &str) -> anyhow::Result<String> {
    let trimmed = prefix.trim_end_matches('/');
    if !prefix.starts_with('/') {
        bail!("{option} {prefix:?}: a prefix must start with /");
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if !trimmed.chars().all(plain) || trimmed.contains("//") {
        bail!("{option} {prefix:?}: only letters, digits, '-', '.', '_', '~' and single '/'");
    }
    if trimmed.split('/').any(|s| s == "." || s == "..") {
        bail!("{option} {prefix:?}: no '.' or '..' segments");
    }
    if trimmed.split('/').any(|s| s.starts_with('.')) {
        bail!("{option} {prefix:?}: no segment starting with '.' (such URLs are never served)");
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::values::{parse_handler, parse_index_name};
    use super::*;

    #[test]
    fn prefix_is_normalized() {
        let n = |p| normalize_prefix("--prefix", p);
        assert_eq!(n("/cgi-bin").unwrap(), "/cgi-bin");
        assert_eq!(n("/cgi-bin/").unwrap(), "/cgi-bin");
        assert_eq!(n("/").unwrap(), "");
        assert_eq!(n("/a/b").unwrap(), "/a/b");
        assert!(n("cgi-bin").is_err());
        assert!(n("/a/../b").is_err());
        assert!(n("/a b").is_err());
        assert!(n("/a//b").is_err());
        assert!(n("/.rcgi").is_err());
    }

    #[test]
    fn handlers_and_index_names() {
        assert_eq!(
            parse_handler(".php=php-cgi"),
            Ok((".php".into(), "php-cgi".into()))
        );
        assert_eq!(
            parse_handler("pl=perl -T"),
            Ok((".pl".into(), "perl -T".into()))
        );
        assert!(parse_handler(".php").is_err());
        assert!(parse_handler(".=x").is_err());
        assert!(parse_handler(".p/p=x").is_err());
        assert!(parse_handler(".php= ").is_err());
        let sh = find_handler(".sh", "sh -e").unwrap();
        assert!(sh.program.ends_with("sh") && sh.program.is_absolute());
        assert_eq!(sh.args, vec![OsString::from("-e")]);
        assert!(find_handler(".x", "no-such-program-here").is_err());
        assert_eq!(parse_index_name("index.php"), Ok("index.php".into()));
        assert!(parse_index_name("../x").is_err());
        assert!(parse_index_name(".hidden").is_err());
    }
}
