//! The status page of a customer's request (`/status/{token}`), reached from any mail the
//! customer gets about it (`status_url`; the token is a [`StatusLink`]).
//!
//! It shows what the customer may know and nothing else: the number and subject, the stage in
//! plain words (the stage's `customer_text`, else its name), what happens next and by when
//! (the running SLA clock's deadline: "we aim to answer by ..."), the team's public replies and
//! the customer's own messages and files. Never internal notes, staff addresses, the priority,
//! the assignee or stage ids.
//!
//! Its reply box sends the command of `POST /v1/tickets/{id}/customer-replies` as the customer;
//! the engine decides what a reply to a resolved or closed request does. Where the workflow
//! wants a follow-up instead (`reply_when_closed = "follow_up"`), the page opens the linked
//! follow-up request, as inbound mail does. Its upload stores the files, then sends the
//! `attach` command, with the workflow's `[attachments]` limits, as the API's upload does.
//! Every post answers 303 back to the page (or the page again with the problem, 4xx).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::page::{Frame, PageError};
use super::session::{self, Visitor};
use super::texts;
use crate::api::AppState;
use crate::api::attachments::Received;
use crate::engine::attach::{is_media_type, may_attach, sanitize_name};
use crate::engine::{
    Actor, ActorKind, Change, Command, CustomerInput, EngineError, Event, FieldProblem, OpenTicket, Status, Ticket,
};
use crate::notify::links::StatusLink;
use crate::workflow::Workflow;
use crate::workflow::model::ReplyWhenClosed;
use crate::writer::{CommandRequest, OpenRequest, WriteError};

/// Room a multipart body takes beyond its files (boundaries, part headers).
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// The media type of a file sent without one.
const OCTET_STREAM: &str = "application/octet-stream";

/// The routes of the status page.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status/{token}", get(status_page))
        .route("/status/{token}/reply", post(reply))
        .route("/status/{token}/files", post(upload))
        .route("/status/{token}/files/{file}", get(download))
}

/// A request as its status page needs it.
struct Found {
    token: String,
    ticket: Ticket,
    workflow: std::sync::Arc<Workflow>,
    frame: Frame,
}

impl Found {
    /// The customer, as the engine's actor.
    fn actor(&self) -> Actor {
        Actor { id: self.ticket.customer.to_string(), kind: ActorKind::Customer }
    }

    fn url(&self) -> String {
        format!("/status/{}", self.token)
    }
}

/// The request a token names, in the frame of its page, or the page that says why not.
fn find(state: &AppState, visitor: &Visitor, token: &str) -> Result<Found, Box<Response>> {
    let path = format!("/status/{token}");
    let fallback = || Frame::anonymous(visitor.lang(crate::locale::Lang::En), chrono_tz::UTC, path.clone());
    let Ok(link) = StatusLink::verify(token, state.web_secret.as_ref()) else {
        return Err(Box::new(fallback().error(PageError::NotFound)));
    };
    let ticket = match state.store.ticket(link.ticket) {
        Ok(Some(ticket)) => ticket,
        Ok(None) => return Err(Box::new(fallback().error(PageError::NotFound))),
        Err(error) => return Err(Box::new(fallback().error(error.into()))),
    };
    let workflow = match state.registry.version(&ticket.workflow, &ticket.version) {
        Ok(Some(workflow)) => workflow,
        Ok(None) => {
            let cause = format!("workflow {} version {} is not loaded", ticket.workflow, ticket.version);
            return Err(Box::new(fallback().error(PageError::internal(&cause))));
        }
        Err(error) => return Err(Box::new(fallback().error(PageError::internal(&error)))),
    };
    let frame = Frame::anonymous(visitor.lang_for(workflow.definition.language), workflow.definition.timezone(), path);
    if !StatusLink::answers(ticket.closed_at, state.clock.now()) {
        let why = texts::text(frame.lang, "status.expired").to_string();
        return Err(Box::new(frame.error(PageError::Gone(why))));
    }
    Ok(Found { token: token.to_string(), ticket, workflow, frame })
}

/// One message of the conversation.
#[derive(Debug, Serialize)]
struct Message {
    /// `you` or `team`.
    from: &'static str,
    at: String,
    body: String,
}

/// A file of the customer's.
#[derive(Debug, Serialize)]
struct File {
    id: String,
    name: String,
    /// In bytes.
    bytes: u64,
    at: String,
}

/// A file as the page lists it.
fn listed(file: &File, lang: crate::locale::Lang) -> Value {
    context! { id => file.id, name => file.name, size => size_text(lang, file.bytes), at => file.at }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What the customer may read of a ticket's log: the description, the public replies, their
/// own messages; and their own files (attached by them, or with their mail or message).
fn conversation(ticket: &Ticket, events: &[Event]) -> (Vec<Message>, Vec<File>) {
    let mut messages = Vec::new();
    let mut files = Vec::new();
    // The actor and instant of the customer's last message: files attached with it are theirs.
    let mut theirs: Option<(DateTime<Utc>, Actor)> = None;
    for event in events {
        let with_message = theirs.as_ref().is_some_and(|(at, actor)| *at == event.at && *actor == event.actor);
        match &event.change {
            Change::Opened { description, .. } => {
                if !description.trim().is_empty() {
                    messages.push(Message { from: "you", at: rfc3339(event.at), body: description.clone() });
                }
                theirs = Some((event.at, event.actor.clone()));
            }
            Change::CustomerReplied { body, .. } => {
                messages.push(Message { from: "you", at: rfc3339(event.at), body: body.clone() });
                theirs = Some((event.at, event.actor.clone()));
            }
            Change::Commented { body, public: true } => {
                messages.push(Message { from: "team", at: rfc3339(event.at), body: body.clone() });
                theirs = None;
            }
            Change::Attached { attachment } => {
                let own = event.actor.kind == ActorKind::Customer && event.actor.id == ticket.customer.to_string();
                if own || with_message {
                    files.push(File {
                        id: attachment.id.to_string(),
                        name: attachment.name.clone(),
                        bytes: attachment.size,
                        at: rfc3339(attachment.added_at),
                    });
                }
            }
            Change::MailReceived { .. } | Change::FormSaved { .. } => {}
            _ if !with_message => theirs = None,
            _ => {}
        }
    }
    (messages, files)
}

/// The stage in the customer's words, and what happens next.
fn stage_words(ticket: &Ticket, workflow: &Workflow, frame: &Frame) -> (String, Value) {
    let definition = &workflow.definition;
    let stage = definition.stages.get(ticket.stage.as_str());
    let generic = match ticket.status {
        Status::Open => "status.in_progress",
        Status::Resolved => "status.resolved",
        Status::Closed => "status.closed",
        Status::Merged => "status.merged",
    };
    let words = stage
        .and_then(|s| s.customer_text.clone().or_else(|| s.name.clone()))
        .unwrap_or_else(|| texts::text(frame.lang, generic).to_string());
    let next = match ticket.status {
        Status::Resolved => context! { key => "status.next_resolved" },
        Status::Closed => context! { key => "status.next_closed" },
        Status::Merged => context! { key => "status.next_merged" },
        Status::Open if stage.is_some_and(|s| s.pauses_sla) => context! { key => "status.next_waiting" },
        Status::Open => match aim(ticket, workflow) {
            Some((key, due)) => context! { key => key, due => rfc3339(due) },
            None => context! { key => "status.next_soon" },
        },
    };
    (words, next)
}

/// What the team aims to do next and by when (the text saying so): the deadline of the
/// stage's running clock (finish this step), else of the first-response clock (answer), else
/// of the resolution clock (resolve).
fn aim(ticket: &Ticket, workflow: &Workflow) -> Option<(&'static str, DateTime<Utc>)> {
    use crate::engine::sla;
    let definition = &workflow.definition;
    let clocks = [
        (sla::stage_clock(&ticket.stage), "status.next_step"),
        (sla::FIRST_RESPONSE.to_string(), "status.next_aim"),
        (sla::RESOLUTION.to_string(), "status.next_resolve"),
    ];
    clocks.iter().find_map(|(name, key)| {
        let clock = ticket.slas.get(name).filter(|c| c.is_active())?;
        let definition_of = sla::definition(definition, name)?;
        sla::deadline(clock, &sla::calendar(definition, definition_of)).map(|due| (*key, due))
    })
}

/// What a post left to say on the page.
#[derive(Debug, Default, Clone)]
struct Said {
    /// The reply box's text, kept.
    reply: String,
    reply_problem: Option<String>,
    file_problem: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Notice {
    sent: Option<String>,
}

fn render(state: &AppState, found: &Found, status: StatusCode, said: &Said, notice: Option<&str>) -> Response {
    let Found { ticket, workflow, frame, .. } = found;
    let events = match state.store.events(ticket.id) {
        Ok(events) => events,
        Err(error) => return frame.error(error.into()),
    };
    let (messages, files) = conversation(ticket, &events);
    let (words, next) = stage_words(ticket, workflow, frame);
    let notice = match notice {
        Some("reply") => Some("status.sent_reply"),
        Some("files") => Some("status.sent_files"),
        Some("follow_up") => Some("status.sent_follow_up"),
        _ => None,
    };
    let limits = workflow.definition.attachments;
    frame.render_with(
        status,
        "status.html",
        context! {
            url => found.url(),
            number => ticket.number,
            subject => ticket.subject,
            workflow => workflow.definition.name,
            opened => rfc3339(ticket.created_at),
            stage => words,
            next => next,
            messages => messages,
            files => files.iter().map(|f| listed(f, frame.lang)).collect::<Vec<_>>(),
            notice => notice,
            may_reply => ticket.status != Status::Merged,
            may_attach => !ticket.status.is_finished(),
            max_file => size_text(frame.lang, limits.max_file_bytes),
            reply => said.reply,
            reply_problem => said.reply_problem,
            file_problem => said.file_problem,
        },
    )
}

async fn status_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    match find(&state, &visitor, &token) {
        Ok(found) => render(&state, &found, StatusCode::OK, &Said::default(), notice.sent.as_deref()),
        Err(page) => *page,
    }
}

#[derive(Debug, Deserialize)]
struct ReplyForm {
    #[serde(default)]
    body: String,
}

/// The words for the engine's problems with a reply, in the page's language where there are.
fn reply_problem(frame: &Frame, problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(|p| match (p.field.as_str(), p.message.as_str()) {
            ("body", "is empty") => texts::text(frame.lang, "status.reply_empty").to_string(),
            _ => p.message.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn reply(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let found = match find(&state, &visitor, &token) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let frame = &found.frame;
    if !session::same_site(&state, &headers) {
        return frame.error(PageError::Forbidden(texts::text(frame.lang, "error.cross_site").to_string()));
    }
    let form: ReplyForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(error) => return frame.error(PageError::BadRequest(error.to_string())),
    };
    let text = form.body.replace("\r\n", "\n");
    let request = CommandRequest {
        ticket: found.ticket.id.to_string(),
        command: Command::CustomerReply { body: text.clone(), mail: None, attachments: Vec::new() },
        actor: found.actor(),
        expected_revision: None,
    };
    let again = |status, problem: String| {
        let said = Said { reply: text.clone(), reply_problem: Some(problem), ..Said::default() };
        render(&state, &found, status, &said, None)
    };
    match state.writer.command(request).await {
        Ok(_) => Redirect::to(&format!("{}?sent=reply", found.url())).into_response(),
        Err(WriteError::Engine(EngineError::Invalid(problems) | EngineError::Refused(problems))) => {
            again(StatusCode::UNPROCESSABLE_ENTITY, reply_problem(frame, &problems))
        }
        Err(WriteError::Engine(EngineError::Finished(_))) if follows_up(&found) => {
            follow_up(&state, &found, text).await
        }
        Err(WriteError::Engine(EngineError::Finished(message))) => again(StatusCode::CONFLICT, message),
        Err(WriteError::Engine(EngineError::Forbidden(message))) => again(StatusCode::FORBIDDEN, message),
        Err(error) => frame.error(PageError::internal(&error)),
    }
}

/// Whether a reply to this request opens a follow-up request (its workflow says so, and it is
/// closed).
fn follows_up(found: &Found) -> bool {
    let when_closed = found.workflow.definition.reply_when_closed.as_ref().map(|r| *r.get_ref()).unwrap_or_default();
    found.ticket.status == Status::Closed && when_closed == ReplyWhenClosed::FollowUp
}

/// Opens the follow-up of a closed request with the customer's message, as inbound mail does,
/// and answers with the new request's status page.
async fn follow_up(state: &AppState, found: &Found, text: String) -> Response {
    let ticket = &found.ticket;
    let open = OpenTicket {
        workflow: ticket.workflow.clone(),
        subject: ticket.subject.clone(),
        description: Some(text.clone()),
        customer: CustomerInput { id: Some(ticket.customer.to_string()), ..CustomerInput::default() },
        category: ticket.category.clone(),
        priority: None,
        channel: Some(super::request::CHANNEL.to_string()),
        forms: Default::default(),
        mail: None,
        attachments: Vec::new(),
        follow_up_of: Some(ticket.id),
    };
    let request = OpenRequest { ticket: open, actor: Actor::integrator(super::request::ACTOR), idempotency_key: None };
    match state.writer.open(request).await {
        Ok(outcome) => {
            let token = StatusLink { ticket: outcome.ticket.id }.sign(state.web_secret.as_ref());
            Redirect::to(&format!("/status/{token}?sent=follow_up")).into_response()
        }
        Err(WriteError::Engine(EngineError::Invalid(problems) | EngineError::Refused(problems))) => {
            let said =
                Said { reply: text, reply_problem: Some(reply_problem(&found.frame, &problems)), ..Said::default() };
            render(state, found, StatusCode::UNPROCESSABLE_ENTITY, &said, None)
        }
        Err(error) => found.frame.error(PageError::internal(&error)),
    }
}

/// Why an upload was refused: the status and what to tell the customer.
struct Refusal(StatusCode, String);

async fn upload(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let found = match find(&state, &visitor, &token) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let frame = &found.frame;
    if !session::same_site(&state, request.headers()) {
        return frame.error(PageError::Forbidden(texts::text(frame.lang, "error.cross_site").to_string()));
    }
    let again = |Refusal(status, problem): Refusal| {
        let said = Said { file_problem: Some(problem), ..Said::default() };
        render(&state, &found, status, &said, None)
    };
    // Refused before the body is read, as the API does.
    if let Err(error) = may_attach(&found.workflow, &found.ticket, &found.actor()) {
        let status =
            if matches!(error, EngineError::Finished(_)) { StatusCode::CONFLICT } else { StatusCode::FORBIDDEN };
        return again(Refusal(status, error.to_string()));
    }
    let files = match receive(frame, &found.workflow, request).await {
        Ok(files) => files,
        Err(refusal) => return again(refusal),
    };
    let attachments = match crate::api::attachments::keep(&state.store, files, state.clock.now()).await {
        Ok(attachments) => attachments,
        Err(error) => return frame.error(PageError::internal(&error)),
    };
    let request = CommandRequest {
        ticket: found.ticket.id.to_string(),
        command: Command::Attach { attachments },
        actor: found.actor(),
        expected_revision: None,
    };
    match state.writer.command(request).await {
        Ok(_) => Redirect::to(&format!("{}?sent=files", found.url())).into_response(),
        Err(WriteError::Engine(EngineError::Invalid(problems) | EngineError::Refused(problems))) => {
            let message = problems.iter().map(|p| p.message.clone()).collect::<Vec<_>>().join(" ");
            again(Refusal(StatusCode::UNPROCESSABLE_ENTITY, message))
        }
        Err(WriteError::Engine(error @ (EngineError::Finished(_) | EngineError::Forbidden(_)))) => {
            again(Refusal(StatusCode::CONFLICT, error.to_string()))
        }
        Err(error) => frame.error(PageError::internal(&error)),
    }
}

/// The `file` parts of a multipart upload, each within the workflow's per-file limit, the
/// whole within its per-ticket limit.
async fn receive(frame: &Frame, workflow: &Workflow, request: Request) -> Result<Vec<Received>, Refusal> {
    let limits = workflow.definition.attachments;
    let too_large = |limit: u64| {
        Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            texts::fill(frame.lang, "status.file_too_large", &[("size", size_text(frame.lang, limit))]),
        )
    };
    let unreadable = || Refusal(StatusCode::BAD_REQUEST, texts::text(frame.lang, "status.file_unreadable").to_string());
    let headers = request.headers().clone();
    let limit = limits.max_ticket_bytes.saturating_add(MULTIPART_OVERHEAD);
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limits.max_file_bytes));
    }
    let bytes = axum::body::to_bytes(request.into_body(), usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|_| too_large(limits.max_file_bytes))?;
    let mut inner = Request::new(Body::from(bytes));
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        inner.headers_mut().insert(header::CONTENT_TYPE, value.clone());
    }
    let mut multipart = Multipart::from_request(inner, &()).await.map_err(|_| unreadable())?;
    let mut files = Vec::new();
    while let Some(part) = multipart.next_field().await.map_err(|_| unreadable())? {
        if part.name() != Some("file") {
            continue;
        }
        let name = part.file_name().map(str::to_string).unwrap_or_default();
        let content_type = part.content_type().unwrap_or(OCTET_STREAM).trim().to_string();
        let bytes = part.bytes().await.map_err(|_| unreadable())?;
        // A file input left empty sends a part without a name or content.
        if name.is_empty() && bytes.is_empty() {
            continue;
        }
        if bytes.len() as u64 > limits.max_file_bytes {
            return Err(too_large(limits.max_file_bytes));
        }
        let content_type = if is_media_type(&content_type) { content_type } else { OCTET_STREAM.to_string() };
        files.push(Received { name: sanitize_name(&name), content_type, bytes });
    }
    if files.is_empty() {
        let problem = texts::text(frame.lang, "status.file_none").to_string();
        return Err(Refusal(StatusCode::UNPROCESSABLE_ENTITY, problem));
    }
    Ok(files)
}

/// A size in whole megabytes (or kilobytes, below one), as the language writes it.
fn size_text(lang: crate::locale::Lang, bytes: u64) -> String {
    let number = |n: u64| crate::locale::dates::number(i64::try_from(n).unwrap_or(i64::MAX), lang);
    if bytes >= 1024 * 1024 {
        texts::fill(lang, "status.megabytes", &[("n", number(bytes / (1024 * 1024)))])
    } else {
        texts::fill(lang, "status.kilobytes", &[("n", number(bytes.div_ceil(1024)))])
    }
}

async fn download(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((token, file)): Path<(String, String)>,
) -> Response {
    let found = match find(&state, &visitor, &token) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let frame = &found.frame;
    let events = match state.store.events(found.ticket.id) {
        Ok(events) => events,
        Err(error) => return frame.error(error.into()),
    };
    let (_, own) = conversation(&found.ticket, &events);
    let Some(attachment) = own
        .iter()
        .find(|f| f.id.eq_ignore_ascii_case(&file))
        .and_then(|f| found.ticket.attachments.iter().find(|a| a.id.to_string() == f.id))
        .cloned()
    else {
        return frame.error(PageError::NotFound);
    };
    let store = state.store.clone();
    let sha256 = attachment.sha256.clone();
    let bytes = match tokio::task::spawn_blocking(move || store.blob(&sha256)).await {
        Ok(Ok(Some(bytes))) => bytes,
        Ok(Ok(None)) => return frame.error(PageError::internal(&format!("blob of file {} is missing", attachment.id))),
        Ok(Err(error)) => return frame.error(error.into()),
        Err(error) => return frame.error(PageError::internal(&error)),
    };
    let content_type =
        HeaderValue::from_str(&attachment.content_type).unwrap_or_else(|_| HeaderValue::from_static(OCTET_STREAM));
    let disposition = HeaderValue::from_str(&crate::api::disposition::attachment(&attachment.name))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let mut response = Body::from(bytes.to_vec()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    // Opened in a browser anyway, an uploaded HTML file runs no script with this site's origin.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::attachment::Attachment;
    use crate::engine::{CustomerId, TicketId};

    fn event(revision: u64, at: DateTime<Utc>, actor: Actor, change: Change) -> Event {
        Event { ticket: TicketId(ulid::Ulid::from_parts(1, 1)), revision, at, actor, change }
    }

    fn file(id: u128, added_at: DateTime<Utc>) -> Attachment {
        Attachment {
            id: ulid::Ulid(id),
            name: format!("f{id}.txt"),
            content_type: "text/plain".into(),
            size: 3,
            sha256: "0".repeat(64),
            added_at,
        }
    }

    #[test]
    fn the_customer_reads_public_replies_and_their_own_words_and_files_only() {
        let customer = CustomerId(ulid::Ulid::from_parts(9, 9));
        let at = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let later = at + chrono::Duration::minutes(5);
        let them = Actor { id: customer.to_string(), kind: ActorKind::Customer };
        let agent = Actor::agent("ali@example.com");
        let mut ticket_events = vec![
            event(2, at, agent.clone(), Change::Commented { body: "internal: check the pump".into(), public: false }),
            event(3, at, agent.clone(), Change::Commented { body: "We ordered the pump.".into(), public: true }),
            event(4, later, agent.clone(), Change::Attached { attachment: file(1, later) }),
            event(5, later, them.clone(), Change::CustomerReplied { body: "Thanks!".into(), mail: None }),
            event(6, later, them.clone(), Change::Attached { attachment: file(2, later) }),
        ];
        let ticket = {
            let opened = crate::engine::stamp(
                TicketId(ulid::Ulid::from_parts(1, 1)),
                0,
                &Actor::integrator("web-form"),
                at,
                vec![Change::Opened {
                    number: "AS-1".into(),
                    workflow: "w".into(),
                    version: "v".into(),
                    stage: "intake".into(),
                    priority: "normal".into(),
                    category: None,
                    channel: None,
                    subject: "Washer".into(),
                    description: "It leaks.".into(),
                    customer,
                    queue: None,
                    role: None,
                }],
            );
            ticket_events.insert(0, opened[0].clone());
            Ticket::open(&opened[0]).expect("a ticket")
        };
        let (messages, files) = conversation(&ticket, &ticket_events);
        let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["It leaks.", "We ordered the pump.", "Thanks!"]);
        assert_eq!(messages.iter().map(|m| m.from).collect::<Vec<_>>(), ["you", "team", "you"]);
        assert_eq!(files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["f2.txt"], "not the agent's file");
    }
}
