//! Rendering a page: the template environment (every file of `src/web/templates/`, compiled
//! in), the frame every page shares (language, direction, time zone, who is signed in, the
//! CSRF token), HTML error pages, and the headers every page is sent with.
//!
//! Templates call `t("key", name=value)` for a text in the page's language, `tn("key", count)`
//! for a counted one, and the filters `when` (an instant as a date and time in the page's time
//! zone and calendar), `day` (its date), `span` (seconds as a length of time) and `num` (a
//! number in the language's digits). Every value is HTML-escaped.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::value::Kwargs;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, Value, context};
use serde::Serialize;

use super::texts;
use crate::locale::{Lang, dates};

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    minijinja_embed::load_templates!(&mut env);
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.add_function("t", translate);
    env.add_function("tn", translate_counted);
    env.add_filter("when", when);
    env.add_filter("day", day);
    env.add_filter("span", span);
    env.add_filter("num", num);
    env
});

fn lang_of(state: &State) -> Lang {
    state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::parse)).unwrap_or_default()
}

fn tz_of(state: &State) -> Tz {
    state.lookup("tz").and_then(|v| v.as_str().and_then(|name| name.parse().ok())).unwrap_or(chrono_tz::UTC)
}

fn values_of(kwargs: &Kwargs) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for name in kwargs.args() {
        let value: Value = kwargs.get(name)?;
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

fn translate(state: &State, key: &str, kwargs: Kwargs) -> Result<String, Error> {
    let values = values_of(&kwargs)?;
    let values: Vec<(&str, String)> = values.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    Ok(texts::fill(lang_of(state), key, &values))
}

fn translate_counted(state: &State, key: &str, count: i64, kwargs: Kwargs) -> Result<String, Error> {
    let values = values_of(&kwargs)?;
    let values: Vec<(&str, String)> = values.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    Ok(texts::counted(lang_of(state), key, count, &values))
}

fn instant(value: &Value) -> Result<Option<DateTime<Utc>>, Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(None);
    }
    let text = value.to_string();
    DateTime::parse_from_rfc3339(&text)
        .map(|at| Some(at.to_utc()))
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("not a time: {text} ({e})")))
}

fn when(state: &State, value: Value) -> Result<String, Error> {
    Ok(instant(&value)?.map(|at| dates::datetime(at, tz_of(state), lang_of(state))).unwrap_or_default())
}

fn day(state: &State, value: Value) -> Result<String, Error> {
    Ok(instant(&value)?.map(|at| dates::date(at, tz_of(state), lang_of(state))).unwrap_or_default())
}

fn span(state: &State, seconds: i64) -> String {
    dates::duration(chrono::Duration::seconds(seconds), lang_of(state))
}

fn num(state: &State, value: Value) -> String {
    match i64::try_from(value.clone()) {
        Ok(n) => dates::number(n, lang_of(state)),
        Err(_) => value.to_string(),
    }
}

/// Who is signed in, as a page shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Me {
    /// Their address.
    pub person: String,
    /// Whether they are an administrator.
    pub admin: bool,
}

/// What every page shares.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The language of the page.
    pub lang: Lang,
    /// The time zone times are shown in.
    pub tz: Tz,
    /// Who is signed in, if anyone.
    pub me: Option<Me>,
    /// The token every form of a signed-in page posts back (`_csrf`).
    pub csrf: Option<String>,
    /// The path of this page (for the language switch to come back to).
    pub path: String,
}

impl Frame {
    /// A frame for a visitor nobody signed in.
    pub fn anonymous(lang: Lang, tz: Tz, path: impl Into<String>) -> Self {
        Self { lang, tz, me: None, csrf: None, path: path.into() }
    }

    /// Renders template `name` (a file of `src/web/templates/`) with `values`, with status 200.
    pub fn render(&self, name: &str, values: Value) -> Response {
        self.render_with(StatusCode::OK, name, values)
    }

    /// Renders template `name` with `values` and `status`.
    pub fn render_with(&self, status: StatusCode, name: &str, values: Value) -> Response {
        let languages: Vec<Value> = Lang::ALL
            .iter()
            .map(|lang| context! { code => lang.code(), name => lang.native_name(), current => *lang == self.lang })
            .collect();
        let frame = context! {
            lang => self.lang.code(),
            dir => self.lang.dir(),
            tz => self.tz.name(),
            me => self.me,
            csrf => self.csrf,
            path => self.path,
            languages => languages,
        };
        match render(name, context! { ..frame, ..values }) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(error) => {
                tracing::error!("page template `{name}` failed: {error:#}");
                (StatusCode::INTERNAL_SERVER_ERROR, Html(fallback_error(self.lang))).into_response()
            }
        }
    }

    /// The error page for `error`.
    pub fn error(&self, error: PageError) -> Response {
        let (status, key, detail) = match &error {
            PageError::NotFound => (StatusCode::NOT_FOUND, "error.not_found", None),
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "error.forbidden", Some(why.clone())),
            PageError::Gone(why) => (StatusCode::GONE, "error.gone", Some(why.clone())),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, "error.bad_request", Some(why.clone())),
            PageError::TooMany => (StatusCode::TOO_MANY_REQUESTS, "error.too_many", None),
            PageError::Internal(cause) => {
                tracing::error!("page failed: {cause}");
                (StatusCode::INTERNAL_SERVER_ERROR, "error.internal", None)
            }
        };
        self.render_with(status, "error.html", context! { title_key => key, detail => detail })
    }
}

fn render(name: &str, values: Value) -> Result<String, Error> {
    ENV.get_template(name)?.render(values)
}

fn fallback_error(lang: Lang) -> String {
    format!(
        "<!doctype html><html lang=\"{}\" dir=\"{}\"><meta charset=\"utf-8\"><title>Afterdesk</title><p>{}</p></html>",
        lang.code(),
        lang.dir(),
        texts::text(lang, "error.internal")
    )
}

/// Why a page cannot be shown.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PageError {
    /// Nothing here (or nothing the visitor may see).
    #[error("not found")]
    NotFound,
    /// Not for this person.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A link that worked once and no longer does.
    #[error("gone: {0}")]
    Gone(String),
    /// A form that cannot be read.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Asked too often.
    #[error("too many requests")]
    TooMany,
    /// A bug or a failing store (the cause is logged, never shown).
    #[error("internal: {0}")]
    Internal(String),
}

impl PageError {
    /// An internal failure with its cause (logged, never shown).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::internal(&error)
    }
}

/// Headers every page and asset is sent with: no framing, no sniffing, no referrer (a status
/// link's token must not leak to another site), scripts and styles only from this server, and
/// no caching of pages (they show a person's work) unless a route says otherwise.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}
