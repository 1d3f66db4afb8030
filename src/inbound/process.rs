//! The inbound processor: each spooled message becomes what it means.
//!
//! Oldest first, one at a time (the SMTP receiver and `POST /v1/inbound/email` only spool and
//! wake it), a message is read and then, in this order:
//!
//! 1. **already done**: its Message-ID is on a ticket (a crash after the command and before
//!    the record was finished, or the same message sent twice): recorded as opening or added
//!    to that ticket, nothing runs twice;
//! 2. **a bounce** (RFC 3464 report): the outbox message it reports is marked bounced (dead,
//!    not retried) and the report ignored;
//! 3. **our own mail** coming back (our `X-Afterdesk-Ticket` header, or from our own address):
//!    ignored, so two systems cannot answer each other forever;
//! 4. **an answer**: its `In-Reply-To`/`References` name a ticket (our thread root, one of our
//!    messages, or mail already on a ticket), or its subject carries a ticket number and it
//!    comes from that ticket's customer: a `customer_reply` on the ticket (merged tickets lead
//!    to the one they were merged into; a closed ticket whose workflow says
//!    `reply_when_closed = "follow_up"` gets a new ticket linked to it). Automatic mail is
//!    recorded there as unanswered: it moves nothing and tells nobody;
//! 5. **new mail**: a ticket in the workflow of the route its recipient matches, for the
//!    customer of its sender. Automatic mail that answers no ticket opens none.
//!
//! What became of the message is recorded on its inbound record (`GET /v1/inbound`); the raw
//! message stays in the blob store either way. A store or writer failure leaves the message
//! queued for the next pass; an engine refusal is recorded as `failed` with its reason.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use ulid::Ulid;

use super::parse::{self, Bounce, MailFile, ParsedMail};
use crate::clock::Clock;
use crate::config::InboundConfig;
use crate::engine::attach::sanitize_name;
use crate::engine::attachment::Attachment;
use crate::engine::customer::CustomerInput;
use crate::engine::decide::{MAX_SUBJECT, MAX_TEXT};
use crate::engine::event::{Actor, ActorKind, Change, MailMeta, Relation};
use crate::engine::ticket::{Status, Ticket};
use crate::engine::{Command, OpenTicket, TicketId};
use crate::registry::Registry;
use crate::store::inbound::{InboundMail, MailOutcome, MailSource};
use crate::store::{Store, StoreError};
use crate::workflow::model::{AttachmentLimits, ReplyWhenClosed};
use crate::writer::{CommandRequest, OpenRequest, WriteError, Writer};

/// Who opens tickets from mail.
pub const ACTOR: &str = "inbound-mail";

/// Messages read per pass.
const BATCH: usize = 100;

/// How long an idle processor waits before looking at the queue again, in case a wake-up was
/// missed or a message was left for a retry.
const IDLE: Duration = Duration::from_secs(30);

/// Turns spooled mail into tickets and replies. Cheap to clone; every clone processes under
/// one lock, so a message is never processed twice at once.
#[derive(Clone)]
pub struct Processor {
    store: Store,
    writer: Writer,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    settings: Arc<InboundConfig>,
    own: Arc<Own>,
    lock: Arc<Mutex<()>>,
}

/// What marks mail as Afterdesk's own.
struct Own {
    /// Our addresses: the sender of our mail and the routes' full addresses, lower-case.
    addresses: Vec<String>,
}

/// A spooled message as read: its record, and (when it was pending) its parsed content, or
/// `None` inside when the raw message is missing.
struct Read {
    mail: InboundMail,
    parsed: Option<Option<Result<ParsedMail, parse::NotMail>>>,
}

/// Why a message stays queued for the next pass.
#[derive(Debug, thiserror::Error)]
pub enum Retry {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer is stopping.
    #[error("the writer is stopping")]
    Stopped,
}

impl Processor {
    /// A processor over `store`, writing through `writer`. `from` is the address our own mail
    /// is sent from (`mail.from`).
    pub fn new(
        store: Store,
        writer: Writer,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        settings: Arc<InboundConfig>,
        from: &str,
    ) -> Self {
        let mut addresses: Vec<String> = settings
            .routes
            .iter()
            .map(|route| route.address.trim().to_lowercase())
            .filter(|address| !address.starts_with('@'))
            .collect();
        if let Ok(mailbox) = from.parse::<lettre::message::Mailbox>() {
            addresses.push(mailbox.email.to_string().to_lowercase());
        }
        Self { store, writer, registry, clock, settings, own: Arc::new(Own { addresses }), lock: Arc::default() }
    }

    /// The largest raw message taken (`inbound.max_message_bytes`).
    pub fn max_message_bytes(&self) -> usize {
        self.settings.max_message_bytes
    }

    /// Processes the queue whenever `signal` is notified (and every half minute), until `stop`.
    /// Messages left by an earlier run are processed first.
    pub async fn run(self, signal: Arc<Notify>, stop: CancellationToken) {
        loop {
            let woken = signal.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let full = match self.pass().await {
                Ok(done) => done == BATCH,
                Err(error) => {
                    tracing::warn!(%error, "inbound mail left queued for the next pass");
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = &mut woken => {}
                () = tokio::time::sleep(IDLE) => {}
            }
        }
    }

    /// One pass over the queue, oldest first: how many messages were finished. The next
    /// message is read and parsed while the current one is decided and written.
    pub async fn pass(&self) -> Result<usize, Retry> {
        let store = self.store.clone();
        let pending =
            tokio::task::spawn_blocking(move || store.pending_mail(BATCH)).await.map_err(|_| Retry::Stopped)??;
        let mut done = 0;
        let mut first_error = None;
        let mut next = pending.first().map(|mail| self.read(mail.id));
        for i in 0..pending.len() {
            let Some(current) = next.take() else { break };
            next = pending.get(i + 1).map(|mail| self.read(mail.id));
            let result = match current.await {
                Ok(read) => self.finish(read).await,
                Err(_) => Err(Retry::Stopped),
            };
            match result {
                Ok(_) => done += 1,
                Err(Retry::Stopped) => return Err(Retry::Stopped),
                Err(error) => {
                    tracing::warn!(mail = %pending[i].id, %error, "inbound mail not processed; it stays queued");
                    first_error.get_or_insert(error);
                }
            }
        }
        if done > 0 {
            // The records of the pass, at once (each ticket was flushed by the writer already).
            self.store.flush()?;
        }
        match first_error {
            Some(error) if done == 0 => Err(error),
            _ => Ok(done),
        }
    }

    /// Processes the spooled message `id` unless it was already: its record as it is now.
    pub async fn process(&self, id: Ulid) -> Result<Option<InboundMail>, Retry> {
        let read = self.read(id).await.map_err(|_| Retry::Stopped)?;
        self.finish(read).await
    }

    /// Reads message `id` and parses it, on a blocking thread.
    fn read(&self, id: Ulid) -> tokio::task::JoinHandle<Result<Option<Read>, StoreError>> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let Some(mail) = store.inbound_mail(id)? else { return Ok(None) };
            if mail.outcome != MailOutcome::Pending {
                return Ok(Some(Read { mail, parsed: None }));
            }
            let parsed = store.blob(&mail.raw_sha256)?.map(|raw| parse::parse(&raw));
            Ok(Some(Read { mail, parsed: Some(parsed) }))
        })
    }

    /// Decides what a message read means and records it, one message at a time.
    async fn finish(&self, read: Result<Option<Read>, StoreError>) -> Result<Option<InboundMail>, Retry> {
        let Some(Read { mut mail, parsed }) = read? else { return Ok(None) };
        let _one_at_a_time = self.lock.lock().await;
        // Another caller may have processed it since it was read.
        match self.store.inbound_mail(mail.id)? {
            Some(now) if now.outcome == MailOutcome::Pending => {}
            now => return Ok(now),
        }
        let Some(parsed) = parsed else { return Ok(Some(mail)) };
        mail.outcome = match parsed {
            None => MailOutcome::Failed { reason: "the raw message is missing from the blob store".into() },
            Some(Err(error)) => MailOutcome::Failed { reason: error.to_string() },
            Some(Ok(parsed)) => self.decide(&mail, parsed).await?,
        };
        mail.processed_at = Some(self.clock.now());
        match &mail.outcome {
            MailOutcome::Failed { reason } => tracing::warn!(mail = %mail.id, reason, "inbound mail failed"),
            outcome => tracing::info!(mail = %mail.id, ?outcome, "inbound mail processed"),
        }
        // Not flushed here (a pass flushes once at its end): the ticket's events were, by the
        // writer; should the record be lost in a crash, the message is processed again at the
        // next start and found on its ticket (step 1).
        self.store.finish_mail(&mail)?;
        Ok(Some(mail))
    }

    async fn decide(&self, mail: &InboundMail, parsed: ParsedMail) -> Result<MailOutcome, Retry> {
        let message_id = parsed.message_id.clone().unwrap_or_else(|| format!("{}@inbound.afterdesk.invalid", mail.id));
        if let Some(ticket) = self.store.ticket_of_mail(&message_id)?
            && let Some(ticket) = self.store.ticket(ticket)?
        {
            // This very record opened the ticket (and the record of that was lost in a crash);
            // or it is on the ticket as a reply, or it is a copy of mail already there.
            let opened = self.store.events(ticket.id)?.iter().any(
                |event| matches!(&event.change, Change::MailReceived { mail: meta } if meta.inbound == Some(mail.id)),
            );
            return Ok(if opened {
                MailOutcome::Opened { ticket: ticket.id, number: ticket.number }
            } else {
                MailOutcome::Added { ticket: ticket.id, number: ticket.number }
            });
        }
        if let Some(bounce) = &parsed.bounce {
            return self.bounced(bounce);
        }
        // The author (`From`), else the envelope sender.
        let envelope = mail.mail_from.trim().to_lowercase();
        let from = parsed.from.clone().or_else(|| envelope.contains('@').then_some(envelope)).unwrap_or_default();
        if parsed.ours.is_some() || self.own.addresses.contains(&from) || self.is_our_message_id(&parsed)? {
            return Ok(ignored("sent by Afterdesk itself (a mail loop)"));
        }
        let null_sender = mail.mail_from.is_empty() && matches!(mail.source, MailSource::Smtp { .. });
        let automatic = parsed
            .automatic
            .clone()
            .or_else(|| null_sender.then(|| "sent with an empty envelope sender (a delivery notice)".to_string()));
        let meta = MailMeta {
            message_id,
            from: from.clone(),
            subject: parsed.subject.clone(),
            original: mail.raw_sha256.clone(),
            inbound: Some(mail.id),
            unanswered: automatic.clone(),
        };
        if let Some(ticket) = self.ticket_answered(&parsed)? {
            return self.answer(ticket, parsed, meta).await;
        }
        if let Some(reason) = automatic {
            return Ok(ignored(&format!("{reason}; it answers no ticket")));
        }
        if from.is_empty() {
            return Ok(MailOutcome::Failed { reason: "it names no sender (no From, no envelope sender)".into() });
        }
        let recipients = mail.rcpt_to.iter().chain(&parsed.to);
        let Some(route) = recipients.clone().find_map(|rcpt| self.settings.route(rcpt)) else {
            let all: Vec<&str> = recipients.map(String::as_str).collect();
            return Ok(MailOutcome::Failed {
                reason: format!("no [[inbound.routes]] takes any of its recipients ({})", all.join(", ")),
            });
        };
        let limits = self.registry.current(&route.workflow).map(|w| w.definition.attachments).unwrap_or_default();
        let (files, notes) = self.store_files(&parsed.files, &limits, &[])?;
        let ticket = OpenTicket {
            workflow: route.workflow.clone(),
            subject: subject_of(&parsed.subject),
            description: Some(body_of(&parsed.text, &notes)),
            customer: CustomerInput { email: Some(from), name: parsed.from_name.clone(), ..CustomerInput::default() },
            category: route.category.clone(),
            priority: route.priority.clone(),
            channel: Some("email".into()),
            forms: Default::default(),
            mail: Some(meta),
            attachments: files,
            follow_up_of: None,
        };
        self.open(ticket).await
    }

    /// Whether the message carries one of our own Message-IDs (our mail, relayed back to us).
    fn is_our_message_id(&self, parsed: &ParsedMail) -> Result<bool, StoreError> {
        let Some(id) = &parsed.message_id else { return Ok(false) };
        let local = id.rsplit_once('@').map_or(id.as_str(), |(local, _)| local);
        if local.strip_prefix("ticket-").is_some_and(|t| t.parse::<TicketId>().is_ok()) {
            return Ok(true);
        }
        Ok(match Ulid::from_string(local) {
            Ok(outbox) => self.store.outbox_message(outbox)?.is_some(),
            Err(_) => false,
        })
    }

    /// The ticket a message answers, after any merges: by its thread headers, else by a
    /// ticket number in its subject when the sender is that ticket's customer.
    fn ticket_answered(&self, parsed: &ParsedMail) -> Result<Option<Ticket>, StoreError> {
        let mut found = None;
        for id in &parsed.answers {
            let local = id.rsplit_once('@').map_or(id.as_str(), |(local, _)| local);
            if let Some(ticket) = local.strip_prefix("ticket-").and_then(|t| t.parse::<TicketId>().ok())
                && self.store.ticket(ticket)?.is_some()
            {
                found = Some(ticket);
            } else if let Ok(outbox) = Ulid::from_string(local)
                && let Some(ticket) = self.store.outbox_message(outbox)?.and_then(|m| m.ticket)
            {
                found = Some(ticket);
            } else if let Some(ticket) = self.store.ticket_of_mail(id)? {
                found = Some(ticket);
            }
            if found.is_some() {
                break;
            }
        }
        if found.is_none()
            && let Some(number) = NUMBER.captures(&parsed.subject).and_then(|c| c.get(1))
            && let Some(ticket) = self.store.resolve(number.as_str())?
            && let Some(ticket) = self.store.ticket(ticket)?
            && let Some(customer) = self.store.customer(ticket.customer)?
            && customer.email.as_deref().map(str::to_lowercase) == parsed.from
            && parsed.from.is_some()
        {
            found = Some(ticket.id);
        }
        let Some(mut id) = found else { return Ok(None) };
        // A merged ticket leads to the one it was merged into (a few hops at most).
        for _ in 0..8 {
            let Some(ticket) = self.store.ticket(id)? else { return Ok(None) };
            let into = ticket.links.iter().find(|link| link.relation == Relation::DuplicateOf).map(|l| l.ticket);
            match into {
                Some(into) if ticket.status == Status::Merged => id = into,
                _ => return Ok(Some(ticket)),
            }
        }
        self.store.ticket(id)
    }

    /// A message answering `ticket`: the customer's reply on it, or a follow-up ticket.
    async fn answer(&self, ticket: Ticket, parsed: ParsedMail, meta: MailMeta) -> Result<MailOutcome, Retry> {
        let workflow = self.registry.version(&ticket.workflow, &ticket.version).ok().flatten();
        let limits = workflow.as_ref().map(|w| w.definition.attachments).unwrap_or_default();
        let when_closed = workflow
            .as_ref()
            .and_then(|w| w.definition.reply_when_closed.as_ref().map(|r| *r.get_ref()))
            .unwrap_or_default();
        let follow_up = ticket.status == Status::Closed && when_closed == ReplyWhenClosed::FollowUp;
        if follow_up && let Some(reason) = &meta.unanswered {
            return Ok(ignored(&format!("{reason}; ticket {} is closed", ticket.number)));
        }
        let customer = self.store.customer(ticket.customer)?;
        let from_customer = customer.as_ref().and_then(|c| c.email.as_deref()).map(str::to_lowercase).as_deref()
            == Some(meta.from.as_str());
        if follow_up {
            let (files, notes) = self.store_files(&parsed.files, &limits, &[])?;
            let subject = if parsed.subject.is_empty() { ticket.subject.clone() } else { parsed.subject.clone() };
            let open = OpenTicket {
                workflow: ticket.workflow.clone(),
                subject: subject_of(&subject),
                description: Some(body_of(&parsed.reply, &notes)),
                customer: CustomerInput { id: Some(ticket.customer.to_string()), ..CustomerInput::default() },
                category: ticket.category.clone(),
                priority: None,
                channel: Some("email".into()),
                forms: Default::default(),
                mail: Some(meta),
                attachments: files,
                follow_up_of: Some(ticket.id),
            };
            return self.open(open).await;
        }
        let (files, notes) = self.store_files(&parsed.files, &limits, &ticket.attachments)?;
        // The customer's own mail is theirs; someone else in the thread (a colleague in Cc)
        // is recorded as mail relayed by the inbound channel, their address in `mail.from`.
        let actor = if from_customer {
            Actor { id: ticket.customer.to_string(), kind: ActorKind::Customer }
        } else {
            Actor::integrator(ACTOR)
        };
        let request = CommandRequest {
            ticket: ticket.id.to_string(),
            command: Command::CustomerReply {
                body: body_of(&parsed.reply, &notes),
                mail: Some(meta),
                attachments: files,
            },
            actor,
            expected_revision: None,
        };
        match self.writer.command(request).await {
            Ok(outcome) => Ok(MailOutcome::Added { ticket: outcome.ticket.id, number: outcome.ticket.number }),
            Err(error) => refused(error),
        }
    }

    async fn open(&self, ticket: OpenTicket) -> Result<MailOutcome, Retry> {
        let key = ticket.mail.as_ref().map(|m| format!("mail:{}", m.message_id));
        let request = OpenRequest { ticket, actor: Actor::integrator(ACTOR), idempotency_key: key };
        match self.writer.open(request).await {
            Ok(outcome) => Ok(MailOutcome::Opened { ticket: outcome.ticket.id, number: outcome.ticket.number }),
            Err(error) => refused(error),
        }
    }

    /// Marks the outbox message a bounce reports as bounced.
    fn bounced(&self, bounce: &Bounce) -> Result<MailOutcome, Retry> {
        let to = bounce.recipient.as_deref().unwrap_or("a recipient");
        let outbox = bounce
            .original
            .as_deref()
            .and_then(|id| Ulid::from_string(id.rsplit_once('@').map_or(id, |(local, _)| local)).ok());
        let Some(outbox) = outbox else {
            return Ok(ignored(&format!("a delivery failure to {to} ({}) for mail we did not send", bounce.reason)));
        };
        let reason = format!("{to}: {}", bounce.reason);
        match self.store.mark_bounced(outbox, self.clock.now(), &reason)? {
            Some(_) => {
                self.store.flush()?;
                Ok(ignored(&format!("a delivery failure: outbox message {outbox} bounced ({reason})")))
            }
            None => Ok(ignored(&format!("a delivery failure to {to} ({}) for mail we did not send", bounce.reason))),
        }
    }

    /// Stores a message's files as blobs (flushed before the command that names them), within
    /// the workflow's limits given the files the ticket has: the files kept, and a line for each
    /// one left out (it stays in the original message).
    fn store_files(
        &self,
        files: &[MailFile],
        limits: &AttachmentLimits,
        existing: &[Attachment],
    ) -> Result<(Vec<Attachment>, Vec<String>), StoreError> {
        let mut kept = Vec::new();
        let mut notes = Vec::new();
        let mut count = existing.len();
        let mut bytes: u64 = existing.iter().map(|a| a.size).sum();
        let now = self.clock.now();
        for file in files {
            let name = match sanitize_name(&file.name) {
                name if name.is_empty() => "attachment".to_string(),
                name => name,
            };
            let size = file.data.len() as u64;
            let why_not = if size > limits.max_file_bytes {
                Some(format!("larger than {} bytes", limits.max_file_bytes))
            } else if count + 1 > limits.max_files {
                Some(format!("the ticket has its {} files", limits.max_files))
            } else if bytes.saturating_add(size) > limits.max_ticket_bytes {
                Some(format!("the ticket's files would pass {} bytes", limits.max_ticket_bytes))
            } else {
                None
            };
            if let Some(why) = why_not {
                notes.push(format!("[{name} ({size} bytes) was not attached: {why}; it is in the original message]"));
                continue;
            }
            let sha256 = self.store.put_blob(&file.data)?;
            count += 1;
            bytes += size;
            kept.push(Attachment {
                id: Ulid::from_datetime(now.into()),
                name,
                content_type: file.content_type.clone(),
                size,
                sha256,
                added_at: now,
            });
        }
        if !kept.is_empty() {
            self.store.flush()?;
        }
        Ok((kept, notes))
    }
}

/// `[AS-1042]` in a subject.
static NUMBER: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"\[([A-Za-z][A-Za-z0-9_]*-[0-9]+)\]").unwrap_or_else(|_| unreachable!()));

fn ignored(reason: &str) -> MailOutcome {
    MailOutcome::Ignored { reason: reason.to_string() }
}

/// What an engine refusal means for the message: failed, with the reason; the writer stopping
/// leaves it queued.
fn refused(error: WriteError) -> Result<MailOutcome, Retry> {
    match error {
        WriteError::Stopped => Err(Retry::Stopped),
        WriteError::Store(error) => Err(Retry::Store(error)),
        error => Ok(MailOutcome::Failed { reason: error.to_string() }),
    }
}

/// A ticket subject from a mail subject: within the limit, never empty.
fn subject_of(subject: &str) -> String {
    let subject = subject.trim();
    if subject.is_empty() {
        return "(no subject)".to_string();
    }
    subject.chars().take(MAX_SUBJECT).collect()
}

/// The text recorded: the mail's text, the notes about files left out, within the limit.
fn body_of(text: &str, notes: &[String]) -> String {
    let mut body = text.trim().to_string();
    for note in notes {
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(note);
    }
    if body.is_empty() {
        body = "(no text)".to_string();
    }
    if body.chars().count() > MAX_TEXT {
        const CUT: &str = "\n\n[cut here: the whole text is in the original message]";
        body = body.chars().take(MAX_TEXT - CUT.chars().count()).collect::<String>() + CUT;
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_stay_within_the_limit_and_name_left_out_files() {
        let long = "x".repeat(MAX_TEXT + 10);
        let body = body_of(&long, &[]);
        assert_eq!(body.chars().count(), MAX_TEXT);
        assert!(body.ends_with("in the original message]"));
        assert_eq!(body_of("  ", &[]), "(no text)");
        assert_eq!(body_of("hi", &["[a.pdf was not attached]".into()]), "hi\n\n[a.pdf was not attached]");
    }

    #[test]
    fn subjects_are_never_empty_nor_too_long() {
        assert_eq!(subject_of(""), "(no subject)");
        assert_eq!(subject_of(&"é".repeat(300)).chars().count(), MAX_SUBJECT);
    }

    #[test]
    fn ticket_numbers_are_found_in_subjects() {
        let found = NUMBER.captures("Re: [AS-1042] Door").and_then(|c| c.get(1)).map(|m| m.as_str());
        assert_eq!(found, Some("AS-1042"));
        assert!(NUMBER.captures("Re: [urgent] Door").is_none());
    }
}
