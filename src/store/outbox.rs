//! The outbox: messages to send (email, webhooks), written in the same transaction as the
//! events that caused them, so none is lost and none is sent for a change that was not saved.
//! Delivery reads them from here.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `outbox` | message id (ULID, 16) | message (JSON) |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{Store, StoreError, decode, keys};
use crate::engine::TicketId;

/// Delivery state of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting to be sent (or retried).
    Pending,
    /// Sent.
    Sent,
    /// Given up after the retry limit.
    Dead,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    /// Id; also the stable Message-ID of the email.
    #[schema(value_type = String)]
    pub id: Ulid,
    /// The ticket it is about (none for a digest).
    pub ticket: Option<TicketId>,
    /// The ticket's number (empty for a digest).
    pub number: String,
    /// Revision of the event that caused it.
    pub revision: u64,
    /// Which template renders it (`sla_warning`, `sla_escalation`, `ticket_received`, ...).
    pub template: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Values the template shows.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    /// Not before this time (held until business hours).
    pub not_before: DateTime<Utc>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Delivery state.
    pub state: DeliveryState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last delivery error.
    pub last_error: Option<String>,
}

/// The key of a message.
pub fn key(id: Ulid) -> [u8; 16] {
    keys::ulid_bytes(id)
}

impl Store {
    /// Messages in queue order (oldest first), at most `limit`.
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        self.outbox.iter().values().take(limit).map(|bytes| decode(&bytes?, "outbox message")).collect()
    }

    /// Messages of one template, oldest first.
    pub fn outbox_with_template(&self, template: &str) -> Result<Vec<OutboxMessage>, StoreError> {
        Ok(self.outbox(usize::MAX)?.into_iter().filter(|m| m.template == template).collect())
    }

    /// A ticket's messages, oldest first.
    pub fn outbox_of(&self, ticket: TicketId) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut found = Vec::new();
        for bytes in self.outbox.iter().values() {
            let message: OutboxMessage = decode(&bytes?, "outbox message")?;
            if message.ticket == Some(ticket) {
                found.push(message);
            }
        }
        Ok(found)
    }
}
