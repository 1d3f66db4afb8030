//! Webhooks: which events a workflow's webhooks are told about, what they receive, and the
//! signed POST that delivers it.
//!
//! A call is a JSON POST with these headers:
//! - `X-Afterdesk-Event`: the event kind (`ticket_opened`, `resolved`, ...);
//! - `X-Afterdesk-Delivery`: the delivery id, the same on every retry (drop a duplicate by it);
//! - `X-Afterdesk-Signature: sha256=HEX`: HMAC-SHA256 of the exact body bytes with the
//!   webhook's secret, when it has one. Check it before trusting the body.
//!
//! A 2xx answer is success. 408, 425, 429 and 5xx answers, timeouts and connection failures are
//! retried with backoff; any other answer (a 4xx, a redirect) is a refusal that retrying will not
//! change, and the call is dead-lettered at once.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use ulid::Ulid;

use crate::engine::notices::event_kinds;
use crate::engine::{Event, Ticket};
use crate::store::outbox::WebhookCall;
use crate::workflow::model::WorkflowFile;

/// The webhook calls `event` causes, for `ticket` as it is after the event, each with the
/// delivery id `id` gives it.
pub fn calls(
    workflow: &WorkflowFile,
    ticket: &Ticket,
    event: &Event,
    mut id: impl FnMut() -> Ulid,
) -> Vec<(Ulid, WebhookCall)> {
    let mut out = Vec::new();
    let kinds = event_kinds(event);
    let heard =
        kinds.iter().flat_map(|(kind, _)| workflow.webhooks.iter().map(move |(name, hook)| (*kind, name, hook)));
    for (kind, name, webhook) in heard {
        let subscribed = webhook.on.iter().any(|on| *on.get_ref() == kind);
        let in_stage = webhook.stages.is_empty() || webhook.stages.iter().any(|s| *s.get_ref() == ticket.stage);
        if !subscribed || !in_stage {
            continue;
        }
        let event_name =
            serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let delivery = id();
        let body = json!({
            "delivery": delivery,
            "event": event_name,
            "at": event.at,
            "workflow": ticket.workflow,
            "ticket": {
                "id": ticket.id,
                "number": ticket.number,
                "subject": ticket.subject,
                "stage": ticket.stage,
                "status": ticket.status,
                "priority": ticket.priority,
                "category": ticket.category,
                "channel": ticket.channel,
                "assignee": ticket.assignee,
                "customer": ticket.customer,
                "revision": event.revision,
            },
            "actor": event.actor,
            "change": event.change,
        });
        out.push((
            delivery,
            WebhookCall {
                webhook: format!("{}/{}", workflow.id.get_ref(), name.get_ref()),
                url: webhook.url.get_ref().clone(),
                event: event_name,
                secret: webhook.secret.as_ref().map(|s| s.get_ref().clone()),
                body,
            },
        ));
    }
    out
}

/// `sha256=HEX`: the signature of `body` with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Retrying may work.
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help.
    #[error("{0}")]
    Permanent(String),
}

/// Posts webhook calls.
#[derive(Debug, Clone)]
pub struct Caller {
    client: reqwest::Client,
}

impl Caller {
    /// A caller whose requests time out after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, CallError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Afterdesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CallError::Permanent(format!("cannot make an HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// Posts `call` as delivery `delivery`, signed with `secret`; returns the answer's status.
    pub async fn post(&self, delivery: &str, call: &WebhookCall, secret: Option<&[u8]>) -> Result<String, CallError> {
        let body = serde_json::to_vec(&call.body).map_err(|e| CallError::Permanent(e.to_string()))?;
        let mut request = self
            .client
            .post(&call.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Afterdesk-Event", &call.event)
            .header("X-Afterdesk-Delivery", delivery);
        if let Some(secret) = secret {
            request = request.header("X-Afterdesk-Signature", signature(secret, &body));
        }
        let response = request.body(body).send().await.map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            if e.is_builder() { CallError::Permanent(text) } else { CallError::Transient(text) }
        })?;
        let status = response.status();
        let answer = format!("HTTP {}", status.as_u16());
        if status.is_success() {
            return Ok(answer);
        }
        let retry = status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429);
        let detail = match response.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()) {
            Some(location) if status.is_redirection() => format!("{answer}: redirected to {location}; fix the URL"),
            _ => format!("{answer} from the receiver"),
        };
        if retry { Err(CallError::Transient(detail)) } else { Err(CallError::Permanent(detail)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        let expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(signature(b"Jefe", b"what do ya want for nothing?"), expected);
    }
}
