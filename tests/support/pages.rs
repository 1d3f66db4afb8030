//! Signing in to the pages in tests: the sign-in link in a mail, the CSRF token of a page, and
//! [`PageSession`], a person signed in through the real flow (link read from the SMTP sink).

use std::time::Duration;

use reqwest::{Response, StatusCode};

use crate::helpers::TestApp;

/// A person signed in to the pages, as a browser would be: the session cookie from the real
/// sign-in flow (the link read from the SMTP sink), sent with every request, and the CSRF token
/// the pages' forms carry. Redirects are not followed, so a test sees each 303.
pub struct PageSession {
    /// The server's address.
    pub address: String,
    /// `afterdesk_session=...`.
    pub cookie: String,
    /// The token every form posts as `_csrf`.
    pub csrf: String,
    client: reqwest::Client,
}

/// The first `http://.../sign-in/TOKEN` link in `text`.
pub fn sign_in_link(text: &str) -> Option<String> {
    let start = text.find("/sign-in/")?;
    let from = text[..start].rfind("http")?;
    let end = text[start..].find(|c: char| c.is_whitespace() || c == '"' || c == '<').map_or(text.len(), |e| start + e);
    Some(text[from..end].to_string())
}

/// The value of the first hidden `_csrf` field of a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

/// Signs `person` in to the pages through the real flow: asks for a link on `/sign-in`, reads
/// it from the mail `sink` received, presses its button. The server must send mail to `sink`.
pub async fn page_session(app: &TestApp, sink: &crate::smtp::SmtpSink, person: &str) -> PageSession {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let before = sink.messages().len();
    let asked = client.post(app.url("/sign-in")).form(&[("email", person)]).send().await.expect("ask for a link");
    assert_eq!(asked.status(), StatusCode::OK, "the sign-in page answers");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mail = loop {
        let found = sink.messages().into_iter().skip(before).find(|m| {
            m.to.iter().any(|to| to.eq_ignore_ascii_case(person))
                && m.text.as_deref().is_some_and(|t| t.contains("/sign-in/"))
        });
        if let Some(mail) = found {
            break mail;
        }
        assert!(std::time::Instant::now() < deadline, "no sign-in mail to {person} within a minute");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let link = sign_in_link(mail.text.as_deref().unwrap_or_default()).expect("a sign-in link in the mail");
    let pressed = client.post(&link).send().await.expect("use the link");
    assert_eq!(pressed.status(), StatusCode::SEE_OTHER, "the link signs in");
    let cookie = pressed
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("afterdesk_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let mut session = PageSession { address: app.address.clone(), cookie, csrf: String::new(), client };
    let page = session.get("/work").await.text().await.expect("a page");
    session.csrf = csrf_of(&page).expect("a CSRF token on a signed-in page");
    session
}

impl PageSession {
    /// GETs a page with the session's cookie.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await
            .expect("the server answers")
    }

    /// POSTs a form with the session's cookie and CSRF token.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all: Vec<(&str, &str)> = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.client
            .post(format!("{}{path}", self.address))
            .header(reqwest::header::COOKIE, &self.cookie)
            .form(&all)
            .send()
            .await
            .expect("the server answers")
    }

    /// The client (no cookie attached), for requests a test builds itself.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}
