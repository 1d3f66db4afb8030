//! API tokens: minting, checking, revoking.
//!
//! A token is a long random secret (256 bits) shown once when made; the store keeps only its
//! SHA-256 digest and finds the token by it. Checking a request costs one hash and one lookup,
//! never a password hash (bcrypt and friends cost ~100 ms of CPU per request by design, which
//! is right for passwords people choose and wrong for random secrets).
//!
//! Nothing about a token is cached: every request reads its record, so a revocation or an
//! expiry takes effect on the very next request. The last use is written at most once a minute
//! per token ([`crate::store::tokens::LAST_USED_PRECISION`]), so checking costs no write per
//! request.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::store::tokens::{TokenRecord, TokenRole};
use crate::store::{Store, StoreError};

/// The prefix of every token, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "adk_";

/// Why a secret does not authenticate, or a token cannot be revoked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token has this secret.
    #[error("unknown or revoked token")]
    Unknown,
    /// The token was revoked.
    #[error("this token was revoked at {at}")]
    Revoked {
        /// When.
        at: DateTime<Utc>,
    },
    /// The token expired.
    #[error("this token expired at {at}; ask an administrator for a new one")]
    Expired {
        /// When.
        at: DateTime<Utc>,
    },
    /// No token has this id.
    #[error("there is no token {0}")]
    NoSuchToken(String),
    /// The token is given in the configuration file, not the database.
    #[error("token {0} is set in the configuration file (`[[tokens]]`); remove it there and restart")]
    Configured(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The digest a token is stored and looked up by.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.trim().as_bytes()).into()
}

/// Makes a new token for `person` with `role`, valid until `expires_at` (or for ever); returns
/// the secret (to show once) and the record.
pub fn create_token(
    store: &Store,
    person: &str,
    role: TokenRole,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(String, TokenRecord), StoreError> {
    let bytes: [u8; 32] = rand::random();
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let digest = digest(&secret);
    let record =
        TokenRecord { expires_at, ..TokenRecord::new(hex::encode(&digest[..6]), person.trim().to_string(), role, now) };
    store.save_token(&digest, &record)?;
    Ok((secret, record))
}

/// The token a secret belongs to, if any (revoked and expired ones included).
pub fn check(store: &Store, secret: &str) -> Result<Option<TokenRecord>, StoreError> {
    store.token(&digest(secret))
}

/// The token a request's secret belongs to, if it is valid at `now`: known (in the database or
/// the configuration), not revoked, not expired. Records the use (at most once a minute).
pub fn authenticate(
    store: &Store,
    configured: &HashMap<[u8; 32], TokenRecord>,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<TokenRecord, AuthError> {
    let digest = digest(secret);
    if let Some(record) = configured.get(&digest) {
        return Ok(record.clone());
    }
    let record = store.token(&digest)?.ok_or(AuthError::Unknown)?;
    if let Some(at) = record.revoked_at {
        return Err(AuthError::Revoked { at });
    }
    if let Some(at) = record.expires_at
        && at <= now
    {
        return Err(AuthError::Expired { at });
    }
    store.touch_token(&digest, &record, now)?;
    Ok(record)
}

/// Revokes the token with short id `id` at once; revoking it again changes nothing. Returns
/// the record as it is now.
pub fn revoke(
    store: &Store,
    configured: &HashMap<[u8; 32], TokenRecord>,
    id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<TokenRecord, AuthError> {
    let id = id.trim().to_ascii_lowercase();
    if configured.values().any(|record| record.id == id) {
        return Err(AuthError::Configured(id));
    }
    let (digest, _) = store.token_by_id(&id)?.ok_or_else(|| AuthError::NoSuchToken(id.clone()))?;
    store.revoke_token(&digest, now, by)?.ok_or(AuthError::NoSuchToken(id))
}

/// The token with short id `id` (in the database), if any.
pub fn find(store: &Store, id: &str) -> Result<Option<TokenRecord>, StoreError> {
    Ok(store.token_by_id(&id.trim().to_ascii_lowercase())?.map(|(_, record)| record))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&crate::store::StoreConfig::new(dir.path())).expect("store");
        (dir, store)
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").to_utc()
    }

    #[test]
    fn a_token_is_found_by_its_secret_only() {
        let (_dir, store) = store();
        let (secret, record) =
            create_token(&store, "reza@example.com", TokenRole::Agent, None, Utc::now()).expect("create");
        assert!(secret.starts_with(TOKEN_PREFIX) && secret.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(check(&store, &secret).expect("check"), Some(record));
        assert_eq!(check(&store, "adk_0000").expect("check"), None);
        let (other, _) = create_token(&store, "reza@example.com", TokenRole::Agent, None, Utc::now()).expect("create");
        assert_ne!(secret, other);
    }

    #[test]
    fn a_use_is_written_down_once_a_minute_at_most() {
        let (_dir, store) = store();
        let none = HashMap::new();
        let start = at("2026-11-23T09:00:00Z");
        let (secret, _) = create_token(&store, "reza@example.com", TokenRole::Agent, None, start).expect("create");
        let last_used = || check(&store, &secret).expect("check").and_then(|r| r.last_used_at);
        assert_eq!(last_used(), None);
        authenticate(&store, &none, &secret, start).expect("valid");
        assert_eq!(last_used(), Some(start));
        authenticate(&store, &none, &secret, at("2026-11-23T09:00:59Z")).expect("valid");
        assert_eq!(last_used(), Some(start), "within the minute: not written again");
        authenticate(&store, &none, &secret, at("2026-11-23T09:01:00Z")).expect("valid");
        assert_eq!(last_used(), Some(at("2026-11-23T09:01:00Z")));
    }

    #[test]
    fn a_use_never_undoes_a_revocation() {
        let (_dir, store) = store();
        let none = HashMap::new();
        let start = at("2026-11-23T09:00:00Z");
        let (secret, record) = create_token(&store, "reza@example.com", TokenRole::Agent, None, start).expect("create");
        // A request read the record, then the token was revoked before the use was recorded.
        revoke(&store, &none, &record.id, "admin", start).expect("revoked");
        store.touch_token(&digest(&secret), &record, start).expect("touch");
        let stored = check(&store, &secret).expect("check").expect("kept");
        assert_eq!(stored.revoked_at, Some(start));
        assert!(matches!(authenticate(&store, &none, &secret, start), Err(AuthError::Revoked { .. })));
    }
}
