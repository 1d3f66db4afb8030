//! API tokens: minting and checking.
//!
//! A token is a long random secret (256 bits) shown once when made; the store keeps only its
//! SHA-256 digest and finds the token by it. Checking a request costs one hash and one lookup,
//! never a password hash (bcrypt and friends cost ~100 ms of CPU per request by design, which
//! is right for passwords people choose and wrong for random secrets).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::store::tokens::{TokenRecord, TokenRole};
use crate::store::{Store, StoreError};

/// The prefix of every token, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "adk_";

/// The digest a token is stored and looked up by.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.trim().as_bytes()).into()
}

/// Makes a new token for `person` with `role`; returns the secret (to show once) and the record.
pub fn create_token(
    store: &Store,
    person: &str,
    role: TokenRole,
    now: DateTime<Utc>,
) -> Result<(String, TokenRecord), StoreError> {
    let bytes: [u8; 32] = rand::random();
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let digest = digest(&secret);
    let record =
        TokenRecord { id: hex::encode(&digest[..6]), person: person.trim().to_string(), role, created_at: now };
    store.save_token(&digest, &record)?;
    Ok((secret, record))
}

/// The token a secret belongs to, if any.
pub fn check(store: &Store, secret: &str) -> Result<Option<TokenRecord>, StoreError> {
    store.token(&digest(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_found_by_its_secret_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&crate::store::StoreConfig::new(dir.path())).expect("store");
        let (secret, record) = create_token(&store, "reza@example.com", TokenRole::Agent, Utc::now()).expect("create");
        assert!(secret.starts_with(TOKEN_PREFIX) && secret.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(check(&store, &secret).expect("check"), Some(record));
        assert_eq!(check(&store, "adk_0000").expect("check"), None);
        let (other, _) = create_token(&store, "reza@example.com", TokenRole::Agent, Utc::now()).expect("create");
        assert_ne!(secret, other);
    }
}
