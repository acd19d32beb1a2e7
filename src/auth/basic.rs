//! The credentials of HTTP Basic authentication (RFC 7617): an
//! `Authorization: Basic <base64 of user:password>` field, decoded.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A user name and password a client sent.
#[derive(Debug, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: Vec<u8>,
}

/// The credentials of an `Authorization` field value, if it holds Basic
/// credentials whose user name is text without control characters.
pub fn credentials(value: &[u8]) -> Option<Credentials> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(token.trim_start()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = std::str::from_utf8(&decoded[..colon]).ok()?;
    if user.is_empty() || user.chars().any(char::is_control) {
        return None;
    }
    Some(Credentials {
        user: user.to_string(),
        password: decoded[colon + 1..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        // RFC 7617's example: Aladdin / open sesame.
        let c = credentials(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_slice()),
            ("Aladdin", &b"open sesame"[..])
        );
        let c = credentials(b"basic   YTpiOmM=").unwrap();
        assert_eq!((c.user.as_str(), c.password.as_slice()), ("a", &b"b:c"[..]));
        for bad in [
            &b"Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ=="[..],
            b"Basic",
            b"Basic !!!",
            b"Basic YWRh",         // "ada": no colon
            b"Basic OnNlY3JldA==", // ":secret": no user
            b"Basic /w==",         // not text
        ] {
            assert_eq!(credentials(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
