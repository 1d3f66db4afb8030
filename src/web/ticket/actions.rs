//! The forms the ticket page posts, and the download of its files.
//!
//! Each form is one command through the writer, with the signed-in person as the actor and the
//! revision the page was rendered at as `expected_revision` (a page left open while someone
//! else worked the ticket is refused, and shown again as it is now). A command taken answers
//! `303` back to `/t/{number}?done=...`; a refused one shows the page again with the engine's
//! reasons: `422` for problems with what was posted (next to their fields, values kept), `403`
//! when the person may not, `409` when the ticket changed meanwhile or is finished.
//!
//! Forms are [`SignedForm`]s (CSRF token and same-site origin checked before the handler runs);
//! the file upload is multipart, so it checks both itself.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeZone;
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;

use super::view::{Draft, shown};
use super::{Loaded, error_page, load, show};
use crate::api::AppState;
use crate::api::attachments::Received;
use crate::engine::attach::{is_media_type, may_attach, sanitize_name};
use crate::engine::{Command, EngineError};
use crate::web::page::PageError;
use crate::web::session::{SignedForm, SignedIn, same_site};
use crate::web::texts;
use crate::workflow::model::{Field, FieldType};
use crate::writer::{CommandRequest, WriteError};

/// Room a multipart body takes beyond its files (boundaries, part headers, the other fields).
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// The media type of a file sent without one.
const OCTET_STREAM: &str = "application/octet-stream";

/// Runs `command` on the ticket for `who` at `revision`: `303` back to the page with notice
/// `done`, or the page again with the engine's reasons and what `draft` keeps.
async fn run(
    state: &AppState,
    who: &SignedIn,
    loaded: &Loaded,
    command: Command,
    revision: Option<u64>,
    done: &str,
    draft: Draft,
) -> Response {
    let name = command.name();
    let request = CommandRequest {
        ticket: loaded.ticket.id.to_string(),
        command,
        actor: who.actor(),
        expected_revision: revision,
    };
    let result = state.writer.command(request).await;
    let outcome = if result.is_ok() { "ok" } else { "refused" };
    metrics::counter!("afterdesk_commands_total", "command" => name, "outcome" => outcome).increment(1);
    match result {
        Ok(outcome) => Redirect::to(&format!("/t/{}?done={done}", outcome.ticket.number)).into_response(),
        Err(error) => refused(state, who, loaded, error, draft),
    }
}

/// The page again, as the ticket is now, with why the writer refused.
fn refused(state: &AppState, who: &SignedIn, loaded: &Loaded, error: WriteError, mut draft: Draft) -> Response {
    // Shown as it is now: the refusal may be because it changed.
    let loaded = match load(state, who, &loaded.ticket.id.to_string()) {
        Ok(now) => now,
        Err(error) => return error_page(state, who, error),
    };
    let lang = loaded.lang(who);
    let status = match error {
        WriteError::Engine(EngineError::Conflict { .. }) => {
            draft.notice = Some(texts::text(lang, "ticket.stale").to_string());
            StatusCode::CONFLICT
        }
        WriteError::Engine(EngineError::Invalid(problems) | EngineError::Refused(problems)) => {
            draft.notice = Some(texts::text(lang, "ticket.refused").to_string());
            draft.problems = problems;
            StatusCode::UNPROCESSABLE_ENTITY
        }
        WriteError::Engine(EngineError::Forbidden(why)) => {
            draft.notice = Some(why);
            StatusCode::FORBIDDEN
        }
        WriteError::Engine(EngineError::Finished(why)) => {
            draft.notice = Some(why);
            StatusCode::CONFLICT
        }
        WriteError::Engine(EngineError::NotFound(_)) => return error_page(state, who, PageError::NotFound),
        WriteError::Engine(error @ EngineError::Script { .. }) => {
            draft.notice = Some(error.to_string());
            StatusCode::UNPROCESSABLE_ENTITY
        }
        other => return error_page(state, who, PageError::internal(&other)),
    };
    show(state, who, &loaded, status, &draft)
}

/// The revision a form says its page was rendered at.
fn revision_of(text: Option<&str>) -> Option<u64> {
    text.and_then(|t| t.trim().parse().ok())
}

/// The value to save for `field` from what was posted: the saved value when the input still
/// shows it (so an untouched field is no change), else the text as the field's kind takes it.
/// Text the kind cannot take goes to the engine as it is, to be refused in its words.
pub fn value_of(field: &Field, posted: &[String], saved: Option<&Value>, tz: Tz) -> Value {
    let posted: Vec<&String> = posted.iter().filter(|p| !p.trim().is_empty()).collect();
    if let Some(saved) = saved
        && shown(field, saved, tz).iter().collect::<Vec<_>>() == posted
    {
        return saved.clone();
    }
    let kind = *field.kind.get_ref();
    if matches!(kind, FieldType::MultiChoice | FieldType::Files) {
        return if posted.is_empty() {
            Value::Null
        } else {
            Value::Array(posted.into_iter().map(|p| Value::String(p.clone())).collect())
        };
    }
    let Some(text) = posted.first().map(|t| t.as_str()) else { return Value::Null };
    let trimmed = text.trim();
    match kind {
        FieldType::Integer => trimmed.parse::<i64>().map_or_else(|_| Value::String(text.into()), Value::from),
        FieldType::Number => trimmed
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(text.into()), Value::Number),
        FieldType::Bool => match trimmed {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.into()),
        },
        FieldType::Datetime => chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S"))
            .ok()
            .and_then(|local| tz.from_local_datetime(&local).earliest())
            .map_or_else(|| Value::String(text.into()), |at| Value::String(at.to_rfc3339())),
        FieldType::Date | FieldType::Choice | FieldType::File => Value::String(trimmed.into()),
        _ => Value::String(text.into()),
    }
}

/// `POST /t/{number}/forms/{form}`: saves every field of a form of the stage.
pub async fn save_form(
    State(state): State<AppState>,
    Path((number, form_id)): Path<(String, String)>,
    SignedForm { who, form: pairs }: SignedForm<Vec<(String, String)>>,
) -> Response {
    let loaded = match load(&state, &who, &number) {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, &who, error),
    };
    let definition = &loaded.workflow.definition;
    let Some(form) = definition.forms.get(form_id.as_str()) else {
        return error_page(&state, &who, PageError::NotFound);
    };
    let revision = revision_of(pairs.iter().find(|(k, _)| k == "revision").map(|(_, v)| v.as_str()));
    let mut posted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &pairs {
        if form.fields.iter().any(|f| f.name.get_ref() == name) {
            posted.entry(name.clone()).or_default().push(value.clone());
        }
    }
    let tz = definition.timezone();
    let saved = loaded.ticket.forms.get(&form_id);
    let values: BTreeMap<String, Value> = form
        .fields
        .iter()
        .map(|field| {
            let name = field.name.get_ref();
            let value =
                value_of(field, posted.get(name).map_or(&[][..], Vec::as_slice), saved.and_then(|s| s.get(name)), tz);
            (name.clone(), value)
        })
        .collect();
    let draft = Draft { form: Some(form_id.clone()), values: posted, ..Draft::default() };
    run(&state, &who, &loaded, Command::SaveForm { form: form_id, values }, revision, "saved", draft).await
}

/// The form of a checklist item.
#[derive(Debug, Deserialize)]
pub struct TickForm {
    /// The item.
    item: String,
    /// `true` to tick, `false` to untick.
    #[serde(default)]
    checked: Option<String>,
    /// The revision of the page.
    #[serde(default)]
    revision: Option<String>,
}

/// `POST /t/{number}/checklist`: ticks or unticks an item of the stage's checklist.
pub async fn tick(
    State(state): State<AppState>,
    Path(number): Path<String>,
    SignedForm { who, form }: SignedForm<TickForm>,
) -> Response {
    let loaded = match load(&state, &who, &number) {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, &who, error),
    };
    let checked = form.checked.as_deref() != Some("false");
    let done = if checked { "ticked" } else { "unticked" };
    let command = Command::Tick { item: form.item, checked };
    run(&state, &who, &loaded, command, revision_of(form.revision.as_deref()), done, Draft::default()).await
}

/// A form that carries only the page's revision.
#[derive(Debug, Deserialize)]
pub struct RevisionForm {
    /// The revision of the page.
    #[serde(default)]
    revision: Option<String>,
}

/// `POST /t/{number}/transitions/{name}`: takes a transition of the stage.
pub async fn transition(
    State(state): State<AppState>,
    Path((number, name)): Path<(String, String)>,
    SignedForm { who, form }: SignedForm<RevisionForm>,
) -> Response {
    let loaded = match load(&state, &who, &number) {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, &who, error),
    };
    let command = Command::Transition { name };
    run(&state, &who, &loaded, command, revision_of(form.revision.as_deref()), "moved", Draft::default()).await
}

/// The approval form.
#[derive(Debug, Deserialize)]
pub struct ApprovalForm {
    /// `approve`, `reject` or `request`.
    action: String,
    /// A comment; the reason of a rejection.
    #[serde(default)]
    note: Option<String>,
    /// The revision of the page.
    #[serde(default)]
    revision: Option<String>,
}

/// `POST /t/{number}/approval`: approves, rejects (with a reason) or asks for approval.
pub async fn approval(
    State(state): State<AppState>,
    Path(number): Path<String>,
    SignedForm { who, form }: SignedForm<ApprovalForm>,
) -> Response {
    let loaded = match load(&state, &who, &number) {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, &who, error),
    };
    let note = form.note.clone().filter(|n| !n.trim().is_empty());
    let (command, done) = match form.action.as_str() {
        "approve" => (Command::Approve { note }, "approved"),
        "reject" => (Command::RejectApproval { note: note.unwrap_or_default() }, "rejected"),
        "request" => (Command::RequestApproval { note }, "requested"),
        _ => {
            let lang = loaded.lang(&who);
            return loaded.frame(&who).error(PageError::BadRequest(texts::text(lang, "error.bad_form").to_string()));
        }
    };
    let draft = Draft { note: Some(form.note.unwrap_or_default()), ..Draft::default() };
    run(&state, &who, &loaded, command, revision_of(form.revision.as_deref()), done, draft).await
}

/// The reply and note form.
#[derive(Debug, Deserialize)]
pub struct CommentForm {
    /// The text.
    #[serde(default)]
    body: String,
    /// `true` for a public reply (mailed to the customer), else an internal note.
    #[serde(default)]
    public: Option<String>,
    /// The revision of the page.
    #[serde(default)]
    revision: Option<String>,
}

/// `POST /t/{number}/comments`: a public reply or an internal note.
pub async fn comment(
    State(state): State<AppState>,
    Path(number): Path<String>,
    SignedForm { who, form }: SignedForm<CommentForm>,
) -> Response {
    let loaded = match load(&state, &who, &number) {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, &who, error),
    };
    let public = form.public.as_deref() == Some("true");
    let done = if public { "replied" } else { "noted" };
    let draft = Draft { comment: Some(form.body.clone()), ..Draft::default() };
    let revision = revision_of(form.revision.as_deref());
    run(&state, &who, &loaded, Command::Comment { body: form.body, public }, revision, done, draft).await
}

/// The assignment form.
#[derive(Debug, Deserialize)]
pub struct AssignForm {
    /// The person; empty unassigns.
    #[serde(default)]
    assignee: String,
    /// The revision of the page.
    #[serde(default)]
    revision: Option<String>,
}

/// `POST /t/{number}/assign`: takes the ticket, assigns it to someone, or unassigns it.
pub async fn assign(
    State(state): State<AppState>,
    Path(number): Path<String>,
    SignedForm { who, form }: SignedForm<AssignForm>,
) -> Response {
    let loaded = match load(&state, &who, &number) {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, &who, error),
    };
    let assignee = Some(form.assignee.trim().to_string()).filter(|a| !a.is_empty());
    let command = Command::Assign { assignee };
    run(&state, &who, &loaded, command, revision_of(form.revision.as_deref()), "assigned", Draft::default()).await
}

/// What an upload form posted.
#[derive(Default)]
struct Upload {
    csrf: String,
    revision: Option<u64>,
    files: Vec<Received>,
}

/// `POST /t/{number}/files`: attaches the files of a multipart form (parts named `file`).
/// The CSRF token and the origin are checked here (a multipart body is no [`SignedForm`]); the
/// body is read up to the workflow's `[attachments]` limits, like the API's upload.
pub async fn upload(
    State(state): State<AppState>,
    Path(number): Path<String>,
    who: SignedIn,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let loaded = match load(&state, &who, &number) {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, &who, error),
    };
    let lang = loaded.lang(&who);
    let frame = loaded.frame(&who);
    let refuse = |key: &str| frame.error(PageError::Forbidden(texts::text(lang, key).to_string()));
    if !same_site(&state, &headers) {
        return refuse("error.cross_site");
    }
    let actor = who.actor();
    if let Err(error) = may_attach(&loaded.workflow, &loaded.ticket, &actor) {
        return refused(&state, &who, &loaded, error.into(), Draft::default());
    }
    let limits = loaded.workflow.definition.attachments;
    let too_large = || {
        let why = texts::fill(lang, "ticket.files.too_large", &[("bytes", limits.max_file_bytes.to_string())]);
        Draft { notice: Some(why), ..Draft::default() }
    };
    let limit = limits.max_ticket_bytes.saturating_add(MULTIPART_OVERHEAD);
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), usize::try_from(limit).unwrap_or(usize::MAX)).await
    else {
        return show(&state, &who, &loaded, StatusCode::PAYLOAD_TOO_LARGE, &too_large());
    };
    let upload = match read_upload(&headers, bytes).await {
        Ok(upload) => upload,
        Err(()) => return frame.error(PageError::BadRequest(texts::text(lang, "error.bad_form").to_string())),
    };
    if !who.csrf_ok(&upload.csrf) {
        return refuse("error.csrf");
    }
    if upload.files.iter().any(|f| f.bytes.len() as u64 > limits.max_file_bytes) {
        return show(&state, &who, &loaded, StatusCode::PAYLOAD_TOO_LARGE, &too_large());
    }
    if upload.files.is_empty() {
        let draft = Draft { notice: Some(texts::text(lang, "ticket.files.none").to_string()), ..Draft::default() };
        return show(&state, &who, &loaded, StatusCode::UNPROCESSABLE_ENTITY, &draft);
    }
    let attachments = match crate::api::attachments::keep(&state.store, upload.files, state.clock.now()).await {
        Ok(attachments) => attachments,
        Err(error) => return error_page(&state, &who, PageError::internal(&error)),
    };
    run(&state, &who, &loaded, Command::Attach { attachments }, upload.revision, "attached", Draft::default()).await
}

/// The fields of a multipart upload: `_csrf`, `revision` and the `file` parts (an empty part,
/// a file input left empty, is no file).
async fn read_upload(headers: &HeaderMap, bytes: Bytes) -> Result<Upload, ()> {
    let mut request = Request::new(Body::from(bytes));
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        request.headers_mut().insert(header::CONTENT_TYPE, value.clone());
    }
    let mut multipart = Multipart::from_request(request, &()).await.map_err(|_| ())?;
    let mut upload = Upload::default();
    while let Some(part) = multipart.next_field().await.map_err(|_| ())? {
        match part.name() {
            Some("_csrf") => upload.csrf = part.text().await.map_err(|_| ())?,
            Some("revision") => upload.revision = revision_of(Some(&part.text().await.map_err(|_| ())?)),
            Some("file") => {
                let name = part.file_name().map(sanitize_name).unwrap_or_default();
                let content_type =
                    part.content_type().map(str::trim).filter(|t| is_media_type(t)).unwrap_or(OCTET_STREAM).to_string();
                let bytes = part.bytes().await.map_err(|_| ())?;
                if !name.is_empty() || !bytes.is_empty() {
                    let name = if name.is_empty() { "file".to_string() } else { name };
                    upload.files.push(Received { name, content_type, bytes });
                }
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// `GET /t/{number}/files/{id}`: a file of the ticket, for a signed-in person who may read it,
/// with the headers of the API's download (stored media type, `Content-Disposition:
/// attachment`, no sniffing, sandboxed).
pub async fn download(
    State(state): State<AppState>,
    Path((number, id)): Path<(String, String)>,
    who: SignedIn,
) -> Response {
    let loaded = match load(&state, &who, &number) {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, &who, error),
    };
    let Some(file) = loaded.ticket.attachments.iter().find(|a| a.id.to_string().eq_ignore_ascii_case(&id)).cloned()
    else {
        return error_page(&state, &who, PageError::NotFound);
    };
    let store = state.store.clone();
    let sha256 = file.sha256.clone();
    let bytes = match tokio::task::spawn_blocking(move || store.blob(&sha256)).await {
        Ok(Ok(Some(bytes))) => bytes,
        Ok(Ok(None)) => {
            let missing = format!("blob {} of file {} is missing", file.sha256, file.id);
            return error_page(&state, &who, PageError::Internal(missing));
        }
        Ok(Err(error)) => return error_page(&state, &who, error.into()),
        Err(error) => return error_page(&state, &who, PageError::internal(&error)),
    };
    let content_type =
        HeaderValue::from_str(&file.content_type).unwrap_or_else(|_| HeaderValue::from_static(OCTET_STREAM));
    let disposition = HeaderValue::from_str(&crate::api::disposition::attachment(&file.name))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let length = bytes.len();
    let mut response = Body::from(bytes.to_vec()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Opened in a browser anyway, an uploaded HTML file runs no script with the pages' origin.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    response
}
