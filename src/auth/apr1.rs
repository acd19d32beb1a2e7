//! Apache's MD5 password hash, `$apr1$SALT$HASH` (what `htpasswd -m`
//! writes): Poul-Henning Kamp's md5crypt with `$apr1$` as its magic
//! string, 1,000 rounds of MD5 (from the `md-5` crate) over the
//! password and a salt of up to 8 characters, written in crypt's base-64.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

const MAGIC: &str = "$apr1$";
const MAX_SALT: usize = 8;
const ROUNDS: usize = 1000;
/// The hash part: 128 bits in crypt's base-64.
const HASH_CHARS: usize = 22;
/// crypt's base-64 alphabet.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The salt and the hash of `$apr1$SALT$HASH`, if it has that form.
fn split(hash: &str) -> Option<(&str, &str)> {
    let (salt, encoded) = hash.strip_prefix(MAGIC)?.split_once('$')?;
    let in_alphabet = |s: &str| s.bytes().all(|b| ITOA64.contains(&b));
    let fits = !salt.is_empty() && salt.len() <= MAX_SALT && in_alphabet(salt);
    (fits && encoded.len() == HASH_CHARS && in_alphabet(encoded)).then_some((salt, encoded))
}

/// True if `hash` has the form `$apr1$SALT$HASH`.
pub fn well_formed(hash: &str) -> bool {
    split(hash).is_some()
}

/// True if `password` has `hash`; compared in constant time.
pub fn verify(hash: &str, password: &[u8]) -> bool {
    let Some((salt, encoded)) = split(hash) else {
        return false;
    };
    let computed = encode(&digest(password, salt.as_bytes()));
    computed.as_bytes().ct_eq(encoded.as_bytes()).into()
}

/// md5crypt's digest of `password` with `salt`.
fn digest(password: &[u8], salt: &[u8]) -> [u8; 16] {
    let alternate: [u8; 16] = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize()
        .into();
    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(MAGIC)
        .chain_update(salt);
    for chunk in password.chunks(16) {
        ctx.update(&alternate[..chunk.len()]);
    }
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut last: [u8; 16] = ctx.finalize().into();
    for round in 0..ROUNDS {
        let mut ctx = Md5::new();
        if round % 2 == 1 {
            ctx.update(password);
        } else {
            ctx.update(last);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round % 2 == 1 {
            ctx.update(last);
        } else {
            ctx.update(password);
        }
        last = ctx.finalize().into();
    }
    last
}

/// The digest in crypt's base-64, bytes taken in md5crypt's order.
fn encode(d: &[u8; 16]) -> String {
    let mut out = String::with_capacity(HASH_CHARS);
    let mut put = |value: u32, chars: usize| {
        let mut v = value;
        for _ in 0..chars {
            out.push(char::from(ITOA64[(v & 0x3f) as usize]));
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put(
            u32::from(d[a]) << 16 | u32::from(d[b]) << 8 | u32::from(d[c]),
            4,
        );
    }
    put(u32::from(d[11]), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_of_htpasswd() {
        // `htpasswd -nbm ada secret`, and a long password (`htpasswd -nbm
        // x` of 40 x's) that takes the 16-byte chunks more than once.
        assert!(verify("$apr1$M6V2x3aP$Mi3mdOO0o.HhLLaYIONVO.", b"secret"));
        assert!(!verify("$apr1$M6V2x3aP$Mi3mdOO0o.HhLLaYIONVO.", b"secreT"));
        assert!(!verify("$apr1$M6V2x3aP$Mi3mdOO0o.HhLLaYIONVO", b"secret"));
        assert!(verify("$apr1$/xxKd01m$UqRiGO4CRX2ZoyI4LJbu0.", &[b'x'; 40]));
        assert!(verify(
            "$apr1$xx6GXyu8$x.aRSKoZHB.vXa3G4AaQw.",
            "pässwörd".as_bytes()
        ));
        assert!(!well_formed("$apr1$toolongsalt$Mi3mdOO0o.HhLLaYIONVO."));
        assert!(!well_formed("$apr1$$Mi3mdOO0o.HhLLaYIONVO."));
        assert!(!well_formed("$1$M6V2x3aP$Mi3mdOO0o.HhLLaYIONVO."));
        assert!(well_formed("$apr1$M6V2x3aP$Mi3mdOO0o.HhLLaYIONVO."));
    }
}
