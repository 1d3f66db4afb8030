//! Attaching files: who may (the people who may comment), what a file's name may be, and the
//! workflow's limits (`[attachments]`: per file, per ticket, number of files).
//!
//! The content is not the engine's business: the caller stored it as a blob (and flushed)
//! before asking, so an `attached` event never names a file that is not there. The engine
//! only decides whether the ticket takes the files, and records them.

use super::attachment::Attachment;
use super::decide::Context;
use super::error::{EngineError, FieldProblem};
use super::event::{Actor, Change};
use super::ticket::Ticket;
use super::transition::{Duty, permit};

/// Longest file name, in characters.
pub const MAX_NAME: usize = 200;
/// Longest media type, in characters.
pub const MAX_CONTENT_TYPE: usize = 200;
/// Most files one command attaches.
pub const MAX_PER_COMMAND: usize = 20;

/// A file name made safe to store and to offer for download: only its last path segment
/// (no folders, `/` or `\`), without control characters, trimmed of spaces and leading dots,
/// at most [`MAX_NAME`] characters (the extension kept); `file` when nothing is left.
pub fn sanitize_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim().trim_start_matches('.').trim();
    if clean.is_empty() {
        return "file".to_string();
    }
    if clean.chars().count() <= MAX_NAME {
        return clean.to_string();
    }
    // Too long: keep the extension (up to 20 characters) and the start of the name.
    let extension = clean.rsplit_once('.').map(|(_, ext)| ext).filter(|ext| ext.chars().count() <= 20);
    match extension {
        Some(ext) => {
            let keep = MAX_NAME - ext.chars().count() - 1;
            let stem: String = clean.chars().take(keep).collect();
            format!("{stem}.{ext}")
        }
        None => clean.chars().take(MAX_NAME).collect(),
    }
}

/// A media type like `application/pdf` (parameters allowed): `type/subtype` of visible
/// ASCII, no spaces around the slash.
pub fn is_media_type(text: &str) -> bool {
    let essence = text.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else { return false };
    let token = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
    text.len() <= MAX_CONTENT_TYPE && !text.chars().any(|c| c.is_control()) && token(kind) && token(subtype)
}

/// Whether `actor` may attach files to `ticket` at all (before any file is read): it takes
/// work, and the actor is one who may comment. Callers ask this first so that nobody else
/// makes the server read and store a large body; [`attach`] decides again with the files.
pub fn may_attach(workflow: &crate::workflow::Workflow, ticket: &Ticket, actor: &Actor) -> Result<(), EngineError> {
    if ticket.status.is_finished() {
        return Err(EngineError::Finished(format!(
            "ticket {} is {}; it takes no more files",
            ticket.number,
            ticket.status.as_str()
        )));
    }
    permit(&workflow.definition, ticket, actor, Duty::Comment)
}

/// The events that attach `files` to `ticket`, or why not: the actor must be one who may
/// comment on it (RACI; the ticket's own customer; integrations), every name already
/// sanitised, each file within the per-file limit, and the ticket within its number and
/// total-size limits afterwards. Each file is recorded as attached `now`.
pub fn attach(
    ctx: &Context<'_>,
    ticket: &Ticket,
    actor: &Actor,
    files: &[Attachment],
) -> Result<Vec<Change>, EngineError> {
    let limits = ctx.workflow.definition.attachments;
    permit(&ctx.workflow.definition, ticket, actor, Duty::Comment)?;
    if files.is_empty() {
        return Err(EngineError::Invalid(vec![FieldProblem::new("file", "no file to attach")]));
    }
    let mut problems = Vec::new();
    if files.len() > MAX_PER_COMMAND {
        problems.push(FieldProblem::new("file", format!("at most {MAX_PER_COMMAND} files at a time")));
    }
    for (i, file) in files.iter().enumerate() {
        let at = |what: &str| format!("file[{i}].{what}");
        if file.name != sanitize_name(&file.name) {
            problems
                .push(FieldProblem::new(at("name"), "must be a plain file name (no folders or control characters)"));
        }
        if !is_media_type(&file.content_type) {
            problems.push(FieldProblem::new(at("content_type"), "must be a media type like application/pdf"));
        }
        if file.size > limits.max_file_bytes {
            problems.push(FieldProblem::new(
                at("size"),
                format!("{} is {} bytes; files may be at most {} bytes", file.name, file.size, limits.max_file_bytes),
            ));
        }
        let hex = file.sha256.len() == 64 && file.sha256.chars().all(|c| c.is_ascii_hexdigit());
        if !hex {
            problems.push(FieldProblem::new(at("sha256"), "must be the SHA-256 of the content, in hex"));
        }
        let taken = ticket.attachments.iter().chain(&files[..i]).any(|other| other.id == file.id);
        if taken {
            problems.push(FieldProblem::new(at("id"), format!("the ticket already has a file {}", file.id)));
        }
    }
    let count = ticket.attachments.len() + files.len();
    if count > limits.max_files {
        problems.push(FieldProblem::new(
            "file",
            format!("a ticket may carry at most {} files; this one has {}", limits.max_files, ticket.attachments.len()),
        ));
    }
    let before: u64 = ticket.attachments.iter().map(|a| a.size).sum();
    let adding: u64 = files.iter().map(|a| a.size).sum();
    if before.saturating_add(adding) > limits.max_ticket_bytes {
        problems.push(FieldProblem::new(
            "file",
            format!(
                "a ticket may carry at most {} bytes of files; it has {before}, these are {adding}",
                limits.max_ticket_bytes
            ),
        ));
    }
    if !problems.is_empty() {
        return Err(EngineError::Invalid(problems));
    }
    Ok(files
        .iter()
        .map(|file| Change::Attached { attachment: Attachment { added_at: ctx.now, ..file.clone() } })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_folders_and_control_characters() {
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("C:\\Users\\sam\\report.pdf"), "report.pdf");
        assert_eq!(sanitize_name("a\u{0}b\r\nc.txt"), "abc.txt");
        assert_eq!(sanitize_name("..."), "file");
        assert_eq!(sanitize_name(" .hidden "), "hidden");
        assert_eq!(sanitize_name("گزارش سرویس.pdf"), "گزارش سرویس.pdf");
        let long = format!("{}.pdf", "x".repeat(500));
        let short = sanitize_name(&long);
        assert_eq!(short.chars().count(), MAX_NAME);
        assert!(short.ends_with(".pdf"));
    }

    #[test]
    fn media_types_are_type_slash_subtype() {
        assert!(is_media_type("application/pdf"));
        assert!(is_media_type("text/plain; charset=utf-8"));
        assert!(!is_media_type("pdf"));
        assert!(!is_media_type("text/ plain"));
        assert!(!is_media_type("text/plain\r\nX-Evil: 1"));
    }
}
