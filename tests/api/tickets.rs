//! Opening and reading tickets: `POST /v1/tickets`, `GET /v1/tickets/{id}`, Idempotency-Key.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_fields, error_on, expect_problem, expect_status, header, new_ticket, spawn_app};

#[tokio::test]
async fn the_minimal_body_opens_a_ticket_with_location_and_etag() {
    let app = spawn_app().await;
    let web = app.integrator("web-form").await;

    let response = web.post("/v1/tickets", new_ticket("Dishwasher leaks", "sam@example.com")).await;
    let location = header(&response, "location").expect("a Location header");
    let etag = header(&response, "etag").expect("an ETag header");
    assert_eq!(header(&response, "content-type").as_deref(), Some("application/json"));
    let ticket = expect_status(response, StatusCode::CREATED).await;

    assert_eq!(ticket["number"], "AS-1");
    assert_eq!(location, "/v1/tickets/AS-1");
    let revision = ticket["revision"].as_u64().expect("a revision");
    assert_eq!(etag, format!("\"{revision}\""), "the ETag is the revision");
    assert_eq!(ticket["workflow"], "after-sales");
    assert_eq!(ticket["stage"], "intake");
    assert_eq!(ticket["stage_name"], "Register and confirm the request");
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["priority"], "normal", "the workflow's default priority");
    assert_eq!(ticket["subject"], "Dishwasher leaks");
    assert_eq!(ticket["queue"], "front_desk", "routed by the last rule");
    assert_eq!(ticket["role"], "support_agent");
    assert_eq!(ticket["created_at"], "2026-11-23T05:30:00Z", "stamped by the server's (manual) clock");
    assert!(ticket["version"].as_str().is_some_and(|v| v.len() == 16), "{ticket}");
    assert!(ticket["url"].as_str().is_some_and(|u| u.ends_with("/v1/tickets/AS-1")), "{ticket}");
    let names: Vec<&str> =
        ticket["transitions"].as_array().expect("transitions").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["accept", "cancel"]);

    // Both the Location (number) and the id resolve to the same ticket, with its ETag.
    let by_location = web.get(&location).await;
    assert_eq!(header(&by_location, "etag"), Some(etag));
    let by_location = expect_status(by_location, StatusCode::OK).await;
    let id = ticket["id"].as_str().expect("an id");
    let by_id = web.ticket(id).await;
    assert_eq!(by_location, by_id);
    assert_eq!(by_id["id"], ticket["id"]);
    let lower_case = web.ticket("as-1").await;
    assert_eq!(lower_case["id"], ticket["id"], "numbers resolve in any case");

    // The customer was created from the details given.
    let customer = expect_status(
        web.get(&format!("/v1/customers/{}", ticket["customer"].as_str().expect("id"))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(customer["email"], "sam@example.com");
    assert_eq!(customer["tickets"][0]["number"], "AS-1");

    // Numbers count up per workflow.
    let second = web.open(new_ticket("Oven door", "kim@example.com")).await;
    assert_eq!(second["number"], "AS-2");
    app.stop().await;
}

#[tokio::test]
async fn a_full_body_with_initial_forms_is_validated_and_routed() {
    let app = spawn_app().await;
    let web = app.integrator("web-form").await;
    let body = json!({
        "workflow": "after-sales",
        "subject": "Washer does not spin",
        "description": "Since Monday the drum does not turn.",
        "customer": { "name": "Sam", "email": "Sam@Example.com", "phone": "+98 912 000 0000" },
        "category": "repair",
        "priority": "high",
        "channel": "web",
        "forms": { "request": { "product": "Washer W-9", "serial": "AB12CD34", "problem": "The drum does not turn at all." } },
    });
    let ticket = web.open(body).await;
    assert_eq!(ticket["queue"], "priority_repairs");
    assert_eq!(ticket["role"], "technician");
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["channel"], "web");
    assert_eq!(ticket["forms"]["request"]["serial"], "AB12CD34");
    let events = expect_status(
        web.get(&format!("/v1/tickets/{}/events", ticket["number"].as_str().expect("number"))).await,
        StatusCode::OK,
    )
    .await;
    let form_saved = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["kind"] == "form_saved")
        .expect("a form_saved event");
    assert_eq!(form_saved["form"], "request");
    assert_eq!(form_saved["actor"]["id"], "web-form");

    // Every invalid value is named at once.
    let bad = json!({
        "workflow": "after-sales",
        "subject": " ",
        "customer": { "email": "not-an-email" },
        "category": "teleportation",
        "priority": "asap",
        "channel": "pigeon",
        "forms": { "request": { "serial": "short" }, "diagnosis": { "findings": "x" } },
    });
    let problem =
        expect_problem(web.post("/v1/tickets", bad).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert!(error_on(&problem, "customer.email").contains("not-an-email"), "{problem}");
    let bad = json!({
        "workflow": "after-sales",
        "subject": " ",
        "customer": { "email": "sam@example.com" },
        "category": "teleportation",
        "priority": "asap",
        "channel": "pigeon",
        "forms": { "request": { "serial": "short" }, "diagnosis": { "findings": "x" } },
    });
    let problem =
        expect_problem(web.post("/v1/tickets", bad).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    let fields = error_fields(&problem);
    for field in ["subject", "category", "priority", "channel", "forms.request.serial", "forms.diagnosis"] {
        assert!(fields.iter().any(|f| f == field), "{field} named in {problem}");
    }
    assert!(error_on(&problem, "category").contains("installation"), "lists the choices: {problem}");

    // A form script's cross-field check.
    let body = json!({
        "workflow": "after-sales",
        "subject": "Washer",
        "customer": { "email": "sam@example.com" },
        "category": "repair",
        "forms": { "request": { "product": "Washer", "problem": "It does not spin at all" } },
    });
    let problem =
        expect_problem(web.post("/v1/tickets", body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert!(error_on(&problem, "forms.request.serial").contains("serial number"), "{problem}");

    // An unknown workflow names the known ones; no customer details at all is refused.
    let mut unknown = new_ticket("x", "sam@example.com");
    unknown["workflow"] = json!("nope");
    let problem =
        expect_problem(web.post("/v1/tickets", unknown).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error")
            .await;
    assert!(error_on(&problem, "workflow").contains("after-sales"), "{problem}");
    let nobody = json!({ "workflow": "after-sales", "subject": "x", "customer": {} });
    let problem =
        expect_problem(web.post("/v1/tickets", nobody).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error")
            .await;
    error_on(&problem, "customer.email");
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_return_the_same_ticket() {
    let app = spawn_app().await;
    let web = app.integrator("web-form").await;
    let body = new_ticket("Fridge is warm", "sam@example.com");
    let send = |key: &str, body: serde_json::Value| {
        web.request(reqwest::Method::POST, "/v1/tickets").header("Idempotency-Key", key).json(&body).send()
    };

    let first = send("form-123", body.clone()).await.expect("answered");
    assert_eq!(header(&first, "idempotent-replayed"), None);
    let first = expect_status(first, StatusCode::CREATED).await;
    let retry = send("form-123", body.clone()).await.expect("answered");
    assert_eq!(header(&retry, "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(header(&retry, "location").as_deref(), Some("/v1/tickets/AS-1"));
    let retry = expect_status(retry, StatusCode::CREATED).await;
    assert_eq!(retry["id"], first["id"]);
    assert_eq!(retry["number"], "AS-1");

    // The same key for another request is a client bug: refused, nothing opened.
    let mut other = body.clone();
    other["subject"] = json!("Freezer is warm");
    let problem = expect_problem(
        send("form-123", other).await.expect("answered"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "Idempotency-Key").contains("different request"), "{problem}");

    // A new key opens a new ticket; keys belong to their caller.
    let second = expect_status(send("form-124", body.clone()).await.expect("answered"), StatusCode::CREATED).await;
    assert_eq!(second["number"], "AS-2");
    let phone = app.integrator("telephony").await;
    let theirs = phone
        .request(reqwest::Method::POST, "/v1/tickets")
        .header("Idempotency-Key", "form-123")
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(expect_status(theirs, StatusCode::CREATED).await["number"], "AS-3");

    // A blank key is a bad header.
    let problem =
        expect_problem(send(" ", body).await.expect("answered"), StatusCode::BAD_REQUEST, "bad-request").await;
    error_on(&problem, "Idempotency-Key");

    let list = expect_status(web.get("/v1/tickets").await, StatusCode::OK).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "retries opened nothing");
    app.stop().await;
}

#[tokio::test]
async fn unknown_tickets_are_404_with_a_problem() {
    let app = spawn_app().await;
    let admin = app.admin();
    for path in ["/v1/tickets/AS-404", "/v1/tickets/01KAT8Z6Y9C3M5Q7R2V4W6X8Y0", "/v1/tickets/AS-404/events"] {
        let problem = expect_problem(admin.get(path).await, StatusCode::NOT_FOUND, "not-found").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("not found")), "{problem}");
    }
    let problem = expect_problem(
        admin.post("/v1/tickets/AS-404/comments", json!({"body": "hello"})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("AS-404")), "{problem}");
    // The other ticket of a link or merge is named too.
    admin.open(new_ticket("One", "sam@example.com")).await;
    let problem = expect_problem(
        admin.post("/v1/tickets/AS-1/links", json!({"other": "AS-999"})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    error_on(&problem, "other");
    let problem = expect_problem(
        admin.post("/v1/tickets/AS-1/merge", json!({"into": "AS-999"})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    error_on(&problem, "into");
    app.stop().await;
}

#[tokio::test]
async fn links_point_at_the_address_the_server_listens_on() {
    let app = spawn_app().await;
    let admin = app.admin();
    let ticket = admin.open(new_ticket("Fridge", "sam@example.com")).await;
    assert_eq!(ticket["url"], format!("http://127.0.0.1:{}/v1/tickets/AS-1", app.port));
    admin.open(new_ticket("Oven", "kim@example.com")).await;
    let response = admin.get("/v1/tickets?limit=1").await;
    let link = header(&response, "link").expect("a Link header");
    assert!(link.starts_with(&format!("<{}/v1/tickets?", app.address)), "{link}");
    app.stop().await;
}
