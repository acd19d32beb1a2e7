//! FastCGI name-value pairs (`FCGI_PARAMS`, `FCGI_GET_VALUES`): each
//! length is one byte below 128, else four bytes with the high bit set.
//! Decoding checks every length against what is left, so a truncated or
//! overlong pair is an error, never a read past the end; the whole
//! `PARAMS` stream of a request is bounded by [`MAX_PARAMS`].

use super::record::Malformed;

/// Most bytes of one request's `PARAMS` stream, like the HTTP head bound.
pub const MAX_PARAMS: usize = 64 * 1024;
/// Most pairs in one request's `PARAMS` stream.
pub const MAX_PAIRS: usize = 500;

pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Decodes a whole stream of pairs.
pub fn decode(mut data: &[u8]) -> Result<Pairs, Malformed> {
    let mut pairs = Vec::new();
    while !data.is_empty() {
        if pairs.len() >= MAX_PAIRS {
            return Err(Malformed("too many FastCGI params"));
        }
        let name_len = length(&mut data)?;
        let value_len = length(&mut data)?;
        let name = take(&mut data, name_len)?;
        let value = take(&mut data, value_len)?;
        pairs.push((name.to_vec(), value.to_vec()));
    }
    Ok(pairs)
}

fn length(data: &mut &[u8]) -> Result<usize, Malformed> {
    const TRUNCATED: Malformed = Malformed("truncated FastCGI name-value length");
    let first = *data.first().ok_or(TRUNCATED)?;
    if first & 0x80 == 0 {
        *data = &data[1..];
        return Ok(usize::from(first));
    }
    let four = data.first_chunk::<4>().ok_or(TRUNCATED)?;
    let n = u32::from_be_bytes(*four) & 0x7fff_ffff;
    *data = &data[4..];
    usize::try_from(n).map_err(|_| Malformed("FastCGI name-value length too large"))
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], Malformed> {
    if n > data.len() {
        return Err(Malformed("FastCGI name-value pair longer than its record"));
    }
    let (taken, rest) = data.split_at(n);
    *data = rest;
    Ok(taken)
}

/// Appends one pair.
pub fn encode(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    for len in [name.len(), value.len()] {
        match u8::try_from(len) {
            Ok(short) if short < 0x80 => out.push(short),
            _ => {
                let n = u32::try_from(len).unwrap_or(u32::MAX >> 1) & 0x7fff_ffff;
                out.extend_from_slice(&(n | 0x8000_0000).to_be_bytes());
            }
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths_round_trip() {
        let long = vec![b'v'; 300];
        let mut out = Vec::new();
        encode(&mut out, b"SCRIPT_NAME", b"/x");
        encode(&mut out, b"LONG", &long);
        encode(&mut out, b"EMPTY", b"");
        let pairs = decode(&out).unwrap();
        assert_eq!(pairs[0], (b"SCRIPT_NAME".to_vec(), b"/x".to_vec()));
        assert_eq!(pairs[1], (b"LONG".to_vec(), long));
        assert_eq!(pairs[2], (b"EMPTY".to_vec(), Vec::new()));
        assert_eq!(out[16], 0x80, "a length over 127 takes four bytes");
    }

    #[test]
    fn truncated_and_overlong_pairs_are_errors() {
        let mut out = Vec::new();
        encode(&mut out, b"NAME", b"value");
        for cut in 1..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        // A four-byte length claiming 2 GiB.
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 1, b'a', b'b']).is_err());
        assert!(decode(&[0x80, 0, 0]).is_err());
    }

    #[test]
    fn pair_count_is_bounded() {
        let mut out = Vec::new();
        for _ in 0..=MAX_PAIRS {
            encode(&mut out, b"A", b"");
        }
        assert!(decode(&out).is_err());
    }
}
