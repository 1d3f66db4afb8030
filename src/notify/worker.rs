//! The delivery worker: sends what the outbox holds, retries with backoff, dead-letters what
//! cannot be sent.
//!
//! It reads only due messages from the outbox queue (see `store::outbox`), sends up to
//! `delivery.concurrency` at a time, and records each attempt in one small transaction:
//! sent, pending again with its next try `first_retry_ms · 2^(attempts-1)` later (±20 % jitter,
//! at most `max_retry_ms`), or dead once it has been failing for `give_up_after` (five days by
//! default; or after `max_attempts` tries, if set) or on a refusal that retrying will not change. It then sleeps until the next message is due or the writer queues a new one.
//!
//! Delivery is at least once: if the process dies between a send and its record (made durable
//! after each group of `concurrency` messages), the message is sent again after the restart, with the same Message-ID (email) or delivery id (webhook),
//! which is what receivers use to drop the duplicate. Before each pass the worker flushes the
//! store, so it never sends a message about a change that is not yet durable. No request
//! handler ever talks to a mail server or a webhook.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::files::MailFile;
use super::mail::{MailError, Mailer};
use super::survey::SurveyToken;
use super::templates::{TemplateError, Templates};
use super::webhook::{CallError, Caller};
use crate::clock::Clock;
use crate::config::{Config, DeliveryConfig};
use crate::registry::Registry;
use crate::store::outbox::{DeliveryState, Email, OutboxMessage, Payload, WebhookCall};
use crate::store::{Store, StoreError};

/// Longest the worker sleeps before looking at the queue again.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Most messages one pass takes from the queue.
const PASS: usize = 256;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Sent.
    pub sent: usize,
    /// Failed, to be retried.
    pub retried: usize,
    /// Given up.
    pub dead: usize,
}

impl Pass {
    /// Messages handled.
    pub fn handled(&self) -> usize {
        self.sent + self.retried + self.dead
    }
}

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The mail settings are wrong.
    #[error("mail: {0}")]
    Mail(#[from] MailError),
    /// The HTTP client could not be made.
    #[error("webhooks: {0}")]
    Webhook(#[from] CallError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an attempt came to.
enum Outcome {
    Sent(String),
    Failed {
        error: String,
        transient: bool,
    },
    /// Not tried (mail is switched off, or the mail server is down): look again after the
    /// given wait without counting an attempt.
    Held(String, chrono::Duration),
}

struct Inner {
    store: Store,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    mailer: Option<Mailer>,
    caller: Caller,
    config: DeliveryConfig,
    secrets: BTreeMap<String, String>,
    public_url: String,
    survey_secret: [u8; 32],
    web_secret: [u8; 32],
    templates: Mutex<HashMap<(String, String), Arc<Templates>>>,
    wake: Arc<Notify>,
}

/// The delivery worker (cheap to clone).
#[derive(Clone)]
pub struct Delivery {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").finish_non_exhaustive()
    }
}

impl Delivery {
    /// A worker for `config`'s mail server and retry settings; `wake` is the writer's outbox
    /// signal; links point at `public_url`.
    pub fn new(
        config: &Config,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        public_url: &str,
    ) -> Result<Self, WorkerError> {
        let store = registry.store().clone();
        let mailer = if config.mail.disabled { None } else { Some(Mailer::new(&config.mail)?) };
        let caller = Caller::new(Duration::from_secs(config.delivery.webhook_timeout_secs))?;
        let survey_secret = store.secret("survey")?;
        let web_secret = store.secret("web")?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                registry,
                clock,
                mailer,
                caller,
                config: config.delivery.clone(),
                secrets: config.secrets.clone(),
                public_url: public_url.trim_end_matches('/').to_string(),
                survey_secret,
                web_secret,
                templates: Mutex::new(HashMap::new()),
                wake,
            }),
        })
    }

    /// The secret that signs survey links.
    pub fn survey_secret(&self) -> [u8; 32] {
        self.inner.survey_secret
    }

    /// One pass: sends what is due now. Tests call it directly with a manual clock.
    pub async fn tick(&self) -> Result<Pass, StoreError> {
        let inner = &self.inner;
        let store = inner.store.clone();
        let now = inner.clock.now();
        // Only what is durable leaves: the writer acknowledges after its flush, this makes sure
        // a message read here was flushed too.
        let due = tokio::task::spawn_blocking(move || {
            store.flush()?;
            store.due_messages(now, PASS)
        })
        .await
        .map_err(|e| StoreError::Corrupt { what: "delivery pass".into(), reason: e.to_string() })??;
        let mut pass = Pass::default();
        // When a whole chunk of mail failed for a reason that may pass (the server is down or
        // unreachable), the rest of this pass's mail waits as long as those will, untried: a mail
        // server that times out must not hold up webhooks for minutes per message.
        let mut mail_down: Option<(String, chrono::Duration)> = None;
        for chunk in due.chunks(inner.config.concurrency.max(1)) {
            let mut running = JoinSet::new();
            let mut held = Vec::new();
            for message in chunk.iter().cloned() {
                if let (Some((reason, wait)), Some(_)) = (&mail_down, message.email()) {
                    held.push((message, Outcome::Held(reason.clone(), *wait)));
                    continue;
                }
                let worker = self.clone();
                running.spawn(async move {
                    let outcome = worker.attempt(&message).await;
                    (message, outcome)
                });
            }
            let mut mail_tried = (0, 0);
            let mut results = held;
            while let Some(joined) = running.join_next().await {
                let Ok((message, outcome)) = joined else { continue };
                if message.email().is_some() {
                    mail_tried.0 += 1;
                    if let Outcome::Failed { transient: true, error } = &outcome {
                        mail_tried.1 += 1;
                        let wait = backoff(&inner.config, message.attempts + 1);
                        mail_down = Some((format!("not tried: the mail server failed just before ({error})"), wait));
                    }
                }
                results.push((message, outcome));
            }
            if mail_tried.1 < mail_tried.0 {
                mail_down = None;
            }
            for (message, outcome) in results {
                let updated = self.record(&message, outcome, inner.clock.now());
                match updated.state {
                    DeliveryState::Sent => pass.sent += 1,
                    DeliveryState::Pending => pass.retried += 1,
                    DeliveryState::Dead => pass.dead += 1,
                }
                if let Err(error) = inner.store.record_delivery(&message, &updated) {
                    tracing::error!(%error, id = %message.id, "cannot record a delivery; it will be tried again");
                }
            }
            // Durable before the next chunk goes out: a crash sends at most one chunk twice.
            let store = inner.store.clone();
            if let Ok(Err(error)) = tokio::task::spawn_blocking(move || store.flush()).await {
                tracing::error!(%error, "cannot flush delivery records");
            }
        }
        Ok(pass)
    }

    /// Delivers until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let pass = match self.tick().await {
                Ok(pass) => pass,
                Err(error) => {
                    tracing::error!(%error, "the delivery pass failed");
                    Pass::default()
                }
            };
            if stop.is_cancelled() {
                return;
            }
            let now = self.inner.clock.now();
            let sleep = if pass.handled() >= PASS {
                Duration::ZERO
            } else {
                match self.inner.store.next_message_due() {
                    Ok(Some(due)) => (due - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP),
                    _ => MAX_SLEEP,
                }
            };
            if sleep.is_zero() && pass.handled() == 0 {
                // Due but not taken (a record failed): do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.inner.wake.notified() => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// The message as it is after `outcome`.
    fn record(&self, message: &OutboxMessage, outcome: Outcome, now: DateTime<Utc>) -> OutboxMessage {
        let config = &self.inner.config;
        let mut updated = message.clone();
        match outcome {
            Outcome::Sent(response) => {
                updated.attempts += 1;
                updated.state = DeliveryState::Sent;
                updated.sent_at = Some(now);
                updated.next_attempt = None;
                updated.response = Some(response);
                metrics::counter!("afterdesk_deliveries_total", "outcome" => "sent").increment(1);
                tracing::info!(id = %message.id, number = %message.number, attempts = updated.attempts, "delivered");
            }
            Outcome::Failed { error, transient } => {
                updated.attempts += 1;
                updated.last_error = Some(error.clone());
                let since = *updated.failing_since.get_or_insert(now);
                if transient && !gives_up(config, updated.attempts, since, now) {
                    updated.next_attempt = Some(now + backoff(config, updated.attempts));
                    metrics::counter!("afterdesk_deliveries_total", "outcome" => "retry").increment(1);
                    tracing::warn!(id = %message.id, attempts = updated.attempts, %error, "delivery failed; will retry");
                } else {
                    updated.state = DeliveryState::Dead;
                    updated.next_attempt = None;
                    metrics::counter!("afterdesk_deliveries_total", "outcome" => "dead").increment(1);
                    tracing::error!(id = %message.id, attempts = updated.attempts, %error, "delivery given up (dead letter)");
                }
            }
            Outcome::Held(reason, later) => {
                updated.last_error = Some(reason);
                updated.next_attempt = Some(now + later);
            }
        }
        updated
    }

    async fn attempt(&self, message: &OutboxMessage) -> Outcome {
        match &message.payload {
            Payload::Email(email) => self.send_email(message, email).await,
            Payload::Webhook(call) => self.call_webhook(message, call).await,
        }
    }

    async fn send_email(&self, message: &OutboxMessage, email: &Email) -> Outcome {
        let Some(mailer) = &self.inner.mailer else {
            let later =
                chrono::Duration::milliseconds(i64::try_from(self.inner.config.max_retry_ms).unwrap_or(i64::MAX));
            return Outcome::Held("mail is disabled in the configuration (mail.disabled)".into(), later);
        };
        let rendered = match self.render(message, email) {
            Ok(rendered) => rendered,
            Err(error) => return Outcome::Failed { error: error.to_string(), transient: false },
        };
        let files = match self.files(email).await {
            Ok(files) => files,
            Err(error) => return Outcome::Failed { error, transient: false },
        };
        let mail = match mailer.build(message, &email.to, &rendered, &files) {
            Ok(mail) => mail,
            Err(error) => return Outcome::Failed { error: error.to_string(), transient: false },
        };
        match mailer.send(mail).await {
            Ok(response) => Outcome::Sent(response),
            Err(error) => Outcome::Failed { transient: error.is_transient(), error: error.to_string() },
        }
    }

    /// The content of the files `email` sends along, from the blob store (off the async
    /// threads). A file whose blob is gone cannot be sent, now or later.
    async fn files(&self, email: &Email) -> Result<Vec<MailFile>, String> {
        if email.attachments.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.inner.store.clone();
        let wanted = email.attachments.clone();
        let read = tokio::task::spawn_blocking(move || {
            wanted
                .into_iter()
                .map(|file| match store.blob(&file.sha256) {
                    Ok(Some(bytes)) => {
                        Ok(MailFile { name: file.name, content_type: file.content_type, bytes: bytes.to_vec() })
                    }
                    Ok(None) => Err(format!("attachment {} ({}) is not in the blob store", file.id, file.name)),
                    Err(error) => Err(format!("attachment {}: {error}", file.id)),
                })
                .collect::<Result<Vec<_>, String>>()
        });
        read.await.map_err(|error| format!("reading attachments: {error}"))?
    }

    async fn call_webhook(&self, message: &OutboxMessage, call: &WebhookCall) -> Outcome {
        let secret = match &call.secret {
            Some(name) => match self.inner.secrets.get(name).cloned().or_else(|| std::env::var(name).ok()) {
                Some(secret) => Some(secret),
                None => {
                    let error = format!(
                        "the secret `{name}` is neither in the configuration's secrets nor set in the environment"
                    );
                    return Outcome::Failed { error, transient: true };
                }
            },
            None => None,
        };
        match self.inner.caller.post(&message.id.to_string(), call, secret.as_deref().map(str::as_bytes)).await {
            Ok(status) => Outcome::Sent(status),
            Err(CallError::Transient(error)) => Outcome::Failed { error, transient: true },
            Err(CallError::Permanent(error)) => Outcome::Failed { error, transient: false },
        }
    }

    /// Renders an email with its workflow version's templates, adding links.
    pub fn render(&self, message: &OutboxMessage, email: &Email) -> Result<super::templates::Rendered, TemplateError> {
        let templates = self.templates(&message.workflow, &message.version)?;
        let mut context = email.context.clone();
        let public_url = &self.inner.public_url;
        let mut extra = json!({
            "default_subject": email.subject,
            "public_url": public_url,
        });
        // Customers cannot open the API: their mail has no link into it.
        if !message.number.is_empty() && email.audience == crate::engine::notices::Audience::Staff {
            extra["ticket_url"] = json!(format!("{public_url}/t/{}", message.number));
        }
        if let (Some(ticket), Some(expires)) = (message.ticket, context.get("expires_at").and_then(|e| e.as_str())) {
            if let Ok(expires) = DateTime::parse_from_rfc3339(expires) {
                let token = SurveyToken { ticket, survey: message.id, expires: expires.to_utc() };
                extra["survey_url"] = json!(format!("{public_url}/survey/{}", token.sign(&self.inner.survey_secret)));
            }
        }
        if let (Some(id), Some(expires)) =
            (context.get("sign_in_id").and_then(|v| v.as_str()), context.get("expires_at"))
            && let Some(link) = sign_in_link(id, expires)
        {
            extra["sign_in_url"] = json!(format!("{public_url}/sign-in/{}", link.sign(&self.inner.web_secret)));
        }
        if let (Some(target), Some(extra)) = (context.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                target.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        templates.render(&email.template, &context)
    }

    fn templates(&self, workflow: &str, version: &str) -> Result<Arc<Templates>, TemplateError> {
        let key = (workflow.to_string(), version.to_string());
        if let Some(found) = self.inner.templates.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
            return Ok(found);
        }
        let definition = self.inner.registry.version(workflow, version).ok().flatten();
        let built = match &definition {
            Some(workflow) => Templates::new(&workflow.definition.templates, workflow.definition.timezone())?,
            None => Templates::new(&indexmap::IndexMap::new(), chrono_tz::UTC)?,
        };
        let built = Arc::new(built);
        if let Ok(mut cache) = self.inner.templates.lock() {
            cache.insert(key, built.clone());
        }
        Ok(built)
    }
}

/// The sign-in link a `sign_in` mail's values name.
fn sign_in_link(id: &str, expires: &serde_json::Value) -> Option<super::links::SignInLink> {
    let id = hex::decode(id).ok()?.try_into().ok()?;
    let expires = DateTime::parse_from_rfc3339(expires.as_str()?).ok()?.to_utc();
    Some(super::links::SignInLink { id, expires })
}

/// Whether a message that has failed `attempts` times, the first at `since`, is given up at
/// `now`.
fn gives_up(config: &DeliveryConfig, attempts: u32, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let failing = (now - since).to_std().unwrap_or_default();
    failing >= config.give_up_after || config.max_attempts.is_some_and(|most| attempts >= most)
}

/// The wait before try `attempts + 1`.
fn backoff(config: &DeliveryConfig, attempts: u32) -> chrono::Duration {
    let exponent = attempts.saturating_sub(1).min(30);
    let base = config.first_retry_ms.saturating_mul(1 << exponent).min(config.max_retry_ms);
    // ±20 % so that messages failed together do not all come back together.
    let jitter = rand::random_range(0.8..1.2);
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss, clippy::cast_sign_loss)]
    let millis = (base as f64 * jitter) as i64;
    chrono::Duration::milliseconds(millis.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When a message failing at every try is given up with these settings, each wait the
    /// shortest (or longest) the jitter allows.
    fn given_up_after(config: &DeliveryConfig, jitter: f64) -> (u32, chrono::Duration) {
        let since = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let (mut now, mut attempts) = (since, 0);
        loop {
            attempts += 1;
            if gives_up(config, attempts, since, now) {
                return (attempts, now - since);
            }
            let exponent = attempts.saturating_sub(1).min(30);
            let base = config.first_retry_ms.saturating_mul(1 << exponent).min(config.max_retry_ms);
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let wait = (base as f64 * jitter) as i64;
            now += chrono::Duration::milliseconds(wait);
        }
    }

    #[test]
    fn by_default_a_failing_message_is_retried_for_five_days() {
        let config = DeliveryConfig::default();
        for jitter in [0.8, 1.2] {
            let (attempts, after) = given_up_after(&config, jitter);
            assert!(after >= chrono::Duration::days(5), "given up after {after} ({attempts} tries)");
            assert!(after <= chrono::Duration::days(5) + chrono::Duration::minutes(72), "then given up: {after}");
            assert!((90..=160).contains(&attempts), "about hourly tries: {attempts}");
        }
        // A count limit, when set, ends it sooner.
        let counted = DeliveryConfig { max_attempts: Some(3), ..DeliveryConfig::default() };
        assert_eq!(given_up_after(&counted, 1.0).0, 3);
    }

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let config = DeliveryConfig { first_retry_ms: 1_000, max_retry_ms: 10_000, ..DeliveryConfig::default() };
        let within = |attempts, low, high| {
            let wait = backoff(&config, attempts).num_milliseconds();
            assert!((low..=high).contains(&wait), "attempt {attempts}: {wait} ms");
        };
        within(1, 800, 1_200);
        within(2, 1_600, 2_400);
        within(3, 3_200, 4_800);
        within(10, 8_000, 12_000);
    }
}
