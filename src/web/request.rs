//! The web request form of a workflow (`/request/{workflow}`): a customer, signed in nowhere,
//! asks for help. The form has the customer's name, email (required), phone, the subject, a
//! description, the category (when the workflow has categories) and every field of the start
//! stage's forms, typed as the workflow defines them.
//!
//! Sending it opens a ticket with channel `web` through the writer, exactly as
//! `POST /v1/tickets` does (the customer found or made by email), so the engine's usual
//! `ticket_received` mail goes out. The engine's problems come back next to their fields (422,
//! values kept). Against spam: a honeypot field a person never sees (filled in, the form
//! answers as if it worked and opens nothing), [`crate::web::limits::REQUESTS_PER_HOUR`]
//! requests per email address and hour (then 429), same-site posts only, and an idempotency
//! key in the form so a double submit opens one ticket. Success answers 303 to a confirmation
//! page with the ticket's number.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::TimeZone;
use minijinja::{Value, context};
use serde::Serialize;

use super::page::{Frame, PageError};
use super::session::{self, Visitor};
use super::texts;
use crate::api::AppState;
use crate::engine::{Actor, CustomerInput, EngineError, FieldProblem, OpenTicket, TicketId};
use crate::locale::Lang;
use crate::notify::links::{mac, signed};
use crate::workflow::Workflow;
use crate::workflow::model::{Field, FieldType};
use crate::writer::{OpenRequest, WriteError};

/// The name of the honeypot field: hidden from people, irresistible to form-filling robots.
pub const HONEYPOT: &str = "website";
/// Who opens a web request's ticket, in its log.
pub const ACTOR: &str = "web-form";
/// The channel of a web request.
pub const CHANNEL: &str = "web";

/// The routes of the request form.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/request/{workflow}", get(form_page).post(send))
        .route("/request/{workflow}/done", get(done_anonymous))
        .route("/request/{workflow}/done/{token}", get(done_page))
}

/// One input of the form, as the template draws it.
#[derive(Debug, Clone, Serialize)]
struct Input {
    /// The form field's `name` and the base of its `id`.
    name: String,
    /// `id` of the input.
    id: String,
    label: String,
    help: Option<String>,
    /// `text`, `textarea`, `number`, `date`, `datetime-local`, `email`, `tel`, `select`,
    /// `checkboxes`, `yesno`.
    kind: &'static str,
    required: bool,
    /// `step` of a number input.
    step: Option<&'static str>,
    min: Option<f64>,
    max: Option<f64>,
    options: Vec<String>,
    /// What the customer entered (every value, for multiple choices).
    values: Vec<String>,
    problem: Option<String>,
}

/// The workflow `id` names, if it is loaded.
fn workflow(state: &AppState, id: &str) -> Option<std::sync::Arc<Workflow>> {
    state.registry.current(id)
}

/// The frame of a page about `workflow`.
fn frame_for(visitor: &Visitor, workflow: &Workflow, path: String) -> Frame {
    Frame::anonymous(visitor.lang_for(workflow.definition.language), workflow.definition.timezone(), path)
}

/// The page of a workflow that is not there.
fn not_found(visitor: &Visitor, path: String) -> Response {
    Frame::anonymous(visitor.lang(crate::locale::Lang::En), chrono_tz::UTC, path).error(PageError::NotFound)
}

/// The fields of the start stage's forms, as `(form id, field)`; file fields are left out (a
/// new ticket has no files to name).
fn start_fields(workflow: &Workflow) -> Vec<(String, Field)> {
    let definition = &workflow.definition;
    let Some(start) = definition.start_stage().and_then(|s| definition.stages.get(s)) else { return Vec::new() };
    start
        .forms
        .iter()
        .filter_map(|form| definition.forms.get(form.get_ref().as_str()).map(|f| (form.get_ref().clone(), f)))
        .flat_map(|(id, form)| form.fields.iter().map(move |field| (id.clone(), field.clone())))
        .filter(|(_, field)| !matches!(field.kind.get_ref(), FieldType::File | FieldType::Files))
        .collect()
}

/// The input name of a form field: `f.FORM.FIELD`.
fn input_name(form: &str, field: &str) -> String {
    format!("f.{form}.{field}")
}

/// What the form posted, each name with every value it was sent with.
#[derive(Debug, Default)]
struct Posted(BTreeMap<String, Vec<String>>);

impl Posted {
    fn parse(bytes: &[u8]) -> Result<Self, PageError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(bytes).map_err(|e| PageError::BadRequest(e.to_string()))?;
        let mut out = BTreeMap::<String, Vec<String>>::new();
        for (name, value) in pairs {
            out.entry(name).or_default().push(value);
        }
        Ok(Self(out))
    }

    /// The first value of `name`, trimmed; `None` when empty.
    fn one(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|v| v.first()).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.get(name).cloned().unwrap_or_default()
    }
}

/// The value a form field's text becomes for the engine: typed where it parses, else the text
/// itself, so the engine says what is wrong with it. `None` when nothing was entered.
fn typed(field: &Field, posted: &[String], tz: chrono_tz::Tz) -> Option<serde_json::Value> {
    let first = posted.first().map(|v| v.trim()).filter(|v| !v.is_empty());
    let text = |t: &str| serde_json::Value::String(t.to_string());
    match field.kind.get_ref() {
        FieldType::MultiChoice => {
            let items: Vec<serde_json::Value> =
                posted.iter().map(|v| v.trim()).filter(|v| !v.is_empty()).map(text).collect();
            (!items.is_empty()).then_some(serde_json::Value::Array(items))
        }
        FieldType::Integer => first.map(|t| t.parse::<i64>().map_or_else(|_| text(t), serde_json::Value::from)),
        FieldType::Number => first.map(|t| {
            t.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| text(t), serde_json::Value::Number)
        }),
        FieldType::Bool => first.map(|t| match t {
            "yes" => serde_json::Value::Bool(true),
            "no" => serde_json::Value::Bool(false),
            other => text(other),
        }),
        FieldType::Datetime => first.map(|t| local_time(t, tz).map_or_else(|| text(t), |at| text(&at))),
        // A long text keeps its lines as written.
        FieldType::LongText => posted.first().filter(|v| !v.trim().is_empty()).map(|v| text(&v.replace("\r\n", "\n"))),
        _ => first.map(text),
    }
}

/// A browser's `datetime-local` value (`2026-03-20T14:30`) in `tz`, as RFC 3339.
fn local_time(value: &str, tz: chrono_tz::Tz) -> Option<String> {
    let naive = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let at = tz.from_local_datetime(&naive).earliest()?;
    Some(at.to_rfc3339())
}

fn kind_of(field: &Field) -> (&'static str, Option<&'static str>) {
    match field.kind.get_ref() {
        FieldType::Text => ("text", None),
        FieldType::LongText => ("textarea", None),
        FieldType::Integer => ("number", Some("1")),
        FieldType::Number => ("number", Some("any")),
        FieldType::Bool => ("yesno", None),
        FieldType::Date => ("date", None),
        FieldType::Datetime => ("datetime-local", None),
        FieldType::Email => ("email", None),
        FieldType::Phone => ("tel", None),
        FieldType::Choice => ("select", None),
        FieldType::MultiChoice => ("checkboxes", None),
        FieldType::File | FieldType::Files => ("text", None),
    }
}

/// The inputs of the start stage's forms, with what was posted and the problems found.
fn inputs(workflow: &Workflow, posted: &Posted, problems: &BTreeMap<String, String>) -> Vec<Input> {
    start_fields(workflow)
        .into_iter()
        .map(|(form, field)| {
            let name = input_name(&form, field.name.get_ref());
            let (kind, step) = kind_of(&field);
            let bounds = field.kind.get_ref().has_bounds() && kind == "number";
            Input {
                id: format!("f-{form}-{}", field.name.get_ref()),
                label: field.label.clone().unwrap_or_else(|| field.name.get_ref().clone()),
                help: field.help.clone(),
                kind,
                required: field.required,
                step,
                min: field.min.as_ref().map(|m| *m.get_ref()).filter(|_| bounds),
                max: field.max.as_ref().map(|m| *m.get_ref()).filter(|_| bounds),
                options: field
                    .options
                    .as_ref()
                    .map(|o| o.get_ref().iter().map(|n| n.get_ref().clone()).collect())
                    .unwrap_or_default(),
                values: posted.all(&name),
                problem: problems.get(&format!("forms.{form}.{}", field.name.get_ref())).cloned(),
                name,
            }
        })
        .collect()
}

/// The form's own fields and the engine's names for them.
const OWN_FIELDS: [(&str, &str); 6] = [
    ("name", "customer.name"),
    ("email", "customer.email"),
    ("phone", "customer.phone"),
    ("subject", "subject"),
    ("description", "description"),
    ("category", "category"),
];

/// Renders the form with what was posted and the problems found.
fn render_form(
    frame: &Frame,
    status: StatusCode,
    workflow: &Workflow,
    posted: &Posted,
    problems: &[FieldProblem],
    key: &str,
) -> Response {
    let by_field: BTreeMap<String, String> = problems.iter().map(|p| (p.field.clone(), p.message.clone())).collect();
    let own: BTreeMap<&str, Value> = OWN_FIELDS
        .iter()
        .map(|(input, engine)| {
            let value = posted.0.get(*input).and_then(|v| v.first()).cloned().unwrap_or_default();
            (*input, context! { value => value, problem => by_field.get(*engine) })
        })
        .collect();
    let fields = inputs(workflow, posted, &by_field);
    // Every problem, linked to its input where it has one, for the summary at the top.
    let summary: Vec<Value> = problems
        .iter()
        .map(|p| {
            let target = OWN_FIELDS
                .iter()
                .find(|(_, engine)| *engine == p.field)
                .map(|(input, _)| (*input).to_string())
                .or_else(|| fields.iter().find(|i| format!("forms.{}", &i.name[2..]) == p.field).map(|i| i.id.clone()));
            let label = target.as_ref().map(|t| {
                fields.iter().find(|i| &i.id == t).map_or_else(
                    || texts::text(frame.lang, &format!("request.field.{t}")).to_string(),
                    |i| i.label.clone(),
                )
            });
            context! { target => target, label => label, message => p.message }
        })
        .collect();
    let categories: Vec<String> = workflow.definition.categories.iter().map(|c| c.get_ref().clone()).collect();
    frame.render_with(
        status,
        "request.html",
        context! {
            workflow => context! { id => workflow.id(), name => workflow.definition.name },
            own => own,
            fields => fields,
            categories => categories,
            summary => summary,
            key => key,
            honeypot => HONEYPOT,
        },
    )
}

async fn form_page(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Response {
    let path = format!("/request/{id}");
    let Some(workflow) = workflow(&state, &id) else { return not_found(&visitor, path) };
    let frame = frame_for(&visitor, &workflow, path);
    let key = hex::encode(rand::random::<[u8; 16]>());
    render_form(&frame, StatusCode::OK, &workflow, &Posted::default(), &[], &key)
}

async fn send(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/request/{id}");
    let Some(workflow) = workflow(&state, &id) else { return not_found(&visitor, path) };
    let frame = frame_for(&visitor, &workflow, path);
    if !session::same_site(&state, &headers) {
        return frame.error(PageError::Forbidden(texts::text(frame.lang, "error.cross_site").to_string()));
    }
    let posted = match Posted::parse(&body) {
        Ok(posted) => posted,
        Err(error) => return frame.error(error),
    };
    if posted.one(HONEYPOT).is_some() {
        tracing::info!(workflow = %id, "a web request with its honeypot filled in was dropped");
        return Redirect::to(&format!("/request/{id}/done")).into_response();
    }
    // A key from our own form (hex), else a fresh one: a retry of the same form opens one ticket.
    let key = posted
        .one("_key")
        .filter(|k| k.len() <= 64 && k.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let Some(email) = posted.one("email") else {
        let problem = FieldProblem::new("customer.email", texts::text(frame.lang, "request.email_needed"));
        return render_form(&frame, StatusCode::UNPROCESSABLE_ENTITY, &workflow, &posted, &[problem], &key);
    };
    if !state.web_limits.request(&email) {
        return frame.error(PageError::TooMany);
    }
    let ticket = open_ticket(&workflow, &posted, email, frame.tz, frame.lang);
    let request = OpenRequest {
        ticket,
        actor: Actor::integrator(ACTOR),
        idempotency_key: Some(format!("web-request:{}:{key}", workflow.id())),
    };
    match state.writer.open(request).await {
        Ok(outcome) => {
            if !outcome.replayed {
                metrics::counter!("afterdesk_tickets_opened_total").increment(1);
            }
            let token = done_token(state.web_secret.as_ref(), outcome.ticket.id);
            Redirect::to(&format!("/request/{id}/done/{token}")).into_response()
        }
        Err(WriteError::Engine(EngineError::Invalid(problems))) => {
            render_form(&frame, StatusCode::UNPROCESSABLE_ENTITY, &workflow, &posted, &problems, &key)
        }
        Err(error) => frame.error(PageError::internal(&error)),
    }
}

/// The ticket a posted form asks for.
/// The ticket the form asks for; the customer's language is the page's (kept only where their
/// record has none yet).
fn open_ticket(workflow: &Workflow, posted: &Posted, email: String, tz: chrono_tz::Tz, lang: Lang) -> OpenTicket {
    let mut forms: crate::engine::command::FormValues = BTreeMap::new();
    for (form, field) in start_fields(workflow) {
        let name = input_name(&form, field.name.get_ref());
        if let Some(value) = typed(&field, &posted.all(&name), tz) {
            forms.entry(form).or_default().insert(field.name.get_ref().clone(), value);
        }
    }
    OpenTicket {
        workflow: workflow.id().to_string(),
        subject: posted.one("subject").unwrap_or_default(),
        description: posted.0.get("description").and_then(|v| v.first()).map(|d| d.replace("\r\n", "\n")),
        customer: CustomerInput {
            name: posted.one("name"),
            email: Some(email),
            phone: posted.one("phone"),
            language: Some(lang),
            ..CustomerInput::default()
        },
        category: posted.one("category"),
        priority: None,
        channel: Some(CHANNEL.to_string()),
        forms,
        mail: None,
        attachments: Vec::new(),
        follow_up_of: None,
    }
}

/// The token of a confirmation page: the ticket's id, signed for this page only (it is not a
/// status link, so filing a request in someone else's name shows nothing of theirs).
fn done_token(secret: &[u8], ticket: TicketId) -> String {
    format!("{ticket}.{}", mac(secret, &format!("request-done.{ticket}")))
}

fn read_done_token(secret: &[u8], token: &str) -> Option<TicketId> {
    let (id, signature) = token.split_once('.')?;
    if !signed(secret, &format!("request-done.{id}"), signature) {
        return None;
    }
    id.parse().ok()
}

/// The confirmation of a request that opened nothing (a robot's): the same words, no number.
async fn done_anonymous(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Response {
    let path = format!("/request/{id}/done");
    let Some(workflow) = workflow(&state, &id) else { return not_found(&visitor, path) };
    let frame = frame_for(&visitor, &workflow, path);
    frame.render("request_done.html", context! { workflow => workflow.definition.name })
}

async fn done_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, token)): Path<(String, String)>,
) -> Response {
    let path = format!("/request/{id}/done/{token}");
    let Some(workflow) = workflow(&state, &id) else { return not_found(&visitor, path) };
    let frame = frame_for(&visitor, &workflow, path);
    let Some(ticket_id) = read_done_token(state.web_secret.as_ref(), &token) else {
        return frame.error(PageError::NotFound);
    };
    let ticket = match state.store.ticket(ticket_id) {
        Ok(Some(ticket)) if ticket.workflow == workflow.id() => ticket,
        Ok(_) => return frame.error(PageError::NotFound),
        Err(error) => return frame.error(error.into()),
    };
    let email = match state.store.customer(ticket.customer) {
        Ok(customer) => customer.and_then(|c| c.email),
        Err(error) => return frame.error(error.into()),
    };
    frame.render(
        "request_done.html",
        context! { workflow => workflow.definition.name, number => ticket.number, email => email },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_time_becomes_rfc_3339_in_the_workflow_zone() {
        let tehran: chrono_tz::Tz = "Asia/Tehran".parse().expect("zone");
        assert_eq!(local_time("2026-11-23T09:00", tehran).as_deref(), Some("2026-11-23T09:00:00+03:30"));
        assert_eq!(local_time("yesterday", tehran), None);
    }

    #[test]
    fn a_confirmation_token_names_its_ticket_and_nothing_else() {
        let ticket = TicketId(ulid::Ulid::from_parts(5, 6));
        let token = done_token(b"secret", ticket);
        assert_eq!(read_done_token(b"secret", &token), Some(ticket));
        assert_eq!(read_done_token(b"other", &token), None);
        let status = crate::notify::links::StatusLink { ticket }.sign(b"secret");
        assert_eq!(read_done_token(b"secret", &status), None, "a status link is no confirmation token");
        assert!(crate::notify::links::StatusLink::verify(&token, b"secret").is_err(), "nor the other way round");
    }
}
