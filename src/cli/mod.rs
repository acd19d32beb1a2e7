//! The command line: clap definitions, checked and turned into the
//! settings types of the parts they configure, gathered in a
//! [`server::Config`]. `cli` owns none of those types.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::auth;
use crate::cgi::{self, env};
use crate::dispatch::{self, ChunkedMode};
use crate::forwarded;
use crate::front::{BodyLimits, http};
use crate::log;
use crate::server::{self, listen};

mod custody;
pub mod docs;
mod serving;
mod site;
mod values;
use values::{
    DEFAULT_PATH, Trusted, body_size, cpu_time, head_size, limit_size, parse_duration,
    parse_env_pair, parse_handler, parse_header_name, parse_index_name, parse_mode, parse_mount,
    parse_realm, parse_trusted_proxy,
};

/// Serve CGI/1.1 scripts over HTTP/1.1, one process per request.
///
/// A request for PREFIX/dir/script/extra?query runs DIR/dir/script with
/// PATH_INFO=/extra and QUERY_STRING=query. The script's stdout (headers,
/// a blank line, the body) becomes the HTTP response.
#[derive(Parser, Debug)]
#[command(name = "rcgi", version, about, long_about, after_help = EXAMPLES, max_term_width = 100)]
pub struct Args {
    /// Folder of scripts, served at --prefix [default: ./cgi-bin, when
    /// no --mount, --python or --static is given].
    #[arg(long, value_name = "DIR", help_heading = "Serving")]
    pub root: Option<PathBuf>,

    /// URL path --root is served at; "/" serves it at the top.
    #[arg(
        long,
        default_value = "/cgi-bin",
        value_name = "PATH",
        help_heading = "Serving"
    )]
    pub prefix: String,

    /// Also serve the scripts of DIR at PREFIX (repeatable), e.g.
    /// --mount /htbin=./htbin; the longest prefix a URL falls under wins.
    #[arg(long = "mount", value_name = "PREFIX=DIR", value_parser = parse_mount, help_heading = "Serving")]
    pub mounts: Vec<(String, PathBuf)>,

    /// Serve the plain files of DIR at / (outside the script folders),
    /// so a site's pages and their forms run together.
    #[arg(long = "static", value_name = "DIR", help_heading = "Serving")]
    pub static_dir: Option<PathBuf>,

    /// Do not list static folders that have no index.html (403 instead).
    #[arg(long, help_heading = "Serving")]
    pub no_listings: bool,

    /// Serve this folder as python -m http.server --cgi does: its files
    /// at / with listings, ./cgi-bin and ./htbin (those present) as script
    /// folders.
    #[arg(long, conflicts_with_all = ["root", "prefix", "static_dir"], help_heading = "Serving")]
    pub python: bool,

    /// TCP port to listen on; 0 takes a free port (printed at start).
    #[arg(
        short,
        long,
        default_value_t = 8000,
        value_name = "N",
        help_heading = "Serving"
    )]
    pub port: u16,

    /// Address to listen on: IPv4, IPv6 (::1, or :: for all) or a host
    /// name such as localhost (its first address, IPv4 first).
    #[arg(
        long,
        default_value = "127.0.0.1",
        value_name = "ADDR",
        help_heading = "Serving"
    )]
    pub bind: String,

    /// Listen on ADDR instead of --bind and --port (repeatable):
    /// IP:PORT, [IPV6]:PORT, or unix:/path/to.sock. Sockets passed by
    /// systemd (LISTEN_FDS) are served instead of any of these.
    #[arg(long = "listen", value_name = "ADDR", value_parser = listen::Address::parse, conflicts_with_all = ["port", "bind"], help_heading = "Serving")]
    pub listen: Vec<listen::Address>,

    /// Serve FastCGI on ADDR (repeatable): IP:PORT, [IPV6]:PORT, or
    /// unix:/path/to.sock, for a web server's fastcgi_pass (as to
    /// fcgiwrap). With --fastcgi, HTTP is served only on --listen
    /// addresses.
    #[arg(long = "fastcgi", value_name = "ADDR", value_parser = listen::Address::parse, help_heading = "Serving")]
    pub fastcgi: Vec<listen::Address>,

    /// Permission bits of a Unix socket rcgi makes (--listen or --fastcgi
    /// unix:...).
    #[arg(long, value_name = "MODE", default_value = "0660", value_parser = parse_mode, help_heading = "Serving")]
    pub socket_mode: u32,

    /// Group of a Unix socket rcgi makes, e.g. www-data (a name or a gid).
    #[arg(long, value_name = "GROUP", help_heading = "Serving")]
    pub socket_group: Option<String>,

    /// Set SO_REUSEPORT on TCP listeners, so that a new rcgi can bind the
    /// same address beside a running one (a restart without downtime).
    #[arg(long, help_heading = "Serving")]
    pub reuse_port: bool,

    /// Serve rcgi's status pages at PATH (e.g. /server-status): HTML,
    /// PATH?format=json, PATH/metrics (Prometheus), PATH/health (200, or
    /// 503 once draining). Off by default.
    #[arg(long, value_name = "PATH", help_heading = "Serving")]
    pub status: Option<String>,

    /// Who may see the status pages (repeatable): a network (10.0.0.0/8),
    /// an address, or unix (Unix-socket clients). Default: 127.0.0.0/8,
    /// ::1 and unix.
    #[arg(long, value_name = "CIDR", value_parser = parse_trusted_proxy, help_heading = "Serving")]
    pub status_allow: Vec<Trusted>,

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

    /// How a chunked request body reaches a script: spool (decoded into a
    /// temporary file, CONTENT_LENGTH set) or stream (piped as it comes,
    /// no CONTENT_LENGTH, HTTP_TRANSFER_ENCODING=chunked, as
    /// git-http-backend expects).
    #[arg(long, value_enum, default_value_t = Chunked::Spool, value_name = "MODE", help_heading = "Scripts")]
    pub chunked: Chunked,

    /// For development: explain script failures on their error pages,
    /// list script folders without an index script, list the scripts
    /// found at start, and keep the last 100 requests in the request
    /// inspector at /.rcgi/. It shows clients what scripts print on
    /// stderr and the environment they get.
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

    /// Time a connection may wait for its first or next request, and a
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

    /// Each script's CPU time (RLIMIT_CPU, whole seconds): past it the
    /// script gets SIGXCPU, a second later SIGKILL [default: off].
    #[arg(long, value_name = "TIME", value_parser = cpu_time, help_heading = "Script limits")]
    pub limit_cpu: Option<Duration>,

    /// Each script's address space (RLIMIT_AS): past it, its
    /// allocations fail [default: off].
    #[arg(long, value_name = "SIZE", value_parser = limit_size, help_heading = "Script limits")]
    pub limit_memory: Option<u64>,

    /// Processes the scripts' user may have (RLIMIT_NPROC: all of the
    /// user's, rcgi's own threads included when scripts run as rcgi's
    /// user): past it, fork fails [default: off].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000), help_heading = "Script limits")]
    pub limit_procs: Option<u64>,

    /// Descriptors each script may open (RLIMIT_NOFILE) [default: off:
    /// the limit rcgi was started with].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(3..=1 << 30), help_heading = "Script limits")]
    pub limit_files: Option<u64>,

    /// The largest file a script may write (RLIMIT_FSIZE): past it,
    /// SIGXFSZ [default: off].
    #[arg(long, value_name = "SIZE", value_parser = limit_size, help_heading = "Script limits")]
    pub limit_fsize: Option<u64>,

    /// The scripts' umask (octal).
    #[arg(long, value_name = "MODE", default_value = "022", value_parser = parse_mode, help_heading = "Script limits")]
    pub umask: u32,

    /// Connections served at once; past it new ones get 503 and are closed.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000), help_heading = "Limits")]
    pub max_connections: u32,

    #[command(flatten)]
    pub custody: custody::CustodyArgs,

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

    /// Run rcgi and its scripts as NAME, with its groups: rcgi binds its
    /// sockets and opens its files first. Started as root without it,
    /// rcgi runs as nobody; --user root keeps root.
    #[arg(long, value_name = "NAME", help_heading = "Identity")]
    pub user: Option<String>,

    /// Run as GROUP instead of --user's primary group.
    #[arg(long, value_name = "GROUP", help_heading = "Identity")]
    pub group: Option<String>,

    /// Run scripts that others than their owner may write, or that lie in
    /// a world-writable folder (refused with 403 by default), for local
    /// development.
    #[arg(long, help_heading = "Identity")]
    pub allow_writable: bool,

    /// Print the shell completions for SHELL (bash, zsh, fish, elvish,
    /// powershell) and exit.
    #[arg(long, value_name = "SHELL", help_heading = "Setup")]
    pub completions: Option<clap_complete::Shell>,

    /// Print rcgi's manual page (roff, for man -l -) and exit.
    #[arg(long, help_heading = "Setup")]
    pub man: bool,
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

/// The examples at the end of --help.
const EXAMPLES: &str = "\
Examples:
  rcgi
      serve ./cgi-bin at http://127.0.0.1:8000/cgi-bin/
  rcgi --python
      serve this folder as python -m http.server --cgi does
  rcgi --root ./scripts -p 9000 --debug
      another folder and port; failures explained, requests at /.rcgi/
  rcgi --static ./www --mount /cgi-bin=./cgi-bin --mount /htbin=./htbin
      a site's pages and two script folders
  rcgi --handler .php=php-cgi --index index.php
      PHP files, without an execute bit
  rcgi --man | man -l -
      the manual page";

/// `--chunked`: how a chunked request body reaches a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Chunked {
    /// Decoded into a temporary file; the script gets CONTENT_LENGTH.
    Spool,
    /// Decoded as it comes into the script's stdin, without
    /// CONTENT_LENGTH; the script reads to end-of-file.
    Stream,
}

/// Checks the arguments and builds what the server runs with.
pub fn config(args: Args) -> anyhow::Result<server::Config> {
    let (mounts, static_files) = site::folders(&args)?;
    let mounts_prefixes: Vec<String> = mounts.iter().map(|m| m.prefix.clone()).collect();
    let (addr, bind_name) = values::resolve_bind(&args.bind, args.port)?;
    let site = dispatch::Settings {
        mounts,
        static_files,
        chunked: match args.chunked {
            Chunked::Spool => ChunkedMode::Spool,
            Chunked::Stream => ChunkedMode::Stream,
        },
        debug: args.debug,
        env: env_settings(&args),
        script: cgi::Limits {
            head_bytes: size(args.max_script_head),
            timeout: args.timeout,
            process: cgi::spawn::Settings {
                rlimits: cgi::spawn::Rlimits {
                    cpu: args.limit_cpu,
                    memory: args.limit_memory,
                    procs: args.limit_procs,
                    files: args.limit_files,
                    fsize: args.limit_fsize,
                },
                umask: args.umask,
            },
        },
        max_scripts: args.max_scripts as usize,
        auth: auth_settings(&args)?,
        status: serving::status(&args, &mounts_prefixes)?,
    };
    let (listen, sockets) = serving::listeners(&args, addr)?;
    Ok(server::Config {
        listen,
        fastcgi: args.fastcgi.clone(),
        sockets,
        bind_name,
        max_connections: args.max_connections as usize,
        shutdown_grace: args.shutdown_grace,
        custody: args.custody.settings(),
        http: http_limits(&args),
        proxy: proxy_settings(&args),
        log: log_settings(&args),
        identity: server::identity::Settings {
            user: args.user.clone(),
            group: args.group.clone(),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(config.custody, cgi::custody::Settings::default());
        assert_eq!(config.log, log::Settings::default());
        assert_eq!(config.proxy, forwarded::Settings::default());
        assert_eq!(config.identity, server::identity::Settings::default());
    }
}
