//! Who may call what: bearer tokens (401), administrators only (403), RACI per stage (403 with
//! the reason), integrators, `POST/GET/DELETE /v1/tokens` (revocation, expiry, last use) and
//! `afterdesk token create/revoke/list`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, User, error_on, expect_problem, expect_status, header, new_ticket, spawn_app};

#[tokio::test]
async fn requests_without_a_valid_token_are_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    app.admin().open(new_ticket("Fridge", "sam@example.com")).await;
    let cases = [
        (None, "send an API token"),
        (Some("Bearer adk_0000000000000000000000000000000000000000000000000000000000000000"), "unknown or revoked"),
        (Some("Basic YWRtaW46YWRtaW4="), "Bearer scheme"),
        (Some("adk_123"), "Bearer scheme"),
    ];
    for path in ["/v1/me", "/v1/tickets", "/v1/tickets/AS-1", "/v1/customers", "/v1/workflows"] {
        for (authorization, reason) in cases {
            let mut request = app.anonymous(Method::GET, path);
            if let Some(value) = authorization {
                request = request.header("Authorization", value);
            }
            let response = request.send().await.expect("answered");
            assert_eq!(header(&response, "www-authenticate").as_deref(), Some("Bearer"), "{path} {authorization:?}");
            let problem = expect_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
            assert!(
                problem["detail"].as_str().is_some_and(|d| d.contains(reason)),
                "{path} {authorization:?}: {problem}"
            );
        }
    }
    // Commands are checked before their body is even read.
    let response = app
        .anonymous(Method::POST, "/v1/tickets")
        .json(&new_ticket("Fridge", "sam@example.com"))
        .send()
        .await
        .expect("answered");
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app.anonymous(Method::POST, "/v1/tickets/AS-1/close").send().await.expect("answered");
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The lower-case scheme is accepted too.
    let response = app
        .anonymous(Method::GET, "/v1/me")
        .header("Authorization", format!("bearer {}", app.admin_token))
        .send()
        .await;
    expect_status(response.expect("answered"), StatusCode::OK).await;
    app.stop().await;
}

#[tokio::test]
async fn only_administrators_create_and_list_tokens() {
    let app = spawn_app().await;
    let admin = app.admin();
    let response = admin.post("/v1/tokens", json!({"person": "ali@example.com", "role": "agent"})).await;
    let created = expect_status(response, StatusCode::CREATED).await;
    let secret = created["token"].as_str().expect("the secret, shown once");
    assert!(secret.starts_with("adk_") && secret.len() == 68, "{secret}");
    assert_eq!(created["person"], "ali@example.com");
    assert_eq!(created["role"], "agent");
    assert_eq!(created["created_at"], "2026-11-23T05:30:00Z");
    assert!(created["id"].as_str().is_some_and(|id| !id.is_empty()));

    // The new token works, and /v1/me says who it is.
    let ali = app.agent("ali@example.com").await;
    let me = expect_status(ali.get("/v1/me").await, StatusCode::OK).await;
    assert_eq!(me["person"], ali.person.as_str());
    assert_eq!(me["role"], "agent");
    assert!(me.get("token").is_none(), "never the secret again");

    // Agents and integrators may not make or list tokens.
    let web = app.integrator("web-form").await;
    for user in [&ali, &web] {
        let problem = expect_problem(
            user.post("/v1/tokens", json!({"person": "mallory@example.com", "role": "admin"})).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("only administrators")), "{problem}");
        expect_problem(user.get("/v1/tokens").await, StatusCode::FORBIDDEN, "forbidden").await;
    }

    // The list has every token, without secrets.
    let list = expect_status(admin.get("/v1/tokens").await, StatusCode::OK).await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 4, "the initial admin, ali twice, web-form: {list}");
    assert!(items.iter().all(|t| t.get("token").is_none() && t["id"].is_string()), "{list}");
    assert!(items.iter().any(|t| t["person"] == "admin" && t["role"] == "admin"), "{list}");
    assert!(!list.to_string().contains(secret), "no secret in the list");

    // Bad bodies name their field.
    let problem = expect_problem(
        admin.post("/v1/tokens", json!({"person": " ", "role": "agent"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    error_on(&problem, "person");
    let problem = expect_problem(
        admin.post("/v1/tokens", json!({"person": "x@example.com", "role": "root"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "role").contains("unknown variant"), "{problem}");
    let problem = expect_problem(
        admin.post("/v1/tokens", json!({"person": "x@example.com"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "role").contains("missing field"), "{problem}");
    app.stop().await;
}

#[tokio::test]
async fn integrators_open_and_comment_but_people_decide() {
    let app = spawn_app().await;
    let web = app.integrator("web-form").await;
    let opened = web.open(new_ticket("Dryer smells of smoke", "sam@example.com")).await;
    let t = opened["number"].as_str().expect("number");
    let me = expect_status(web.get("/v1/me").await, StatusCode::OK).await;
    assert_eq!(me["role"], "integrator");
    // An integration acts on behalf of others: it may comment and read...
    let commented = web.command(t, "comments", json!({"body": "Customer sent a photo", "public": false})).await;
    assert_eq!(commented["comments"], 1);
    assert_eq!(commented["public_replies"], 0);
    let events = expect_status(web.get(&format!("/v1/tickets/{t}/events")).await, StatusCode::OK).await;
    // (The second event is the automatic assignment, by the system.)
    assert_eq!(events["items"][1]["actor"], json!({"id": "round-robin", "kind": "system"}));
    assert_eq!(events["items"][2]["actor"], json!({"id": "web-form", "kind": "integrator"}));
    // ... but not approve, and not reload workflows.
    let problem = expect_problem(
        web.post(&format!("/v1/tickets/{t}/approvals"), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("accountable role")), "{problem}");
    expect_problem(web.post("/v1/workflows/reload", json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;
    app.stop().await;
}

#[tokio::test]
async fn raci_decides_who_works_and_who_only_comments() {
    let app = spawn_app().await;
    let omid = app.agent("omid@example.com").await; // support_agent: responsible in intake
    let leila = app.agent("leila@example.com").await; // support_lead: accountable in intake
    let navid = app.agent("navid@example.com").await; // technician: nothing in intake
    let t =
        omid.open(new_ticket("Cooker hood", "sam@example.com")).await["number"].as_str().expect("number").to_string();

    // Accountable may work and approve; responsible may work but not approve.
    leila.command(&t, "steps", json!({"description": "Checked the contract"})).await;
    let problem = expect_problem(
        omid.post(&format!("/v1/tickets/{t}/approvals"), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(
        problem["detail"].as_str().is_some_and(|d| d.contains("only the accountable role (support_lead) may approve")),
        "{problem}"
    );
    leila.command(&t, "approvals", json!({})).await;

    // Out of the stage's RACI: no work, no comment; the reason names the roles.
    let problem = expect_problem(
        navid.post(&format!("/v1/tickets/{t}/comments"), json!({"body": "hi"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        problem["detail"],
        "in stage `intake` only the responsible, accountable or consulted roles, or the assignee, may comment; \
         navid@example.com has roles technician"
    );
    // Once assigned, the assignee may comment; working a stage outside their RACI needs the
    // stage's `assignee_may_work` (tests/api/guards.rs).
    omid.command(&t, "assign", json!({"assignee": "navid@example.com"})).await;
    navid.command(&t, "comments", json!({"body": "On my way"})).await;
    let problem = expect_problem(
        navid.post(&format!("/v1/tickets/{t}/steps"), json!({"description": "Visited the customer"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("being the assignee is not enough")), "{problem}");
    let unassigned = omid.command(&t, "assign", json!({"assignee": null})).await;
    assert_eq!(unassigned["assignee"], serde_json::Value::Null);
    expect_problem(
        navid.post(&format!("/v1/tickets/{t}/comments"), json!({"body": "Again"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    app.stop().await;
}

/// Mints a token with `POST /v1/tokens` (extra fields in `more`); returns the holder and the
/// token's id.
async fn mint(app: &TestApp, person: &str, role: &str, more: serde_json::Value) -> (User, String) {
    let mut body = json!({"person": person, "role": role});
    if let (Some(body), Some(more)) = (body.as_object_mut(), more.as_object()) {
        body.extend(more.clone());
    }
    let created = expect_status(app.admin().post("/v1/tokens", body).await, StatusCode::CREATED).await;
    let token = created["token"].as_str().expect("secret").to_string();
    (app.holder(person, &token), created["id"].as_str().expect("id").to_string())
}

/// The listed record of token `id`.
async fn listed(app: &TestApp, id: &str) -> serde_json::Value {
    let list = expect_status(app.admin().get("/v1/tokens").await, StatusCode::OK).await;
    list["items"].as_array().expect("items").iter().find(|t| t["id"] == id).cloned().expect("the token is listed")
}

#[tokio::test]
async fn a_revoked_token_stops_working_at_once_and_stays_listed() {
    let app = spawn_app().await;
    let admin = app.admin();
    let (ali, ali_id) = mint(&app, "ali@example.com", "agent", json!({})).await;
    let (web, web_id) = mint(&app, "web-form", "integrator", json!({})).await;
    let (omid, omid_id) = mint(&app, "omid@example.com", "agent", json!({})).await;
    expect_status(ali.get("/v1/me").await, StatusCode::OK).await;

    // An administrator revokes: the very next request is refused, on every route.
    app.advance(chrono::Duration::minutes(5));
    let response = admin.delete(&format!("/v1/tokens/{ali_id}")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for path in ["/v1/me", "/v1/tickets", "/v1/customers"] {
        let problem = expect_problem(ali.get(path).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("revoked")), "{path}: {problem}");
    }
    let response = ali.post("/v1/tickets", new_ticket("Fridge", "sam@example.com")).await;
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // It stays in the list, saying when and by whom; revoking again changes nothing.
    let record = listed(&app, &ali_id).await;
    assert_eq!(record["revoked_at"], "2026-11-23T05:35:00Z", "{record}");
    assert_eq!(record["revoked_by"], "admin", "{record}");
    app.advance(chrono::Duration::minutes(5));
    assert_eq!(admin.delete(&format!("/v1/tokens/{ali_id}")).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(listed(&app, &ali_id).await["revoked_at"], "2026-11-23T05:35:00Z");

    // Others may revoke only their own tokens.
    for (user, other) in [(&web, &omid_id), (&omid, &web_id)] {
        let problem =
            expect_problem(user.delete(&format!("/v1/tokens/{other}")).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("their own")), "{problem}");
    }
    expect_status(web.get("/v1/me").await, StatusCode::OK).await;
    assert_eq!(omid.delete(&format!("/v1/tokens/{omid_id}")).await.status(), StatusCode::NO_CONTENT);
    expect_problem(omid.get("/v1/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(listed(&app, &omid_id).await["revoked_by"], "omid@example.com");

    // An unknown id is a 404 naming it.
    let problem =
        expect_problem(admin.delete("/v1/tokens/0123456789ab").await, StatusCode::NOT_FOUND, "not-found").await;
    error_on(&problem, "id");
    expect_problem(
        app.anonymous(Method::DELETE, &format!("/v1/tokens/{web_id}")).send().await.expect("answered"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_status(web.get("/v1/me").await, StatusCode::OK).await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_token_answers_401_saying_it_expired() {
    let app = spawn_app().await;
    let (temp, id) = mint(&app, "contractor@example.com", "agent", json!({"expires_at": "2026-11-23T06:30:00Z"})).await;
    let me = expect_status(temp.get("/v1/me").await, StatusCode::OK).await;
    assert_eq!(me["expires_at"], "2026-11-23T06:30:00Z", "{me}");
    app.advance(chrono::Duration::minutes(59));
    expect_status(temp.get("/v1/me").await, StatusCode::OK).await;
    app.advance(chrono::Duration::minutes(1));
    let response = temp.get("/v1/tickets").await;
    assert_eq!(header(&response, "www-authenticate").as_deref(), Some("Bearer"));
    let problem = expect_problem(response, StatusCode::UNAUTHORIZED, "token-expired").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("expired at 2026-11-23T06:30:00")), "{problem}");
    assert_eq!(listed(&app, &id).await["expires_at"], "2026-11-23T06:30:00Z");
    // Tokens without an expiry keep working.
    expect_status(app.admin().get("/v1/me").await, StatusCode::OK).await;

    // An expiry must be a time in the future.
    for (expires_at, says) in [(json!("2026-11-23T06:30:00Z"), "in the future"), (json!("tomorrow"), "")] {
        let body = json!({"person": "x@example.com", "role": "agent", "expires_at": expires_at});
        let problem = expect_problem(
            app.admin().post("/v1/tokens", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        )
        .await;
        assert!(error_on(&problem, "expires_at").contains(says), "{problem}");
    }
    app.stop().await;
}

#[tokio::test]
async fn tokens_show_when_they_were_last_used_to_the_minute() {
    let app = spawn_app().await;
    let (ali, id) = mint(&app, "ali@example.com", "agent", json!({})).await;
    assert_eq!(listed(&app, &id).await["last_used_at"], serde_json::Value::Null, "not used yet");
    expect_status(ali.get("/v1/me").await, StatusCode::OK).await;
    assert_eq!(listed(&app, &id).await["last_used_at"], "2026-11-23T05:30:00Z");
    // Uses within a minute of the recorded one are not written down again...
    app.advance(chrono::Duration::seconds(59));
    expect_status(ali.get("/v1/tickets").await, StatusCode::OK).await;
    assert_eq!(listed(&app, &id).await["last_used_at"], "2026-11-23T05:30:00Z");
    // ... later ones are.
    app.advance(chrono::Duration::seconds(1));
    expect_status(ali.get("/v1/me").await, StatusCode::OK).await;
    assert_eq!(listed(&app, &id).await["last_used_at"], "2026-11-23T05:31:00Z");
    // A refused request is no use.
    app.admin().delete(&format!("/v1/tokens/{id}")).await;
    app.advance(chrono::Duration::minutes(10));
    expect_problem(ali.get("/v1/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(listed(&app, &id).await["last_used_at"], "2026-11-23T05:31:00Z");
    app.stop().await;
}

/// Runs `afterdesk token ARGS`; returns stdout, failing on a non-zero exit.
fn token_cli(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_afterdesk"))
        .arg("token")
        .args(args)
        .output()
        .expect("run afterdesk token");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "afterdesk token {args:?}: {stderr}");
    String::from_utf8(output.stdout).expect("text")
}

#[tokio::test]
async fn the_cli_makes_lists_and_revokes_tokens_the_server_honours() {
    let root = tempfile::tempdir().expect("temporary folder");
    let data = root.path().join("data");
    let data_arg = data.to_str().expect("a text path");
    let kept = token_cli(&[
        "create",
        "--data",
        data_arg,
        "--person",
        "reza@example.com",
        "--role",
        "admin",
        "--expires",
        "90d",
    ]);
    let gone = token_cli(&["create", "--data", data_arg, "--person", "navid@example.com", "--role", "agent"]);
    let (kept, gone) = (kept.trim().to_string(), gone.trim().to_string());
    let list = token_cli(&["list", "--data", data_arg]);
    let navid = list.lines().find(|line| line.contains("navid@example.com")).expect("navid is listed");
    let id = navid.split('\t').next().expect("an id");
    let revoked = token_cli(&["revoke", "--data", data_arg, id]);
    assert!(revoked.contains("revoked"), "{revoked}");
    let list = token_cli(&["list", "--data", data_arg]);
    let navid = list.lines().find(|line| line.contains("navid@example.com")).expect("navid is listed");
    assert!(!navid.ends_with("\t-"), "shown revoked: {list}");
    let failed = std::process::Command::new(env!("CARGO_BIN_EXE_afterdesk"))
        .args(["token", "revoke", "--data", data_arg, "ffffffffffff"])
        .output()
        .expect("run");
    assert!(!failed.status.success() && String::from_utf8_lossy(&failed.stderr).contains("no token ffffffffffff"));

    // The real server on that folder: the revoked token is refused, the other works until its expiry.
    let mut server = crate::server::Server::start(&data, root.path().join("server.log"));
    let client = reqwest::Client::new();
    server.wait_healthy(&client).await;
    let me = |secret: String| client.get(format!("{}/v1/me", server.base)).bearer_auth(secret).send();
    let problem = expect_problem(me(gone).await.expect("answered"), StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("revoked")), "{problem}");
    let me = expect_status(me(kept).await.expect("answered"), StatusCode::OK).await;
    let expires =
        me["expires_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).expect("an expiry");
    let days = (expires.to_utc() - chrono::Utc::now()).num_days();
    assert!((89..=90).contains(&days), "90 days from now: {me}");
}
