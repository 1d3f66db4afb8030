//! Files sent along with a mail: a ticket's attachments, read from the blob store by the
//! delivery worker, become MIME attachments beside the text and HTML parts.
//!
//! The outbox records which files (id, name, type, SHA-256) when the mail is queued, so a
//! retry sends the same ones; this module only shapes the message body.

use lettre::message::header::ContentType;
use lettre::message::{Attachment as MimeAttachment, MultiPart};

use super::templates::Rendered;

/// One file to send: its name, media type and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFile {
    /// File name shown to the recipient.
    pub name: String,
    /// Media type (`application/pdf`); `application/octet-stream` if it does not parse.
    pub content_type: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// The body of a mail: the text and HTML alternatives, and, when there are files, those as
/// attachments (`multipart/mixed`).
pub fn body(rendered: &Rendered, files: &[MailFile]) -> MultiPart {
    let text = MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone());
    if files.is_empty() {
        return text;
    }
    let mut mixed = MultiPart::mixed().multipart(text);
    for file in files {
        let kind = ContentType::parse(&file.content_type)
            .unwrap_or_else(|_| ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN));
        mixed = mixed.singlepart(MimeAttachment::new(file.name.clone()).body(file.bytes.clone(), kind));
    }
    mixed
}
