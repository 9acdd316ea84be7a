//! Secrets handed to users: MCP server URL tokens and admin API tokens.
//!
//! A token is shown once, at creation; only its SHA-256 is stored, so a leaked database does not
//! leak working URLs. The prefixes make the two kinds recognisable (and greppable by secret scanners).

use rand::TryRngCore;
use sha2::{Digest, Sha256};

/// Prefix of MCP server URL tokens.
pub const MCP_TOKEN_PREFIX: &str = "dhm_";
/// Prefix of admin API tokens.
pub const API_TOKEN_PREFIX: &str = "dha_";

/// A fresh token: the prefix and 256 random bits in hex.
pub fn generate(prefix: &str) -> Result<String, rand::rand_core::OsError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes)?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Random identifier for a record (not a secret).
pub fn record_id(prefix: &str) -> Result<String, rand::rand_core::OsError> {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes)?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let a = generate(MCP_TOKEN_PREFIX).unwrap();
        let b = generate(MCP_TOKEN_PREFIX).unwrap();
        assert!(a.starts_with("dhm_"));
        assert_eq!(a.len(), 4 + 64);
        assert_ne!(a, b);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a[4..]));
    }
}
