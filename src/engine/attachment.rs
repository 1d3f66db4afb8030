//! Files on a ticket: what the log records of an attachment. The content itself is a blob in
//! the store, named by its SHA-256 and written (and flushed) before the event that lists it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// A file attached to a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attachment {
    /// Id on the ticket (a ULID); `GET /v1/tickets/{ticket}/attachments/{id}` downloads it.
    #[schema(value_type = String)]
    pub id: Ulid,
    /// File name as given (no folders).
    pub name: String,
    /// Media type as given (`application/pdf`).
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content (hex): the blob it is stored as.
    pub sha256: String,
    /// When it was added.
    pub added_at: DateTime<Utc>,
}
