//! Sessions of people signed in to the pages, and the one-time sign-in links that open them.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `sessions` | SHA-256 of the session secret (32) | session record (JSON) |
//! | `sign_ins` | the link's id (16) | sign-in record (JSON), removed when used |
//!
//! A sign-in link is used by removing its record: of two clicks racing, one removes it and
//! opens a session, the other finds nothing. A revoked session keeps its record (with
//! `revoked_at`) so the list still says who was signed in and when that ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::tokens::TokenRole;
use super::{Store, StoreError, decode, encode};

/// A session as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionRecord {
    /// Short id shown in lists (the first characters of the digest).
    pub id: String,
    /// Who is signed in (their address as written in the workflow's roles).
    pub person: String,
    /// What they may do: `agent`, or `admin` for the holder of an administrator token.
    pub role: TokenRole,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it was last used, to the minute.
    pub last_seen_at: DateTime<Utc>,
    /// When it ends whatever happens.
    pub expires_at: DateTime<Utc>,
    /// The browser it was opened in (its `User-Agent`), for the list.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// When it was revoked or signed out (absent: it was not).
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it (the person themselves when they signed out).
    #[serde(default)]
    pub revoked_by: Option<String>,
}

/// A sign-in link not used yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRecord {
    /// Who it signs in.
    pub person: String,
    /// With what role.
    pub role: TokenRole,
    /// Where to go once signed in (a path of this server).
    pub next: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// How often a session's last use is written down.
pub const LAST_SEEN_PRECISION: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

impl Store {
    /// Saves a new session under the digest of its secret, durably.
    pub fn save_session(&self, digest: &[u8; 32], record: &SessionRecord) -> Result<(), StoreError> {
        self.sessions.insert(digest, encode(record)?)?;
        self.sessions.flush()?;
        Ok(())
    }

    /// The session whose secret has this digest.
    pub fn session(&self, digest: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions.get(digest)?.map(|bytes| decode(&bytes, "session")).transpose()
    }

    /// Every session, newest first.
    pub fn sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut all: Vec<SessionRecord> =
            self.sessions.iter().values().map(|bytes| decode(&bytes?, "session")).collect::<Result<_, _>>()?;
        all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(all)
    }

    /// Revokes the session with short id `id` (or, with `digest`, exactly that one); a session
    /// revoked already keeps its first revocation. Returns it as it is now, or `None`.
    pub fn revoke_session(
        &self,
        id: &str,
        digest: Option<&[u8; 32]>,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let key = match digest {
            Some(digest) => digest.to_vec(),
            None => {
                let mut found = None;
                for item in self.sessions.iter() {
                    let (key, bytes) = item?;
                    let record: SessionRecord = decode(&bytes, "session")?;
                    if record.id.eq_ignore_ascii_case(id.trim()) {
                        found = Some(key.to_vec());
                        break;
                    }
                }
                match found {
                    Some(key) => key,
                    None => return Ok(None),
                }
            }
        };
        loop {
            let Some(current) = self.sessions.get(&key)? else { return Ok(None) };
            let mut record: SessionRecord = decode(&current, "session")?;
            if record.revoked_at.is_some() {
                return Ok(Some(record));
            }
            record.revoked_at = Some(at);
            record.revoked_by = Some(by.to_string());
            if self.sessions.compare_and_swap(&key, Some(&current), Some(encode(&record)?))?.is_ok() {
                self.sessions.flush()?;
                return Ok(Some(record));
            }
        }
    }

    /// Records a use of the session at `now`, at most once a minute (no flush: a hint).
    pub fn touch_session(
        &self,
        digest: &[u8; 32],
        record: &SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if now - record.last_seen_at < LAST_SEEN_PRECISION {
            return Ok(());
        }
        let Some(current) = self.sessions.get(digest)? else { return Ok(()) };
        let mut stored: SessionRecord = decode(&current, "session")?;
        if stored.revoked_at.is_some() || now - stored.last_seen_at < LAST_SEEN_PRECISION {
            return Ok(());
        }
        stored.last_seen_at = now;
        let _ = self.sessions.compare_and_swap(digest, Some(&current), Some(encode(&stored)?))?;
        Ok(())
    }

    /// Saves a sign-in link's record, durably (before its mail is queued).
    pub fn save_sign_in(&self, id: &[u8; 16], record: &SignInRecord) -> Result<(), StoreError> {
        self.sign_ins.insert(id, encode(record)?)?;
        self.sign_ins.flush()?;
        Ok(())
    }

    /// Whether a sign-in link is still unused.
    pub fn sign_in(&self, id: &[u8; 16]) -> Result<Option<SignInRecord>, StoreError> {
        self.sign_ins.get(id)?.map(|bytes| decode(&bytes, "sign-in")).transpose()
    }

    /// Uses a sign-in link: removes its record and returns it, or `None` when it was used (or
    /// never made). Of two uses at once, exactly one gets the record.
    pub fn take_sign_in(&self, id: &[u8; 16]) -> Result<Option<SignInRecord>, StoreError> {
        let taken = self.sign_ins.remove(id)?;
        if taken.is_some() {
            self.sign_ins.flush()?;
        }
        taken.map(|bytes| decode(&bytes, "sign-in")).transpose()
    }
}
