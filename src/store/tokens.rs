//! API tokens as stored: looked up by the SHA-256 digest of the secret, never the secret.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `tokens` | SHA-256 of the secret (32) | token record (JSON) |
//!
//! A revoked token keeps its record (with `revoked_at`), so the list still says who had it and
//! when it stopped working; it never authenticates again. Records are changed with
//! compare-and-swap, so recording a use can never undo a revocation made meanwhile.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, decode, encode};

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// Everything, including tokens and workflow reloads.
    Admin,
    /// Staff: acts on tickets as RACI allows.
    Agent,
    /// Another system: opens tickets, comments, reads.
    Integrator,
}

impl std::str::FromStr for TokenRole {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "admin" => Ok(Self::Admin),
            "agent" => Ok(Self::Agent),
            "integrator" => Ok(Self::Integrator),
            other => Err(format!("unknown role \"{other}\": use admin, agent or integrator")),
        }
    }
}

/// A stored token (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRecord {
    /// Short id shown in lists (the first characters of the digest).
    pub id: String,
    /// The person (or system) the token belongs to.
    pub person: String,
    /// What it may do.
    pub role: TokenRole,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working (absent: never).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used, to the minute (absent: never). Recorded at most once a minute
    /// per token, so authentication costs no write per request.
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked (absent: it was not).
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    #[serde(default)]
    pub revoked_by: Option<String>,
}

impl TokenRecord {
    /// A token that never expires, not used yet.
    pub fn new(id: String, person: String, role: TokenRole, created_at: DateTime<Utc>) -> Self {
        Self { id, person, role, created_at, expires_at: None, last_used_at: None, revoked_at: None, revoked_by: None }
    }
}

/// How often a token's last use is written down: a use within this long of the recorded one
/// changes nothing.
pub const LAST_USED_PRECISION: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

impl Store {
    /// Saves a token under the digest of its secret.
    pub fn save_token(&self, digest: &[u8; 32], record: &TokenRecord) -> Result<(), StoreError> {
        self.tokens.insert(digest, encode(record)?)?;
        self.tokens.flush()?;
        Ok(())
    }

    /// The token whose secret has this digest.
    pub fn token(&self, digest: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        self.tokens.get(digest)?.map(|bytes| decode(&bytes, "token")).transpose()
    }

    /// The token with this short id, with its digest.
    pub fn token_by_id(&self, id: &str) -> Result<Option<([u8; 32], TokenRecord)>, StoreError> {
        for item in self.tokens.iter() {
            let (key, bytes) = item?;
            let record: TokenRecord = decode(&bytes, "token")?;
            if record.id.eq_ignore_ascii_case(id.trim()) {
                let digest = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { what: "token key".into(), reason: "not 32 bytes".into() })?;
                return Ok(Some((digest, record)));
            }
        }
        Ok(None)
    }

    /// Marks a token revoked at `at` by `by`, durably; a token revoked already keeps its first
    /// revocation. Returns the record as it is now, or `None` if there is no such token.
    pub fn revoke_token(
        &self,
        digest: &[u8; 32],
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        loop {
            let Some(current) = self.tokens.get(digest)? else { return Ok(None) };
            let mut record: TokenRecord = decode(&current, "token")?;
            if record.revoked_at.is_some() {
                return Ok(Some(record));
            }
            record.revoked_at = Some(at);
            record.revoked_by = Some(by.to_string());
            let new = encode(&record)?;
            if self.tokens.compare_and_swap(digest, Some(&current), Some(new))?.is_ok() {
                self.tokens.flush()?;
                return Ok(Some(record));
            }
        }
    }

    /// Records that the token with this digest, read as `record`, was used at `now`, unless its
    /// recorded last use is less than [`LAST_USED_PRECISION`] old: the hot path pays nothing
    /// more than the lookup it made anyway. Written without a flush: it is a hint, durable with
    /// the next flush, and a lost minute of it costs nothing.
    pub fn touch_token(&self, digest: &[u8; 32], record: &TokenRecord, now: DateTime<Utc>) -> Result<(), StoreError> {
        let recent = |record: &TokenRecord| record.last_used_at.is_some_and(|last| now - last < LAST_USED_PRECISION);
        if recent(record) {
            return Ok(());
        }
        let Some(current) = self.tokens.get(digest)? else { return Ok(()) };
        let mut stored: TokenRecord = decode(&current, "token")?;
        if stored.revoked_at.is_some() || recent(&stored) {
            return Ok(());
        }
        stored.last_used_at = Some(now);
        // Changed meanwhile (revoked, or another request recorded the use): leave it.
        let _ = self.tokens.compare_and_swap(digest, Some(&current), Some(encode(&stored)?))?;
        Ok(())
    }

    /// Whether any token exists.
    pub fn has_tokens(&self) -> Result<bool, StoreError> {
        Ok(!self.tokens.is_empty())
    }

    /// Every token, oldest first, for listing.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut tokens: Vec<TokenRecord> =
            self.tokens.iter().values().map(|bytes| decode(&bytes?, "token")).collect::<Result<_, _>>()?;
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }
}
