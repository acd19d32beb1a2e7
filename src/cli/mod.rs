//! The command line: clap definitions, checked and turned into the
//! settings types of the parts they configure, gathered in a
//! [`server::Config`]. `cli` owns none of those types.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use crate::auth;
use crate::cgi::{self, env};
use crate::dispatch::{self, ChunkedMode};
use crate::forwarded;
use crate::front::{BodyLimits, http};
use crate::log;
use crate::route::{Handler, Mount};
use crate::server;

mod values;
use values::{
    Trusted, body_size, head_size, parse_duration, parse_env_pair, parse_handler,
    parse_header_name, parse_index_name, parse_realm, parse_trusted_proxy,
};

/// Serve CGI/1.1 scripts over HTTP/1.1, one process per request.
///
/// A request for PREFIX/dir/script/extra?query runs ROOT/dir/script with
/// PATH_INFO=/extra and QUERY_STRING=query. The script's stdout (headers,
/// a blank line, the body) becomes the HTTP response.
#[derive(Parser, Debug)]
#[command(name = "rcgi", version, about, long_about)]
pub struct Args {
    /// Folder holding the scripts; every URL under --prefix maps into it.
    #[arg(long, value_name = "DIR", help_heading = "Serving")]
    pub root: PathBuf,

    /// TCP port to listen on; 0 takes a free port (printed at start).
    #[arg(
        long,
        default_value_t = 8000,
        value_name = "N",
        help_heading = "Serving"
    )]
    pub port: u16,

    /// Address to listen on: IPv4 or IPv6 (e.g. ::1, or :: for all).
    #[arg(
        long,
        default_value = "127.0.0.1",
        value_name = "ADDR",
        help_heading = "Serving"
    )]
    pub bind: IpAddr,

    /// URL path the root is mounted at; "/" mounts it at the top.
    #[arg(
        long,
        default_value = "/cgi-bin",
        value_name = "PATH",
        help_heading = "Serving"
    )]
    pub prefix: String,

    /// Set K=V in every script's environment (repeatable). It wins over a
    /// CGI variable of the same name.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env_pair, help_heading = "Scripts")]
    pub env: Vec<(OsString, OsString)>,

    /// Copy NAME from rcgi's own environment into every script's
    /// (repeatable). Nothing else of rcgi's environment reaches a script
    /// but PATH.
    #[arg(long = "pass-env", value_name = "NAME", help_heading = "Scripts")]
    pub pass_env: Vec<OsString>,

    /// Give scripts the Authorization and Proxy-Authorization headers
    /// (HTTP_AUTHORIZATION, HTTP_PROXY_AUTHORIZATION); hidden by default.
    #[arg(long, help_heading = "Scripts")]
    pub pass_auth: bool,

    /// Run files ending in EXT with PROGRAM (repeatable), e.g.
    /// .php=php-cgi, .py=python3, ".pl=perl -T": such a file needs no
    /// execute bit; PROGRAM (looked up in PATH) gets its path last.
    #[arg(long = "handler", value_name = "EXT=PROGRAM", value_parser = parse_handler, help_heading = "Scripts")]
    pub handlers: Vec<(String, String)>,

    /// Also try NAME (after index.cgi) as the script of a folder URL that
    /// ends in / (repeatable), e.g. index.php.
    #[arg(long = "index", value_name = "NAME", value_parser = parse_index_name, help_heading = "Scripts")]
    pub index: Vec<String>,

    /// Serve the plain files of DIR at / (outside the prefix), so a
    /// site's pages and their forms run together.
    #[arg(long = "static", value_name = "DIR", help_heading = "Serving")]
    pub static_dir: Option<PathBuf>,

    /// How a chunked request body reaches a script: spool (decoded into a
    /// temporary file, CONTENT_LENGTH set) or stream (piped as it comes,
    /// no CONTENT_LENGTH, HTTP_TRANSFER_ENCODING=chunked, as
    /// git-http-backend expects).
    #[arg(long, value_enum, default_value_t = Chunked::Spool, value_name = "MODE", help_heading = "Scripts")]
    pub chunked: Chunked,

    /// Explain script failures on the error page (cause, exit status,
    /// headers received, the end of its stderr) and list the scripts
    /// found at start. For development: it shows clients a script's
    /// stderr.
    #[arg(long, help_heading = "Scripts")]
    pub debug: bool,

    /// Largest request head (request line and header fields); over it: 431.
    #[arg(long, value_name = "SIZE", default_value = "64K", value_parser = head_size, help_heading = "Limits")]
    pub max_head: u64,

    /// Most request header fields; over it: 431.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10_000), help_heading = "Limits")]
    pub max_fields: u16,

    /// Longest request-target (path and query); over it: 414.
    #[arg(long, value_name = "SIZE", default_value = "8K", value_parser = head_size, help_heading = "Limits")]
    pub max_target: u64,

    /// Largest request body, after removing chunked coding; over it: 413.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = body_size, help_heading = "Limits")]
    pub max_body: u64,

    /// Largest header block a script may write; over it: 502.
    #[arg(long, value_name = "SIZE", default_value = "64K", value_parser = head_size, help_heading = "Limits")]
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

    /// Time a request body has from its start before --body-min-rate
    /// applies; a body slower than that gets 408.
    #[arg(long, value_name = "TIME", default_value = "20s", value_parser = parse_duration, help_heading = "Limits")]
    pub body_timeout: Duration,

    /// Bytes per second a request body must average after
    /// --body-timeout (each byte buys 1/RATE s more; time the script
    /// takes no input does not count); 0 for no rate.
    #[arg(long, value_name = "RATE", default_value_t = 500, value_parser = clap::value_parser!(u64).range(0..=1 << 30), help_heading = "Limits")]
    pub body_min_rate: u64,

    /// How long running requests may go on after SIGINT or SIGTERM
    /// before their scripts are stopped.
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = parse_duration, help_heading = "Limits")]
    pub shutdown_grace: Duration,

    /// Scripts running at once; past it a request waits up to 2s (with
    /// at most as many others), then gets 503.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65_536), help_heading = "Limits")]
    pub max_scripts: u32,

    /// Connections served at once; past it new ones get 503 and are closed.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000), help_heading = "Limits")]
    pub max_connections: u32,

    /// Hear what the proxies at these addresses (repeatable: an address,
    /// a network like 10.0.0.0/8, or unix for a Unix socket's peer) say of
    /// the client: its address, https, the host and port it asked for.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_trusted_proxy, help_heading = "Proxy")]
    pub trusted_proxies: Vec<Trusted>,

    /// Which headers a trusted proxy's word is read from: x-forwarded
    /// (X-Forwarded-For, -Proto, -Host, -Port) or forwarded (RFC 7239).
    #[arg(long, value_enum, default_value_t = ProxyHeaders::XForwarded, value_name = "FORM", help_heading = "Proxy")]
    pub proxy_headers: ProxyHeaders,

    /// Take REMOTE_USER from this header when a trusted proxy sends it
    /// (e.g. X-Remote-User); it is removed from every request's HTTP_*
    /// variables.
    #[arg(long, value_name = "NAME", value_parser = parse_header_name, requires = "trusted_proxies", help_heading = "Proxy")]
    pub remote_user_header: Option<String>,

    /// Require HTTP Basic authentication by the users of this htpasswd
    /// file (bcrypt, SHA-256/512-crypt, $apr1$ MD5 or {SHA}) for every
    /// request, or for the --auth-path ones; scripts get REMOTE_USER.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "remote_user_header",
        help_heading = "Authentication"
    )]
    pub auth_file: Option<PathBuf>,

    /// The realm a browser shows when it asks for a password.
    #[arg(long, value_name = "TEXT", default_value = "rcgi", value_parser = parse_realm, requires = "auth_file", help_heading = "Authentication")]
    pub auth_realm: String,

    /// Protect only this URL path and what is under it (repeatable), e.g.
    /// /cgi-bin/admin; without it, every request is protected.
    #[arg(long = "auth-path", value_name = "PATH", value_parser = auth::path_segments, requires = "auth_file", help_heading = "Authentication")]
    pub auth_paths: Vec<Vec<Vec<u8>>>,

    /// Where the access log goes: a file (opened for appending, and
    /// again on SIGHUP), or - for stdout.
    #[arg(long, value_name = "FILE", default_value = "-", help_heading = "Logs")]
    pub access_log: PathBuf,

    /// The access log's format: common (CLF and the duration), combined
    /// (Apache's), or json (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Common, value_name = "FORMAT", help_heading = "Logs")]
    pub log_format: LogFormat,

    /// Keep only warnings and errors in the error log (stderr): a
    /// script's normal end, for one, is not logged.
    #[arg(long, help_heading = "Logs")]
    pub quiet: bool,
}

/// `--proxy-headers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyHeaders {
    /// X-Forwarded-For, X-Forwarded-Proto, -Host and -Port.
    XForwarded,
    /// Forwarded (RFC 7239).
    Forwarded,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// The Common Log Format, with the duration appended.
    Common,
    /// Apache's combined format: CLF, then Referer and User-Agent.
    Combined,
    /// One JSON object per line.
    Json,
}

/// `--chunked`: how a chunked request body reaches a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Chunked {
    /// Decoded into a temporary file; the script gets CONTENT_LENGTH.
    Spool,
    /// Decoded as it comes into the script's stdin, without
    /// CONTENT_LENGTH; the script reads to end-of-file.
    Stream,
}

/// PATH for scripts when rcgi itself has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Checks the arguments and builds what the server runs with.
pub fn config(args: Args) -> anyhow::Result<server::Config> {
    let prefix = normalize_prefix(&args.prefix)?;
    let static_root = match &args.static_dir {
        Some(_) if prefix.is_empty() => bail!("--static needs a --prefix other than /"),
        Some(dir) => Some(check_dir("--static", dir)?),
        None => None,
    };
    let site = dispatch::Settings {
        mount: mount(&args, prefix)?,
        static_root,
        chunked: match args.chunked {
            Chunked::Spool => ChunkedMode::Spool,
            Chunked::Stream => ChunkedMode::Stream,
        },
        debug: args.debug,
        env: env_settings(&args),
        script: cgi::Limits {
            head_bytes: size(args.max_script_head),
            timeout: args.timeout,
        },
        max_scripts: args.max_scripts as usize,
        auth: auth_settings(&args)?,
    };
    Ok(server::Config {
        addr: SocketAddr::new(args.bind, args.port),
        max_connections: args.max_connections as usize,
        shutdown_grace: args.shutdown_grace,
        http: http_limits(&args),
        proxy: proxy_settings(&args),
        log: log_settings(&args),
        site,
    })
}

fn auth_settings(args: &Args) -> anyhow::Result<Option<auth::Settings>> {
    let Some(file) = &args.auth_file else {
        return Ok(None);
    };
    Ok(Some(auth::Settings {
        users: auth::htpasswd::Users::load(file)?,
        realm: args.auth_realm.clone(),
        paths: args.auth_paths.clone(),
    }))
}

fn proxy_settings(args: &Args) -> forwarded::Settings {
    let mut trusted = Vec::new();
    let mut trust_unix = false;
    for proxy in &args.trusted_proxies {
        match proxy {
            Trusted::Net(net) => trusted.push(*net),
            Trusted::Unix => trust_unix = true,
        }
    }
    forwarded::Settings {
        trusted,
        trust_unix,
        form: match args.proxy_headers {
            ProxyHeaders::XForwarded => forwarded::Form::XForwarded,
            ProxyHeaders::Forwarded => forwarded::Form::Forwarded,
        },
        user_header: args.remote_user_header.clone(),
    }
}

fn log_settings(args: &Args) -> log::Settings {
    log::Settings {
        access_log: (args.access_log.as_os_str() != "-").then(|| args.access_log.clone()),
        format: match args.log_format {
            LogFormat::Common => log::Format::Common,
            LogFormat::Combined => log::Format::Combined,
            LogFormat::Json => log::Format::Json,
        },
        quiet: args.quiet,
    }
}

fn size(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn http_limits(args: &Args) -> http::Limits {
    http::Limits {
        head_bytes: size(args.max_head),
        head_fields: usize::from(args.max_fields),
        target_bytes: size(args.max_target),
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        body: BodyLimits {
            max: args.max_body,
            timeout: args.body_timeout,
            min_rate: args.body_min_rate,
        },
    }
}

/// The script root, its URL prefix, its handlers and index names.
fn mount(args: &Args, prefix: String) -> anyhow::Result<Mount> {
    let handlers = args
        .handlers
        .iter()
        .map(|(ext, program)| find_handler(ext, program))
        .collect::<anyhow::Result<_>>()?;
    let mut index = vec!["index.cgi".to_string()];
    index.extend(args.index.iter().filter(|n| *n != "index.cgi").cloned());
    Ok(Mount {
        root: check_root(&args.root)?,
        prefix,
        handlers,
        index,
    })
}

/// The operator's part of every script's environment: PATH, then
/// --pass-env, then --env.
fn env_settings(args: &Args) -> env::Settings {
    let mut operator = vec![(
        OsString::from("PATH"),
        std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
    )];
    for name in &args.pass_env {
        if let Some(value) = std::env::var_os(name) {
            operator.push((name.clone(), value));
        }
    }
    operator.extend(args.env.iter().cloned());
    env::Settings {
        operator,
        pass_auth: args.pass_auth,
    }
}

fn check_root(root: &Path) -> anyhow::Result<PathBuf> {
    check_dir("--root", root)
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
    fn defaults_match_the_settings_types_defaults() {
        let args = Args::try_parse_from(["rcgi", "--root", "/"]).unwrap();
        let config = config(args).unwrap();
        assert_eq!(config.http, http::Limits::default());
        assert_eq!(config.site.script, cgi::Limits::default());
        assert_eq!(config.site.chunked, ChunkedMode::default());
        assert_eq!(
            (config.site.max_scripts, config.max_connections),
            (512, 1024)
        );
        assert_eq!(config.shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.log, log::Settings::default());
        assert_eq!(config.proxy, forwarded::Settings::default());
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
