//! Email: an outbox message rendered into a MIME message, and the SMTP transport (lettre) that
//! sends it.
//!
//! Every message has a stable Message-ID made of its outbox id (`<OUTBOX-ID@domain>`), so a
//! redelivery after a crash carries the same one, and all mail about a ticket points at the same
//! thread root (`In-Reply-To` / `References: <ticket-ID@domain>`), so a mail client groups a
//! ticket's messages into one conversation, and its subject carries the ticket number in
//! brackets (`[AS-12]`, added when a template leaves it out): a customer's answer finds its
//! ticket by either. Customer mail has a `Reply-To` of `mail.from`, so answers come back to
//! the desk. Generated mail is marked `Auto-Submitted: auto-generated` (RFC 3834) so
//! out-of-office robots do not answer it; a public reply, written by a person, is not.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::files::MailFile;
use super::templates::Rendered;
use crate::config::{MailConfig, MailSecurity};
use crate::engine::notices::Audience;
use crate::store::outbox::OutboxMessage;

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Retrying later may work (server down, busy, 4xx).
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help (bad address, 5xx refusal).
    #[error("{0}")]
    Permanent(String),
}

impl MailError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Sends mail through one SMTP server, with a pool of connections.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for the configured server (no connection is made yet).
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let from: Mailbox =
            config.from.parse().map_err(|e| MailError::Permanent(format!("mail.from \"{}\": {e}", config.from)))?;
        let domain = config.message_id_domain.clone().unwrap_or_else(|| from.email.domain().to_string());
        let tls = |host: &str| {
            TlsParameters::new(host.to_string()).map_err(|e| MailError::Permanent(format!("TLS for {host}: {e}")))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
            .port(config.port)
            .timeout(Some(Duration::from_secs(config.timeout_secs)));
        builder = match config.security {
            MailSecurity::None => builder.tls(Tls::None),
            MailSecurity::Starttls => builder.tls(Tls::Required(tls(&config.host)?)),
            MailSecurity::Tls => builder.tls(Tls::Wrapper(tls(&config.host)?)),
        };
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self { transport: builder.build(), from, domain })
    }

    /// The Message-ID of an outbox message.
    pub fn message_id(&self, message: &OutboxMessage) -> String {
        format!("<{}@{}>", message.id, self.domain)
    }

    /// The thread root every mail about a ticket refers to.
    pub fn thread_id(&self, ticket: &crate::engine::TicketId) -> String {
        format!("<ticket-{ticket}@{}>", self.domain)
    }

    /// The MIME message of `message` rendered as `rendered`, to `to`, with `files` attached.
    pub fn build(
        &self,
        message: &OutboxMessage,
        to: &[String],
        rendered: &Rendered,
        files: &[MailFile],
    ) -> Result<Message, MailError> {
        let email = message.email();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(message, &rendered.subject))
            .message_id(Some(self.message_id(message)))
            // When it was meant to go (mail held for business hours is dated then), the same on
            // every retry.
            .date(message.not_before.max(message.created_at).into());
        if !email.is_some_and(|e| e.personal) {
            builder = builder.header(AutoSubmitted);
        }
        if email.is_some_and(|e| e.audience == Audience::Customer) {
            builder = builder.reply_to(self.from.clone());
        }
        for address in to {
            let mailbox: Mailbox =
                address.parse().map_err(|e| MailError::Permanent(format!("recipient \"{address}\": {e}")))?;
            builder = builder.to(mailbox);
        }
        if to.is_empty() {
            return Err(MailError::Permanent("the message has no recipients".into()));
        }
        if let Some(ticket) = &message.ticket {
            let root = self.thread_id(ticket);
            builder = builder.in_reply_to(root.clone()).references(root).header(TicketNumber(message.number.clone()));
        }
        builder
            .multipart(super::files::body(rendered, files))
            .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
    }

    /// Sends `mail`; returns the server's reply.
    pub async fn send(&self, mail: Message) -> Result<String, MailError> {
        match self.transport.send(mail).await {
            Ok(response) => Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "))),
            Err(error) if error.is_permanent() => Err(MailError::Permanent(describe(&error))),
            Err(error) => Err(MailError::Transient(describe(&error))),
        }
    }
}

/// The subject of a mail about a ticket carries its number in brackets (`[AS-12] ...`): a
/// template that words the subject without it gets it in front.
fn subject(message: &OutboxMessage, rendered: &str) -> String {
    let tag = format!("[{}]", message.number);
    if message.ticket.is_none() || message.number.is_empty() || rendered.contains(&tag) {
        rendered.to_string()
    } else {
        format!("{tag} {rendered}")
    }
}

fn describe(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        // lettre's own text often ends with its cause already.
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `Auto-Submitted: auto-generated`.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

/// `X-Afterdesk-Ticket: AS-12`, for mail filters.
#[derive(Debug, Clone)]
struct TicketNumber(String);

impl Header for TicketNumber {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Afterdesk-Ticket")
    }

    fn parse(text: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(text.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}
