//! Signing in to the pages by a one-time link, signing out, and the language switch.
//!
//! A person listed in a workflow's roles (or holding an administrator token) enters their
//! address on `/sign-in` and gets a link by mail that works once, for [`LINK_MINUTES`]
//! minutes. Opening the link shows a button; pressing it opens the session (mail scanners
//! follow links, so a GET never uses one). The page answers the same whether or not the
//! address is known, so it tells nobody who works here; an address may ask
//! [`crate::web::limits::SIGN_INS_PER_HOUR`] times an hour.

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use ulid::Ulid;

use super::page::{Frame, PageError};
use super::session::{self, LANG_COOKIE, SESSION_DAYS, SignedForm, SignedIn, Visitor};
use crate::api::AppState;
use crate::engine::notices::Audience;
use crate::locale::Lang;
use crate::notify::links::{LinkError, SignInLink};
use crate::store::commit::Batch;
use crate::store::outbox::{Email, OutboxMessage, Payload};
use crate::store::sessions::{SessionRecord, SignInRecord};
use crate::store::tokens::TokenRole;

/// How long a sign-in link works.
pub const LINK_MINUTES: i64 = 15;

/// The routes of signing in and out.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(ask_for_link))
        .route("/sign-in/{token}", get(link_page).post(use_link))
        .route("/sign-out", post(sign_out))
        .route("/lang/{code}", get(switch_language))
}

/// Where a path from a query may lead: a path of this server, never another site.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_string(),
        _ => "/work".to_string(),
    }
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session::session_of(&state, &headers, state.clock.now()) {
        Ok(Some(_)) => Redirect::to("/work").into_response(),
        _ => Redirect::to("/sign-in").into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn sign_in_page(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = local_path(query.next.as_deref());
    if let Ok(Some(_)) = session::session_of(&state, &headers, state.clock.now()) {
        return Redirect::to(&next).into_response();
    }
    let frame = Frame::anonymous(visitor.lang(default_lang(&state)), chrono_tz::UTC, "/sign-in");
    frame.render("signin.html", context! { next => next, email => "", problem => None::<String> })
}

/// The language of pages about no one workflow, for a visitor who chose none: the language of
/// the first workflow loaded (one business usually writes all its workflows in one language).
fn default_lang(state: &AppState) -> Lang {
    state.registry.all_current().first().map(|w| w.definition.language).unwrap_or_default()
}

#[derive(Debug, Deserialize)]
struct AskForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    next: Option<String>,
}

async fn ask_for_link(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    form: Result<Form<AskForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = visitor.lang(default_lang(&state));
    let frame = Frame::anonymous(lang, chrono_tz::UTC, "/sign-in");
    if !session::same_site(&state, &headers) {
        return frame.error(PageError::Forbidden(super::texts::text(lang, "error.cross_site").to_string()));
    }
    let Ok(Form(form)) = form else {
        return frame.error(PageError::BadRequest(super::texts::text(lang, "error.bad_form").to_string()));
    };
    let email = form.email.trim().to_string();
    let next = local_path(form.next.as_deref());
    if !crate::engine::forms::is_email(&email) {
        let problem = super::texts::text(lang, "signin.not_an_address").to_string();
        return frame.render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "signin.html",
            context! { next => next, email => email, problem => problem },
        );
    }
    if !state.web_limits.sign_in(&email) {
        return frame.error(PageError::TooMany);
    }
    if let Some((person, role, workflow)) = who_may_sign_in(&state, &email)
        && let Err(error) = send_link(&state, &person, role, workflow.as_deref(), &next)
    {
        return frame.error(error);
    }
    frame.render("signin_sent.html", context! { email => email, minutes => LINK_MINUTES })
}

/// The person an address signs in as (spelled as the workflow writes it), with their role and
/// a workflow they work in: a member of a role of a loaded workflow, or the holder of a valid
/// administrator token.
fn who_may_sign_in(state: &AppState, email: &str) -> Option<(String, TokenRole, Option<String>)> {
    let now = state.clock.now();
    let valid_admin = |record: &crate::store::tokens::TokenRecord| {
        record.role == TokenRole::Admin
            && record.revoked_at.is_none()
            && record.expires_at.is_none_or(|at| at > now)
            && record.person.eq_ignore_ascii_case(email)
    };
    let admin = state.config_tokens.values().any(valid_admin)
        || state.store.tokens().is_ok_and(|tokens| tokens.iter().any(valid_admin));
    let member = state.registry.all_current().iter().find_map(|workflow| {
        workflow
            .definition
            .roles
            .values()
            .flatten()
            .find(|m| m.get_ref().eq_ignore_ascii_case(email))
            .map(|m| (m.get_ref().clone(), workflow.id().to_string()))
    });
    match (member, admin) {
        (Some((person, workflow)), true) => Some((person, TokenRole::Admin, Some(workflow))),
        (Some((person, workflow)), false) => Some((person, TokenRole::Agent, Some(workflow))),
        (None, true) => Some((email.to_string(), TokenRole::Admin, None)),
        (None, false) => None,
    }
}

/// Saves a sign-in and queues its mail in one commit each (the sign-in first: a mail never
/// names a sign-in that is not stored).
fn send_link(
    state: &AppState,
    person: &str,
    role: TokenRole,
    workflow: Option<&str>,
    next: &str,
) -> Result<(), PageError> {
    let now = state.clock.now();
    let id: [u8; 16] = rand::random();
    let expires_at = now + chrono::Duration::minutes(LINK_MINUTES);
    let record = SignInRecord { person: person.to_string(), role, next: next.to_string(), expires_at };
    state.store.save_sign_in(&id, &record)?;
    let current = workflow.and_then(|id| state.registry.current(id));
    let email = Email {
        template: "sign_in".into(),
        to: vec![person.to_string()],
        subject: "Your sign-in link to Afterdesk".into(),
        context: json!({
            "workflow": current.as_ref().map_or("Afterdesk".to_string(), |w| w.definition.name.clone()),
            "person": person,
            "minutes": LINK_MINUTES,
            "sign_in_id": hex::encode(id),
            "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
        audience: Audience::Staff,
        personal: false,
        attachments: Vec::new(),
    };
    let mut message = OutboxMessage::queued(Ulid::from_datetime(now.into()), Payload::Email(email), now, now);
    if let Some(workflow) = &current {
        message = message.of_workflow(workflow.id(), &workflow.version);
    }
    state.store.commit(&Batch { outbox: vec![message], ..Batch::default() })?;
    state.writer.outbox_signal().notify_one();
    Ok(())
}

fn read_link(state: &AppState, token: &str, now: DateTime<Utc>) -> Result<(SignInLink, SignInRecord), PageError> {
    let link = SignInLink::verify(token, state.web_secret.as_ref(), now).map_err(|error| match error {
        LinkError::Invalid => PageError::NotFound,
        LinkError::Expired(_) => PageError::Gone("signin.expired".into()),
    })?;
    let record = state.store.sign_in(&link.id)?.ok_or_else(|| PageError::Gone("signin.used".into()))?;
    Ok((link, record))
}

/// A `Gone` page names a text key; this turns it into the text.
fn worded(error: PageError, lang: Lang) -> PageError {
    match error {
        PageError::Gone(key) => PageError::Gone(super::texts::text(lang, &key).to_string()),
        other => other,
    }
}

async fn link_page(State(state): State<AppState>, visitor: Visitor, Path(token): Path<String>) -> Response {
    let lang = visitor.lang(default_lang(&state));
    let frame = Frame::anonymous(lang, chrono_tz::UTC, "/sign-in");
    match read_link(&state, &token, state.clock.now()) {
        Ok((_, record)) => frame.render("signin_confirm.html", context! { person => record.person }),
        Err(error) => frame.error(worded(error, lang)),
    }
}

async fn use_link(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    let lang = visitor.lang(default_lang(&state));
    let frame = Frame::anonymous(lang, chrono_tz::UTC, "/sign-in");
    if !session::same_site(&state, &headers) {
        return frame.error(PageError::Forbidden(super::texts::text(lang, "error.cross_site").to_string()));
    }
    let now = state.clock.now();
    let (link, _) = match read_link(&state, &token, now) {
        Ok(found) => found,
        Err(error) => return frame.error(worded(error, lang)),
    };
    // Taking the record is what uses the link: of two presses at once, one signs in.
    let record = match state.store.take_sign_in(&link.id) {
        Ok(Some(record)) => record,
        Ok(None) => return frame.error(worded(PageError::Gone("signin.used".into()), lang)),
        Err(error) => return frame.error(error.into()),
    };
    let secret: [u8; 32] = rand::random();
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(secret).into();
    let user_agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(200).collect::<String>());
    let session = SessionRecord {
        id: hex::encode(&digest[..6]),
        person: record.person.clone(),
        role: record.role,
        created_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::days(SESSION_DAYS),
        user_agent,
        revoked_at: None,
        revoked_by: None,
    };
    if let Err(error) = state.store.save_session(&digest, &session) {
        return frame.error(error.into());
    }
    tracing::info!(person = %session.person, session = %session.id, "signed in to the pages");
    let cookie = session::session_cookie(
        session::cookie_value(state.web_secret.as_ref(), &secret),
        session::secure(&state, &headers),
        SESSION_DAYS,
    );
    (jar.add(cookie), Redirect::to(&local_path(Some(&record.next)))).into_response()
}

async fn sign_out(State(state): State<AppState>, jar: CookieJar, signed: SignedForm<session::NoFields>) -> Response {
    let who: SignedIn = signed.who;
    let now = state.clock.now();
    if let Err(error) = state.store.revoke_session(&who.session.id, Some(&who.digest), now, who.person()) {
        return who.frame(who.lang(&state), chrono_tz::UTC).error(error.into());
    }
    let ended = session::session_cookie(String::new(), state.public_url.starts_with("https://"), 0);
    (jar.remove(ended), Redirect::to("/sign-in")).into_response()
}

async fn switch_language(jar: CookieJar, Path(code): Path<String>, Query(query): Query<NextQuery>) -> Response {
    let next = local_path(query.next.as_deref());
    let Some(lang) = Lang::parse(&code) else { return Redirect::to(&next).into_response() };
    let mut cookie = Cookie::new(LANG_COOKIE, lang.code().to_string());
    cookie.set_path("/");
    cookie.set_same_site(axum_extra::extract::cookie::SameSite::Lax);
    cookie.set_max_age(Some(cookie::time::Duration::days(365)));
    (jar.add(cookie), Redirect::to(&next)).into_response()
}
