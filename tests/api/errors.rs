//! Bad requests and their answers: every one an `application/problem+json` naming what is wrong.
//! Malformed JSON (400, line and column), unknown or mistyped fields (422, the field's path),
//! wrong content type (415), too large (413), bad query parameters (400, the parameter),
//! unknown routes (404), wrong methods (405), `If-Match` (412).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{error_fields, error_on, expect_problem, expect_status, header, new_ticket, spawn_app};

#[tokio::test]
async fn malformed_json_is_400_naming_line_and_column() {
    let app = spawn_app().await;
    let admin = app.admin();
    let send = |body: &'static str| {
        admin.request(Method::POST, "/v1/tickets").header("Content-Type", "application/json").body(body).send()
    };
    let problem = expect_problem(
        send("{\"workflow\": \"after-sales\",\n \"subject\": }").await.expect("answered"),
        StatusCode::BAD_REQUEST,
        "malformed-json",
    )
    .await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("line 2 column 13")), "{problem}");
    let problem =
        expect_problem(send("{\"subject\": \"x\"").await.expect("answered"), StatusCode::BAD_REQUEST, "malformed-json")
            .await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("EOF") && d.contains("line 1")), "{problem}");
    // Commands too; and what follows a complete value is an error, not ignored.
    admin.open(new_ticket("Fridge", "sam@example.com")).await;
    let response = admin
        .request(Method::POST, "/v1/tickets/AS-1/resolve")
        .header("Content-Type", "application/json")
        .body("{} {}")
        .send()
        .await
        .expect("answered");
    let problem = expect_problem(response, StatusCode::BAD_REQUEST, "malformed-json").await;
    assert!(
        problem["detail"].as_str().is_some_and(|d| d.contains("trailing characters at line 1 column 4")),
        "{problem}"
    );
    let response = admin
        .request(Method::POST, "/v1/tickets/AS-1/comments")
        .header("Content-Type", "application/json")
        .body("{\"body\": 'single quotes'}")
        .send()
        .await
        .expect("answered");
    let problem = expect_problem(response, StatusCode::BAD_REQUEST, "malformed-json").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("line 1 column 10")), "{problem}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_missing_and_mistyped_fields_are_422_naming_the_path() {
    let app = spawn_app().await;
    let admin = app.admin();
    let body =
        json!({"workflow": "after-sales", "subject": "x", "customer": {"nmae": "Sam", "email": "sam@example.com"}});
    let problem =
        expect_problem(admin.post("/v1/tickets", body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error")
            .await;
    assert_eq!(error_fields(&problem), ["customer.nmae"], "{problem}");
    assert!(error_on(&problem, "customer.nmae").contains("expected one of"), "suggests the known fields: {problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.starts_with("customer.nmae:")), "{problem}");

    let body = json!({"workflow": "after-sales", "subjet": "x", "customer": {"email": "sam@example.com"}});
    let problem =
        expect_problem(admin.post("/v1/tickets", body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error")
            .await;
    assert_eq!(error_fields(&problem), ["subjet"], "{problem}");

    let body =
        json!({"workflow": "after-sales", "subject": "x", "customer": {"email": "sam@example.com", "vip": "yes"}});
    let problem =
        expect_problem(admin.post("/v1/tickets", body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error")
            .await;
    assert_eq!(error_fields(&problem), ["customer.vip"], "{problem}");
    assert!(error_on(&problem, "customer.vip").contains("expected a boolean"), "{problem}");

    // A missing field is named by its path, like an unknown one.
    let body = json!({"workflow": "after-sales", "customer": {"email": "sam@example.com"}});
    let problem =
        expect_problem(admin.post("/v1/tickets", body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error")
            .await;
    assert_eq!(error_fields(&problem), ["subject"], "{problem}");
    admin.open(new_ticket("Fridge", "sam@example.com")).await;
    let problem = expect_problem(
        admin.post("/v1/tickets/AS-1/transitions", json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["name"], "{problem}");
    let problem = expect_problem(
        admin.post("/v1/tickets/AS-1/comments", json!({"body": "x", "pubic": true})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["pubic"], "{problem}");
    let problem = expect_problem(
        admin.put("/v1/tickets/AS-1/forms/request", json!(["product", "Oven"])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["body"], "the body as a whole is wrong: {problem}");
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415_and_an_empty_one_means_no_parameters() {
    let app = spawn_app().await;
    let admin = app.admin();
    let body = new_ticket("Fridge", "sam@example.com").to_string();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut request = admin.request(Method::POST, "/v1/tickets").body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let problem = expect_problem(
            request.send().await.expect("answered"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        )
        .await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("application/json")), "{problem}");
    }
    // JSON with parameters, and any +json type, are fine.
    for content_type in ["application/json; charset=utf-8", "application/merge-patch+json"] {
        let response = admin
            .request(Method::POST, "/v1/tickets")
            .header("Content-Type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("answered");
        expect_status(response, StatusCode::CREATED).await;
    }
    // Commands without parameters take no body at all (`close` in intake takes `cancel`).
    let response = admin.request(Method::POST, "/v1/tickets/AS-1/close").send().await.expect("answered");
    assert_eq!(expect_status(response, StatusCode::OK).await["status"], "closed");
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app_small_body().await;
    let admin = app.admin();
    let mut body = new_ticket("Fridge", "sam@example.com");
    body["description"] = json!("x".repeat(5_000));
    let problem =
        expect_problem(admin.post("/v1/tickets", body).await, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large").await;
    assert!(problem["title"] == "Body too large", "{problem}");
    // Just under the limit is fine.
    let mut body = new_ticket("Fridge", "sam@example.com");
    body["description"] = json!("x".repeat(3_000));
    admin.open(body).await;
    app.stop().await;
}

async fn spawn_app_small_body() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|config| config.max_body_bytes = 4_096).await
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    let admin = app.admin();
    let cases = [
        ("/v1/tickets?limit=abc", "limit"),
        ("/v1/tickets?limit=0", "limit"),
        ("/v1/tickets?limit=501", "limit"),
        ("/v1/tickets?status=pending", "status"),
        ("/v1/tickets?order=sideways", "order"),
        ("/v1/tickets?cursor=page2", "cursor"),
        ("/v1/tickets?customer=sam", "customer"),
        ("/v1/tickets?created_from=yesterday", "created_from"),
        ("/v1/tickets?created_to=2026-13-01", "created_to"),
        ("/v1/tickets?unassigned=maybe", "unassigned"),
        ("/v1/tickets?workflow=after-sales&colour=red", "colour"),
        ("/v1/customers?limit=-1", "limit"),
        ("/v1/customers?limit=201", "limit"),
        ("/v1/customers?query=sam", "query"),
        ("/v1/workflows/after-sales?v=1", "v"),
    ];
    for (path, parameter) in cases {
        let problem = expect_problem(admin.get(path).await, StatusCode::BAD_REQUEST, "bad-request").await;
        assert_eq!(error_fields(&problem), [parameter], "{path}: {problem}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| d.starts_with(&format!("{parameter}:"))),
            "{path}: {problem}"
        );
    }
    let problem = expect_problem(
        admin.get("/v1/tickets?status=open&status=closed").await,
        StatusCode::BAD_REQUEST,
        "bad-request",
    )
    .await;
    assert_eq!(error_fields(&problem), ["status"], "{problem}");
    app.stop().await;
}

#[tokio::test]
async fn bad_path_parameters_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    let admin = app.admin();
    admin.open(new_ticket("Fridge", "sam@example.com")).await;
    for (method, path, parameter) in [
        (Method::GET, "/v1/tickets/%FF", "id"),
        (Method::GET, "/v1/tickets/%C3%28/events", "id"),
        (Method::PUT, "/v1/tickets/AS-1/forms/%FF", "form"),
        (Method::POST, "/v1/tickets/AS-1/checklist/%FF%FE", "item"),
        (Method::GET, "/v1/customers/%FF", "id"),
        (Method::GET, "/v1/workflows/%FF/diagram", "id"),
    ] {
        let response = admin.request(method.clone(), path).json(&json!({})).send().await.expect("answered");
        let problem = expect_problem(response, StatusCode::BAD_REQUEST, "bad-request").await;
        assert_eq!(error_fields(&problem), [parameter], "{method} {path}: {problem}");
        assert!(error_on(&problem, parameter).contains("UTF-8"), "{problem}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_things_are_404_and_wrong_methods_405() {
    let app = spawn_app().await;
    let admin = app.admin();
    for path in ["/v2/tickets", "/v1/ticket", "/nothing-here", "/v1/tickets/AS-1/frobnicate"] {
        let problem = expect_problem(admin.get(path).await, StatusCode::NOT_FOUND, "not-found").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("no route")), "{path}: {problem}");
    }
    for (path, what) in [
        ("/v1/customers/01KAT8Z6Y9C3M5Q7R2V4W6X8Y0", "customer"),
        ("/v1/customers/not-an-id", "customer"),
        ("/v1/workflows/nope", "workflow"),
        ("/v1/workflows/nope/diagram", "workflow"),
        ("/v1/workflows/after-sales?version=0000000000000000", "version"),
        ("/v1/workflows/after-sales/diagram?version=0000000000000000", "version"),
    ] {
        let problem = expect_problem(admin.get(path).await, StatusCode::NOT_FOUND, "not-found").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains(what)), "{path}: {problem}");
    }
    for (method, path, allowed) in [
        (Method::DELETE, "/v1/tickets", "GET,HEAD,POST"),
        (Method::PUT, "/v1/tickets/AS-1", "GET,HEAD"),
        (Method::GET, "/v1/tickets/AS-1/close", "POST"),
        (Method::POST, "/v1/tickets/AS-1/forms/request", "PUT"),
        (Method::PATCH, "/v1/customers", "GET,HEAD,POST"),
        (Method::POST, "/healthz", "GET,HEAD"),
        (Method::GET, "/v1/workflows/reload", "POST"),
    ] {
        let response = admin.request(method.clone(), path).send().await.expect("answered");
        let mut allow: Vec<String> = header(&response, "allow")
            .unwrap_or_else(|| panic!("{method} {path}: an Allow header"))
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        allow.sort();
        assert_eq!(allow.join(","), allowed, "{method} {path}");
        let problem = expect_problem(response, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains(method.as_str())), "{problem}");
    }
    app.stop().await;
}

#[tokio::test]
async fn if_match_makes_a_command_conditional() {
    let app = spawn_app().await;
    let admin = app.admin();
    let response = admin.post("/v1/tickets", new_ticket("Fridge", "sam@example.com")).await;
    let etag = header(&response, "etag").expect("an ETag");
    let opened = expect_status(response, StatusCode::CREATED).await;
    let revision = opened["revision"].as_u64().expect("revision");
    assert_eq!(etag, format!("\"{revision}\""));
    let comment = |if_match: String| {
        admin
            .request(Method::POST, "/v1/tickets/AS-1/comments")
            .header("If-Match", if_match)
            .json(&json!({"body": "note"}))
            .send()
    };

    // The current ETag: done, and the answer carries the next one.
    let response = comment(etag.clone()).await.expect("answered");
    assert_eq!(header(&response, "etag"), Some(format!("\"{}\"", revision + 1)));
    expect_status(response, StatusCode::OK).await;
    // A stale ETag: 412, nothing done.
    let problem =
        expect_problem(comment(etag).await.expect("answered"), StatusCode::PRECONDITION_FAILED, "precondition-failed")
            .await;
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains(&format!("revision {revision},")) && detail.contains(&format!("revision {}", revision + 1)),
        "{problem}"
    );
    // Weak, bare and wildcard forms are understood.
    expect_status(comment(format!("W/\"{}\"", revision + 1)).await.expect("answered"), StatusCode::OK).await;
    expect_status(comment(format!("{}", revision + 2)).await.expect("answered"), StatusCode::OK).await;
    expect_status(comment("*".into()).await.expect("answered"), StatusCode::OK).await;
    let problem =
        expect_problem(comment("\"abc\"".into()).await.expect("answered"), StatusCode::BAD_REQUEST, "bad-request")
            .await;
    error_on(&problem, "If-Match");

    let response = admin.get("/v1/tickets/AS-1").await;
    let current = revision + 4;
    assert_eq!(header(&response, "etag"), Some(format!("\"{current}\"")));
    assert_eq!(expect_status(response, StatusCode::OK).await["comments"], 4, "the refused commands did nothing");
    // Every command takes it, transitions included.
    let transition = |if_match: u64| {
        admin
            .request(Method::POST, "/v1/tickets/AS-1/transitions")
            .header("If-Match", format!("\"{if_match}\""))
            .json(&json!({"name": "cancel"}))
            .send()
    };
    expect_problem(
        transition(current - 1).await.expect("answered"),
        StatusCode::PRECONDITION_FAILED,
        "precondition-failed",
    )
    .await;
    assert_eq!(expect_status(transition(current).await.expect("answered"), StatusCode::OK).await["stage"], "cancelled");
    app.stop().await;
}
