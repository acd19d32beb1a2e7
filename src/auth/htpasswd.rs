//! An htpasswd file, in the formats Apache's `htpasswd` writes, read
//! once at start, and the check of a password against one of its
//! hashes. Accepted:
//!
//! - bcrypt, `$2y$` (`htpasswd -B`; `$2a$` and `$2b$` too), cost 4 to 17;
//! - SHA-512 and SHA-256 crypt, `$6$` and `$5$` (`htpasswd -5`, `-2`);
//! - Apache's MD5, `$apr1$` (`htpasswd -m`, its default);
//! - SHA-1, `{SHA}` (`htpasswd -s`): unsalted, but still written.
//!
//! Refused, naming the line: crypt(3) DES (`htpasswd -d`), which uses
//! only the first 8 characters of a password and a 2-character salt, and
//! plain text (`htpasswd -p`), which Apache itself takes for a crypt(3)
//! hash on Linux. Hashes are compared in constant time.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha_crypt::{PasswordVerifier, ShaCrypt};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::apr1;

/// The largest htpasswd file read: far more users than one file holds.
const MAX_FILE: u64 = 16 << 20;
/// bcrypt's costs that `htpasswd -C` writes; a higher one would take
/// seconds of CPU per request.
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=17;

/// A password hash of a known kind, checked when read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hash {
    Bcrypt(String),
    ShaCrypt(String),
    Apr1(String),
    Sha1([u8; 20]),
}

/// The users of an htpasswd file, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Users {
    users: Vec<(String, Hash)>,
}

impl Users {
    /// Reads `path`; an error names the line at fault.
    pub fn load(path: &Path) -> anyhow::Result<Users> {
        let size = fs::metadata(path)
            .with_context(|| format!("--auth-file {}", path.display()))?
            .len();
        if size > MAX_FILE {
            bail!("--auth-file {}: larger than 16 MiB", path.display());
        }
        let text =
            fs::read_to_string(path).with_context(|| format!("--auth-file {}", path.display()))?;
        Users::parse(&text).with_context(|| format!("--auth-file {}", path.display()))
    }

    /// The users of an htpasswd file's text.
    pub fn parse(text: &str) -> anyhow::Result<Users> {
        let mut users: Vec<(String, Hash)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let Some((user, hash)) = line.split_once(':') else {
                bail!("line {n}: not user:hash");
            };
            if user.is_empty() || user.chars().any(char::is_control) {
                bail!("line {n}: not a user name");
            }
            if users.iter().any(|(u, _)| u == user) {
                bail!("line {n}: user {user:?} is already on an earlier line");
            }
            let hash = read_hash(hash.trim_end()).with_context(|| format!("line {n} ({user})"))?;
            users.push((user.to_string(), hash));
        }
        if users.is_empty() {
            bail!("no users");
        }
        Ok(Users { users })
    }

    /// True if `user` is there with `password`. An unknown user costs a
    /// check all the same (against the first user's hash), so that the
    /// time taken does not tell which users exist.
    pub fn check(&self, user: &str, password: &[u8]) -> Result<(), &'static str> {
        match self.users.iter().find(|(u, _)| u == user) {
            Some((_, hash)) if verify(hash, password) => Ok(()),
            Some(_) => Err("wrong password"),
            None => {
                if let Some((_, hash)) = self.users.first() {
                    verify(hash, password);
                }
                Err("no such user")
            }
        }
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

fn read_hash(hash: &str) -> anyhow::Result<Hash> {
    if ["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) {
        let parts: bcrypt::HashParts = hash.parse().context("malformed bcrypt hash")?;
        if !BCRYPT_COSTS.contains(&parts.get_cost()) {
            bail!("bcrypt cost {} outside 4 to 17", parts.get_cost());
        }
        return Ok(Hash::Bcrypt(hash.to_string()));
    }
    if hash.starts_with("$5$") || hash.starts_with("$6$") {
        sha_crypt::PasswordHashRef::new(hash).context("malformed SHA-crypt hash")?;
        return Ok(Hash::ShaCrypt(hash.to_string()));
    }
    if hash.starts_with("$apr1$") {
        if !apr1::well_formed(hash) {
            bail!("malformed $apr1$ hash");
        }
        return Ok(Hash::Apr1(hash.to_string()));
    }
    if let Some(b64) = hash.strip_prefix("{SHA}") {
        let digest = STANDARD
            .decode(b64)
            .ok()
            .and_then(|d| <[u8; 20]>::try_from(d).ok());
        return digest.map(Hash::Sha1).context("malformed {SHA} hash");
    }
    if hash.starts_with('$') {
        bail!(
            "a hash rcgi does not know ({}...)",
            hash.split('$').nth(1).unwrap_or("")
        );
    }
    bail!(
        "crypt(3) DES or plain text: refused (DES uses only 8 characters of a password); \
         write it again with htpasswd -B"
    );
}

fn verify(hash: &Hash, password: &[u8]) -> bool {
    match hash {
        Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
        Hash::ShaCrypt(h) => ShaCrypt::default()
            .verify_password(password, h.as_str())
            .is_ok(),
        Hash::Apr1(h) => apr1::verify(h, password),
        Hash::Sha1(digest) => Sha1::digest(password).as_slice().ct_eq(digest).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `htpasswd -nbB`, `-nb5`, `-nb2`, `-nbm`, `-nbs` of ada / secret.
    const FILE: &str = "\
# made by htpasswd
ada:$2y$05$OeghY87Y7xOwc7z861j9TONpkHupaTBGXDTg/l.ssSBc/jCg0tRym
sha512:$6$QmKvxauebNWu9BNA$GBLM6KC722mtb73xn2yD.Qm/ywQ3/SDgIbeLbY7NWESDV7VGMLLbZyAu4shM.cjFN6CxyF0EjkKokfgAPYGH3.
sha256:$5$bz3YHuh/xbQPtY/9$8rmXp9H5tWN/TooVqVYjNkzi0wMpjm/x5Y38TqdUNzB
rounds:$6$rounds=10000$NbHR5AYVQsCyC942$xsk00sYsCQAGS5XBBNUpQhtBKEM84QGBEeUYU/TzUWzm3dXApLjzY0YIonk6YFd3CfogcVqnN/HAYJltJezlO/

md5:$apr1$M6V2x3aP$Mi3mdOO0o.HhLLaYIONVO.\r
sha1:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=
";

    #[test]
    fn every_kind_checks_its_password() {
        let users = Users::parse(FILE).unwrap();
        assert_eq!(users.len(), 6);
        for user in ["ada", "sha512", "sha256", "rounds", "md5", "sha1"] {
            assert_eq!(users.check(user, b"secret"), Ok(()), "{user}");
            assert_eq!(
                users.check(user, b"Secret"),
                Err("wrong password"),
                "{user}"
            );
            assert_eq!(users.check(user, b""), Err("wrong password"), "{user}");
        }
        assert_eq!(users.check("bob", b"secret"), Err("no such user"));
    }

    #[test]
    fn bad_files_name_the_line() {
        for (text, says) in [
            ("ada:N5f66mVM6qSNQ\n", "line 1 (ada): crypt(3) DES"),
            ("\n\nada:secret\n", "line 3 (ada): crypt(3) DES"),
            (
                "ada:$1$abc$def\n",
                "line 1 (ada): a hash rcgi does not know (1...)",
            ),
            ("ada\n", "line 1: not user:hash"),
            (
                ":{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n",
                "line 1: not a user name",
            ),
            (
                "a:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\na:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n",
                "line 2: user \"a\" is already",
            ),
            ("a:{SHA}not base64\n", "line 1 (a): malformed {SHA}"),
            ("a:$2y$05$short\n", "line 1 (a): malformed bcrypt"),
            (
                "a:$2y$31$OeghY87Y7xOwc7z861j9TONpkHupaTBGXDTg/l.ssSBc/jCg0tRym\n",
                "line 1 (a): bcrypt cost 31 outside 4 to 17",
            ),
            ("a:$apr1$M6V2x3aP$short\n", "line 1 (a): malformed $apr1$"),
            ("a:$6$\n", "line 1 (a): malformed SHA-crypt"),
            ("# nobody\n", "no users"),
        ] {
            let e = format!("{:#}", Users::parse(text).unwrap_err());
            assert!(e.starts_with(says), "{text:?}: {e}");
        }
    }
}
