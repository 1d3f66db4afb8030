//! Signing in to the pages over real HTTP: who gets a link, the link working once and for 15
//! minutes, the session cookie, CSRF and cross-site refusals, sessions listed and revoked by an
//! administrator, and the agent's "my work" page.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, expect_status};
use crate::mail::{WAIT, app_with_mail, outbox};
use crate::pages::{page_session, sign_in_link};
use crate::smtp::SmtpSink;

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

async fn ask(app: &TestApp, email: &str) -> reqwest::Response {
    plain_client().post(app.url("/sign-in")).form(&[("email", email), ("next", "/work")]).send().await.expect("answer")
}

#[tokio::test]
async fn only_people_of_the_workflows_get_a_link_and_the_page_does_not_tell() {
    let app = crate::helpers::spawn_app().await;
    let stranger = ask(&app, "nobody@example.com").await;
    assert_eq!(stranger.status(), StatusCode::OK);
    let stranger_page = stranger.text().await.expect("page");
    let member = ask(&app, "ALI@example.com").await;
    assert_eq!(member.status(), StatusCode::OK);
    let member_page = member.text().await.expect("page");
    assert_eq!(
        stranger_page.replace("nobody@example.com", "X"),
        member_page.replace("ALI@example.com", "X"),
        "the same answer whether or not the address may sign in"
    );
    let pending = outbox(&app, "pending").await;
    let links: Vec<_> = pending.iter().filter(|m| m["payload"]["template"] == "sign_in").collect();
    assert_eq!(links.len(), 1, "one sign-in mail, for the member only: {pending:#?}");
    assert_eq!(links[0]["payload"]["to"], json!(["ali@example.com"]), "to the address as the workflow writes it");
    let stored = links[0].to_string();
    assert!(!stored.contains("/sign-in/"), "the outbox holds no working link: {stored}");

    let bad = ask(&app, "not an address").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.expect("page");
    assert!(page.contains("aria-invalid=\"true\"") && page.contains("Enter an email address"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn a_link_works_once_within_fifteen_minutes_and_opens_a_safe_cookie() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let client = plain_client();

    assert_eq!(ask(&app, "sara@example.com").await.status(), StatusCode::OK);
    let mails = sink.wait_for(1, WAIT).await;
    let link = sign_in_link(mails[0].text.as_deref().unwrap_or_default()).expect("a link");
    assert!(link.starts_with(&app.address), "{link}");
    // Looking at it (a mail scanner, a preview) uses nothing.
    for _ in 0..2 {
        let look = client.get(&link).send().await.expect("answer");
        assert_eq!(look.status(), StatusCode::OK);
        assert!(look.text().await.expect("page").contains("sara@example.com"));
    }
    // An altered link is no link.
    let altered = format!("{}0", &link[..link.len() - 1]);
    assert_eq!(client.post(&altered).send().await.expect("answer").status(), StatusCode::NOT_FOUND);

    let pressed = client.post(&link).header("x-forwarded-proto", "https").send().await.expect("answer");
    assert_eq!(pressed.status(), StatusCode::SEE_OTHER);
    assert_eq!(pressed.headers()["location"], "/work");
    let cookie = pressed.headers()["set-cookie"].to_str().expect("text").to_string();
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    let again = client.post(&link).send().await.expect("answer");
    assert_eq!(again.status(), StatusCode::GONE, "a link works once");
    assert!(again.text().await.expect("page").contains("used already"));

    // A second link, used after 16 minutes: expired.
    assert_eq!(ask(&app, "sara@example.com").await.status(), StatusCode::OK);
    let mails = sink.wait_for(2, WAIT).await;
    let late = sign_in_link(mails[1].text.as_deref().unwrap_or_default()).expect("a link");
    app.advance(chrono::Duration::minutes(16));
    let expired = client.post(&late).send().await.expect("answer");
    assert_eq!(expired.status(), StatusCode::GONE);
    assert!(expired.text().await.expect("page").contains("expired"));
    app.stop().await;
}

#[tokio::test]
async fn pages_send_people_through_sign_in_and_back_and_never_elsewhere() {
    let app = crate::helpers::spawn_app().await;
    let client = plain_client();
    let work = client.get(app.url("/work?breached=1")).send().await.expect("answer");
    assert_eq!(work.status(), StatusCode::SEE_OTHER);
    assert_eq!(work.headers()["location"], "/sign-in?next=%2Fwork%3Fbreached%3D1");
    let root = client.get(app.url("/")).send().await.expect("answer");
    assert_eq!(root.headers()["location"], "/sign-in");
    // A next that points at another site is dropped.
    let page = client.get(app.url("/sign-in?next=//evil.example/x")).send().await.expect("answer");
    let html = page.text().await.expect("page");
    assert!(html.contains("value=\"&#x2f;work\""), "the form carries /work instead: {html}");
    assert!(!html.contains("evil.example"));
    // Every page is sent unframeable and without a referrer.
    let headers = client.get(app.url("/sign-in")).send().await.expect("answer").headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-security-policy"].to_str().expect("text").contains("frame-ancestors 'none'"));
    assert_eq!(headers["referrer-policy"], "no-referrer");
    app.stop().await;
}

#[tokio::test]
async fn forms_without_the_token_or_from_another_site_are_refused() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let ali = page_session(&app, &sink, "ali@example.com").await;
    let without = ali
        .client()
        .post(app.url("/sign-out"))
        .header("cookie", &ali.cookie)
        .form(&[("x", "y")])
        .send()
        .await
        .expect("answer");
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let cross = ali
        .client()
        .post(app.url("/sign-out"))
        .header("cookie", &ali.cookie)
        .header("origin", "https://evil.example")
        .form(&[("_csrf", ali.csrf.as_str())])
        .send()
        .await
        .expect("answer");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert_eq!(ali.get("/work").await.status(), StatusCode::OK, "still signed in");
    let out = ali.post_form("/sign-out", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(ali.get("/work").await.status(), StatusCode::SEE_OTHER, "signed out: the page asks to sign in");
    app.stop().await;
}

#[tokio::test]
async fn an_administrator_lists_and_revokes_sessions() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let ali = page_session(&app, &sink, "ali@example.com").await;
    let agent = app.agent("maryam@example.com").await;
    expect_status(agent.get("/v1/sessions").await, StatusCode::FORBIDDEN).await;
    let list = expect_status(app.admin().get("/v1/sessions?active=true").await, StatusCode::OK).await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["person"], "ali@example.com");
    assert_eq!(items[0]["role"], "agent");
    let id = items[0]["id"].as_str().expect("id").to_string();
    expect_status(app.admin().delete(&format!("/v1/sessions/{id}")).await, StatusCode::NO_CONTENT).await;
    assert_eq!(ali.get("/work").await.status(), StatusCode::SEE_OTHER, "revoked: signed out at once");
    let after = expect_status(app.admin().get("/v1/sessions").await, StatusCode::OK).await;
    assert_eq!(after["items"][0]["revoked_by"], "admin");
    expect_status(app.admin().delete("/v1/sessions/nope").await, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

#[tokio::test]
async fn an_address_may_ask_for_five_links_an_hour() {
    let app = crate::helpers::spawn_app().await;
    for _ in 0..5 {
        assert_eq!(ask(&app, "omid@example.com").await.status(), StatusCode::OK);
    }
    assert_eq!(ask(&app, "Omid@Example.com").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(ask(&app, "maryam@example.com").await.status(), StatusCode::OK, "another address is not held back");
    app.stop().await;
}

#[tokio::test]
async fn my_work_lists_my_tickets_then_my_roles_queues() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let admin = app.admin();
    let first = admin.open(crate::helpers::new_ticket("Washer leaks", "sam@example.com")).await;
    let second = admin.open(crate::helpers::new_ticket("Dryer is loud", "nina@example.com")).await;
    let (first, second) =
        (first["number"].as_str().expect("n").to_string(), second["number"].as_str().expect("n").to_string());
    // The front desk hands tickets out in turn; the second is then put back in the queue.
    let put_back = admin.post(&format!("/v1/tickets/{second}/assign"), json!({ "assignee": null })).await;
    expect_status(put_back, StatusCode::OK).await;
    let mine_of = |html: &str, number: &str| {
        let mine = html.split("id=\"queues-title\"").next().unwrap_or_default().to_string();
        mine.contains(&format!("href=\"/t/{number}\""))
    };
    let queued = |html: &str, number: &str| {
        let queues = html.split("id=\"queues-title\"").nth(1).unwrap_or_default();
        let queues = queues.split("id=\"approvals-title\"").next().unwrap_or_default().to_string();
        queues.contains(&format!("href=\"/t/{number}\""))
    };
    let first_owner = admin.get(&format!("/v1/tickets/{first}")).await.json::<serde_json::Value>().await.expect("json");
    let owner = first_owner["assignee"].as_str().expect("assigned").to_string();
    let owner_session = page_session(&app, &sink, &owner).await;
    let page = owner_session.get("/work").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    assert!(mine_of(&html, &first), "the assigned ticket is under 'Assigned to me': {html}");
    assert!(queued(&html, &second), "the unassigned one waits in the role's queue: {html}");
    assert!(!mine_of(&html, &second));
    // Words narrow the lists.
    let html = owner_session.get("/work?q=dryer").await.text().await.expect("page");
    assert!(queued(&html, &second) && !mine_of(&html, &first), "{html}");
    // A person whose role is responsible for no stage of these tickets, and assigned none, sees none.
    let parts = page_session(&app, &sink, "parts@example.com").await;
    let html = parts.get("/work").await.text().await.expect("page");
    assert!(!mine_of(&html, &first) && !queued(&html, &second), "{html}");
    app.stop().await;
}
