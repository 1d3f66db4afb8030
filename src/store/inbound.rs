//! Mail received: spooled durably before it is acknowledged, then turned into commands.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `inbound` | message id (ULID, 16) | [`InboundMail`] (JSON) |
//! | `inbound_queue` | message id (ULID, 16) | empty; messages not yet processed |
//! | `blobs` | SHA-256 | the raw message (see [`super::blobs`]) |
//!
//! [`Store::spool_mail`] writes the raw message, its record and its queue entry in one
//! transaction and flushes before it returns: the SMTP receiver answers `250` and the raw
//! route `202` only after it did, so a message acknowledged survives `kill -9`. The processor
//! (`inbound::process`) reads the queue oldest first and records what became of each message
//! with [`Store::finish_mail`]; a message processed twice after a crash is recognised by its
//! Message-ID on the ticket, so it lands once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use ulid::Ulid;

use super::{Store, StoreError, blobs, decode, encode, keys};
use crate::engine::TicketId;

/// How a message reached Afterdesk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum MailSource {
    /// The built-in SMTP receiver.
    Smtp {
        /// The client's address.
        peer: String,
    },
    /// `POST /v1/inbound/email`.
    Api {
        /// Who posted it (the token's person).
        by: String,
    },
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MailOutcome {
    /// Not processed yet.
    Pending,
    /// It opened a ticket.
    Opened {
        /// The ticket.
        #[schema(value_type = String)]
        ticket: TicketId,
        /// Its number.
        number: String,
    },
    /// It was added to a ticket (a reply, or mail that was not answered).
    Added {
        /// The ticket.
        #[schema(value_type = String)]
        ticket: TicketId,
        /// Its number.
        number: String,
    },
    /// Kept but not made into a ticket: an automatic reply, a loop, a bounce, or mail from
    /// Afterdesk itself.
    Ignored {
        /// Why.
        reason: String,
    },
    /// It could not be processed (the reason says why); it stays here for someone to look at.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A message received, as spooled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboundMail {
    /// Id (a ULID: messages sort by arrival).
    #[schema(value_type = String)]
    pub id: Ulid,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// How.
    pub source: MailSource,
    /// The envelope sender (`MAIL FROM`; empty for bounces).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`), lower-case.
    pub rcpt_to: Vec<String>,
    /// SHA-256 of the raw message in the blob store.
    pub raw_sha256: String,
    /// Size of the raw message, in bytes.
    pub size: u64,
    /// What became of it.
    pub outcome: MailOutcome,
    /// When it was processed.
    #[serde(default)]
    pub processed_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Spools a raw message: its content, record and queue entry in one transaction, then a
    /// flush. Returns the record once it is durable.
    pub fn spool_mail(
        &self,
        id: Ulid,
        received_at: DateTime<Utc>,
        source: MailSource,
        mail_from: &str,
        rcpt_to: &[String],
        raw: &[u8],
    ) -> Result<InboundMail, StoreError> {
        let raw_sha256 = blobs::digest(raw);
        let mail = InboundMail {
            id,
            received_at,
            source,
            mail_from: mail_from.to_string(),
            rcpt_to: rcpt_to.iter().map(|r| r.to_lowercase()).collect(),
            raw_sha256,
            size: raw.len() as u64,
            outcome: MailOutcome::Pending,
            processed_at: None,
        };
        let value = encode(&mail)?;
        let key = keys::ulid_bytes(id);
        let blob_key = {
            let mut k = [0; 32];
            hex::decode_to_slice(&mail.raw_sha256, &mut k)
                .map_err(|e| StoreError::Corrupt { what: "inbound digest".into(), reason: e.to_string() })?;
            k
        };
        (&self.inbound, &self.inbound_queue, &self.blobs)
            .transaction(|(inbound, queue, blobs)| {
                if blobs.get(blob_key)?.is_none() {
                    blobs.insert(&blob_key, raw)?;
                }
                inbound.insert(&key, value.as_slice())?;
                queue.insert(&key, &[])?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)?;
        self.flush()?;
        Ok(mail)
    }

    /// A spooled message by id.
    pub fn inbound_mail(&self, id: Ulid) -> Result<Option<InboundMail>, StoreError> {
        self.inbound.get(keys::ulid_bytes(id))?.map(|bytes| decode(&bytes, "inbound mail")).transpose()
    }

    /// Messages not processed yet, oldest first, at most `limit`.
    pub fn pending_mail(&self, limit: usize) -> Result<Vec<InboundMail>, StoreError> {
        let mut found = Vec::new();
        for key in self.inbound_queue.iter().keys().take(limit) {
            let Some(id) = keys::ulid_from(&key?) else { continue };
            if let Some(mail) = self.inbound_mail(id)? {
                found.push(mail);
            }
        }
        Ok(found)
    }

    /// Records what became of a message and takes it off the queue (one transaction; the
    /// caller flushes).
    pub fn finish_mail(&self, mail: &InboundMail) -> Result<(), StoreError> {
        let value = encode(mail)?;
        let key = keys::ulid_bytes(mail.id);
        (&self.inbound, &self.inbound_queue)
            .transaction(|(inbound, queue)| {
                inbound.insert(&key, value.as_slice())?;
                queue.remove(&key)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)
    }

    /// Messages received, newest first, at most `limit`, before the cursor `before`.
    pub fn list_inbound(&self, before: Option<Ulid>, limit: usize) -> Result<Vec<InboundMail>, StoreError> {
        let end = before.map_or([0xff; 16], keys::ulid_bytes);
        self.inbound.range(..end).values().rev().take(limit).map(|bytes| decode(&bytes?, "inbound mail")).collect()
    }
}

fn transaction_error(error: TransactionError<()>) -> StoreError {
    match error {
        TransactionError::Storage(e) => StoreError::Sled(e),
        TransactionError::Abort(()) => {
            StoreError::Corrupt { what: "inbound transaction".into(), reason: "aborted".into() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spooled_message_waits_until_it_is_finished() {
        let store = Store::open_temporary().expect("store");
        let at = Utc::now();
        let id = Ulid::from_parts(1, 7);
        let source = MailSource::Smtp { peer: "127.0.0.1:5000".into() };
        let mail = store
            .spool_mail(id, at, source, "sam@example.com", &["Support@Example.com".into()], b"Subject: hi\r\n\r\nhello")
            .expect("spool");
        assert_eq!(mail.rcpt_to, ["support@example.com"]);
        assert_eq!(store.blob(&mail.raw_sha256).expect("blob").as_deref(), Some(&b"Subject: hi\r\n\r\nhello"[..]));
        assert_eq!(store.pending_mail(10).expect("pending"), std::slice::from_ref(&mail));
        let done = InboundMail {
            outcome: MailOutcome::Ignored { reason: "automatic reply".into() },
            processed_at: Some(at),
            ..mail
        };
        store.finish_mail(&done).expect("finish");
        assert!(store.pending_mail(10).expect("pending").is_empty());
        assert_eq!(store.inbound_mail(id).expect("read"), Some(done.clone()));
        assert_eq!(store.list_inbound(None, 10).expect("list"), [done]);
    }
}
