//! Files: attachments and the original text of mail received, stored once by content.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `blobs` | SHA-256 of the content (32 bytes) | the content |
//!
//! A blob is written (and the caller flushes) before any event names it, so an event never
//! points at a file that is not there. The same content sent twice is stored once. Blobs are
//! never changed; who may read one is decided by the ticket that lists it, not here.

use sha2::{Digest, Sha256};

use super::{Store, StoreError};

/// The SHA-256 of `bytes`, in lower-case hex: a blob's name.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The tree key of a blob named by its SHA-256 (hex), if the name is one.
pub(super) fn key(sha256: &str) -> Option<[u8; 32]> {
    let mut key = [0; 32];
    hex::decode_to_slice(sha256, &mut key).ok()?;
    Some(key)
}

impl Store {
    /// Stores `bytes` unless a blob with the same content is there; returns its SHA-256 (hex).
    /// Not durable until the next [`Store::flush`].
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let sha256 = digest(bytes);
        let key = key(&sha256).unwrap_or([0; 32]);
        if !self.blobs.contains_key(key)? {
            self.blobs.insert(key, bytes)?;
        }
        Ok(sha256)
    }

    /// The content of a blob, if there is one by that SHA-256 (hex).
    pub fn blob(&self, sha256: &str) -> Result<Option<sled::IVec>, StoreError> {
        let Some(key) = key(sha256) else { return Ok(None) };
        Ok(self.blobs.get(key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_content_is_stored_once_under_its_digest() {
        let store = Store::open_temporary().expect("store");
        let first = store.put_blob(b"service report").expect("put");
        assert_eq!(first, digest(b"service report"));
        assert_eq!(first.len(), 64);
        assert_eq!(store.put_blob(b"service report").expect("put"), first);
        assert_eq!(store.blob(&first).expect("read").as_deref(), Some(&b"service report"[..]));
        assert_eq!(store.blob(&digest(b"other")).expect("read"), None);
        assert_eq!(store.blob("not hex").expect("read"), None);
    }
}
