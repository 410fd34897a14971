//! Password hashing: Argon2id with OWASP's first recommended setting (19 MiB of
//! memory, 2 passes, 1 lane). A hash is a PHC string (`$argon2id$v=19$m=...`), so
//! that a later change of parameters still verifies the hashes made before it.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::{AuthError, Result};

/// Memory cost in KiB, passes and lanes (OWASP Password Storage Cheat Sheet).
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

/// Password lengths accepted, in characters: NIST SP 800-63B's floor of 8 is raised
/// to 10 for an administrative tool; the ceiling only bounds the hashing input.
pub const LENGTH: std::ops::RangeInclusive<usize> = 10..=1024;

fn hasher() -> Argon2<'static> {
    let params =
        Params::new(MEMORY_KIB, PASSES, LANES, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password against [`LENGTH`].
pub fn check_new(password: &str) -> Result<()> {
    let n = password.chars().count();
    if LENGTH.contains(&n) {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "the password has {n} characters; it must have {} to {}",
            LENGTH.start(),
            LENGTH.end()
        )))
    }
}

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String> {
    check_new(password)?;
    let salt_bytes = super::secret::random_bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::Hash(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches `phc`. A stored hash that does not parse (damaged)
/// matches nothing.
pub fn verify(phc: &str, password: &str) -> bool {
    if password.len() > LENGTH.end() * 4 {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification, for a login of a user who does not exist:
/// the answer's timing then does not tell which user names exist.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(phc) = DUMMY.get_or_init(|| hash("not a password of anyone").ok()) {
        let _ = verify(phc, password);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&h, "correct horse battery"));
        assert!(!verify(&h, "correct horse batterY"));
        assert!(!verify("garbage", "correct horse battery"));
        assert_ne!(h, hash("correct horse battery").unwrap(), "salted");
        assert!(hash("short").is_err());
    }
}
