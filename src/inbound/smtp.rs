//! The built-in SMTP receiver (RFC 5321): takes mail for the addresses `[inbound].routes` names,
//! spools each message durably, and only then answers `250`.
//!
//! The protocol is Stalwart Labs' `smtp-proto`: it parses command lines, reads `DATA` (with
//! dot-unstuffing, and refusing bare-LF "smuggled" ends) and formats replies. This file is the
//! session loop around it and the receiver's rules:
//!
//! - a recipient no route takes: `550 5.1.1`; more than `max_recipients`: `452 4.5.3`;
//! - a message larger than `max_message_bytes`: `552 5.3.4`, at `MAIL FROM` when it declares
//!   `SIZE=`, else once `DATA` passed the limit (the rest is read and dropped, not stored);
//! - more than `max_connections` at once: `421` and close; nothing read or written for
//!   `timeout_secs`: `421` and close;
//! - more than `per_sender_per_hour` messages from one envelope sender (lower-cased): `451 4.7.1`
//!   at `MAIL FROM`. The sender's server keeps the message and tries again: deferred, not lost;
//! - at the end of `DATA` a `Received:` trace header (RFC 5321 §4.4) is put on top of the
//!   message, which [`Store::spool_mail`] writes in one transaction and flushes; `250 2.0.0
//!   queued as <id>` comes only after that returned, `451 4.3.0` if it failed. Then the
//!   processor is woken through the `spooled` [`Notify`].
//!
//! Extensions: SIZE, 8BITMIME, PIPELINING, SMTPUTF8, ENHANCEDSTATUSCODES. Not offered:
//! STARTTLS (put the receiver behind a relay or a TLS-terminating proxy, or on a private
//! network), AUTH (anyone may send to a routed address, as to any MX), CHUNKING, DSN. `VRFY`
//! answers `252` (RFC 5321 §7.3: it never tells which addresses exist).
//!
//! On stop the listener closes; a session in `DATA` reads the message to its end and spools it
//! (or times out without a `250`); every other session is told `421` and closed.
//!
//! This file must not parse messages (headers, MIME) or decide what they become: it hands raw
//! bytes to the spool, and `inbound::process` takes it from there.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver, DummyLineReceiver, RequestReceiver};
use smtp_proto::{
    EXT_8BIT_MIME, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING, EXT_SIZE, EXT_SMTP_UTF8, EhloResponse,
    Error as ProtoError, MAIL_BODY_7BIT, MAIL_BODY_8BITMIME, MAIL_SMTPUTF8, MailFrom, RcptTo, Request, Response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use ulid::Ulid;

use crate::clock::Clock;
use crate::config::InboundConfig;
use crate::store::Store;
use crate::store::inbound::MailSource;

/// The extensions `EHLO` advertises: only what this receiver really does.
const CAPABILITIES: u32 = EXT_SIZE | EXT_8BIT_MIME | EXT_PIPELINING | EXT_SMTP_UTF8 | EXT_ENHANCED_STATUS_CODES;
/// `MAIL FROM` parameters taken (`BODY=7BIT`, `BODY=8BITMIME`, `SMTPUTF8`, and `SIZE=`).
const MAIL_FLAGS: u64 = MAIL_BODY_7BIT | MAIL_BODY_8BITMIME | MAIL_SMTPUTF8;
/// Commands a client may get wrong before it is disconnected.
const MAX_ERRORS: u32 = 10;
/// How much is read from the socket at a time.
const READ_BUFFER: usize = 16 * 1024;
/// Senders the rate limiter remembers before it forgets those with a full allowance again.
const SENDERS_KEPT: usize = 10_000;

/// Serves SMTP on `listener` until `stop` is cancelled, then waits for the sessions to end (see
/// the module doc). `hostname` is the name the receiver greets with and writes in `Received:`.
pub async fn serve(
    listener: TcpListener,
    settings: Arc<InboundConfig>,
    hostname: String,
    store: Store,
    clock: Arc<dyn Clock>,
    spooled: Arc<Notify>,
    stop: CancellationToken,
) {
    let receiver = Arc::new(Receiver::new(settings, hostname, store, clock, spooled));
    let permits = Arc::new(Semaphore::new(receiver.settings.max_connections));
    let sessions = TaskTracker::new();
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, hostname = %receiver.hostname, "SMTP receiver listening");
    }
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    crate::serve::accept_failed(error).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => sessions.spawn(receiver.clone().session(stream, peer, stop.clone(), permit)),
            Err(_) => sessions.spawn(receiver.clone().refuse(stream, peer)),
        };
    }
    drop(listener);
    sessions.close();
    sessions.wait().await;
    tracing::info!("SMTP receiver stopped");
}

/// What every session shares.
struct Receiver {
    settings: Arc<InboundConfig>,
    hostname: String,
    store: Store,
    clock: Arc<dyn Clock>,
    spooled: Arc<Notify>,
    timeout: Duration,
    senders: DefaultKeyedRateLimiter<String>,
    /// Message ids: monotonic, so messages received in one millisecond keep their order.
    ids: Mutex<ulid::Generator>,
}

impl Receiver {
    fn new(
        settings: Arc<InboundConfig>,
        hostname: String,
        store: Store,
        clock: Arc<dyn Clock>,
        spooled: Arc<Notify>,
    ) -> Self {
        let per_hour = NonZeroU32::new(settings.per_sender_per_hour).unwrap_or(NonZeroU32::MIN);
        Self {
            timeout: Duration::from_secs(settings.timeout_secs.max(1)),
            senders: RateLimiter::keyed(Quota::per_hour(per_hour)),
            settings,
            hostname,
            store,
            clock,
            spooled,
            ids: Mutex::new(ulid::Generator::new()),
        }
    }

    fn next_id(&self, at: DateTime<Utc>) -> Ulid {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        ids.generate_from_datetime(at.into()).unwrap_or_else(|_| Ulid::from_datetime(at.into()))
    }

    /// Whether `sender` may start one more message this hour (and counts it).
    fn allow_sender(&self, sender: &str) -> bool {
        if self.senders.len() > SENDERS_KEPT {
            self.senders.retain_recent();
        }
        self.senders.check_key(&sender.to_lowercase()).is_ok()
    }

    /// A connection past `max_connections`: `421`, then close.
    async fn refuse(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr) {
        tracing::warn!(%peer, limit = self.settings.max_connections, "SMTP connection refused: inbound.max_connections reached");
        metrics::counter!("afterdesk_smtp_connections_refused_total").increment(1);
        let mut out = Vec::new();
        reply(&mut out, 421, [4, 7, 0], format!("{} too many connections; try again later", self.hostname));
        let _ = tokio::time::timeout(self.timeout, stream.write_all(&out)).await;
        let _ = stream.shutdown().await;
    }

    /// One client, from greeting to close.
    async fn session(
        self: Arc<Self>,
        mut stream: TcpStream,
        peer: SocketAddr,
        stop: CancellationToken,
        _permit: OwnedSemaphorePermit,
    ) {
        tracing::debug!(%peer, "SMTP session opened");
        let mut session = Session::new(self.clone(), peer);
        session.out.extend_from_slice(format!("220 {} ESMTP Afterdesk\r\n", self.hostname).as_bytes());
        let mut buffer = vec![0; READ_BUFFER];
        loop {
            // Replies to a whole pipelined group go out together, before reading on.
            if !session.out.is_empty() {
                match tokio::time::timeout(self.timeout, stream.write_all(&session.out)).await {
                    Ok(Ok(())) => session.out.clear(),
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "SMTP client gone while answering");
                        break;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "SMTP client does not read its answers; closing");
                        break;
                    }
                }
            }
            if session.closing {
                break;
            }
            // A message being sent is read to its end even while stopping.
            let in_data = session.in_data();
            let read = tokio::select! {
                read = tokio::time::timeout(self.timeout, stream.read(&mut buffer)) => read,
                () = stop.cancelled(), if !in_data => {
                    session.close(421, [4, 3, 2], "shutting down; try again later");
                    continue;
                }
            };
            match read {
                Ok(Ok(0)) => break,
                Ok(Ok(read)) => session.ingest(&buffer[..read]).await,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "SMTP read failed");
                    break;
                }
                Err(_) => {
                    tracing::info!(%peer, in_data, "SMTP client idle too long (inbound.timeout_secs); closing");
                    session.close(421, [4, 4, 2], "idle too long; closing");
                }
            }
        }
        let _ = stream.shutdown().await;
        tracing::debug!(%peer, "SMTP session closed");
    }
}

/// What the client said in `EHLO` / `HELO`.
struct Greeting {
    host: String,
    extended: bool,
}

/// A message being sent: from `MAIL FROM` to the end of `DATA` (or `RSET`).
struct Transaction {
    mail_from: String,
    rcpt_to: Vec<String>,
    utf8: bool,
}

/// Where the session is in the protocol.
enum State {
    /// Reading commands.
    Command(RequestReceiver),
    /// Reading a message.
    Data(DataReceiver),
    /// Reading a message already too large, to its end, storing nothing.
    DataTooLarge(DummyDataReceiver),
    /// Skipping the rest of a command line that is too long.
    LineTooLong(DummyLineReceiver),
}

/// What one step of reading found.
enum Step {
    Request(Request<String>),
    Invalid(ProtoError),
    LineTooLong,
    EndOfLongLine,
    EndOfData,
    TooLarge { ended: bool },
    EndOfLargeData,
}

struct Session {
    receiver: Arc<Receiver>,
    peer: SocketAddr,
    greeting: Option<Greeting>,
    transaction: Option<Transaction>,
    state: State,
    data: Vec<u8>,
    out: Vec<u8>,
    errors: u32,
    closing: bool,
}

impl Session {
    fn new(receiver: Arc<Receiver>, peer: SocketAddr) -> Self {
        Self {
            receiver,
            peer,
            greeting: None,
            transaction: None,
            state: State::Command(RequestReceiver::default()),
            data: Vec::new(),
            out: Vec::new(),
            errors: 0,
            closing: false,
        }
    }

    fn in_data(&self) -> bool {
        matches!(self.state, State::Data(_) | State::DataTooLarge(_))
    }

    fn reply(&mut self, code: u16, status: [u8; 3], message: impl std::fmt::Display) {
        reply(&mut self.out, code, status, message);
    }

    fn close(&mut self, code: u16, status: [u8; 3], message: &str) {
        let message = format!("{} {message}", self.receiver.hostname);
        self.reply(code, status, message);
        self.closing = true;
    }

    /// Handles everything in `bytes`: commands, message data, or both (pipelining).
    async fn ingest(&mut self, bytes: &[u8]) {
        let mut bytes = bytes.iter();
        let max = self.receiver.settings.max_message_bytes;
        while !self.closing {
            let step = match &mut self.state {
                State::Command(receiver) => match receiver.ingest(&mut bytes) {
                    Ok(request) => Step::Request(request.into_owned()),
                    Err(ProtoError::NeedsMoreData { .. }) => return,
                    Err(ProtoError::ResponseTooLong) => Step::LineTooLong,
                    Err(error) => Step::Invalid(error),
                },
                State::Data(receiver) => {
                    let ended = receiver.ingest(&mut bytes, &mut self.data);
                    if self.data.len() > max {
                        if !ended {
                            self.state = State::DataTooLarge(DummyDataReceiver::new_data(receiver));
                        }
                        Step::TooLarge { ended }
                    } else if ended {
                        Step::EndOfData
                    } else {
                        return;
                    }
                }
                State::DataTooLarge(receiver) => {
                    if !receiver.ingest(&mut bytes) {
                        return;
                    }
                    Step::EndOfLargeData
                }
                State::LineTooLong(receiver) => {
                    if !receiver.ingest(&mut bytes) {
                        return;
                    }
                    Step::EndOfLongLine
                }
            };
            match step {
                Step::Request(request) => self.handle(request),
                Step::Invalid(error) => self.invalid(&error),
                Step::LineTooLong => self.state = State::LineTooLong(DummyLineReceiver::default()),
                Step::EndOfLongLine => {
                    self.state = State::Command(RequestReceiver::default());
                    self.count_error();
                    self.reply(500, [5, 5, 2], "line too long");
                }
                Step::EndOfData => self.end_of_data().await,
                Step::TooLarge { ended } => {
                    self.data = Vec::new();
                    if ended {
                        self.too_large();
                    }
                }
                Step::EndOfLargeData => self.too_large(),
            }
        }
    }

    fn too_large(&mut self) {
        self.state = State::Command(RequestReceiver::default());
        self.transaction = None;
        metrics::counter!("afterdesk_smtp_messages_total", "outcome" => "too_large").increment(1);
        tracing::info!(peer = %self.peer, "SMTP message refused: larger than inbound.max_message_bytes");
        let max = self.receiver.settings.max_message_bytes;
        self.reply(552, [5, 3, 4], format!("message too large: at most {max} bytes"));
    }

    fn count_error(&mut self) {
        self.errors += 1;
    }

    fn invalid(&mut self, error: &ProtoError) {
        self.count_error();
        if self.errors > MAX_ERRORS {
            self.close(421, [4, 7, 0], "too many errors; closing");
            return;
        }
        match error {
            ProtoError::UnknownCommand | ProtoError::InvalidResponse { .. } => {
                self.reply(500, [5, 5, 1], "unknown command")
            }
            ProtoError::InvalidSenderAddress => self.reply(501, [5, 1, 7], "bad sender address"),
            ProtoError::InvalidRecipientAddress => self.reply(501, [5, 1, 3], "bad recipient address"),
            ProtoError::SyntaxError { syntax } => self.reply(501, [5, 5, 2], format!("syntax: {syntax}")),
            ProtoError::InvalidParameter { param } => self.reply(501, [5, 5, 4], format!("invalid parameter {param}")),
            ProtoError::UnsupportedParameter { param } => {
                self.reply(555, [5, 5, 4], format!("unsupported parameter {param}"))
            }
            ProtoError::NeedsMoreData { .. } | ProtoError::ResponseTooLong => {
                self.reply(500, [5, 5, 2], "line too long")
            }
        }
    }

    fn handle(&mut self, request: Request<String>) {
        let hostname = self.receiver.hostname.clone();
        match request {
            Request::Ehlo { host } => {
                self.greeting = Some(Greeting { host, extended: true });
                self.transaction = None;
                let mut ehlo = EhloResponse::new(hostname.as_str());
                ehlo.capabilities = CAPABILITIES;
                ehlo.size = self.receiver.settings.max_message_bytes;
                // Writing to a Vec cannot fail.
                let _ = ehlo.write(&mut self.out);
            }
            Request::Helo { host } => {
                self.greeting = Some(Greeting { host, extended: false });
                self.transaction = None;
                self.reply(250, [2, 0, 0], hostname);
            }
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to),
            Request::Data => self.data(),
            Request::Rset => {
                self.transaction = None;
                self.reply(250, [2, 0, 0], "reset");
            }
            Request::Noop { .. } => self.reply(250, [2, 0, 0], "OK"),
            Request::Quit => self.close(221, [2, 0, 0], "closing"),
            Request::Vrfy { .. } => {
                self.reply(252, [2, 5, 0], "addresses are not verified here; send the message to find out")
            }
            Request::Help { .. } => {
                self.reply(214, [2, 0, 0], "commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT")
            }
            Request::StartTls => {
                self.reply(502, [5, 5, 1], "STARTTLS is not offered here (a relay in front provides TLS)")
            }
            // The chunk that follows BDAT cannot be told apart from commands: stop here.
            Request::Bdat { .. } => self.close(502, [5, 5, 1], "BDAT (CHUNKING) is not offered; closing"),
            other @ (Request::Lhlo { .. }
            | Request::Auth { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }) => {
                self.count_error();
                self.reply(502, [5, 5, 1], format!("{} is not offered", other.name()));
            }
        }
    }

    fn mail(&mut self, from: MailFrom<String>) {
        if self.greeting.is_none() {
            return self.reply(503, [5, 5, 1], "say EHLO first");
        }
        if self.transaction.is_some() {
            return self.reply(503, [5, 5, 1], "a message is already under way; RSET first");
        }
        let unsupported = from.flags & !MAIL_FLAGS != 0
            || from.trans_id.is_some()
            || from.env_id.is_some()
            || from.solicit.is_some()
            || from.mtrk.is_some()
            || from.auth.is_some()
            || from.by != 0
            || from.hold_for != 0
            || from.hold_until != 0
            || from.mt_priority != 0;
        if unsupported {
            return self.reply(555, [5, 5, 4], "only SIZE, BODY=7BIT/8BITMIME and SMTPUTF8 are taken");
        }
        let max = self.receiver.settings.max_message_bytes;
        if from.size > max {
            metrics::counter!("afterdesk_smtp_messages_total", "outcome" => "too_large").increment(1);
            return self.reply(552, [5, 3, 4], format!("message too large: at most {max} bytes"));
        }
        if !self.receiver.allow_sender(&from.address) {
            metrics::counter!("afterdesk_smtp_messages_total", "outcome" => "rate_limited").increment(1);
            tracing::info!(peer = %self.peer, sender = %from.address, "SMTP sender deferred: inbound.per_sender_per_hour reached");
            return self.reply(451, [4, 7, 1], format!("too many messages from <{}>; try again later", from.address));
        }
        let utf8 = from.flags & MAIL_SMTPUTF8 != 0;
        self.reply(250, [2, 1, 0], format!("sender <{}> OK", from.address));
        self.transaction = Some(Transaction { mail_from: from.address, rcpt_to: Vec::new(), utf8 });
    }

    fn rcpt(&mut self, to: RcptTo<String>) {
        let max = self.receiver.settings.max_recipients;
        let Some(transaction) = &mut self.transaction else {
            return self.reply(503, [5, 5, 1], "MAIL FROM first");
        };
        if to.flags != 0 || to.orcpt.is_some() || to.rrvs != 0 {
            return self.reply(555, [5, 5, 4], "RCPT TO takes no parameters here");
        }
        if transaction.rcpt_to.len() >= max {
            return self.reply(452, [4, 5, 3], format!("too many recipients: at most {max}"));
        }
        let address = to.address.to_lowercase();
        if self.receiver.settings.route(&address).is_none() {
            return self.reply(550, [5, 1, 1], format!("<{}>: no such mailbox here", to.address));
        }
        if !transaction.rcpt_to.contains(&address) {
            transaction.rcpt_to.push(address);
        }
        self.reply(250, [2, 1, 5], format!("recipient <{}> OK", to.address));
    }

    fn data(&mut self) {
        match &self.transaction {
            None => self.reply(503, [5, 5, 1], "MAIL FROM first"),
            Some(transaction) if transaction.rcpt_to.is_empty() => self.reply(554, [5, 5, 1], "no valid recipients"),
            Some(_) => {
                self.out.extend_from_slice(b"354 end the message with <CRLF>.<CRLF>\r\n");
                self.data.clear();
                self.state = State::Data(data_receiver());
            }
        }
    }

    /// The message is complete: trace header on top, spool, and answer once it is durable.
    async fn end_of_data(&mut self) {
        self.state = State::Command(RequestReceiver::default());
        let data = std::mem::take(&mut self.data);
        let Some(transaction) = self.transaction.take() else {
            return self.reply(503, [5, 5, 1], "MAIL FROM first");
        };
        let receiver = self.receiver.clone();
        let now = receiver.clock.now();
        let id = receiver.next_id(now);
        let mut raw = self.trace_header(id, now, &transaction).into_bytes();
        raw.extend_from_slice(&data);
        drop(data);
        let size = raw.len();
        let source = MailSource::Smtp { peer: self.peer.to_string() };
        let store = receiver.store.clone();
        let Transaction { mail_from, rcpt_to, .. } = transaction;
        let spooled =
            tokio::task::spawn_blocking(move || store.spool_mail(id, now, source, &mail_from, &rcpt_to, &raw)).await;
        match spooled {
            Ok(Ok(mail)) => {
                metrics::counter!("afterdesk_smtp_messages_total", "outcome" => "queued").increment(1);
                tracing::info!(%id, peer = %self.peer, from = %mail.mail_from, to = ?mail.rcpt_to, size, "mail received and spooled");
                receiver.spooled.notify_one();
                self.reply(250, [2, 0, 0], format!("queued as {id}"));
            }
            Ok(Err(error)) => {
                metrics::counter!("afterdesk_smtp_messages_total", "outcome" => "store_failed").increment(1);
                tracing::error!(%id, peer = %self.peer, error = %error, "could not spool a received message");
                self.reply(451, [4, 3, 0], "could not store the message; try again later");
            }
            Err(error) => {
                tracing::error!(%id, peer = %self.peer, error = %error, "spooling a received message panicked");
                self.reply(451, [4, 3, 0], "could not store the message; try again later");
            }
        }
    }

    /// `Received: from HELO ([IP]) by HOST (Afterdesk) with ESMTP id ID [for <RCPT>]; DATE`.
    fn trace_header(&self, id: Ulid, now: DateTime<Utc>, transaction: &Transaction) -> String {
        let helo = self.greeting.as_ref().map(|g| trace_word(&g.host)).unwrap_or_else(|| "unknown".into());
        let ip = match self.peer.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("IPv6:{ip}"),
        };
        let protocol = match self.greeting.as_ref().is_some_and(|g| g.extended) {
            true if transaction.utf8 => "UTF8SMTP",
            true => "ESMTP",
            false => "SMTP",
        };
        let mut header = format!(
            "Received: from {helo} ([{ip}])\r\n\tby {} (Afterdesk) with {protocol} id {id}",
            trace_word(&self.receiver.hostname)
        );
        // Only one recipient is named: a list of them would tell each of the others.
        if let [recipient] = transaction.rcpt_to.as_slice() {
            header.push_str(&format!("\r\n\tfor <{}>", trace_word(recipient)));
        }
        header.push_str(&format!(";\r\n\t{}\r\n", now.to_rfc2822()));
        header
    }
}

/// A `DATA` reader that knows the line before it ended (the `DATA` command's CRLF), so a first
/// line of `.` ends an empty message and a first line starting `..` loses one dot, as RFC 5321
/// §4.5.2 says (smtp-proto's reader starts as if in the middle of a line).
fn data_receiver() -> DataReceiver {
    let mut receiver = DataReceiver::new();
    let mut discarded = Vec::new();
    receiver.ingest(&mut b"\r\n".iter(), &mut discarded);
    receiver
}

/// A word the client chose, safe inside a header: printable ASCII without the characters that
/// delimit parts of `Received:`.
fn trace_word(text: &str) -> String {
    let word: String = text
        .chars()
        .map(|c| if c.is_ascii_graphic() && !matches!(c, '(' | ')' | ';' | '[' | ']' | '<' | '>') { c } else { '?' })
        .take(255)
        .collect();
    if word.is_empty() { "unknown".into() } else { word }
}

fn reply(out: &mut Vec<u8>, code: u16, [class, subject, detail]: [u8; 3], message: impl std::fmt::Display) {
    // Writing to a Vec cannot fail.
    let _ = Response::new(code, class, subject, detail, message).write(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_data(chunks: &[&[u8]]) -> Option<Vec<u8>> {
        let mut receiver = data_receiver();
        let mut data = Vec::new();
        for chunk in chunks {
            if receiver.ingest(&mut chunk.iter(), &mut data) {
                return Some(data);
            }
        }
        None
    }

    #[test]
    fn dots_are_unstuffed_from_the_first_line_on() {
        assert_eq!(read_data(&[b"..one\r\n..\r\ntwo\r\n.\r\n"]).as_deref(), Some(&b".one\r\n.\r\ntwo\r\n"[..]));
        assert_eq!(read_data(&[b".\r\n"]).as_deref(), Some(&b""[..]));
        assert_eq!(read_data(&[b"a\r", b"\n.", b"\r\n"]).as_deref(), Some(&b"a\r\n"[..]));
        assert_eq!(read_data(&[b"a\n.\nb\r\n"]), None, "a bare LF never ends a message");
    }

    #[test]
    fn client_words_cannot_break_the_trace_header() {
        assert_eq!(trace_word("mail.example.com"), "mail.example.com");
        assert_eq!(trace_word("evil\r\nX-Injected: yes (x)"), "evil??X-Injected:?yes??x?");
        assert_eq!(trace_word(""), "unknown");
    }
}
