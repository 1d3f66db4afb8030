//! The customer's pages over HTTP: the web request form (a ticket with channel `web`, its
//! confirmation, the mail with the status link in the real SMTP sink; the honeypot, the rate
//! limit, problems shown inline), the status page (public replies only, never internal notes,
//! staff addresses or priorities; forged tokens; a reply and a file from the page land on the
//! ticket as the customer's).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_status, header, spawn_app};
use crate::mail::{WAIT, app_with_mail};
use crate::smtp::SmtpSink;

/// The value of the hidden field `name` in a page's HTML.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("a field {name} in {html}")) + marker.len();
    html[start..].split('"').next().expect("a value").to_string()
}

/// The request form's idempotency key, from the form as the server draws it.
async fn form_key(app: &TestApp) -> String {
    let page = app.client.get(app.url("/request/after-sales")).send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::OK);
    hidden(&page.text().await.expect("body"), "_key")
}

/// A filled-in request form for the bundled workflow.
fn request_form(email: &str, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("_key", key.to_string()),
        ("website", String::new()),
        ("name", "Sam Rahimi".into()),
        ("email", email.to_string()),
        ("phone", String::new()),
        ("subject", "Washer stops mid-cycle".into()),
        ("category", "installation".into()),
        ("description", "It stops after ten minutes, every time.".into()),
        ("f.request.product", "Washer W-9".into()),
        ("f.request.problem", "The drum stops turning mid-cycle.".into()),
        ("f.request.preferred_contact", "email".into()),
    ]
}

async fn post_request(app: &TestApp, form: &[(&str, String)]) -> reqwest::Response {
    app.client.post(app.url("/request/after-sales")).form(form).send().await.expect("POST")
}

/// Every ticket of the bundled workflow, as the API lists them.
async fn tickets(app: &TestApp) -> Vec<Value> {
    let page = expect_status(app.admin().get("/v1/tickets?workflow=after-sales").await, StatusCode::OK).await;
    page["items"].as_array().cloned().unwrap_or_default()
}

/// The status link in the text of the first mail to `to`.
async fn status_link(app: &TestApp, sink: &SmtpSink, to: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mails = sink.messages();
        if let Some(mail) = mails.iter().find(|m| m.envelope_to.iter().any(|t| t == to)) {
            let text = mail.text.clone().expect("a text part");
            return text
                .split_whitespace()
                .find(|word| word.starts_with(&format!("{}/status/", app.address)))
                .unwrap_or_else(|| panic!("a status link in {text}"))
                .to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no mail to {to} within {WAIT:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_request_form_opens_a_web_ticket_and_its_mail_links_to_the_status_page() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let page = app.client.get(app.url("/request/after-sales")).send().await.expect("GET");
    let html = page.text().await.expect("body");
    // The start stage's form, typed; the honeypot hidden and labelled.
    for needle in [
        "name=\"f.request.product\"",
        "<textarea id=\"f-request-problem\"",
        "type=\"date\" id=\"f-request-purchase_date\"",
        "type=\"tel\" id=\"f-request-contact_phone\"",
        "<select id=\"f-request-preferred_contact\"",
        "<label for=\"email\">",
        "class=\"hp\"",
        "tabindex=\"-1\" autocomplete=\"off\"",
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    let key = hidden(&html, "_key");
    let response = post_request(&app, &request_form("sam@example.org", &key)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let done = header(&response, "location").expect("a Location");
    assert!(done.starts_with("/request/after-sales/done/"), "{done}");

    // A double submit (the same form sent again) opens no second ticket.
    let again = post_request(&app, &request_form("sam@example.org", &key)).await;
    assert_eq!(header(&again, "location").as_deref(), Some(done.as_str()));
    let all = tickets(&app).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let ticket = &all[0];
    let number = ticket["number"].as_str().expect("number");
    assert_eq!(ticket["channel"], "web");
    assert_eq!(ticket["category"], "installation");
    assert_eq!(ticket["forms"]["request"]["product"], "Washer W-9");
    assert_eq!(ticket["forms"]["request"]["preferred_contact"], "email");
    let customer = ticket["customer"].as_str().expect("customer");
    let customer = expect_status(app.admin().get(&format!("/v1/customers/{customer}")).await, StatusCode::OK).await;
    assert_eq!(customer["email"], "sam@example.org");
    assert_eq!(customer["name"], "Sam Rahimi");

    let confirmation = app.client.get(app.url(&done)).send().await.expect("GET");
    assert_eq!(confirmation.status(), StatusCode::OK);
    let html = confirmation.text().await.expect("body");
    assert!(html.contains(number) && html.contains("sam@example.org"), "{html}");

    // The engine's ticket_received mail arrives, with the status link.
    let link = status_link(&app, &sink, "sam@example.org").await;
    let status = app.client.get(&link).send().await.expect("GET");
    assert_eq!(status.status(), StatusCode::OK);
    let html = status.text().await.expect("body");
    assert!(html.contains(number) && html.contains("Washer stops mid-cycle"), "{html}");
    assert!(html.contains("It stops after ten minutes"), "the customer's own words: {html}");
    // Office hours: the first response is due within two business hours.
    assert!(html.contains("We aim to answer by"), "{html}");

    // A workflow that is not there.
    let missing = app.client.get(app.url("/request/no-such-flow")).send().await.expect("GET");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_filled_honeypot_answers_as_usual_and_opens_nothing() {
    let app = spawn_app().await;
    let key = form_key(&app).await;
    let mut form = request_form("bot@example.org", &key);
    form[1].1 = "http://spam.example".into();
    let response = post_request(&app, &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let done = header(&response, "location").expect("a Location");
    let page = app.client.get(app.url(&done)).send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("body").contains("we received your request"));
    assert!(tickets(&app).await.is_empty(), "nothing was opened");
    app.stop().await;
}

#[tokio::test]
async fn an_address_filing_too_many_requests_is_told_to_wait() {
    let app = spawn_app().await;
    let key = form_key(&app).await;
    let mut form = request_form("busy@example.org", &key);
    form[5].1 = String::new(); // no subject: refused by the engine, yet counted
    for _ in 0..afterdesk::web::limits::REQUESTS_PER_HOUR {
        assert_eq!(post_request(&app, &form).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let response = post_request(&app, &form).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.text().await.expect("body").contains("Too many requests"));
    // Another address is not held up.
    let other = request_form("calm@example.org", &key);
    assert_eq!(post_request(&app, &other).await.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn problems_are_shown_next_to_their_fields_with_the_values_kept() {
    let app = spawn_app().await;
    let key = form_key(&app).await;

    // No email: the page says so itself.
    let mut form = request_form("", &key);
    let response = post_request(&app, &form).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("body");
    assert!(html.contains("aria-describedby=\"email-problem\""), "{html}");
    assert!(html.contains("Enter your email address"), "{html}");

    // The engine's problems: no subject, a serial that does not match, a repair without one.
    form[3].1 = "sam@example.org".into();
    form[5].1 = String::new();
    form.push(("f.request.serial", "bad serial".into()));
    let response = post_request(&app, &form).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("body");
    assert!(html.contains("id=\"subject-problem\""), "{html}");
    assert!(html.contains("id=\"f-request-serial-problem\""), "{html}");
    assert!(html.contains("does not match the pattern"), "the engine's message: {html}");
    assert!(html.contains("href=\"#f-request-serial\""), "the summary links to the field: {html}");
    assert!(html.contains("value=\"bad serial\"") && html.contains("value=\"Washer W-9\""), "values kept: {html}");
    assert!(html.contains(&format!("value=\"{key}\"")), "the same key, so a fixed form opens one ticket");
    assert!(tickets(&app).await.is_empty());

    // From another site: refused.
    let response = app
        .client
        .post(app.url("/request/after-sales"))
        .header("origin", "https://evil.example")
        .form(&request_form("sam@example.org", &key))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

/// Opens a ticket by the API for `email`, with a public reply, an internal note, an assignee
/// and a file of staff's; returns its number and the status link from the customer's mail.
async fn ticket_with_history(app: &TestApp, sink: &SmtpSink, email: &str) -> (String, String) {
    let admin = app.admin();
    let body = json!({
        "workflow": "after-sales", "subject": "Dishwasher leaks",
        "description": "Water on the floor after each wash.",
        "customer": { "name": "Sara", "email": email },
    });
    let ticket = admin.open(body).await;
    let number = ticket["number"].as_str().expect("number").to_string();
    admin.command(&number, "assign", json!({ "assignee": "maryam@example.com" })).await;
    admin
        .command(
            &number,
            "comments",
            json!({ "body": "INTERNAL: ask ali@example.com about the pump", "public": false }),
        )
        .await;
    admin.command(&number, "comments", json!({ "body": "We ordered a new pump for you.", "public": true })).await;
    let staff_file = admin
        .request(reqwest::Method::POST, &format!("/v1/tickets/{number}/attachments?name=internal-quote.pdf"))
        .header("content-type", "application/pdf")
        .body("%PDF-1.4 internal")
        .send()
        .await
        .expect("upload");
    assert_eq!(staff_file.status(), StatusCode::CREATED);
    let link = status_link(app, sink, email).await;
    (number, link)
}

#[tokio::test]
async fn the_status_page_shows_public_replies_and_never_internal_notes_or_staff() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let (number, link) = ticket_with_history(&app, &sink, "sara@example.org").await;
    let page = app.client.get(&link).send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, "referrer-policy").as_deref(), Some("no-referrer"), "the token never leaks");
    let html = page.text().await.expect("body");
    assert!(html.contains(&number) && html.contains("Dishwasher leaks"), "{html}");
    assert!(html.contains("We ordered a new pump for you."), "the public reply: {html}");
    // A visitor who chose Persian reads the page's own texts in Persian.
    let fa = app.client.get(&link).header("cookie", "afterdesk_lang=fa").send().await.expect("GET");
    let fa = fa.text().await.expect("body");
    assert!(fa.contains("lang=\"fa\" dir=\"rtl\"") && fa.contains("گروه ما"), "{fa}");
    assert!(html.contains("We have your request and are checking the details with you."), "the stage in words: {html}");
    for secret in ["INTERNAL", "ali@example.com", "maryam@example.com", "internal-quote.pdf", "intake", "Priority"] {
        assert!(!html.contains(secret), "{secret} must not show: {html}");
    }

    // Forged, altered and foreign tokens find nothing.
    let token = link.rsplit('/').next().expect("token").to_string();
    let altered = format!("{}{}", &token[..token.len() - 1], if token.ends_with('0') { '1' } else { '0' });
    for bad in [altered.as_str(), "garbage", "01KABCDEFGHJKMNPQRSTVWXYZ0.00112233445566778899aabbccddeeff"] {
        let response = app.client.get(app.url(&format!("/status/{bad}"))).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad}");
        let reply = app.client.post(app.url(&format!("/status/{bad}/reply"))).form(&[("body", "hi")]).send().await;
        assert_eq!(reply.expect("POST").status(), StatusCode::NOT_FOUND, "{bad}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_reply_from_the_status_page_lands_on_the_ticket_as_the_customers() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let (number, link) = ticket_with_history(&app, &sink, "reza.k@example.org").await;

    let empty = app.client.post(format!("{link}/reply")).form(&[("body", "  ")]).send().await.expect("POST");
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.text().await.expect("body").contains("Write a message first."));

    let sent = app.client.post(format!("{link}/reply")).form(&[("body", "The leak is under the door.")]).send().await;
    let sent = sent.expect("POST");
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let back = header(&sent, "location").expect("a Location");
    assert!(link.ends_with(back.trim_end_matches("?sent=reply")), "{back}");
    let events = expect_status(app.admin().get(&format!("/v1/tickets/{number}/events")).await, StatusCode::OK).await;
    let replied = events["items"].as_array().expect("events").iter().find(|e| e["kind"] == "customer_replied").cloned();
    let replied = replied.unwrap_or_else(|| panic!("a customer_replied event in {events:#}"));
    assert_eq!(replied["body"], "The leak is under the door.");
    assert_eq!(replied["actor"]["kind"], "customer");
    assert_eq!(app.admin().ticket(&number).await["customer_replies"], 1);

    let page = app.client.get(app.url(&back)).send().await.expect("GET").text().await.expect("body");
    assert!(page.contains("The leak is under the door.") && page.contains("your message was sent"), "{page}");
    app.stop().await;
}

/// A `multipart/form-data` body with one file part named `file`, and its content type.
fn multipart(name: &str, content_type: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----afterdesk-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_file_uploaded_on_the_status_page_is_the_customers_to_download() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let (number, link) = ticket_with_history(&app, &sink, "nima@example.org").await;

    let (content_type, body) = multipart("../photo of the leak.jpg", "image/jpeg", b"\xff\xd8\xff fake jpeg");
    let sent = app.client.post(format!("{link}/files")).header("content-type", content_type).body(body).send().await;
    let sent = sent.expect("POST");
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let files =
        expect_status(app.admin().get(&format!("/v1/tickets/{number}/attachments")).await, StatusCode::OK).await;
    let mine = files["items"].as_array().expect("files").iter().find(|f| f["name"] == "photo of the leak.jpg").cloned();
    let mine = mine.unwrap_or_else(|| panic!("the customer's file in {files:#}"));
    assert_eq!(mine["content_type"], "image/jpeg");
    let staff = files["items"].as_array().expect("files").iter().find(|f| f["name"] == "internal-quote.pdf").cloned();
    let staff = staff.expect("the staff's file");

    let page = app.client.get(&link).send().await.expect("GET").text().await.expect("body");
    assert!(page.contains("photo of the leak.jpg") && !page.contains("internal-quote.pdf"), "{page}");
    let id = mine["id"].as_str().expect("id");
    let download = app.client.get(format!("{link}/files/{id}")).send().await.expect("GET");
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(header(&download, "content-type").as_deref(), Some("image/jpeg"));
    assert!(header(&download, "content-disposition").is_some_and(|d| d.starts_with("attachment")));
    assert_eq!(download.bytes().await.expect("bytes").as_ref(), b"\xff\xd8\xff fake jpeg");
    let theirs = app.client.get(format!("{link}/files/{}", staff["id"].as_str().expect("id"))).send().await;
    assert_eq!(theirs.expect("GET").status(), StatusCode::NOT_FOUND, "staff files are not the customer's");

    // Nothing chosen: the page again, saying so.
    let (content_type, body) = multipart("", "application/octet-stream", b"");
    let none = app.client.post(format!("{link}/files")).header("content-type", content_type).body(body).send().await;
    let none = none.expect("POST");
    assert_eq!(none.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(none.text().await.expect("body").contains("Choose a file first."));
    app.stop().await;
}

/// A workflow whose closed requests get a follow-up when the customer writes again.
const QUICK: &str = r#"
id = "quick"
name = "Quick fixes"
ticket_prefix = "QF"
reply_when_closed = "follow_up"

[roles]
agent = ["agent@example.com"]

[stages.work]
name = "Working on it"
raci = { responsible = "agent", informed = ["customer"] }
transitions = [{ name = "close", to = "closed" }]

[stages.closed]
name = "Closed"
terminal = true

[[notifications]]
on = "ticket_opened"
notify = ["customer"]
"#;

#[tokio::test]
async fn a_reply_to_a_closed_request_follows_up_as_its_workflow_says_and_old_pages_expire() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(QUICK), 5).await;
    let customer = json!({ "name": "Leyla", "email": "leyla@example.org" });
    let ticket = app.admin().open(json!({ "workflow": "quick", "subject": "Kettle", "customer": customer })).await;
    let number = ticket["number"].as_str().expect("number").to_string();
    let link = status_link(&app, &sink, "leyla@example.org").await;
    app.admin().transition(&number, "close").await;

    let page = app.client.get(&link).send().await.expect("GET").text().await.expect("body");
    assert!(page.contains("Your request is closed"), "{page}");
    let sent = app.client.post(format!("{link}/reply")).form(&[("body", "It broke again.")]).send().await;
    let sent = sent.expect("POST");
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let next = header(&sent, "location").expect("a Location");
    assert!(next.ends_with("?sent=follow_up") && !link.ends_with(next.trim_end_matches("?sent=follow_up")), "{next}");
    let page = app.client.get(app.url(&next)).send().await.expect("GET").text().await.expect("body");
    assert!(page.contains("It broke again.") && page.contains("QF-2"), "the new request's page: {page}");
    let follow_up = app.admin().ticket("QF-2").await;
    assert_eq!(follow_up["channel"], "web");
    assert!(follow_up["links"].to_string().contains("follow_up_of"), "{follow_up:#}");
    assert_eq!(app.admin().ticket(&number).await["status"], "closed", "the closed one stays closed");

    // Half a year after closing, the old request's page is gone.
    app.advance(chrono::Duration::days(181));
    assert_eq!(app.client.get(&link).send().await.expect("GET").status(), StatusCode::GONE);
    app.stop().await;
}
