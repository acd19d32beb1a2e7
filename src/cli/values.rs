//! The values the command line takes, parsed and checked: sizes (`64K`),
//! times (`10s`), `K=V` pairs, `EXT=PROGRAM` handlers and index names.

use std::ffi::OsString;
use std::time::Duration;

/// `65536`, `64K`, `10M`, `1G` (powers of 1024).
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
pub fn parse_duration(s: &str) -> Result<Duration, String> {
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

pub fn parse_env_pair(s: &str) -> Result<(OsString, OsString), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!("{s:?} is not K=V with a non-empty K")),
    }
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
    fn env_pairs_need_a_name() {
        assert_eq!(parse_env_pair("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(parse_env_pair("=x").is_err());
        assert!(parse_env_pair("novalue").is_err());
    }
}
