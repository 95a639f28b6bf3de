//! The signature a bundle carries (made and checked by `signing`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The signature a bundle carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signing key's id (see [`crate::signing::key_id`]).
    pub key: String,
    /// The name the key was made with: shown, never trusted.
    pub by: String,
    /// Ed25519 over the signing domain and the hash, base64.
    pub ed25519: String,
}

impl fmt::Display for Signature {
    /// What the signature claims (nothing checked): for operators.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "signed by key {} (made as `{}`)",
            shown(&self.key),
            shown(&self.by)
        )
    }
}

/// Text from a key file or a bundle, for a message: short, escaped.
pub(crate) fn shown(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_default).collect()
}
