//! `/v1/tickets/{id}/attachments`: upload files to a ticket, list them, download one.
//!
//! An upload is a raw body (its `Content-Type`, the name from `?name=` or
//! `Content-Disposition`) or `multipart/form-data` with one or more `file` parts. The body may
//! be larger than the server's `max_body_bytes`: this route reads up to the ticket's workflow
//! limits (`[attachments]`) itself, refusing a larger file with 413. Each file is stored as a
//! blob and flushed *before* the `attach` command goes to the writer, so an `attached` event
//! never names content that is not durable; the engine decides whether the ticket takes them.
//! Reading follows the ticket's read scope: a ticket out of scope is not found.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::disposition;
use super::extract::{ApiPath, ApiQuery, Caller, IfMatch};
use super::problem::{ApiError, Problem};
use super::tickets::readable_ticket;
use crate::engine::attach::{is_media_type, may_attach, sanitize_name};
use crate::engine::attachment::Attachment;
use crate::engine::{Change, Command, EngineError, FieldProblem, Ticket};
use crate::writer::{CommandRequest, WriteError};

/// Room a multipart body takes beyond its files (boundaries, part headers).
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// The media type of a file sent without one.
const OCTET_STREAM: &str = "application/octet-stream";

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload, list)).routes(routes!(download))
}

/// The files of a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentList {
    /// Oldest first (for an upload: the files just attached).
    pub items: Vec<Attachment>,
}

/// Query of a raw upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// File name of a raw upload (else `Content-Disposition: attachment; filename=...`).
    name: Option<String>,
}

/// A file as received, before it is stored.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its name, sanitised.
    pub name: String,
    /// Its media type.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Bytes,
}

/// Stores `files` as blobs, flushed (durable before any event names them), and describes
/// them as attachments added at `now`, with ids in upload order even within one millisecond.
/// The API and the pages store uploads through this.
pub async fn keep(
    store: &crate::store::Store,
    files: Vec<Received>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Attachment>, WriteError> {
    let store = store.clone();
    let contents: Vec<Bytes> = files.iter().map(|f| f.bytes.clone()).collect();
    let digests = tokio::task::spawn_blocking(move || {
        let digests = contents.iter().map(|bytes| store.put_blob(bytes)).collect::<Result<Vec<_>, _>>()?;
        store.flush()?;
        Ok::<_, crate::store::StoreError>(digests)
    })
    .await
    .map_err(|e| WriteError::Internal(e.to_string()))??;
    let mut ids = ulid::Generator::new();
    Ok(files
        .into_iter()
        .zip(digests)
        .map(|(file, sha256)| Attachment {
            id: ids.generate_from_datetime(now.into()).unwrap_or_else(|_| ulid::Ulid::from_datetime(now.into())),
            name: file.name,
            content_type: file.content_type,
            size: file.bytes.len() as u64,
            sha256,
            added_at: now,
        })
        .collect())
}

/// Attach files to a ticket.
///
/// Send the file as the body with its `Content-Type` and `?name=report.pdf` (or
/// `Content-Disposition: attachment; filename=...`), or several as `multipart/form-data`
/// parts named `file`. Names lose folders and control characters. The same content is stored
/// once. Who may comment may attach; limits are the workflow's `[attachments]`.
#[utoipa::path(post, path = "/v1/tickets/{id}/attachments", tag = "commands",
    params(("id" = String, Path, description = "Ticket id or number"), UploadQuery,
           ("If-Match" = Option<String>, Header, description = "Only at this revision")),
    request_body(content = Vec<u8>, description = "The file (any media type), or multipart/form-data with `file` parts",
                 content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Attached", body = AttachmentList, headers(("ETag" = String))),
        (status = 413, description = "A file is larger than the workflow allows", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No name, a bad media type, or the ticket's limits", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    if_match: IfMatch,
    request: Request,
) -> Result<Response, ApiError> {
    let ticket = readable_ticket(&state, &caller, &id)?;
    let workflow = state.registry.version(&ticket.workflow, &ticket.version)?.ok_or_else(|| {
        ApiError::internal(&format!("workflow {} version {} is not loaded", ticket.workflow, ticket.version))
    })?;
    // Refused before the body is read, so nobody who may not attach makes the server store files.
    may_attach(&workflow, &ticket, &caller.actor())?;
    let limits = workflow.definition.attachments;
    let files = receive(request, query, limits.max_file_bytes, limits.max_ticket_bytes).await?;
    let attachments = keep(&state.store, files, state.clock.now()).await?;
    let request = CommandRequest {
        ticket: ticket.id.to_string(),
        command: Command::Attach { attachments },
        actor: caller.actor(),
        expected_revision: if_match.0,
    };
    let result = state.writer.command(request).await;
    let outcome = if result.is_ok() { "ok" } else { "refused" };
    metrics::counter!("afterdesk_commands_total", "command" => "attach", "outcome" => outcome).increment(1);
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(WriteError::Engine(EngineError::Conflict { expected, actual })) if if_match.0.is_some() => {
            return Err(ApiError::precondition_failed(expected, actual));
        }
        Err(error) => return Err(error.into()),
    };
    let items = outcome
        .events
        .into_iter()
        .filter_map(|event| match event.change {
            Change::Attached { attachment } => Some(attachment),
            _ => None,
        })
        .collect();
    let mut response = (StatusCode::CREATED, Json(AttachmentList { items })).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", outcome.ticket.revision)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

fn too_large(field: &str, limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "The file is too large",
        format!("{field}: files on this ticket may be at most {limit} bytes"),
    )
    .with_errors(vec![FieldProblem::new(field, format!("must be at most {limit} bytes"))])
}

/// The files of an upload, raw or multipart, each at most `max_file` bytes.
async fn receive(
    request: Request,
    query: UploadQuery,
    max_file: u64,
    max_ticket: u64,
) -> Result<Vec<Received>, ApiError> {
    let headers = request.headers().clone();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or(OCTET_STREAM);
    let multipart = content_type.trim().to_ascii_lowercase().starts_with("multipart/form-data");
    let limit = if multipart { max_ticket.saturating_add(MULTIPART_OVERHEAD) } else { max_file };
    let field = if multipart { "body" } else { "file" };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(field, limit));
    }
    let bytes = axum::body::to_bytes(request.into_body(), usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|_| too_large(field, limit))?;
    if multipart {
        return parts(&headers, bytes, max_file).await;
    }
    let name = query
        .name
        .or_else(|| {
            headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).and_then(disposition::file_name)
        })
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| {
            ApiError::invalid(vec![FieldProblem::new(
                "name",
                "say the file's name: ?name=report.pdf or Content-Disposition: attachment; filename=report.pdf",
            )])
        })?;
    Ok(vec![Received { name: sanitize_name(&name), content_type: media_type(content_type, "content_type")?, bytes }])
}

fn media_type(text: &str, field: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if is_media_type(text) {
        Ok(text.to_string())
    } else {
        Err(ApiError::invalid(vec![FieldProblem::new(field, format!("\"{text}\" is not a media type"))]))
    }
}

/// The `file` parts of a multipart body.
async fn parts(headers: &HeaderMap, bytes: Bytes, max_file: u64) -> Result<Vec<Received>, ApiError> {
    let mut request = Request::new(Body::from(bytes));
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        request.headers_mut().insert(header::CONTENT_TYPE, value.clone());
    }
    let mut multipart =
        Multipart::from_request(request, &()).await.map_err(|e| ApiError::bad_field("body", e.body_text()))?;
    let mut files = Vec::new();
    while let Some(part) = multipart.next_field().await.map_err(|e| ApiError::bad_field("body", e.body_text()))? {
        let index = files.len();
        let field = format!("file[{index}]");
        match part.name() {
            Some("file") => {}
            other => {
                return Err(ApiError::invalid(vec![FieldProblem::new(
                    other.unwrap_or("part").to_string(),
                    "unknown part; send each file as a part named `file`",
                )]));
            }
        }
        let name = part.file_name().map(sanitize_name).ok_or_else(|| {
            ApiError::invalid(vec![FieldProblem::new(format!("{field}.name"), "the part has no filename")])
        })?;
        let content_type = media_type(part.content_type().unwrap_or(OCTET_STREAM), &format!("{field}.content_type"))?;
        let bytes = part.bytes().await.map_err(|e| ApiError::bad_field(&field, e.body_text()))?;
        if bytes.len() as u64 > max_file {
            return Err(too_large(&field, max_file));
        }
        files.push(Received { name, content_type, bytes });
    }
    if files.is_empty() {
        return Err(ApiError::invalid(vec![FieldProblem::new("file", "no `file` part in the body")]));
    }
    Ok(files)
}

/// The files of a ticket, oldest first.
#[utoipa::path(get, path = "/v1/tickets/{id}/attachments", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id or number")),
    responses((status = 200, body = AttachmentList), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AttachmentList>, ApiError> {
    let ticket = readable_ticket(&state, &caller, &id)?;
    Ok(Json(AttachmentList { items: ticket.attachments }))
}

fn attachment_of<'a>(ticket: &'a Ticket, id: &str) -> Result<&'a Attachment, ApiError> {
    ticket.attachments.iter().find(|a| a.id.to_string().eq_ignore_ascii_case(id)).ok_or_else(|| {
        ApiError::not_found(format!("ticket {} has no file {id}", ticket.number))
            .with_errors(vec![FieldProblem::new("attachment_id", "no such file on this ticket")])
    })
}

/// Download a file of a ticket: its bytes, with the stored media type and name.
#[utoipa::path(get, path = "/v1/tickets/{id}/attachments/{attachment_id}", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id or number"),
           ("attachment_id" = String, Path, description = "The file's id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>,
               headers(("Content-Disposition" = String), ("X-Content-Type-Options" = String))),
              (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn download(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, attachment_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let ticket = readable_ticket(&state, &caller, &id)?;
    let file = attachment_of(&ticket, &attachment_id)?.clone();
    let store = state.store.clone();
    let sha256 = file.sha256.clone();
    let bytes = tokio::task::spawn_blocking(move || store.blob(&sha256))
        .await
        .map_err(|e| ApiError::internal(&e))??
        .ok_or_else(|| ApiError::internal(&format!("blob {} of file {} is missing", file.sha256, file.id)))?;
    let content_type =
        HeaderValue::from_str(&file.content_type).unwrap_or_else(|_| HeaderValue::from_static(OCTET_STREAM));
    let disposition = HeaderValue::from_str(&disposition::attachment(&file.name))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let length = bytes.len();
    let mut response = Body::from(bytes.to_vec()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // Opened in a browser anyway, an uploaded HTML file runs no script with the API's origin.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    Ok(response)
}
