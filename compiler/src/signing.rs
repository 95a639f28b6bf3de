//! Signed bundles: who deployed a bundle, checked by every node before it
//! stages, switches to or runs it.
//!
//! A bundle is signed over its hash (which covers everything it holds but
//! the signature) with an operator's Ed25519 key. Nodes trust the public
//! keys in a root-owned directory (`/etc/hacmp/trusted-keys/*.pub`), read
//! again at each check so keys can be added and removed without a restart.
//! A site may run unsigned bundles (a lab) only when the bundle the node
//! already runs says so: a bundle never vouches for itself.
//!
//! Keys are text, one line each:
//! `hacmp-ed25519 BASE64 NAME` (public, 32 bytes) and
//! `hacmp-ed25519-secret BASE64 NAME` (PKCS#8 v2, as `ring` writes it).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::signature::{self, Ed25519KeyPair, KeyPair as _};

use crate::input::{Limit, CONFIG};
use crate::ir::Bundle;
use crate::signature::shown;
pub use crate::signature::Signature;

const PUBLIC: &str = "hacmp-ed25519";
const SECRET: &str = "hacmp-ed25519-secret";
/// What is signed: the bundle's hash after this prefix, so a signature
/// made for a bundle can serve nothing else.
const DOMAIN: &[u8] = b"hacmp bundle v1\0";
/// The default directory of the keys a node trusts.
pub const TRUSTED_KEYS: &str = "/etc/hacmp/trusted-keys";
/// A key file is one short line.
const KEY_FILE: Limit = Limit {
    bytes: 4096,
    ..CONFIG
};

/// A short, stable name for a public key: the first 16 hex digits of its
/// SHA-256.
pub fn key_id(public: &[u8]) -> String {
    crate::digest::sha256_hex(public)[..16].to_string()
}

/// A public key a node may trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    pub id: String,
    bytes: Vec<u8>,
}

impl PublicKey {
    /// Reads the one-line text of a `.pub` file; errors say `line:column:`.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let (kind, key, name, key_col) = fields(text)?;
        if kind != PUBLIC {
            return Err(format!(
                "1:1: not a public key: it starts with `{}`, not `{PUBLIC}`{}",
                shown(kind),
                if kind == SECRET {
                    " (this is a secret key: install the `.pub` file, keep the `.key` file with the operator)"
                } else {
                    ""
                }
            ));
        }
        let bytes = B64
            .decode(key)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                format!("1:{key_col}: not an Ed25519 public key (32 bytes in base64)")
            })?;
        Ok(PublicKey {
            name: name.to_string(),
            id: key_id(&bytes),
            bytes,
        })
    }

    pub fn to_line(&self) -> String {
        format!("{PUBLIC} {} {}\n", B64.encode(&self.bytes), self.name)
    }

    fn verifies(&self, hash: &str, sig: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.bytes)
            .verify(&message(hash), sig)
            .is_ok()
    }
}

/// `KIND BASE64 NAME` on one line, and the column of BASE64.
fn fields(text: &str) -> Result<(&str, &str, &str, usize), String> {
    let line = text.strip_suffix('\n').unwrap_or(text);
    if line.contains('\n') {
        return Err("2:1: a key file holds one line".into());
    }
    let mut words = line.split(' ');
    let kind = words.next().unwrap_or("");
    let key = words.next().unwrap_or("");
    let name = words.next().unwrap_or("");
    if key.is_empty() || name.is_empty() || words.next().is_some() || !valid_name(name) {
        return Err(format!(
            "1:1: expected `{PUBLIC} KEY NAME` (one space between; NAME of letters, digits, `-`, `_`, `.`, `@`)"
        ));
    }
    Ok((kind, key, name, kind.len() + 2))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

fn message(hash: &str) -> Vec<u8> {
    [DOMAIN, hash.as_bytes()].concat()
}

/// An operator's signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
    pub name: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} {})", self.name, self.public().id)
    }
}

impl SigningKey {
    /// A new key from the system's random source.
    pub fn generate(name: &str) -> Result<SigningKey, String> {
        if !valid_name(name) {
            return Err(format!(
                "`{}` cannot name a key: use letters, digits, `-`, `_`, `.` and `@` (at most 64)",
                shown(name)
            ));
        }
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "the system's random source failed".to_string())?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| "cannot use the key just made".to_string())?;
        Ok(SigningKey {
            pair,
            pkcs8: pkcs8.as_ref().to_vec(),
            name: name.to_string(),
        })
    }

    /// Reads the one-line text of a `.key` file.
    pub fn parse(text: &str) -> Result<SigningKey, String> {
        let (kind, key, name, key_col) = fields(text)?;
        if kind != SECRET {
            return Err(format!(
                "1:1: not a secret key: it starts with `{}`, not `{SECRET}`",
                shown(kind)
            ));
        }
        let pkcs8 = B64
            .decode(key)
            .map_err(|_| format!("1:{key_col}: the key is not base64"))?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| format!("1:{key_col}: not an Ed25519 key"))?;
        Ok(SigningKey {
            pair,
            pkcs8,
            name: name.to_string(),
        })
    }

    /// Reads a `.key` file, which nobody but its owner may read or write.
    pub fn read(path: &Path) -> Result<SigningKey, String> {
        use std::os::unix::fs::PermissionsExt;
        let at = |e: String| format!("`{}`: {e}", path.display());
        let (f, meta) = crate::input::open(path, KEY_FILE).map_err(|e| at(e.to_string()))?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(at(format!(
                "others may read or write this secret key (mode {:o}): `chmod 600` it, and make a new key if anyone else could read it",
                mode & 0o7777
            )));
        }
        if let Some(why) = crate::fscheck::safety(&meta) {
            return Err(at(why));
        }
        let bytes = crate::input::read_open(f, &meta, KEY_FILE).map_err(|e| at(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| at("not a key file".into()))?;
        SigningKey::parse(&text).map_err(|e| format!("{}:{e}", path.display()))
    }

    pub fn public(&self) -> PublicKey {
        let bytes = self.pair.public_key().as_ref().to_vec();
        PublicKey {
            name: self.name.clone(),
            id: key_id(&bytes),
            bytes,
        }
    }

    pub fn to_line(&self) -> String {
        format!("{SECRET} {} {}\n", B64.encode(&self.pkcs8), self.name)
    }

    /// Signs `bundle` (replacing any signature it had).
    pub fn sign(&self, bundle: &mut Bundle) {
        let sig = self.pair.sign(&message(&bundle.hash));
        bundle.signature = Some(Signature {
            key: self.public().id,
            by: self.name.clone(),
            ed25519: B64.encode(sig.as_ref()),
        });
    }
}

/// The keys a node trusts: a directory read at each check, or keys held
/// in memory (simulated nodes).
#[derive(Clone, Debug)]
pub enum TrustedKeys {
    Dir(PathBuf),
    Keys(Arc<Vec<PublicKey>>),
}

impl Default for TrustedKeys {
    fn default() -> Self {
        TrustedKeys::Dir(PathBuf::from(TRUSTED_KEYS))
    }
}

impl TrustedKeys {
    /// The keys, from `*.pub` files of a directory that only root (or the
    /// running user) may change, each checked the same way.
    pub fn load(&self) -> Result<Vec<PublicKey>, String> {
        let dir = match self {
            TrustedKeys::Keys(k) => return Ok(k.to_vec()),
            TrustedKeys::Dir(d) => d,
        };
        let meta = std::fs::metadata(dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "no key is trusted: `{}` does not exist (install the deployers' `.pub` files there)",
                    dir.display()
                )
            } else {
                format!("cannot read `{}`: {e}", dir.display())
            }
        })?;
        if !meta.is_dir() {
            return Err(format!("`{}` is not a directory", dir.display()));
        }
        if let Some(why) = crate::fscheck::safety(&meta) {
            return Err(format!(
                "`{}` {why}: whoever may write it could trust their own key",
                dir.display()
            ));
        }
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pub"))
            .collect();
        paths.sort();
        let mut keys = Vec::new();
        for p in paths {
            let (f, meta) = crate::input::open(&p, KEY_FILE)
                .map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
            if let Some(why) = crate::fscheck::safety(&meta) {
                return Err(format!(
                    "`{}` {why}: whoever may write it could trust their own key",
                    p.display()
                ));
            }
            let text = crate::input::read_open(f, &meta, KEY_FILE)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| format!("`{}`: not a key file", p.display()))?;
            keys.push(PublicKey::parse(&text).map_err(|e| format!("{}:{e}", p.display()))?);
        }
        if keys.is_empty() {
            return Err(format!(
                "no key is trusted: `{}` holds no `.pub` file",
                dir.display()
            ));
        }
        Ok(keys)
    }

    fn place(&self) -> String {
        match self {
            TrustedKeys::Dir(d) => format!("`{}`", d.display()),
            TrustedKeys::Keys(_) => "this node's trusted keys".into(),
        }
    }
}

/// Whether a node whose running site is `running` may stage, switch to or
/// run `new` (whose hash was verified): how it was admitted, or why not.
pub fn admit(new: &Bundle, running: &crate::Site, trusted: &TrustedKeys) -> Result<String, String> {
    if running.cluster.unsigned_bundles {
        return Ok("not checked: the running site allows unsigned bundles".into());
    }
    let short = &new.hash[..new.hash.len().min(12)];
    let Some(sig) = &new.signature else {
        return Err(format!(
            "bundle {short} is not signed: this cluster runs signed bundles only (`hacmp deploy --key`)"
        ));
    };
    let keys = trusted.load()?;
    let Some(key) = keys.iter().find(|k| k.id == sig.key) else {
        return Err(format!(
            "bundle {short} is {sig}, which {} does not hold",
            trusted.place()
        ));
    };
    let bytes = B64.decode(&sig.ed25519).unwrap_or_default();
    if !key.verifies(&new.hash, &bytes) {
        return Err(format!(
            "bundle {short}: the signature does not verify with key `{}` ({}): it was not signed by that key, or was changed since",
            key.name, key.id
        ));
    }
    Ok(format!("signed by `{}` ({})", key.name, key.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        Bundle::new(
            crate::Site::default(),
            Vec::new(),
            Default::default(),
            Default::default(),
        )
    }

    #[test]
    fn a_signed_bundle_is_admitted_by_its_key_only() {
        let alice = SigningKey::generate("alice").unwrap();
        let mallory = SigningKey::generate("mallory").unwrap();
        let trusted = TrustedKeys::Keys(Arc::new(vec![alice.public()]));
        let site = crate::Site::default();
        let mut b = bundle();
        let e = admit(&b, &site, &trusted).unwrap_err();
        assert!(e.contains("is not signed"), "{e}");
        alice.sign(&mut b);
        assert!(admit(&b, &site, &trusted).unwrap().contains("`alice`"));
        // The hash excludes the signature: signing changes no hash.
        assert!(b.verify());
        let mut forged = b.clone();
        mallory.sign(&mut forged);
        let e = admit(&forged, &site, &trusted).unwrap_err();
        assert!(e.contains("mallory") && e.contains("does not hold"), "{e}");
        // Claiming alice's key id with another key's signature.
        forged.signature.as_mut().unwrap().key = alice.public().id;
        let e = admit(&forged, &site, &trusted).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        // Alice's signature moved onto another bundle.
        let mut other = Bundle::new(
            crate::Site {
                events_dir: "/elsewhere".into(),
                ..Default::default()
            },
            Vec::new(),
            Default::default(),
            Default::default(),
        );
        other.signature = b.signature.clone();
        assert!(admit(&other, &site, &trusted).is_err());
        // A lab's running site admits anything; the new bundle's own
        // setting counts for nothing.
        let mut lab = crate::Site::default();
        lab.cluster.unsigned_bundles = true;
        assert!(admit(&bundle(), &lab, &trusted).is_ok());
        let mut claims = bundle();
        claims.site.cluster.unsigned_bundles = true;
        claims.hash = claims.compute_hash();
        assert!(admit(&claims, &site, &trusted).is_err());
    }

    #[test]
    fn keys_survive_their_text_and_bad_text_is_located() {
        let k = SigningKey::generate("ops-2026").unwrap();
        let again = SigningKey::parse(&k.to_line()).unwrap();
        assert_eq!(again.public(), k.public());
        assert_eq!(PublicKey::parse(&k.public().to_line()).unwrap(), k.public());
        let e = PublicKey::parse(&k.to_line()).unwrap_err();
        assert!(e.starts_with("1:1:") && e.contains("secret key"), "{e}");
        let e = PublicKey::parse("hacmp-ed25519 AAAA ops\n").unwrap_err();
        assert!(e.starts_with("1:15:"), "{e}");
        let e = PublicKey::parse("hacmp-ed25519 AAAA\n").unwrap_err();
        assert!(e.starts_with("1:1:"), "{e}");
        assert!(PublicKey::parse("a\nb\n").unwrap_err().starts_with("2:1:"));
        assert!(SigningKey::generate("a b").is_err());
        assert!(SigningKey::generate("").is_err());
    }

    #[test]
    fn a_trusted_directory_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = TrustedKeys::Dir(dir.path().join("keys"));
        assert!(keys.load().unwrap_err().contains("does not exist"));
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        assert!(keys.load().unwrap_err().contains("holds no `.pub` file"));
        let k = SigningKey::generate("alice").unwrap();
        let file = dir.path().join("keys/alice.pub");
        std::fs::write(&file, k.public().to_line()).unwrap();
        std::fs::write(dir.path().join("keys/README"), "not a key").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(keys.load().unwrap(), vec![k.public()]);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = keys.load().unwrap_err();
        assert!(e.contains("alice.pub") && e.contains("writable by"), "{e}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(
            dir.path().join("keys"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        assert!(keys.load().unwrap_err().contains("writable by"));
        std::fs::set_permissions(
            dir.path().join("keys"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(&file, "hacmp-ed25519 !!!! alice\n").unwrap();
        let e = keys.load().unwrap_err();
        assert!(e.contains("alice.pub:1:15:"), "{e}");
    }

    #[test]
    fn a_secret_key_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let k = SigningKey::generate("alice").unwrap();
        let file = dir.path().join("alice.key");
        std::fs::write(&file, k.to_line()).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(SigningKey::read(&file).unwrap_err().contains("chmod 600"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(SigningKey::read(&file).unwrap().public(), k.public());
    }
}
