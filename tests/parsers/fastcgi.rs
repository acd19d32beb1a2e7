//! What must hold of the FastCGI record and name-value parsers, for any
//! bytes a web server could send: no panic, no record longer than its
//! bound or than the bytes given, and name-value pairs that decode
//! re-encode to a stream that decodes the same.

use rcgi::front::fastcgi::params::{self, Pairs};
use rcgi::front::fastcgi::record::{self, MAX_RECORD};

/// Splits `data` into records as the connection does; returns the
/// contents of those read whole, and whether a malformed one stopped it.
pub fn check_records(data: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut rest = data;
    let mut contents = Vec::new();
    loop {
        match record::split(rest) {
            Ok(Some((header, content, len))) => {
                assert!(len <= MAX_RECORD && len <= rest.len());
                assert_eq!(content.len(), usize::from(header.content));
                assert_eq!(len, 8 + content.len() + usize::from(header.padding));
                contents.push(content.to_vec());
                rest = &rest[len..];
            }
            Ok(None) => return (contents, false),
            Err(_) => return (contents, true),
        }
    }
}

/// Decodes `data` as name-value pairs; on success checks the round trip.
pub fn check_pairs(data: &[u8]) -> Option<Pairs> {
    let pairs = params::decode(data).ok()?;
    let total: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
    assert!(total <= data.len());
    let mut again = Vec::new();
    for (name, value) in &pairs {
        params::encode(&mut again, name, value);
    }
    assert_eq!(params::decode(&again).ok().as_ref(), Some(&pairs));
    Some(pairs)
}
