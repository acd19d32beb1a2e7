//! The grammar of header fields (RFC 9110 section 5) that requests and
//! script responses share: looking fields up by name, token lists,
//! tokens, field text, optional whitespace, and `Content-Length` digits.

/// The values of every field called `name` (case-insensitive).
pub fn values<'a, 'n>(
    fields: &'a [(String, Vec<u8>)],
    name: &'n str,
) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
    fields
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// True when one of the comma-separated tokens of the `name` fields
/// equals `token` (case-insensitive), as in `Connection: close`.
pub fn has_token(fields: &[(String, Vec<u8>)], name: &str, token: &str) -> bool {
    values(fields, name)
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// RFC 9110 token characters (field names, methods, codings).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Bytes allowed in field text: visible characters, space, tab and
/// obs-text; no other control character.
pub fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Without the spaces and tabs around it (RFC 9110 OWS); other
/// whitespace, such as CR or form feed, stays (and is refused by whoever
/// checks the value).
pub fn trim_ows(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &value[start..end]
}

/// A `Content-Length` value: 1 to 19 ASCII digits (no sign, no spaces),
/// which always fits a u64.
pub fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_plain_digits_that_fit() {
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(
            parse_length(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b" 1",
            b"0x1",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_length(bad), None, "{bad:?}");
        }
        assert_eq!(trim_ows(b" \ta b\t "), b"a b");
        assert_eq!(trim_ows(b"\x0ca\r"), b"\x0ca\r");
    }
}
