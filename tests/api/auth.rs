//! Who may call what: bearer tokens (401), administrators only (403), RACI per stage (403 with
//! the reason), integrators, and `POST/GET /v1/tokens`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{error_on, expect_problem, expect_status, header, new_ticket, spawn_app};

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
