//! Request parts the handlers take, each refusing bad input with a problem+json answer: the
//! caller (bearer token), a JSON body (unknown fields refused, position of a syntax error
//! named, size limited), path and query parameters, and `If-Match`.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::AppState;
use super::problem::ApiError;
use crate::auth::AuthError;
use crate::engine::{Actor, FieldProblem};
use crate::store::tokens::{TokenRecord, TokenRole};

/// Who is calling: the holder of a valid bearer token.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenRecord);

impl Caller {
    /// The caller as an actor of the engine.
    pub fn actor(&self) -> Actor {
        let person = self.0.person.clone();
        match self.0.role {
            TokenRole::Admin => Actor::admin(person),
            TokenRole::Agent => Actor::agent(person),
            TokenRole::Integrator => Actor::integrator(person),
        }
    }

    /// Refuses callers who are not administrators.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.role == TokenRole::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("only administrators may do this; {} is {:?}", self.0.person, self.0.role)))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send an API token: `Authorization: Bearer adk_...`"))?;
        let value = header.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
        let secret = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("use the Bearer scheme: `Authorization: Bearer adk_...`"))?;
        let (store, configured, now) = (state.store.clone(), state.config_tokens.clone(), state.clock.now());
        let secret = secret.to_string();
        let checked = tokio::task::spawn_blocking(move || crate::auth::authenticate(&store, &configured, &secret, now))
            .await
            .map_err(|e| ApiError::internal(&e))?;
        match checked {
            Ok(record) => Ok(Self(record)),
            Err(AuthError::Store(error)) => Err(error.into()),
            Err(AuthError::Expired { at }) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token-expired",
                "Token expired",
                format!("this token expired at {}; ask an administrator for a new one", at.to_rfc3339()),
            )),
            Err(other) => Err(ApiError::unauthorized(other.to_string())),
        }
    }
}

/// A JSON body. An empty body reads as `{}` (for commands without parameters).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| {
            let essence = v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        });
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", "Body too large", rejection.body_text())
            } else {
                ApiError::bad_request(rejection.body_text())
            }
        })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        if !bytes.iter().all(u8::is_ascii_whitespace) && json_type != Some(true) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Send JSON",
                "the body must be JSON, with `Content-Type: application/json`",
            ));
        }
        parse(text).map(ApiJson)
    }
}

/// Parses JSON, naming the position of a syntax error or the path of a bad field.
pub fn parse<T: DeserializeOwned>(text: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| (error.path().to_string(), error.into_inner()))
        .and_then(|value| deserializer.end().map(|()| value).map_err(|e| (".".to_string(), e)));
    value.map_err(|(path, inner)| {
        let position = format!("line {} column {}", inner.line(), inner.column());
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                format!("the body is not valid JSON: {message} at {position}"),
            ),
            serde_json::error::Category::Data => {
                // The path names the field, unknown ones included ("customer.nmae"); a missing
                // field is reported at its parent, so its name is taken from the message.
                let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
                let field = match (path.as_str(), missing) {
                    (".", Some(name)) => name.to_string(),
                    (parent, Some(name)) => format!("{parent}.{name}"),
                    (".", None) => "body".to_string(),
                    (_, None) => path,
                };
                ApiError::invalid(vec![FieldProblem::new(field, message)])
            }
        }
    })
}

/// Query parameters.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RawQuery(query) = RawQuery::from_request_parts(parts, state).await.unwrap_or(RawQuery(None));
        parse_query(query.as_deref().unwrap_or("")).map(ApiQuery)
    }
}

/// Parses query parameters; an error names the parameter at fault (`limit`, or the unknown
/// `colour`) rather than the query as a whole.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query).map_err(|error| {
        let message = error.to_string();
        // "unknown field `colour`, expected one of ..." names it already.
        if let Some(name) = message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
            return ApiError::bad_field(name, message.clone());
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        // A parameter repeated is wrong as a whole, whatever its values.
        let repeated = pairs.iter().enumerate().find(|(i, (name, _))| pairs[..*i].iter().any(|(n, _)| n == name));
        if let Some((_, (name, _))) = repeated {
            return ApiError::bad_field(name, "is given more than once");
        }
        // Otherwise the culprit is the parameter that fails on its own (when no parameter is
        // required, so one alone is a complete query).
        let alone_fails = |pair: &&(String, String)| {
            let one = serde_urlencoded::to_string([pair]).unwrap_or_default();
            serde_urlencoded::from_str::<T>(&one).is_err()
        };
        let culprit = if serde_urlencoded::from_str::<T>("").is_ok() { pairs.iter().find(alone_fails) } else { None };
        match culprit {
            Some((name, value)) => ApiError::bad_field(name, format!("\"{value}\": {message}")),
            None => ApiError::bad_field("query", message),
        }
    })
}

/// Path parameters. A bad one (not UTF-8, not of the expected type) is a problem naming it,
/// like every other bad input, instead of axum's plain-text answer.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_problem(&rejection)),
        }
    }
}

fn path_problem(rejection: &PathRejection) -> ApiError {
    let detail = rejection.body_text();
    if rejection.status().is_server_error() {
        return ApiError::internal(&detail);
    }
    let key = match rejection {
        PathRejection::FailedToDeserializePathParams(error) => match error.kind() {
            ErrorKind::InvalidUtf8InPathParam { key }
            | ErrorKind::ParseErrorAtKey { key, .. }
            | ErrorKind::DeserializeError { key, .. } => Some(key.clone()),
            _ => None,
        },
        _ => None,
    };
    match key {
        Some(key) => ApiError::bad_field(&key, detail),
        None => ApiError::bad_request(detail),
    }
}

/// The revision an `If-Match` header asks for (`"7"`, `W/"7"` or `7`), if any.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else { return Ok(Self(None)) };
        let text = value.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(Self(None));
        }
        let bare = text.trim_start_matches("W/").trim_matches('"');
        bare.parse()
            .map(|revision| Self(Some(revision)))
            .map_err(|_| ApiError::bad_field("If-Match", format!("\"{text}\" is not a ticket ETag like \"7\"")))
    }
}
