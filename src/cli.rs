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

    /// Largest request head (request line and header fields); over it: 431.
    #[arg(long, value_name = "SIZE", default_value = "64K", value_parser = parse_size, help_heading = "Limits")]
    pub max_head: u64,

    /// Most request header fields; over it: 431.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..), help_heading = "Limits")]
    pub max_fields: u16,

    /// Longest request-target (path and query); over it: 414.
    #[arg(long, value_name = "SIZE", default_value = "8K", value_parser = parse_size, help_heading = "Limits")]
    pub max_target: u64,

    /// Largest request body, after removing chunked coding; over it: 413.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size, help_heading = "Limits")]
    pub max_body: u64,

    /// Largest header block a script may write; over it: 502.
    #[arg(long, value_name = "SIZE", default_value = "64K", value_parser = parse_size, help_heading = "Limits")]
    pub max_script_head: u64,

    /// Time for a whole request head, from its first byte; over it: 408.
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = parse_duration, help_heading = "Limits")]
    pub header_timeout: Duration,

    /// Time a kept-alive connection may wait for its next request, and a
    /// client may stall mid-request (sending its body, or reading).
    #[arg(long, value_name = "TIME", default_value = "15s", value_parser = parse_duration, help_heading = "Limits")]
    pub idle_timeout: Duration,

    /// Wall-clock time a script may run; over it the script is stopped and
    /// the client gets 504, or a cut response if its body had begun.
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = parse_duration, help_heading = "Limits")]
    pub timeout: Duration,

    /// Scripts running at once; past it a request waits up to 2s (with
    /// at most as many others), then gets 503.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Limits")]
    pub max_scripts: u32,

    /// Connections served at once; past it new ones get 503 and are closed.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Limits")]
    pub max_connections: u32,
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
    /// The defaults of the command line.
    fn default() -> Self {
        let args = Args::try_parse_from(["rcgi", "--root", "/"]).expect("defaults parse");
        Limits::from_args(&args)
    }
}

impl Limits {
    fn from_args(args: &Args) -> Limits {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            head_bytes: size(args.max_head),
            head_fields: usize::from(args.max_fields),
            target_bytes: size(args.max_target),
            script_head_bytes: size(args.max_script_head),
            max_body: args.max_body,
            script_timeout: args.timeout,
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
            max_connections: args.max_connections as usize,
            max_scripts: args.max_scripts as usize,
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
        let limits = Limits::from_args(&args);
        env.extend(args.env);
        Ok(Config {
            root,
            addr: SocketAddr::new(args.bind, args.port),
            prefix,
            env,
            pass_auth: args.pass_auth,
            limits,
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

/// `65536`, `64K`, `10M`, `1G` (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => {
            return Err(format!(
                "{s:?}: a size is a number with an optional K, M or G"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?}: a size is a number with an optional K, M or G"))?;
    n.checked_mul(1 << shift)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?}: out of range"))
}

/// `10s`, `500ms`, `2m`, or a number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?}: a time is a number with ms, s or m (seconds if none)");
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(format!("{s:?}: must be more than zero"));
    }
    Ok(d)
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
    fn sizes_and_durations() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("99999999999G").is_err());
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn defaults_match_the_documented_limits() {
        let l = Limits::default();
        assert_eq!(
            (l.head_bytes, l.head_fields, l.target_bytes),
            (65536, 100, 8192)
        );
        assert_eq!((l.max_body, l.script_head_bytes), (1 << 30, 65536));
        assert_eq!(l.script_timeout, Duration::from_secs(60));
        assert_eq!((l.max_scripts, l.max_connections), (512, 1024));
    }

    #[test]
    fn env_pairs_need_a_name() {
        assert_eq!(parse_env_pair("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(parse_env_pair("=x").is_err());
        assert!(parse_env_pair("novalue").is_err());
    }
}
