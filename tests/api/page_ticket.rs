//! The ticket page `/t/{number}` over real HTTP: signing in by the link read from a real SMTP
//! sink, the page in the person's read scope, guard reasons shown before clicking, form
//! problems inline (422, values kept), the checklist, transitions, approvals by the accountable
//! (and refused for another), replies and notes, files, CSRF and stale pages.
//!
//! Sessions are made the real way ([`sign_in`]): `POST /sign-in`, the link from the mail, and
//! `POST` of the link; `helpers::page_session` was not on main when these were written.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, User, WARRANTY_WORKFLOW, encode, new_ticket};
use crate::mail::{WAIT, app_with_mail};
use crate::smtp::SmtpSink;

/// A signed-in person: their session cookie, and the CSRF token their forms post.
pub struct Session {
    cookie: String,
    csrf: String,
    address: String,
    client: reqwest::Client,
}

/// A page as answered.
pub struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Page {
    /// The `revision` the page's forms post back.
    fn revision(&self) -> String {
        hidden(&self.body, "revision").unwrap_or_else(|| panic!("no revision on the page:\n{}", self.body))
    }
}

/// The value of the first hidden input `name` of `html`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

impl Session {
    /// `GET path` with the session.
    async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("GET answered");
        page(response).await
    }

    /// `POST path` with `fields` and the CSRF token.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// `POST path` with exactly `fields` (no CSRF token added).
    async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .header("cookie", &self.cookie)
            .form(fields)
            .send()
            .await
            .expect("POST answered");
        page(response).await
    }
}

async fn page(response: reqwest::Response) -> Page {
    let status = response.status();
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
    // MiniJinja escapes `/` too, and names in sentences are isolated (FSI ... PDI): the tests
    // read the text as a person would.
    let body = response.text().await.expect("body read").replace("&#x2f;", "/").replace(['\u{2068}', '\u{2069}'], "");
    Page { status, location, body }
}

/// Signs `person` in the real way, asking to land on `next`: the link comes by mail to `sink`.
/// Returns the session and where the link led.
pub async fn sign_in(app: &TestApp, sink: &SmtpSink, person: &str, next: &str) -> (Session, String) {
    let asked = app.client.post(app.url("/sign-in")).form(&[("email", person), ("next", next)]).send().await;
    assert_eq!(asked.expect("sign-in answered").status(), StatusCode::OK);
    let link = wait_for_link(sink, person).await;
    let used = app.client.post(app.url(&link)).send().await.expect("the link answered");
    assert_eq!(used.status(), StatusCode::SEE_OTHER, "the link signs in");
    let landed = used.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let cookie = used
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("afterdesk_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let mut session = Session { cookie, csrf: String::new(), address: app.address.clone(), client: app.client.clone() };
    // Any signed-in page carries the token (the sign-out form), a not-found one too.
    let any = session.get("/t/none").await;
    session.csrf = hidden(&any.body, "_csrf").expect("a signed-in page carries the CSRF token");
    (session, landed)
}

/// The path of the newest sign-in link mailed to `person`.
async fn wait_for_link(sink: &SmtpSink, person: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = sink.messages().into_iter().rev().find_map(|mail| {
            let to_them = mail.to.iter().any(|to| to.eq_ignore_ascii_case(person));
            let text = mail.text.unwrap_or_default();
            let start = text.find("/sign-in/")?;
            let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
            to_them.then_some(link)
        });
        if let Some(link) = found {
            return link;
        }
        assert!(Instant::now() < deadline, "no sign-in link for {person} within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens a ticket on the bundled workflow; returns its number.
async fn open(app: &TestApp, subject: &str) -> String {
    let ticket = app.admin().open(new_ticket(subject, "customer@example.org")).await;
    ticket["number"].as_str().expect("a number").to_string()
}

/// Takes an after-sales ticket through intake into review (as the administrator).
async fn into_review(admin: &User, number: &str) {
    admin.save_form(number, "request", json!({"product": "Washer W-9", "problem": "The drum does not turn."})).await;
    admin.tick(number, "Customer and product identified").await;
    admin.tick(number, "Request confirmed with the customer").await;
    admin.transition(number, "accept").await;
}

#[tokio::test]
async fn a_person_not_signed_in_goes_through_sign_in_and_lands_on_the_ticket() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 3).await;
    let number = open(&app, "Washer leaks").await;
    let path = format!("/t/{number}");

    let anonymous = app.client.get(app.url(&path)).send().await.expect("answered");
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    let to = anonymous.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(to, format!("/sign-in?next={}", encode(&path)));

    let (omid, landed) = sign_in(&app, &sink, "omid@example.com", &path).await;
    assert_eq!(landed, path, "the link leads back to the ticket");
    let page = omid.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Washer leaks"), "{}", page.body);
    assert!(page.body.contains("Register and confirm the request"), "the stage by its name");
    assert!(page.body.contains("customer@example.org"), "the customer");
    assert!(page.body.contains("First response"), "the first-response clock");
    assert!(page.body.contains("lang=\"en\""));
}

#[tokio::test]
async fn an_agent_out_of_scope_finds_nothing() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(WARRANTY_WORKFLOW), 3).await;
    let number = open(&app, "Not for the warranty clerks").await;
    let (wendy, _) = sign_in(&app, &sink, "wendy@example.com", "/work").await;
    let page = wendy.get(&format!("/t/{number}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "out of scope is not found, like in the API");
    assert!(!page.body.contains("Not for the warranty clerks"));
    assert_eq!(wendy.get("/t/AS-9999").await.status, StatusCode::NOT_FOUND);
    let posted = wendy.post(&format!("/t/{number}/comments"), &[("body", "hello"), ("public", "false")]).await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND, "nor may they post to it");
}

#[tokio::test]
async fn guards_show_before_clicking_problems_inline_then_checklist_and_transition() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 3).await;
    let number = open(&app, "Drum stuck").await;
    let path = format!("/t/{number}");
    let (omid, _) = sign_in(&app, &sink, "omid@example.com", &path).await;

    // Before clicking: the accept button is disabled, with the engine's reasons.
    let page = omid.get(&path).await;
    assert!(page.body.contains("disabled aria-describedby=\"why-accept\""), "{}", page.body);
    assert!(page.body.contains("“Product” is required and not filled in."), "{}", page.body);
    assert!(page.body.contains("“Customer and product identified” is not ticked."));

    // A bad value: 422, the problem next to its field, the values kept.
    let revision = page.revision();
    let form = format!("{path}/forms/request");
    let bad = omid
        .post(
            &form,
            &[("revision", &revision), ("product", "Washer W-9"), ("serial", "abc"), ("problem", "It leaks water.")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("id=\"f-request-serial-problem\""), "{}", bad.body);
    assert!(bad.body.contains("aria-invalid=\"true\" aria-describedby=\"f-request-serial-problem"));
    assert!(bad.body.contains("value=\"Washer W-9\""), "values kept");
    assert!(bad.body.contains("does not match the pattern"), "the engine's words");

    // Saved, then the reason about the form is gone.
    let good = omid
        .post(
            &form,
            &[
                ("revision", &revision),
                ("product", "Washer W-9"),
                ("serial", "AB12CD34"),
                ("problem", "It leaks water."),
            ],
        )
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.body);
    assert_eq!(good.location.as_deref(), Some(format!("{path}?done=saved").as_str()));
    let page = omid.get(&good.location.expect("location")).await;
    assert!(page.body.contains("Saved."));
    assert!(!page.body.contains("“Product” is required"));
    assert!(page.body.contains("value=\"AB12CD34\""));

    // The checklist, ticked item by item.
    for item in ["Customer and product identified", "Request confirmed with the customer"] {
        let revision = omid.get(&path).await.revision();
        let ticked = omid
            .post(&format!("{path}/checklist"), &[("revision", &revision), ("item", item), ("checked", "true")])
            .await;
        assert_eq!(ticked.status, StatusCode::SEE_OTHER, "{}", ticked.body);
    }
    let page = omid.get(&path).await;
    assert!(page.body.contains("Untick: Customer and product identified"), "{}", page.body);
    assert!(!page.body.contains("why-accept"), "nothing stands in the way now");

    // The transition.
    let moved = omid.post(&format!("{path}/transitions/accept"), &[("revision", &page.revision())]).await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    let page = omid.get(&path).await;
    assert!(page.body.contains("Technical review / order status"), "{}", page.body);
    assert!(page.body.contains("Moved from “Register and confirm the request” to “Technical review / order status”"));
}

#[tokio::test]
async fn the_accountable_approves_and_another_is_refused() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 3).await;
    let number = open(&app, "Cancel this one").await;
    let path = format!("/t/{number}");
    into_review(&app.admin(), &number).await;
    let (ali, _) = sign_in(&app, &sink, "ali@example.com", &path).await;
    let (reza, _) = sign_in(&app, &sink, "reza@example.com", &path).await;

    let page = ali.get(&path).await;
    assert!(page.body.contains("It needs approval by the accountable role."), "cancel needs approval: {}", page.body);
    let asked = ali.post(&format!("{path}/approval"), &[("revision", &page.revision()), ("action", "request")]).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);

    // A technician may not approve: the engine's reason, 403.
    let page = ali.get(&path).await;
    assert!(!page.body.contains("value=\"approve\""), "no approve button for the technician");
    let refused = ali.post(&format!("{path}/approval"), &[("revision", &page.revision()), ("action", "approve")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("only the accountable role (service_manager) may approve"), "{}", refused.body);

    // The service manager sees the button and approves.
    let page = reza.get(&path).await;
    assert!(page.body.contains("value=\"approve\""), "{}", page.body);
    let approved =
        reza.post(&format!("{path}/approval"), &[("revision", &page.revision()), ("action", "approve")]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let page = ali.get(&path).await;
    assert!(page.body.contains("Approved by"), "{}", page.body);
    assert!(!page.body.contains("It needs approval by the accountable role."));

    // A rejection needs a reason, shown next to the note.
    let ticket = open(&app, "Another").await;
    into_review(&app.admin(), &ticket).await;
    let other = format!("/t/{ticket}");
    let page = ali.get(&other).await;
    ali.post(&format!("{other}/approval"), &[("revision", &page.revision()), ("action", "request")]).await;
    let page = reza.get(&other).await;
    let bare = reza.post(&format!("{other}/approval"), &[("revision", &page.revision()), ("action", "reject")]).await;
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bare.body);
    assert!(bare.body.contains("id=\"approval-note-problem\""), "{}", bare.body);
}

#[tokio::test]
async fn replies_and_notes_join_the_conversation() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 3).await;
    let number = open(&app, "Where is my order").await;
    let path = format!("/t/{number}");
    let (omid, _) = sign_in(&app, &sink, "omid@example.com", &path).await;

    let page = omid.get(&path).await;
    let sent = omid
        .post(
            &format!("{path}/comments"),
            &[("revision", &page.revision()), ("body", "It ships tomorrow."), ("public", "true")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(sent.location.as_deref(), Some(format!("{path}?done=replied").as_str()));
    let page = omid.get(&path).await;
    let noted = omid
        .post(
            &format!("{path}/comments"),
            &[("revision", &page.revision()), ("body", "Checked with the warehouse."), ("public", "false")],
        )
        .await;
    assert_eq!(noted.status, StatusCode::SEE_OTHER, "{}", noted.body);

    let page = omid.get(&path).await;
    assert!(page.body.contains("It ships tomorrow."));
    assert!(page.body.contains("Checked with the warehouse."));
    assert!(page.body.contains("Reply to the customer") && page.body.contains("Internal note"));
    let reply = app.admin().ticket(&number).await;
    assert_eq!(reply["public_replies"], 1, "one public reply, one note");

    let empty = omid
        .post(&format!("{path}/comments"), &[("revision", &page.revision()), ("body", " "), ("public", "true")])
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", empty.body);
    assert!(empty.body.contains("id=\"comment-body-problem\""));
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_site_are_refused() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 3).await;
    let number = open(&app, "Forged").await;
    let path = format!("/t/{number}");
    let (omid, _) = sign_in(&app, &sink, "omid@example.com", &path).await;
    let revision = omid.get(&path).await.revision();

    let forged = omid
        .post_raw(&format!("{path}/comments"), &[("revision", &revision), ("body", "forged"), ("public", "true")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let cross = omid
        .client
        .post(app.url(&format!("{path}/transitions/cancel")))
        .header("cookie", &omid.cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&[("_csrf", omid.csrf.as_str()), ("revision", revision.as_str())])
        .send()
        .await
        .expect("answered");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let ticket = app.admin().ticket(&number).await;
    assert_eq!(ticket["comments"], 0, "nothing was written");
    assert_eq!(ticket["stage"], "intake");
}

#[tokio::test]
async fn a_stale_page_is_refused_and_shown_as_it_is_now() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 3).await;
    let number = open(&app, "Two people at once").await;
    let path = format!("/t/{number}");
    let (omid, _) = sign_in(&app, &sink, "omid@example.com", &path).await;
    let stale = omid.get(&path).await.revision();

    // Someone else works the ticket meanwhile.
    app.admin().tick(&number, "Customer and product identified").await;

    let item = "Request confirmed with the customer";
    let refused =
        omid.post(&format!("{path}/checklist"), &[("revision", &stale), ("item", item), ("checked", "true")]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.body.contains("The ticket changed meanwhile."), "{}", refused.body);
    assert!(refused.body.contains("Untick: Customer and product identified"), "shown as it is now");
    assert_ne!(refused.revision(), stale);
    let ticket = app.admin().ticket(&number).await;
    assert_eq!(ticket["checklist"]["intake"].as_array().map(Vec::len), Some(1), "{ticket}");
}

#[tokio::test]
async fn files_are_uploaded_listed_and_downloaded_with_the_session() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 3).await;
    let number = open(&app, "Photo of the fault").await;
    let path = format!("/t/{number}");
    let (omid, _) = sign_in(&app, &sink, "omid@example.com", &path).await;
    let revision = omid.get(&path).await.revision();

    let boundary = "XyZboundary42";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"revision\"\r\n\r\n{revision}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fault notes.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nThe drum squeaks.\r\n--{boundary}--\r\n",
        csrf = omid.csrf
    );
    let upload = |body: String| {
        omid.client
            .post(app.url(&format!("{path}/files")))
            .header("cookie", &omid.cookie)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
    };
    let uploaded = upload(body.clone()).await.expect("answered");
    assert_eq!(uploaded.status(), StatusCode::SEE_OTHER);
    let page = omid.get(&path).await;
    let start = page.body.find(&format!("{path}/files/")).expect("a download link");
    let link: String = page.body[start..].chars().take_while(|c| *c != '"').collect();
    assert!(page.body.contains("fault notes.txt"));

    let file = omid.client.get(app.url(&link)).header("cookie", &omid.cookie).send().await.expect("answered");
    assert_eq!(file.status(), StatusCode::OK);
    let disposition =
        file.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(disposition.starts_with("attachment;") && disposition.contains("fault"), "{disposition}");
    assert_eq!(file.text().await.expect("body"), "The drum squeaks.");
    let anonymous = app.client.get(app.url(&link)).send().await.expect("answered");
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "no session, no file");

    let forged = upload(body.replace(&omid.csrf, "forged")).await.expect("answered");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "the CSRF token is checked on uploads too");
}
