//! The values the command line takes, parsed and checked: sizes (`64K`),
//! times (`10s`), `K=V` pairs, `EXT=PROGRAM` handlers, `PREFIX=DIR`
//! mounts, index names, and the address to bind (an IP address or a host
//! name, resolved).

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::cidr::Cidr;
use anyhow::{Context, bail};

/// PATH for scripts (and for finding handlers) when rcgi itself has none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The largest time any option takes: nothing rcgi waits for should
/// take longer, and every deadline stays far from overflow.
pub const MAX_TIME: Duration = Duration::from_secs(24 * 3600);
/// The largest head bound (request head, request-target, a script's
/// header block): a connection may buffer that much.
pub const MAX_HEAD_SIZE: u64 = 1 << 20;
/// The largest request body bound.
pub const MAX_BODY_SIZE: u64 = 1 << 40;

/// A head bound: a size of at most [`MAX_HEAD_SIZE`].
pub fn head_size(s: &str) -> Result<u64, String> {
    size_up_to(s, MAX_HEAD_SIZE, "1M")
}

/// A body bound: a size of at most [`MAX_BODY_SIZE`].
pub fn body_size(s: &str) -> Result<u64, String> {
    size_up_to(s, MAX_BODY_SIZE, "1T")
}

/// A per-script size limit: at most [`MAX_BODY_SIZE`].
pub fn limit_size(s: &str) -> Result<u64, String> {
    size_up_to(s, MAX_BODY_SIZE, "1T")
}

/// `--limit-cpu`: a time of at least a second, rounded up to whole
/// seconds (RLIMIT_CPU counts seconds).
pub fn cpu_time(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Ok(Duration::from_secs(secs.max(1)))
}

fn size_up_to(s: &str, max: u64, shown: &str) -> Result<u64, String> {
    let n = parse_size(s)?;
    if n > max {
        return Err(format!("{s:?}: at most {shown}"));
    }
    Ok(n)
}

/// `65536`, `64K`, `10M`, `1G`, `1T` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => {
            return Err(format!(
                "{s:?}: a size is a number with an optional K, M, G or T"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?}: a size is a number with an optional K, M, G or T"))?;
    n.checked_mul(1 << shift)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?}: out of range"))
}

/// `10s`, `500ms`, `2m`, `1h`, or a number of seconds; more than zero
/// and at most [`MAX_TIME`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?}: a time is a number with ms, s, m or h (seconds if none)");
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad()),
    };
    let too_long = || format!("{s:?}: at most 24h");
    let millis = n.checked_mul(millis_per_unit).ok_or_else(too_long)?;
    let d = Duration::from_millis(millis);
    if d.is_zero() {
        return Err(format!("{s:?}: must be more than zero"));
    }
    if d > MAX_TIME {
        return Err(too_long());
    }
    Ok(d)
}

/// `.php=php-cgi` (or `php=php-cgi`) into (".php", "php-cgi").
pub fn parse_handler(s: &str) -> Result<(String, String), String> {
    let (ext, program) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not EXT=PROGRAM"))?;
    let ext = format!(".{}", ext.trim_start_matches('.'));
    let plain = ext[1..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ext.len() < 2 || !plain {
        return Err(format!(
            "{s:?}: the extension must be letters and digits, like .php"
        ));
    }
    if program.trim().is_empty() {
        return Err(format!("{s:?}: no program"));
    }
    Ok((ext, program.trim().to_string()))
}

/// An index name is a plain file name.
pub fn parse_index_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.starts_with('.') || s.contains('/') {
        return Err(format!(
            "{s:?}: an index is a plain file name, like index.php"
        ));
    }
    Ok(s.to_string())
}

/// A file mode in octal (`0660`, `660`), at most `0777`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|&m| m <= 0o777)
        .ok_or_else(|| format!("{s:?}: a mode is octal, from 0 to 0777, like 0660"))
}

/// A `--trusted-proxy`: a network, or the peers of Unix sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trusted {
    Net(Cidr),
    Unix,
}

/// `10.0.0.0/8`, `::1`, or `unix`.
pub fn parse_trusted_proxy(s: &str) -> Result<Trusted, String> {
    if s == "unix" {
        return Ok(Trusted::Unix);
    }
    s.parse().map(Trusted::Net)
}

/// A header field name (RFC 9110 token), e.g. `X-Remote-User`.
pub fn parse_header_name(s: &str) -> Result<String, String> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if s.is_empty() || !s.bytes().all(tchar) {
        return Err(format!("{s:?} is not a header field name"));
    }
    Ok(s.to_string())
}

/// The longest `--auth-realm`.
const MAX_REALM: usize = 200;

/// A realm: text that goes in a quoted string as it is.
pub fn parse_realm(s: &str) -> Result<String, String> {
    let plain = s.chars().all(|c| !c.is_control() && c != '"' && c != '\\');
    if s.is_empty() || s.len() > MAX_REALM || !plain {
        return Err(format!(
            "{s:?}: a realm is 1 to {MAX_REALM} bytes of text without quotes, backslashes or control characters"
        ));
    }
    Ok(s.to_string())
}

pub fn parse_env_pair(s: &str) -> Result<(OsString, OsString), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!("{s:?} is not K=V with a non-empty K")),
    }
}

/// `/htbin=./htbin`: a URL prefix and a folder (checked later).
pub fn parse_mount(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((prefix, dir)) if !dir.is_empty() => Ok((prefix.to_string(), PathBuf::from(dir))),
        _ => Err(format!("{s:?}: a mount is PREFIX=DIR, e.g. /htbin=./htbin")),
    }
}

/// The address `--bind` names with `port`: an IP address as it is, or a
/// host name resolved now (its first IPv4 address, else its first), with
/// the name when it was one.
pub fn resolve_bind(bind: &str, port: u16) -> anyhow::Result<(SocketAddr, Option<String>)> {
    let literal = bind
        .strip_prefix('[')
        .and_then(|b| b.strip_suffix(']'))
        .unwrap_or(bind);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok((SocketAddr::new(ip, port), None));
    }
    let name_chars = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if bind.is_empty() || !bind.chars().all(name_chars) {
        bail!("--bind {bind:?}: an IP address (127.0.0.1, ::1) or a host name (localhost)");
    }
    let found: Vec<SocketAddr> = (bind, port)
        .to_socket_addrs()
        .with_context(|| format!("--bind {bind}: cannot resolve it"))?
        .collect();
    let chosen = found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .with_context(|| format!("--bind {bind}: it has no address"))?;
    Ok((chosen, Some(bind.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert!(parse_size("0").is_err());
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert!(parse_size("1P").is_err());
        assert!(head_size("2M").is_err());
        assert_eq!(head_size("1M"), Ok(1 << 20));
        assert!(body_size("2T").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("99999999999G").is_err());
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("18446744073709551615s").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("755"), Ok(0o755));
        assert!(parse_mode("0888").is_err());
        assert!(parse_mode("1777").is_err());
        assert!(parse_mode("rw").is_err());
    }

    #[test]
    fn trusted_proxies_and_header_names() {
        assert_eq!(parse_trusted_proxy("unix"), Ok(Trusted::Unix));
        assert!(matches!(
            parse_trusted_proxy("10.0.0.0/8"),
            Ok(Trusted::Net(_))
        ));
        assert!(parse_trusted_proxy("10.0.0.0/99").is_err());
        assert!(parse_trusted_proxy("localhost").is_err());
        assert_eq!(
            parse_header_name("X-Remote-User"),
            Ok("X-Remote-User".into())
        );
        assert!(parse_header_name("X Remote").is_err());
        assert!(parse_header_name("").is_err());
    }

    #[test]
    fn env_pairs_need_a_name() {
        assert_eq!(parse_env_pair("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(parse_env_pair("=x").is_err());
        assert!(parse_env_pair("novalue").is_err());
    }

    #[test]
    fn mounts_and_bind_addresses() {
        assert_eq!(
            parse_mount("/htbin=./htbin"),
            Ok(("/htbin".into(), PathBuf::from("./htbin")))
        );
        assert!(parse_mount("/htbin").is_err() && parse_mount("/x=").is_err());
        let (addr, name) = resolve_bind("::1", 80).unwrap();
        assert_eq!((addr.to_string(), name), ("[::1]:80".into(), None));
        assert_eq!(resolve_bind("[::1]", 80).unwrap().0.to_string(), "[::1]:80");
        let (addr, name) = resolve_bind("localhost", 8000).unwrap();
        assert!(addr.ip().is_loopback() && addr.port() == 8000);
        assert_eq!(name.as_deref(), Some("localhost"));
        assert!(resolve_bind("no such host", 1).is_err());
    }
}
