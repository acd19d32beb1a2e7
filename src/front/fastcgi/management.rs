//! Management records (request id 0): `FCGI_GET_VALUES` is answered
//! with what rcgi can do (`FCGI_MAX_CONNS`, `FCGI_MAX_REQS`,
//! `FCGI_MPXS_CONNS`: one request at a time per connection), and any
//! other management type with `FCGI_UNKNOWN_TYPE`.

use super::params;
use super::record::{self, GET_VALUES, GET_VALUES_RESULT, Malformed, UNKNOWN_TYPE};

/// Answers the management record `kind` with `content`; appends the
/// reply to `out`.
pub fn answer(
    kind: u8,
    content: &[u8],
    max_conns: usize,
    out: &mut Vec<u8>,
) -> Result<(), Malformed> {
    if kind != GET_VALUES {
        record::write(out, UNKNOWN_TYPE, 0, &[kind, 0, 0, 0, 0, 0, 0, 0]);
        return Ok(());
    }
    let asked = params::decode(content)?;
    let mut reply = Vec::new();
    for (name, _) in &asked {
        let value = match name.as_slice() {
            b"FCGI_MAX_CONNS" | b"FCGI_MAX_REQS" => max_conns.to_string(),
            b"FCGI_MPXS_CONNS" => "0".to_string(),
            // Names rcgi does not know are left out, as the spec says.
            _ => continue,
        };
        params::encode(&mut reply, name, value.as_bytes());
    }
    // The asked names fit one record, and so do their short values.
    reply.truncate(record::MAX_CONTENT);
    record::write(out, GET_VALUES_RESULT, 0, &reply);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_values_answers_what_it_knows() {
        let mut asked = Vec::new();
        for name in [
            "FCGI_MAX_CONNS",
            "FCGI_MPXS_CONNS",
            "OTHER",
            "FCGI_MAX_REQS",
        ] {
            params::encode(&mut asked, name.as_bytes(), b"");
        }
        let mut out = Vec::new();
        answer(GET_VALUES, &asked, 42, &mut out).unwrap();
        let (h, content, _) = record::split(&out).unwrap().unwrap();
        assert_eq!(h.kind, GET_VALUES_RESULT);
        let got = params::decode(content).unwrap();
        let names: Vec<&[u8]> = got.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(
            names,
            [&b"FCGI_MAX_CONNS"[..], b"FCGI_MPXS_CONNS", b"FCGI_MAX_REQS"]
        );
        assert_eq!(got[0].1, b"42");
        assert_eq!(got[1].1, b"0");
    }

    #[test]
    fn unknown_types_are_named_back() {
        let mut out = Vec::new();
        answer(42, b"", 1, &mut out).unwrap();
        let (h, content, _) = record::split(&out).unwrap().unwrap();
        assert_eq!((h.kind, content[0]), (UNKNOWN_TYPE, 42));
    }
}
