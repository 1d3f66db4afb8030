//! Who is signed in to the pages, and the checks every form of theirs passes.
//!
//! A session is a random 256-bit secret in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when
//! the server is reached over https), signed with the server's web secret so a forged cookie is
//! refused without a read; the store keeps the session under the secret's SHA-256 digest, so a
//! revocation or a sign-out takes effect on the next request. A session ends after
//! [`SESSION_DAYS`] days, or after [`IDLE_HOURS`] hours unused.
//!
//! Every form posts a CSRF token (`_csrf`, an HMAC of the session) and must come from this
//! site (`Sec-Fetch-Site` or `Origin`); [`SignedForm`] checks both before a handler runs.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::page::{Frame, Me, PageError};
use crate::api::AppState;
use crate::locale::Lang;
use crate::notify::links::{mac, signed};
use crate::store::sessions::SessionRecord;
use crate::store::tokens::TokenRole;

/// The session cookie.
pub const SESSION_COOKIE: &str = "afterdesk_session";
/// The cookie of a visitor's chosen language.
pub const LANG_COOKIE: &str = "afterdesk_lang";
/// Longest a session lasts.
pub const SESSION_DAYS: i64 = 7;
/// Longest a session lasts unused.
pub const IDLE_HOURS: i64 = 24;

/// The language a visitor chose with the switch, and the one their browser asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Visitor {
    /// Chosen on a page (the language cookie).
    pub chosen: Option<Lang>,
    /// First of the browser's `Accept-Language` that Afterdesk has.
    pub browser: Option<Lang>,
}

impl Visitor {
    /// Reads the language cookie and `Accept-Language`.
    pub fn of(headers: &HeaderMap) -> Self {
        let jar = CookieJar::from_headers(headers);
        let chosen = jar.get(LANG_COOKIE).and_then(|c| Lang::parse(c.value()));
        let browser =
            headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::from_accept_language);
        Self { chosen, browser }
    }

    /// The language of a page about a workflow written in `workflow`: the visitor's choice,
    /// else the workflow's.
    pub fn lang_for(&self, workflow: Lang) -> Lang {
        self.chosen.unwrap_or(workflow)
    }

    /// The language of a page about no one workflow: the visitor's choice, else their
    /// browser's, else `fallback`.
    pub fn lang(&self, fallback: Lang) -> Lang {
        self.chosen.or(self.browser).unwrap_or(fallback)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.headers))
    }
}

/// A person signed in to the pages.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session as stored.
    pub session: SessionRecord,
    /// The digest the session is stored under.
    pub digest: [u8; 32],
    /// The token this session's forms post back.
    pub csrf: String,
    /// Their language choice and browser's.
    pub visitor: Visitor,
    /// The path (and query) they asked for.
    pub path: String,
}

impl SignedIn {
    /// Their address.
    pub fn person(&self) -> &str {
        &self.session.person
    }

    /// Whether they are an administrator.
    pub fn is_admin(&self) -> bool {
        self.session.role == TokenRole::Admin
    }

    /// Them as an actor of the engine (the same actor an API token of theirs would be).
    pub fn actor(&self) -> crate::engine::Actor {
        match self.session.role {
            TokenRole::Admin => crate::engine::Actor::admin(self.session.person.clone()),
            _ => crate::engine::Actor::agent(self.session.person.clone()),
        }
    }

    /// The frame of a page of theirs, in `lang` and time zone `tz`.
    pub fn frame(&self, lang: Lang, tz: Tz) -> Frame {
        Frame {
            lang,
            tz,
            me: Some(Me { person: self.session.person.clone(), admin: self.is_admin() }),
            csrf: Some(self.csrf.clone()),
            path: self.path.clone(),
        }
    }

    /// The language of their pages about no one workflow: their choice, their browser's, or
    /// the language of the first workflow they hold a role in.
    pub fn lang(&self, state: &AppState) -> Lang {
        let fallback = state
            .registry
            .all_current()
            .iter()
            .find(|w| !crate::engine::transition::roles_of(&w.definition, self.person()).is_empty())
            .map(|w| w.definition.language)
            .unwrap_or_default();
        self.visitor.lang(fallback)
    }

    /// Whether `token` is this session's CSRF token.
    pub fn csrf_ok(&self, token: &str) -> bool {
        token.len() == self.csrf.len() && self.csrf.bytes().zip(token.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
    }
}

/// The CSRF token of the session with `digest`.
pub fn csrf_token(secret: &[u8], digest: &[u8; 32]) -> String {
    mac(secret, &format!("csrf.{}", hex::encode(digest)))
}

/// The cookie value of a session secret: `SECRET.SIGNATURE`.
pub fn cookie_value(secret: &[u8], session_secret: &[u8; 32]) -> String {
    let payload = hex::encode(session_secret);
    let signature = mac(secret, &format!("session.{payload}"));
    format!("{payload}.{signature}")
}

/// The digest of the session a cookie value names, if the cookie is signed by this server.
pub fn cookie_digest(secret: &[u8], value: &str) -> Option<[u8; 32]> {
    let (payload, signature) = value.split_once('.')?;
    if !signed(secret, &format!("session.{payload}"), signature) {
        return None;
    }
    let bytes = hex::decode(payload).ok()?;
    Some(Sha256::digest(&bytes).into())
}

/// The session cookie for a new session (or, with an empty value, the one that ends it).
pub fn session_cookie(value: String, secure: bool, days: i64) -> Cookie<'static> {
    let mut cookie = Cookie::new(SESSION_COOKIE, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(secure);
    cookie.set_max_age(Some(cookie::time::Duration::days(days)));
    cookie
}

/// Whether cookies must be `Secure`: the server's address is https, or a proxy says the request
/// came over https.
pub fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.public_url.starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Whether a form post comes from this site: `Sec-Fetch-Site` says `same-origin` (or `none`,
/// typed by the person), else `Origin` is this server's; a client that sends neither (not a
/// browser) passes, as the CSRF token still guards it.
pub fn same_site(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    origin == state.public_url.trim_end_matches('/')
        || origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
}

/// Why a page needs a signed-in person and has none.
#[derive(Debug)]
pub enum SignInFirst {
    /// A page: go sign in, then come back.
    Redirect(String),
    /// A form post: the session ended meanwhile.
    Ended(Lang),
    /// The store failed.
    Failed(PageError, Lang),
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        match self {
            Self::Redirect(next) => {
                let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                Redirect::to(&format!("/sign-in?{query}")).into_response()
            }
            Self::Ended(lang) => Frame::anonymous(lang, chrono_tz::UTC, "/sign-in")
                .error(PageError::Forbidden(crate::web::texts::text(lang, "signin.ended").to_string())),
            Self::Failed(error, lang) => Frame::anonymous(lang, chrono_tz::UTC, "/").error(error),
        }
    }
}

/// The session a request's cookie names, if it is valid at `now`.
pub fn session_of(
    state: &AppState,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Option<(SessionRecord, [u8; 32])>, PageError> {
    let jar = CookieJar::from_headers(headers);
    let Some(cookie) = jar.get(SESSION_COOKIE) else { return Ok(None) };
    let Some(digest) = cookie_digest(state.web_secret.as_ref(), cookie.value()) else { return Ok(None) };
    let Some(record) = state.store.session(&digest)? else { return Ok(None) };
    let idle = now - record.last_seen_at > chrono::Duration::hours(IDLE_HOURS);
    if record.revoked_at.is_some() || record.expires_at <= now || idle {
        return Ok(None);
    }
    state.store.touch_session(&digest, &record, now)?;
    Ok(Some((record, digest)))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let visitor = Visitor::of(&parts.headers);
        let lang = visitor.lang(Lang::En);
        let path = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), ToString::to_string);
        match session_of(state, &parts.headers, state.clock.now()) {
            Ok(Some((session, digest))) => {
                let csrf = csrf_token(state.web_secret.as_ref(), &digest);
                Ok(Self { session, digest, csrf, visitor, path })
            }
            Ok(None) if matches!(parts.method, Method::GET | Method::HEAD) => Err(SignInFirst::Redirect(path)),
            Ok(None) => Err(SignInFirst::Ended(lang)),
            Err(error) => Err(SignInFirst::Failed(error, lang)),
        }
    }
}

/// The fields of a form that has none but its CSRF token (a sign-out button).
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub struct NoFields {}

/// A form posted by a signed-in person: their session, checked for a CSRF token and a
/// same-site origin, and the form's fields as `T` (`_csrf` aside).
#[derive(Debug)]
pub struct SignedForm<T> {
    /// Who posted it.
    pub who: SignedIn,
    /// What it says.
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for SignedForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let who = SignedIn::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        let frame = who.frame(who.lang(state), chrono_tz::UTC);
        let refuse =
            |key: &str| frame.error(PageError::Forbidden(crate::web::texts::text(frame.lang, key).to_string()));
        if !same_site(state, &parts.headers) {
            return Err(refuse("error.cross_site"));
        }
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|rejection| (StatusCode::PAYLOAD_TOO_LARGE, rejection.body_text()).into_response())?;
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|e| frame.error(PageError::BadRequest(e.to_string())))?;
        let token = fields.iter().find(|(name, _)| name == "_csrf").map_or("", |(_, value)| value.as_str());
        if !who.csrf_ok(token) {
            return Err(refuse("error.csrf"));
        }
        let form =
            serde_urlencoded::from_bytes(&bytes).map_err(|e| frame.error(PageError::BadRequest(e.to_string())))?;
        Ok(Self { who, form })
    }
}
