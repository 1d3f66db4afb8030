//! Key encodings of every sled tree. All keys sort in a useful order: ids are ULIDs written as
//! 16 big-endian bytes (so they sort by creation time), numbers are big-endian, and parts of a
//! composite key are separated by a 0 byte (which never appears in the text parts).
//!
//! | tree | key | value |
//! |---|---|---|
//! | `events` | ticket id (16) ++ revision (u64 BE) | event (JSON) |
//! | `tickets` | ticket id (16) | ticket snapshot (JSON) |
//! | `numbers` | human number, e.g. `AS-1042` | ticket id (16) |
//! | `customers` | customer id (16) | customer (JSON) |
//! | `customer_keys` | `email` 0 address (lower-case) / `external` 0 id / `phone` 0 E.164 number | customer id (16) |
//! | `customer_events` | customer id (16) ++ event id (16) | customer event (JSON) |
//! | `index` | index name 0 value 0 ticket id (16) | empty |
//! | `workflows` | workflow id 0 version | stored definition (JSON) |
//! | `meta` | `seq` 0 workflow id | last ticket number (u64 BE) |
//! | `meta` | `job` 0 workflow id 0 job id | last run, ms since 1970 (i64 BE) |
//! | `idempotency` | caller 0 idempotency key | ticket id (16) ++ SHA-256 of the request (32) |
//! | `meta` | `person` 0 id / `turn` 0 workflow 0 role | see [`super::people`] |
//!
//! Index names and values are in [`super::indexes`]. Listing an index value walks its keys in
//! ticket-id order, i.e. oldest ticket first, and resumes after the last id seen (the cursor).

use ulid::Ulid;

use crate::engine::{CustomerId, TicketId};

/// A new id made at `at`: ids from one generator sort in the order they were made, even within
/// the same millisecond (falling back to a random one in the rare overflow of a millisecond).
pub fn next_ulid(ids: &mut ulid::Generator, at: chrono::DateTime<chrono::Utc>) -> Ulid {
    ids.generate_from_datetime(at.into()).unwrap_or_else(|_| Ulid::from_datetime(at.into()))
}

/// The 16 bytes of a ULID, most significant first.
pub fn ulid_bytes(id: Ulid) -> [u8; 16] {
    id.0.to_be_bytes()
}

/// A ULID from 16 big-endian bytes.
pub fn ulid_from(bytes: &[u8]) -> Option<Ulid> {
    let array: [u8; 16] = bytes.try_into().ok()?;
    Some(Ulid(u128::from_be_bytes(array)))
}

/// Key of a ticket in `tickets`, and prefix of its events in `events`.
pub fn ticket(id: TicketId) -> [u8; 16] {
    ulid_bytes(id.0)
}

/// Key of an event.
pub fn event(id: TicketId, revision: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&ulid_bytes(id.0));
    key[16..].copy_from_slice(&revision.to_be_bytes());
    key
}

/// Key of a customer.
pub fn customer(id: CustomerId) -> [u8; 16] {
    ulid_bytes(id.0)
}

/// Key of an entry of a customer's audit trail: the customer's events sort by time.
pub fn customer_event(customer: CustomerId, event: Ulid) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(&ulid_bytes(customer.0));
    key[16..].copy_from_slice(&ulid_bytes(event));
    key
}

/// Key finding a customer by email.
pub fn customer_email(email: &str) -> Vec<u8> {
    joined(&[b"email", email.trim().to_lowercase().as_bytes()])
}

/// Key finding a customer by external id.
pub fn customer_external(external_id: &str) -> Vec<u8> {
    joined(&[b"external", external_id.trim().as_bytes()])
}

/// Key finding a customer by phone number (E.164, see [`crate::engine::phone`]).
pub fn customer_phone(e164: &str) -> Vec<u8> {
    joined(&[b"phone", e164.trim().as_bytes()])
}

/// Prefix of one value of an index.
pub fn index_prefix(name: &str, value: &str) -> Vec<u8> {
    let mut key = joined(&[name.as_bytes(), value.as_bytes()]);
    key.push(0);
    key
}

/// Key of a ticket under one value of an index.
pub fn index(name: &str, value: &str, id: TicketId) -> Vec<u8> {
    let mut key = index_prefix(name, value);
    key.extend_from_slice(&ulid_bytes(id.0));
    key
}

/// Key of a mail received on a ticket, by its Message-ID (in the `index` tree, as index `mail`;
/// Message-IDs compare without angle brackets and case).
pub fn mail(message_id: &str, id: TicketId) -> Vec<u8> {
    index(MAIL_INDEX, &mail_id(message_id), id)
}

/// The index of mail received.
pub const MAIL_INDEX: &str = "mail";

/// A Message-ID as it is compared: without angle brackets, white space and case.
pub fn mail_id(message_id: &str) -> String {
    message_id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_lowercase()
}

/// Key of a stored workflow version.
pub fn workflow(id: &str, version: &str) -> Vec<u8> {
    joined(&[id.as_bytes(), version.as_bytes()])
}

/// Prefix of every stored version of a workflow.
pub fn workflow_prefix(id: &str) -> Vec<u8> {
    let mut key = id.as_bytes().to_vec();
    key.push(0);
    key
}

/// Key of a workflow's ticket-number counter.
pub fn sequence(workflow: &str) -> Vec<u8> {
    joined(&[b"seq", workflow.as_bytes()])
}

/// Key of a scheduled job's last run (in `meta`).
pub fn job(workflow: &str, job: &str) -> Vec<u8> {
    joined(&[b"job", workflow.as_bytes(), job.as_bytes()])
}

/// Key of an idempotency key, per caller (two callers may pick the same key).
pub fn idempotency(caller: &str, key: &str) -> Vec<u8> {
    joined(&[caller.as_bytes(), key.as_bytes()])
}

/// Parts joined by 0 bytes. Text parts never hold a 0 byte: they are checked names, numbers,
/// and lower-cased emails; a 0 inside one is replaced so keys stay unambiguous.
fn joined(parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(0);
        }
        key.extend(part.iter().map(|&b| if b == 0 { 1 } else { b }));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_by_ticket_then_revision() {
        let a = TicketId(Ulid::from_parts(1_000, 5));
        let b = TicketId(Ulid::from_parts(2_000, 1));
        let mut keys = vec![event(b, 1), event(a, 10), event(a, 2), event(a, 256)];
        keys.sort();
        assert_eq!(keys, vec![event(a, 2), event(a, 10), event(a, 256), event(b, 1)]);
    }

    #[test]
    fn index_values_do_not_run_into_each_other() {
        let id = TicketId(Ulid::from_parts(1, 1));
        let key = index("stage", "ab", id);
        assert!(key.starts_with(&index_prefix("stage", "ab")));
        assert!(!key.starts_with(&index_prefix("stage", "a")));
        assert_eq!(ulid_from(&key[key.len() - 16..]), Some(id.0));
    }
}
