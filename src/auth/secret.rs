//! Random secrets (session ids, CSRF tokens, API tokens) from the operating
//! system's random source, and their digests for storage and comparison.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{AuthError, Result};

/// 32 random bytes from the OS, as unpadded URL-safe base64 (43 characters).
pub fn random_text() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `n` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(bytes)
}

/// SHA-256 of a high-entropy secret: what is stored and compared instead of it.
/// (Passwords, which are not high-entropy, use Argon2id instead.)
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equality whose time does not depend on where the inputs differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_compare_by_value() {
        let a = random_text().unwrap();
        let b = random_text().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(same(&digest(&a), &digest(&a)));
        assert!(!same(&digest(&a), &digest(&b)));
        assert!(!same(b"ab", b"abc"));
    }
}
