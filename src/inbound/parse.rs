//! What a received message says, read once from its raw bytes: who wrote, which mail it
//! answers, its text (and the new part of it, without the quoted history), its files, whether
//! it was written by a machine, and whether it is a delivery failure report.
//!
//! MIME, encodings and headers are read by `mail-parser`, HTML by `html2text`, quoted history and
//! signatures by `langmail`; this module only decides what those mean for a ticket.

use std::borrow::Cow;

use mail_parser::{Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

/// A received message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// Its Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// The Message-IDs it answers, most relevant first: `In-Reply-To`, then `References`
    /// newest first.
    pub answers: Vec<String>,
    /// The author's address, lower-case (`From`, else `Sender`, else `Reply-To`).
    pub from: Option<String>,
    /// The author's display name.
    pub from_name: Option<String>,
    /// Where it was addressed (`To`, then `Cc`), lower-case.
    pub to: Vec<String>,
    /// The subject (empty when there is none).
    pub subject: String,
    /// The whole text (the plain part, else the HTML part as text).
    pub text: String,
    /// What is new in it: the text without quoted history and signature (the whole text when
    /// nothing else remains).
    pub reply: String,
    /// Files it carries.
    pub files: Vec<MailFile>,
    /// Why nobody should answer it, when a machine wrote it (an automatic reply, bulk or list
    /// mail).
    pub automatic: Option<String>,
    /// The delivery failure it reports, when it is a bounce.
    pub bounce: Option<Bounce>,
    /// The ticket number of a mail Afterdesk itself sent (its `X-Afterdesk-Ticket` header):
    /// set when our own mail comes back in.
    pub ours: Option<String>,
}

/// A file carried by a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFile {
    /// Its name as the sender gave it (not yet sanitised).
    pub name: String,
    /// Its media type (`application/pdf`).
    pub content_type: String,
    /// Its content.
    pub data: Vec<u8>,
}

/// A delivery status notification (RFC 3464) or a bounce that looks like one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the mail that could not be delivered, when the report says.
    pub original: Option<String>,
    /// The recipient it failed for.
    pub recipient: Option<String>,
    /// Why (`5.1.1 user unknown`).
    pub reason: String,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a mail message: no header could be read")]
pub struct NotMail;

/// Reads a raw RFC 5322 message.
pub fn parse(raw: &[u8]) -> Result<ParsedMail, NotMail> {
    let message = MessageParser::default().parse(raw).ok_or(NotMail)?;
    if message.headers().is_empty() {
        return Err(NotMail);
    }
    let (from, from_name) = author(&message);
    let mut to = Vec::new();
    for address in [message.to(), message.cc()].into_iter().flatten() {
        to.extend(addresses(address));
    }
    let text = text_of(&message);
    let reply = new_text(&text);
    // The mail it answers directly first, then the thread from its newest end.
    let mut answers = ids_of(message.in_reply_to());
    for id in ids_of(message.references()).into_iter().rev() {
        if !answers.contains(&id) {
            answers.push(id);
        }
    }
    Ok(ParsedMail {
        message_id: message.message_id().map(clean_id).filter(|id| !id.is_empty()),
        answers,
        from,
        from_name,
        to,
        subject: message.subject().map(|s| s.trim().to_string()).unwrap_or_default(),
        reply,
        text,
        files: files_of(&message),
        automatic: automatic(&message),
        bounce: bounce(&message),
        ours: header_text(&message, "X-Afterdesk-Ticket"),
    })
}

/// A Message-ID without brackets or spaces.
pub fn clean_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_string()
}

fn author(message: &Message<'_>) -> (Option<String>, Option<String>) {
    for address in [message.from(), message.sender(), message.reply_to()].into_iter().flatten() {
        if let Some(first) = address.first()
            && let Some(email) = first.address.as_deref().map(str::trim).filter(|a| a.contains('@'))
        {
            let name = first.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
            return (Some(email.to_lowercase()), name);
        }
    }
    (None, None)
}

fn addresses(address: &Address<'_>) -> Vec<String> {
    address
        .iter()
        .filter_map(|a| a.address.as_deref())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| a.contains('@'))
        .collect()
}

fn ids_of(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![clean_id(id)],
        HeaderValue::TextList(ids) => ids.iter().map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|id| !id.is_empty())
    .collect()
}

fn header_text(message: &Message<'_>, name: &str) -> Option<String> {
    message.header_raw(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The body as text: the first plain part; when there is only HTML, that HTML as text.
fn text_of(message: &Message<'_>) -> String {
    let plain = message.text_bodies().find_map(|part| match &part.body {
        PartType::Text(text) => Some(text.clone()),
        _ => None,
    });
    let text = match plain {
        Some(text) => text,
        None => match message.html_bodies().find_map(|part| match &part.body {
            PartType::Html(html) => Some(html.clone()),
            _ => None,
        }) {
            Some(html) => Cow::Owned(html_to_text(&html)),
            None => Cow::Borrowed(""),
        },
    };
    text.replace("\r\n", "\n").trim().to_string()
}

/// HTML as readable text, lines kept at a mail's usual width.
pub fn html_to_text(html: &str) -> String {
    html2text::from_read(html.as_bytes(), 100).unwrap_or_else(|_| html.to_string())
}

/// The text without its quoted history and signature (langmail: Gmail, Outlook and Apple Mail
/// quote headers in several languages, `>` lines, `-- ` signatures); all of it when nothing
/// else is left.
fn new_text(text: &str) -> String {
    let input = langmail::ParsedInput { text: Some(text.to_string()), ..langmail::ParsedInput::default() };
    let cleaned = langmail::preprocess_parsed(input, &langmail::PreprocessOptions::default()).body;
    let cleaned = cleaned.trim();
    if cleaned.is_empty() { text.to_string() } else { cleaned.to_string() }
}

/// The files: parts that are attachments, and inline parts that are not the message's text.
fn files_of(message: &Message<'_>) -> Vec<MailFile> {
    let mut files = Vec::new();
    for (i, part) in message.attachments().enumerate() {
        let content_type = media_type(part);
        // Reports' machine parts are read by `bounce`, not kept as files.
        if content_type == "message/delivery-status" {
            continue;
        }
        let data = match &part.body {
            PartType::Message(inner) => inner.raw_message().to_vec(),
            _ => part.contents().to_vec(),
        };
        let name = part.attachment_name().map(str::to_string).unwrap_or_else(|| match &part.body {
            PartType::Message(inner) => {
                format!("{}.eml", inner.subject().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("message"))
            }
            _ => format!("attachment-{}{}", i + 1, extension(&content_type)),
        });
        files.push(MailFile { name, content_type, data });
    }
    files
}

fn media_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
            None => ct.ctype().to_lowercase(),
        },
        None => match &part.body {
            PartType::Message(_) => "message/rfc822".to_string(),
            PartType::Text(_) => "text/plain".to_string(),
            PartType::Html(_) => "text/html".to_string(),
            _ => "application/octet-stream".to_string(),
        },
    }
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "image/gif" => ".gif",
        "application/pdf" => ".pdf",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "message/rfc822" => ".eml",
        _ => ".bin",
    }
}

/// Why nobody should answer this message, when a machine wrote it. The signs mature help desks
/// read: RFC 3834 `Auto-Submitted`, `Precedence`, the headers of common autoresponders and
/// mailing lists, and the subjects of out-of-office replies.
fn automatic(message: &Message<'_>) -> Option<String> {
    let raw = |name: &str| header_text(message, name).map(|v| v.to_lowercase());
    if let Some(value) = raw("Auto-Submitted")
        && !value.starts_with("no")
    {
        return Some(format!("automatic mail (Auto-Submitted: {value})"));
    }
    if let Some(value) = raw("Precedence")
        && ["bulk", "junk", "list", "auto_reply", "auto-reply"].iter().any(|p| value.starts_with(p))
    {
        return Some(format!("bulk mail (Precedence: {value})"));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Autoresponder"] {
        if raw(name).is_some() {
            return Some(format!("automatic reply ({name})"));
        }
    }
    if raw("X-Auto-Response-Suppress").is_some_and(|v| v.contains("all") || v.contains("oof")) {
        return Some("automatic reply (X-Auto-Response-Suppress)".to_string());
    }
    if let Some(list) = raw("List-Id") {
        return Some(format!("mailing list mail (List-Id: {list})"));
    }
    if raw("List-Unsubscribe").is_some() {
        return Some("bulk mail (List-Unsubscribe)".to_string());
    }
    let subject = message.subject().unwrap_or_default().trim().to_lowercase();
    const OUT_OF_OFFICE: [&str; 6] =
        ["auto:", "automatic reply", "autoreply", "auto-reply", "out of office", "out of the office"];
    if OUT_OF_OFFICE.iter().any(|p| subject.starts_with(p)) {
        return Some(format!("automatic reply (subject \"{}\")", message.subject().unwrap_or_default().trim()));
    }
    None
}

/// The delivery failure a message reports: a `multipart/report; report-type=delivery-status`
/// (RFC 3464) read for its failed recipient, status and the Message-ID of the mail that
/// failed (from the returned message or its headers).
fn bounce(message: &Message<'_>) -> Option<Bounce> {
    let root = message.root_part().content_type()?;
    let is_report = root.ctype().eq_ignore_ascii_case("multipart")
        && root.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && root.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    if !is_report {
        return None;
    }
    let mut recipient = None;
    let mut status = None;
    let mut diagnostic = None;
    let mut action = None;
    let mut original = None;
    for part in &message.parts {
        match media_type(part).as_str() {
            "message/delivery-status" => {
                let text = String::from_utf8_lossy(part.contents()).replace("\r\n", "\n");
                for line in unfold(&text) {
                    let Some((name, value)) = line.split_once(':') else { continue };
                    let value = value.trim().to_string();
                    match name.trim().to_ascii_lowercase().as_str() {
                        "final-recipient" | "original-recipient" if recipient.is_none() => {
                            recipient = Some(value.rsplit(';').next().unwrap_or(&value).trim().to_lowercase());
                        }
                        "status" if status.is_none() => status = Some(value),
                        "diagnostic-code" if diagnostic.is_none() => {
                            diagnostic =
                                Some(value.split_once(';').map(|(_, d)| d.trim()).unwrap_or(&value).to_string());
                        }
                        "action" if action.is_none() => action = Some(value.to_ascii_lowercase()),
                        _ => {}
                    }
                }
            }
            "message/rfc822" | "message/global" => {
                if let PartType::Message(inner) = &part.body {
                    original = original.or_else(|| inner.message_id().map(clean_id));
                }
            }
            "message/rfc822-headers" | "text/rfc822-headers" => {
                if let Some(headers) = MessageParser::default().parse_headers(part.contents()) {
                    original = original.or_else(|| headers.message_id().map(clean_id));
                }
            }
            _ => {}
        }
    }
    // A delay report (`Action: delayed`) is not a failure: the mail may still arrive.
    if action.as_deref().is_some_and(|a| a != "failed") {
        return None;
    }
    let original = original.or_else(|| ids_of(message.in_reply_to()).into_iter().next());
    let reason = match (status, diagnostic) {
        (Some(status), Some(diagnostic)) => format!("{status} {diagnostic}"),
        (Some(status), None) => status,
        (None, Some(diagnostic)) => diagnostic,
        (None, None) => "delivery failed".to_string(),
    };
    Some(Bounce { original: original.filter(|o| !o.is_empty()), recipient, reason })
}

/// Header-style lines with their continuation lines joined.
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t'])
            && let Some(last) = lines.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim());
        } else {
            lines.push(line.to_string());
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}").replace('\n', "\r\n").replace("\r\r\n", "\r\n").into_bytes()
    }

    #[test]
    fn reads_author_thread_and_new_text() {
        let raw = mail(
            "From: \"Sara Ahmadi\" <Sara@Example.COM>\nTo: support@shop.test\nCc: boss@example.com\nSubject: Re: \
             [AS-7] Door broken\nMessage-ID: <abc@mail.example.com>\nIn-Reply-To: <01J0@afterdesk.test>\nReferences: \
             <ticket-1@afterdesk.test> <01J0@afterdesk.test>",
            "It still leaks.\n\nOn Tue, Support wrote:\n> Did the fix work?\n> Regards",
        );
        let parsed = parse(&raw).expect("parses");
        assert_eq!(parsed.from.as_deref(), Some("sara@example.com"));
        assert_eq!(parsed.from_name.as_deref(), Some("Sara Ahmadi"));
        assert_eq!(parsed.to, vec!["support@shop.test", "boss@example.com"]);
        assert_eq!(parsed.message_id.as_deref(), Some("abc@mail.example.com"));
        assert_eq!(parsed.answers, vec!["01J0@afterdesk.test", "ticket-1@afterdesk.test"]);
        assert_eq!(parsed.subject, "Re: [AS-7] Door broken");
        assert_eq!(parsed.reply, "It still leaks.");
        assert!(parsed.text.contains("Did the fix work?"));
        assert_eq!(parsed.automatic, None);
        assert_eq!(parsed.bounce, None);
    }

    #[test]
    fn new_text_loses_signatures_and_quotes_in_other_languages() {
        let text = "Danke, es geht wieder.\n\nAm 01.12.2026 um 10:00 schrieb Afterdesk <desk@shop.test>:\n> Bitte \
                    testen Sie das Gerät.\n";
        assert_eq!(new_text(text), "Danke, es geht wieder.");
        assert_eq!(new_text("It works now.\n\n-- \nSam Rahimi\n+98 912 111 2222"), "It works now.");
        // Only quotes: the whole text is kept rather than nothing.
        assert_eq!(new_text("> old text"), "> old text");
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = mail(
            "From: a@example.com\nSubject: x\nContent-Type: text/html; charset=utf-8",
            "<html><body><p>The <b>pump</b> is noisy.</p><p>Second line</p></body></html>",
        );
        let parsed = parse(&raw).expect("parses");
        assert!(parsed.text.contains("pump"), "{}", parsed.text);
        assert!(!parsed.text.contains("<b>"), "{}", parsed.text);
        assert!(parsed.text.contains("Second line"));
    }

    #[test]
    fn machines_are_recognised() {
        let cases = [
            ("Auto-Submitted: auto-replied", true),
            ("Auto-Submitted: no", false),
            ("Precedence: bulk", true),
            ("X-Autoreply: yes", true),
            ("List-Id: <news.example.com>", true),
            ("Subject: Out of Office: back Monday", true),
            ("X-Mailer: Thunderbird", false),
        ];
        for (header, machine) in cases {
            let subject = if header.starts_with("Subject") { "" } else { "Subject: hello\n" };
            let raw = mail(&format!("From: a@example.com\n{subject}{header}"), "text");
            let parsed = parse(&raw).expect("parses");
            assert_eq!(parsed.automatic.is_some(), machine, "{header}: {:?}", parsed.automatic);
        }
    }

    #[test]
    fn delivery_reports_name_the_failed_message() {
        let raw = mail(
            "From: MAILER-DAEMON@mx.example.com\nTo: support@shop.test\nSubject: Undelivered Mail Returned to \
             Sender\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"",
            "--b1\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n--b1\nContent-Type: \
             message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; \
             Gone@Example.com\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user\n  \
             unknown\n\n--b1\nContent-Type: message/rfc822-headers\n\nMessage-ID: <01JABC@shop.test>\nSubject: \
             [AS-3] Your request\n\n--b1--\n",
        );
        let parsed = parse(&raw).expect("parses");
        let bounce = parsed.bounce.expect("a bounce");
        assert_eq!(bounce.original.as_deref(), Some("01JABC@shop.test"));
        assert_eq!(bounce.recipient.as_deref(), Some("gone@example.com"));
        assert_eq!(bounce.reason, "5.1.1 550 5.1.1 user unknown");
    }

    #[test]
    fn delays_are_no_bounce() {
        let raw = mail(
            "From: MAILER-DAEMON@mx.example.com\nSubject: Delayed\nContent-Type: multipart/report; \
             report-type=delivery-status; boundary=\"b1\"",
            "--b1\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.com\nAction: \
             delayed\nStatus: 4.4.1\n\n--b1--\n",
        );
        assert_eq!(parse(&raw).expect("parses").bounce, None);
    }

    #[test]
    fn files_are_kept_with_names_and_types() {
        let raw = mail(
            "From: a@example.com\nSubject: photo\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"",
            "--b\nContent-Type: text/plain\n\nSee the photo.\n--b\nContent-Type: image/png\nContent-Disposition: \
             attachment; filename=\"door.png\"\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--b--\n",
        );
        let parsed = parse(&raw).expect("parses");
        assert_eq!(parsed.text, "See the photo.");
        assert_eq!(parsed.files.len(), 1);
        assert_eq!(parsed.files[0].name, "door.png");
        assert_eq!(parsed.files[0].content_type, "image/png");
        assert_eq!(parsed.files[0].data, b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn garbage_is_not_mail() {
        assert_eq!(parse(b""), Err(NotMail));
    }
}
