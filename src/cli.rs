//! The command line: clap definitions, checked and turned into the
//! [`Config`] every other part of the server reads.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

/// Serve CGI/1.1 scripts over HTTP/1.1, one process per request.
///
/// A request for PREFIX/dir/script/extra?query runs ROOT/dir/script with
/// PATH_INFO=/extra and QUERY_STRING=query. The script's stdout (headers,
/// a blank line, the body) becomes the HTTP response.
#[derive(Parser, Debug)]
#[command(name = "rcgi", version, about, long_about)]
pub struct Args {
    /// Folder holding the scripts; every URL under --prefix maps into it.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    /// TCP port to listen on; 0 takes a free port (printed at start).
    #[arg(long, default_value_t = 8000, value_name = "N")]
    pub port: u16,

    /// Address to listen on: IPv4 or IPv6 (e.g. ::1, or :: for all).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: IpAddr,

    /// URL path the root is mounted at; "/" mounts it at the top.
    #[arg(long, default_value = "/cgi-bin", value_name = "PATH")]
    pub prefix: String,

    /// Set K=V in every script's environment (repeatable). It wins over a
    /// CGI variable of the same name.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env_pair)]
    pub env: Vec<(OsString, OsString)>,

    /// Copy NAME from rcgi's own environment into every script's
    /// (repeatable). Nothing else of rcgi's environment reaches a script
    /// but PATH.
    #[arg(long = "pass-env", value_name = "NAME")]
    pub pass_env: Vec<OsString>,

    /// Give scripts the Authorization and Proxy-Authorization headers
    /// (HTTP_AUTHORIZATION, HTTP_PROXY_AUTHORIZATION); hidden by default.
    #[arg(long)]
    pub pass_auth: bool,
}

/// Bounds on everything a client or a script controls.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request line plus header fields, in bytes.
    pub head_bytes: usize,
    /// Number of request header fields.
    pub head_fields: usize,
    /// Request-target length, in bytes.
    pub target_bytes: usize,
    /// A script's header block, in bytes.
    pub script_head_bytes: usize,
    /// A request body, in bytes (after removing chunked coding).
    pub max_body: u64,
    /// A script's wall-clock run.
    pub script_timeout: Duration,
    /// The whole request head, from its first byte.
    pub header_timeout: Duration,
    /// Waiting for the next request on a kept-alive connection, and any
    /// stall of a client mid-request (body bytes, or reading the response).
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Scripts running at once.
    pub max_scripts: usize,
    /// Local redirects followed for one request.
    pub redirect_hops: usize,
    /// How long running requests may go on after SIGINT or SIGTERM.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_bytes: 64 * 1024,
            head_fields: 100,
            target_bytes: 8 * 1024,
            script_head_bytes: 64 * 1024,
            max_body: 1 << 30,
            script_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            max_connections: 1024,
            max_scripts: 512,
            redirect_hops: 10,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Everything the server needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The script root, canonical (absolute, no symlinks).
    pub root: PathBuf,
    pub addr: SocketAddr,
    /// The URL prefix without a trailing slash: "" when mounted at "/".
    pub prefix: String,
    /// The operator's part of every script's environment: PATH, then
    /// --pass-env, then --env.
    pub env: Vec<(OsString, OsString)>,
    pub pass_auth: bool,
    pub limits: Limits,
}

/// PATH for scripts when rcgi itself has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

impl Config {
    pub fn from_args(args: Args) -> anyhow::Result<Config> {
        let root = check_root(&args.root)?;
        let prefix = normalize_prefix(&args.prefix)?;
        let mut env = vec![(
            OsString::from("PATH"),
            std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
        )];
        for name in &args.pass_env {
            if let Some(value) = std::env::var_os(name) {
                env.push((name.clone(), value));
            }
        }
        env.extend(args.env);
        Ok(Config {
            root,
            addr: SocketAddr::new(args.bind, args.port),
            prefix,
            env,
            pass_auth: args.pass_auth,
            limits: Limits::default(),
        })
    }
}

fn check_root(root: &std::path::Path) -> anyhow::Result<PathBuf> {
    let canonical = root
        .canonicalize()
        .with_context(|| format!("--root {}", root.display()))?;
    if !canonical.is_dir() {
        bail!("--root {}: not a directory", root.display());
    }
    Ok(canonical)
}

/// "/cgi-bin/" -> "/cgi-bin", "/" -> "". The prefix is compared with the
/// raw request path, so it may hold only plain path characters.
fn normalize_prefix(prefix: &str) -> anyhow::Result<String> {
    let trimmed = prefix.trim_end_matches('/');
    if !prefix.starts_with('/') {
        bail!("--prefix {prefix:?}: must start with /");
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if !trimmed.chars().all(plain) || trimmed.contains("//") {
        bail!("--prefix {prefix:?}: only letters, digits, '-', '.', '_', '~' and single '/'");
    }
    if trimmed.split('/').any(|s| s == "." || s == "..") {
        bail!("--prefix {prefix:?}: no '.' or '..' segments");
    }
    Ok(trimmed.to_string())
}

fn parse_env_pair(s: &str) -> Result<(OsString, OsString), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!("{s:?} is not K=V with a non-empty K")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_normalized() {
        assert_eq!(normalize_prefix("/cgi-bin").unwrap(), "/cgi-bin");
        assert_eq!(normalize_prefix("/cgi-bin/").unwrap(), "/cgi-bin");
        assert_eq!(normalize_prefix("/").unwrap(), "");
        assert_eq!(normalize_prefix("/a/b").unwrap(), "/a/b");
        assert!(normalize_prefix("cgi-bin").is_err());
        assert!(normalize_prefix("/a/../b").is_err());
        assert!(normalize_prefix("/a b").is_err());
        assert!(normalize_prefix("/a//b").is_err());
    }

    #[test]
    fn env_pairs_need_a_name() {
        assert_eq!(parse_env_pair("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(parse_env_pair("=x").is_err());
        assert!(parse_env_pair("novalue").is_err());
    }
}
