//! The outbox: messages to send (email, webhooks), written in the same transaction as the
//! events that caused them, so none is lost and none is sent for a change that was not saved.
//! The delivery worker (`notify::worker`) reads the queue, sends, and records each attempt here.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `outbox` | message id (ULID, 16) | message (JSON) |
//! | `outbox_queue` | next attempt in ms since 1970 (u64 BE) ++ message id (16) | empty; pending messages only |
//! | `outbox_index` | `s` ++ state (1) ++ message id (16) | empty; sent and dead messages |
//! | `outbox_index` | `w` ++ webhook key ++ `0x00` ++ message id (16) | empty; every call of a webhook |
//!
//! A message is in exactly one place of the queue while pending, so the worker reads only what
//! is due, earliest first, and a restart after a crash simply reads the queue again. Dead
//! letters are queued again by hand, one or in bulk ([`Store::retry_dead`]). Listing
//! sent or dead messages, or one webhook's deliveries, is a prefix scan, newest first.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::TransactionError;
use ulid::Ulid;

use super::{Store, StoreError, decode, encode, keys};
use crate::engine::notices::Audience;
use crate::engine::{Ticket, TicketId};

/// Delivery state of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting to be sent (or retried).
    Pending,
    /// Sent (accepted by the mail server, or answered 2xx by the webhook's receiver).
    Sent,
    /// Given up: the retry limit was reached or the receiver refused it for good.
    Dead,
}

impl DeliveryState {
    fn byte(self) -> u8 {
        match self {
            Self::Pending => b'p',
            Self::Sent => b's',
            Self::Dead => b'd',
        }
    }
}

/// What a message is: an email rendered from a template, or a webhook call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Payload {
    /// An email.
    Email(Email),
    /// A webhook call.
    Webhook(WebhookCall),
}

/// An email, rendered when it is sent from its template and values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Email {
    /// Which template renders it (`sla_warning`, `sla_escalation`, `ticket_received`, ...).
    pub template: String,
    /// Recipients.
    pub to: Vec<String>,
    /// The default subject line (templates may word it differently).
    pub subject: String,
    /// Values the template shows.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    /// Who reads it: `customer` mail has a Reply-To and no staff links.
    #[serde(default)]
    pub audience: Audience,
    /// Written by a person (a public reply): sent without `Auto-Submitted`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub personal: bool,
    /// Files of the ticket sent along, fixed when queued so every retry sends the same ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::engine::attachment::Attachment>,
}

/// A call of a webhook: a signed JSON POST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookCall {
    /// The webhook: `workflow/name`.
    pub webhook: String,
    /// Where it is posted.
    pub url: String,
    /// The event kind (`ticket_opened`, `resolved`, ...).
    pub event: String,
    /// Name of the secret that signs it (see the server's `secrets`), if any.
    pub secret: Option<String>,
    /// The JSON body, fixed when queued so every retry posts the same bytes.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    /// Id; also the stable Message-ID of the email and the delivery id of a webhook call, the
    /// same on every retry, so a receiver can drop a duplicate.
    #[schema(value_type = String)]
    pub id: Ulid,
    /// The ticket it is about (none for a digest).
    pub ticket: Option<TicketId>,
    /// The ticket's number (empty for a digest).
    pub number: String,
    /// The workflow it belongs to.
    #[serde(default)]
    pub workflow: String,
    /// The workflow version whose templates render it.
    #[serde(default)]
    pub version: String,
    /// Revision of the event that caused it.
    pub revision: u64,
    /// What to send.
    pub payload: Payload,
    /// Not before this time (held until business hours, or a survey's delay).
    pub not_before: DateTime<Utc>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Delivery state.
    pub state: DeliveryState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (pending messages).
    #[serde(default)]
    pub next_attempt: Option<DateTime<Utc>>,
    /// When it was sent.
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When its first failed try was (since it was queued, or last retried by hand): it is dead
    /// once it has been failing for `delivery.give_up_after`.
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    /// The receiver's last answer (SMTP reply or HTTP status).
    #[serde(default)]
    pub response: Option<String>,
    /// When a bounce (a delivery status notification) came back for it: it was accepted by the
    /// mail server but never reached its recipient, and is dead.
    #[serde(default)]
    pub bounced_at: Option<DateTime<Utc>>,
}

impl OutboxMessage {
    /// A new pending message, not yet about any ticket.
    pub fn queued(id: Ulid, payload: Payload, not_before: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            id,
            ticket: None,
            number: String::new(),
            workflow: String::new(),
            version: String::new(),
            revision: 0,
            payload,
            not_before,
            created_at: now,
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt: None,
            sent_at: None,
            last_error: None,
            failing_since: None,
            response: None,
            bounced_at: None,
        }
    }

    /// The same message queued again by hand (a dead letter whose cause was fixed): pending at
    /// `now`, with a fresh set of tries; the same id, so the same Message-ID or delivery id.
    pub fn retried(&self, now: DateTime<Utc>) -> Self {
        let mut again = self.clone();
        again.state = DeliveryState::Pending;
        again.attempts = 0;
        again.failing_since = None;
        again.next_attempt = Some(now);
        again
    }

    /// The same message, about `ticket` as of `revision`.
    pub fn about(mut self, ticket: &Ticket, revision: u64) -> Self {
        self.ticket = Some(ticket.id);
        self.number.clone_from(&ticket.number);
        self.workflow.clone_from(&ticket.workflow);
        self.version.clone_from(&ticket.version);
        self.revision = revision;
        self
    }

    /// The same message, rendered with the templates of this workflow version.
    pub fn of_workflow(mut self, workflow: &str, version: &str) -> Self {
        workflow.clone_into(&mut self.workflow);
        version.clone_into(&mut self.version);
        self
    }

    /// The email, if it is one.
    pub fn email(&self) -> Option<&Email> {
        match &self.payload {
            Payload::Email(email) => Some(email),
            Payload::Webhook(_) => None,
        }
    }

    /// The webhook call, if it is one.
    pub fn webhook(&self) -> Option<&WebhookCall> {
        match &self.payload {
            Payload::Webhook(call) => Some(call),
            Payload::Email(_) => None,
        }
    }

    /// When the worker should try it next.
    pub fn due(&self) -> DateTime<Utc> {
        self.next_attempt.unwrap_or(self.not_before)
    }
}

/// The key of a message.
pub fn key(id: Ulid) -> [u8; 16] {
    keys::ulid_bytes(id)
}

/// The queue key of a pending message.
pub fn queue_key(due: DateTime<Utc>, id: Ulid) -> [u8; 24] {
    let mut key = [0; 24];
    key[..8].copy_from_slice(&u64::try_from(due.timestamp_millis()).unwrap_or(0).to_be_bytes());
    key[8..].copy_from_slice(&keys::ulid_bytes(id));
    key
}

fn state_key(state: DeliveryState, id: Ulid) -> [u8; 18] {
    let mut key = [0; 18];
    key[0] = b's';
    key[1] = state.byte();
    key[2..].copy_from_slice(&keys::ulid_bytes(id));
    key
}

fn webhook_prefix(webhook: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(webhook.len() + 18);
    key.push(b'w');
    key.extend_from_slice(webhook.as_bytes());
    key.push(0);
    key
}

/// The index key that lists a webhook call under its webhook.
pub fn webhook_key(webhook: &str, id: Ulid) -> Vec<u8> {
    let mut key = webhook_prefix(webhook);
    key.extend_from_slice(&keys::ulid_bytes(id));
    key
}

/// Which messages to list.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// Only in this state.
    pub state: Option<DeliveryState>,
    /// Only calls of this webhook (`workflow/name`).
    pub webhook: Option<String>,
    /// Only about this ticket.
    pub ticket: Option<TicketId>,
    /// Only queued at or after this time.
    pub since: Option<DateTime<Utc>>,
}

impl OutboxFilter {
    /// Whether `message` passes the filter.
    pub fn keeps(&self, message: &OutboxMessage) -> bool {
        self.state.is_none_or(|s| s == message.state)
            && self.ticket.is_none_or(|t| message.ticket == Some(t))
            && self.since.is_none_or(|since| message.created_at >= since)
            && self.webhook.as_ref().is_none_or(|w| message.webhook().is_some_and(|c| &c.webhook == w))
    }
}

/// Most keys one listing page reads, whatever the filter, so a page costs the same however
/// many messages there are.
const MAX_SCAN: usize = 20_000;

impl Store {
    /// A message by id.
    pub fn outbox_message(&self, id: Ulid) -> Result<Option<OutboxMessage>, StoreError> {
        self.outbox.get(key(id))?.map(|bytes| decode(&bytes, "outbox message")).transpose()
    }

    /// Pending messages due at or before `now`, earliest first, at most `limit`.
    pub fn due_messages(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        let end = u64::try_from(now.timestamp_millis()).unwrap_or(0).saturating_add(1).to_be_bytes();
        let mut found = Vec::new();
        for entry in self.outbox_queue.range(..end.as_slice()).keys().take(limit) {
            let entry = entry?;
            let Some(id) = entry.get(8..24).and_then(keys::ulid_from) else { continue };
            if let Some(message) = self.outbox_message(id)? {
                found.push(message);
            }
        }
        Ok(found)
    }

    /// When the earliest pending message comes due.
    pub fn next_message_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.outbox_queue.first()?.and_then(|(key, _)| {
            let millis = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
            DateTime::from_timestamp_millis(i64::try_from(millis).ok()?)
        }))
    }

    /// How many messages are pending.
    pub fn pending_messages(&self) -> usize {
        self.outbox_queue.len()
    }

    /// Records a delivery attempt (or a manual retry): stores `message` as it is now and moves
    /// it in the queue and the state index, in one transaction. `previous` is how it was.
    pub fn record_delivery(&self, previous: &OutboxMessage, message: &OutboxMessage) -> Result<(), StoreError> {
        let value = encode(message)?;
        (&self.outbox, &self.outbox_queue, &self.outbox_index)
            .transaction(|(outbox, queue, index)| {
                outbox.insert(&key(message.id), value.as_slice())?;
                match previous.state {
                    DeliveryState::Pending => {
                        queue.remove(&queue_key(previous.due(), previous.id))?;
                    }
                    state => {
                        index.remove(&state_key(state, previous.id))?;
                    }
                }
                match message.state {
                    DeliveryState::Pending => {
                        queue.insert(&queue_key(message.due(), message.id), &[])?;
                    }
                    state => {
                        index.insert(&state_key(state, message.id), &[])?;
                    }
                }
                Ok(())
            })
            .map_err(|e: TransactionError<()>| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(()) => {
                    StoreError::Corrupt { what: "outbox transaction".into(), reason: "aborted".into() }
                }
            })
    }

    /// Messages matching `filter`, newest first (pending ones in the order they are due), at
    /// most `limit`, after the cursor `before` (the id of the last message of the previous page).
    /// Returns the page and the cursor of the next one, if there may be more.
    pub fn list_outbox(
        &self,
        filter: &OutboxFilter,
        before: Option<Ulid>,
        limit: usize,
    ) -> Result<(Vec<OutboxMessage>, Option<Ulid>), StoreError> {
        let mut found = Vec::new();
        let mut scanned = 0;
        // The narrowest index that answers the filter gives the ids: the queue in due order for
        // pending messages, else newest first.
        let ids: Box<dyn Iterator<Item = Result<Option<Ulid>, StoreError>>> = match (&filter.webhook, filter.state) {
            (Some(webhook), _) => Box::new(prefix_ids(&self.outbox_index, webhook_prefix(webhook), before)),
            (None, Some(DeliveryState::Pending)) => {
                // Resume after the cursor's place in the queue (it may have moved: then from the start).
                let from = match before.map(|id| self.outbox_message(id)).transpose()?.flatten() {
                    Some(last) if last.state == DeliveryState::Pending => {
                        let mut key = queue_key(last.due(), last.id).to_vec();
                        key.push(0);
                        key
                    }
                    _ => Vec::new(),
                };
                Box::new(self.outbox_queue.range(from..).map(|entry| Ok(entry?.0.get(8..24).and_then(keys::ulid_from))))
            }
            (None, Some(state)) => Box::new(prefix_ids(&self.outbox_index, vec![b's', state.byte()], before)),
            (None, None) => {
                let end = before.map_or([0xff; 16], key);
                Box::new(self.outbox.range(..end).rev().map(|entry| Ok(keys::ulid_from(&entry?.0))))
            }
        };
        for id in ids {
            scanned += 1;
            let Some(id) = id? else { continue };
            if let Some(message) = self.outbox_message(id)?
                && filter.keeps(&message)
            {
                found.push(message);
                if found.len() == limit {
                    return Ok((found, Some(id)));
                }
            }
            if scanned >= MAX_SCAN {
                return Ok((found, Some(id)));
            }
        }
        Ok((found, None))
    }

    /// Queues again every dead letter `filter` keeps (its `state` is ignored: only dead letters
    /// are retried), as [`OutboxMessage::retried`] at `now`; returns how many. Each moves in its
    /// own small transaction, like a delivery record; the caller flushes.
    pub fn retry_dead(&self, filter: &OutboxFilter, now: DateTime<Utc>) -> Result<usize, StoreError> {
        // Ids first: the index changes under the scan as messages leave it.
        let ids: Vec<Ulid> = prefix_ids(&self.outbox_index, vec![b's', DeliveryState::Dead.byte()], None)
            .filter_map(|id| id.transpose())
            .collect::<Result<_, _>>()?;
        let filter = OutboxFilter { state: Some(DeliveryState::Dead), ..filter.clone() };
        let mut retried = 0;
        for id in ids {
            if let Some(message) = self.outbox_message(id)?
                && filter.keeps(&message)
            {
                self.record_delivery(&message, &message.retried(now))?;
                retried += 1;
            }
        }
        Ok(retried)
    }

    /// Marks a message that bounced: dead, with the bounce's reason as its last error, so it is
    /// listed with the dead letters for someone to look at. Returns it, if it exists.
    pub fn mark_bounced(&self, id: Ulid, at: DateTime<Utc>, reason: &str) -> Result<Option<OutboxMessage>, StoreError> {
        let Some(message) = self.outbox_message(id)? else { return Ok(None) };
        let mut bounced = message.clone();
        bounced.state = DeliveryState::Dead;
        bounced.next_attempt = None;
        bounced.bounced_at = Some(at);
        bounced.last_error = Some(format!("bounced: {reason}"));
        self.record_delivery(&message, &bounced)?;
        Ok(Some(bounced))
    }

    /// Messages of one template, oldest first.
    pub fn outbox_with_template(&self, template: &str) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut found = self.all_messages()?;
        found.retain(|m| m.email().is_some_and(|e| e.template == template));
        Ok(found)
    }

    /// A ticket's messages, oldest first.
    pub fn outbox_of(&self, ticket: TicketId) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut found = self.all_messages()?;
        found.retain(|m| m.ticket == Some(ticket));
        Ok(found)
    }

    /// Every message, oldest first (tests and tools; the API pages with [`Store::list_outbox`]).
    pub fn all_messages(&self) -> Result<Vec<OutboxMessage>, StoreError> {
        self.outbox.iter().values().map(|bytes| decode(&bytes?, "outbox message")).collect()
    }
}

/// Ids under `prefix` of the index, newest first, before the cursor.
fn prefix_ids(
    index: &sled::Tree,
    prefix: Vec<u8>,
    before: Option<Ulid>,
) -> impl Iterator<Item = Result<Option<Ulid>, StoreError>> {
    let start = prefix.clone();
    let end = match before {
        Some(cursor) => {
            let mut end = prefix.clone();
            end.extend_from_slice(&keys::ulid_bytes(cursor));
            end
        }
        None => {
            let mut end = prefix.clone();
            end.extend_from_slice(&[0xff; 17]);
            end
        }
    };
    let offset = prefix.len();
    index.range(start..end).rev().map(move |entry| Ok(entry?.0.get(offset..offset + 16).and_then(keys::ulid_from)))
}
