//! API tokens as stored: looked up by the SHA-256 digest of the secret, never the secret.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `tokens` | SHA-256 of the secret (32) | token record (JSON) |

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
}

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

    /// Whether any token exists.
    pub fn has_tokens(&self) -> Result<bool, StoreError> {
        Ok(!self.tokens.is_empty())
    }

    /// Every token, for listing.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.tokens.iter().values().map(|bytes| decode(&bytes?, "token")).collect()
    }
}
