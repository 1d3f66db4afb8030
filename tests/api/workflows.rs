//! `/v1/workflows`: the list, one workflow with its versions, the Mermaid diagram, and reload:
//! a broken edit is refused with its place and changes nothing; a valid one makes a new version
//! while running tickets keep theirs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{error_fields, expect_problem, expect_status, header, new_ticket, spawn_app};

#[tokio::test]
async fn workflows_are_listed_with_their_versions_and_diagrams() {
    let app = spawn_app().await;
    let agent = app.agent("maryam@example.com").await;

    let list = expect_status(agent.get("/v1/workflows").await, StatusCode::OK).await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    let summary = &items[0];
    assert_eq!(summary["id"], "after-sales");
    assert_eq!(summary["name"], "After-sales service");
    assert!(summary["description"].as_str().is_some_and(|d| d.starts_with("Repairs")), "{summary}");
    assert_eq!(
        summary["stages"],
        json!(["intake", "review", "waiting_customer", "resolution", "survey", "closed", "cancelled"])
    );
    let version = summary["version"].as_str().expect("a version");
    assert_eq!(version.len(), 16, "a content hash");

    let workflow = expect_status(agent.get("/v1/workflows/after-sales").await, StatusCode::OK).await;
    assert_eq!(workflow["id"], "after-sales");
    assert_eq!(workflow["version"], version);
    assert_eq!(workflow["stages"], summary["stages"]);
    assert_eq!(workflow["definition"]["ticket_prefix"], "AS");
    assert_eq!(workflow["definition"]["roles"]["service_manager"], json!(["reza@example.com"]));
    assert!(workflow["definition"]["stages"]["review"]["raci"].is_object(), "{}", workflow["definition"]);
    let versions = workflow["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["version"], version);
    assert_eq!(versions[0]["current"], true);
    assert!(versions[0]["stored_at"].as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()));
    let same =
        expect_status(agent.get(&format!("/v1/workflows/after-sales?version={version}")).await, StatusCode::OK).await;
    assert_eq!(same, workflow);

    let response = agent.get("/v1/workflows/after-sales/diagram").await;
    assert!(header(&response, "content-type").is_some_and(|t| t.starts_with("text/plain")), "{response:?}");
    assert_eq!(response.status(), StatusCode::OK);
    let mermaid = response.text().await.expect("text");
    assert!(mermaid.contains("stateDiagram-v2"), "{mermaid}");
    assert!(mermaid.contains("title: \"After-sales service\""), "{mermaid}");
    assert!(mermaid.contains("[*] --> intake"), "{mermaid}");
    assert!(mermaid.contains("intake --> review"), "{mermaid}");
    assert!(mermaid.contains("Register and confirm the request"), "{mermaid}");
    let response = agent.get(&format!("/v1/workflows/after-sales/diagram?version={version}")).await;
    assert_eq!(response.text().await.expect("text"), mermaid);
    app.stop().await;
}

#[tokio::test]
async fn reload_refuses_a_broken_edit_and_versions_a_valid_one() {
    let app = spawn_app().await;
    let admin = app.admin();
    let maryam = app.agent("maryam@example.com").await;
    let web = app.integrator("web-form").await;
    let old = web.open(new_ticket("Before the edit", "sam@example.com")).await;
    let old_version = old["version"].as_str().expect("version").to_string();

    // Only administrators reload.
    let problem =
        expect_problem(maryam.post("/v1/workflows/reload", json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("only administrators")), "{problem}");

    // Reloading an unchanged folder changes nothing.
    let same = expect_status(admin.post("/v1/workflows/reload", json!({})).await, StatusCode::OK).await;
    assert_eq!(same["items"][0]["version"], old_version.as_str());

    // A broken edit: refused with file:line:col, the running version stays.
    let file = app.workflow_file();
    let original = std::fs::read_to_string(&file).expect("read workflow");
    let good = r#"{ name = "accept", to = "review","#;
    let broken_text = original.replacen(good, r#"{ name = "accept", to = "reveiw","#, 1);
    assert_ne!(broken_text, original, "the edit applies");
    let (line, text) =
        broken_text.lines().enumerate().find(|(_, l)| l.contains("\"reveiw\"")).expect("the broken line");
    let column = text.find("\"reveiw\"").expect("column") + 1;
    std::fs::write(&file, &broken_text).expect("write workflow");
    let response = admin.request(reqwest::Method::POST, "/v1/workflows/reload").send().await.expect("answered");
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    let fields = error_fields(&problem);
    assert_eq!(fields.len(), 1, "{problem}");
    let place = format!("after-sales.toml:{}:{column}", line + 1);
    assert!(fields[0].ends_with(&place), "names {place}: {problem}");
    let message = problem["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("unknown stage `reveiw`") && message.contains("did you mean `review`"), "{problem}");
    let current = expect_status(admin.get("/v1/workflows/after-sales").await, StatusCode::OK).await;
    assert_eq!(current["version"], old_version.as_str(), "the running version stays");
    assert_eq!(current["versions"].as_array().map(Vec::len), Some(1));
    let during = web.open(new_ticket("During the broken edit", "kim@example.com")).await;
    assert_eq!(during["version"], old_version.as_str());

    // A valid edit: a new version; new tickets take it, old tickets keep theirs.
    let edited = original
        .replacen(r#"name = "After-sales service""#, r#"name = "After-sales service (v2)""#, 1)
        .replacen(r#"label = "Accept and send to review""#, r#"label = "Send to the workshop""#, 1);
    std::fs::write(&file, edited).expect("write workflow");
    let reloaded = expect_status(admin.post("/v1/workflows/reload", json!({})).await, StatusCode::OK).await;
    let new_version = reloaded["items"][0]["version"].as_str().expect("version").to_string();
    assert_ne!(new_version, old_version);
    assert_eq!(reloaded["items"][0]["name"], "After-sales service (v2)");
    let workflow = expect_status(admin.get("/v1/workflows/after-sales").await, StatusCode::OK).await;
    assert_eq!(workflow["version"], new_version.as_str());
    let versions: Vec<(Value, Value)> = workflow["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| (v["version"].clone(), v["current"].clone()))
        .collect();
    assert_eq!(versions.len(), 2, "{workflow}");
    assert!(versions.contains(&(json!(old_version), json!(false))), "{versions:?}");
    assert!(versions.contains(&(json!(new_version), json!(true))), "{versions:?}");
    let previous =
        expect_status(admin.get(&format!("/v1/workflows/after-sales?version={old_version}")).await, StatusCode::OK)
            .await;
    assert_eq!(previous["name"], "After-sales service");
    let diagram = admin.get(&format!("/v1/workflows/after-sales/diagram?version={old_version}")).await;
    assert!(diagram.text().await.expect("text").contains("title: \"After-sales service\""));

    let new = web.open(new_ticket("After the edit", "lee@example.com")).await;
    assert_eq!(new["version"], new_version.as_str());
    assert_eq!(new["transitions"][0]["label"], "Send to the workshop");
    let old_now = maryam.ticket("AS-1").await;
    assert_eq!(old_now["version"], old_version.as_str(), "a ticket stays on its version");
    assert_eq!(old_now["transitions"][0]["label"], "Accept and send to review");
    // ... and is still worked on it.
    maryam.save_form("AS-1", "request", json!({"product": "Fridge", "problem": "It is warm inside"})).await;
    maryam.tick("AS-1", "Customer and product identified").await;
    maryam.tick("AS-1", "Request confirmed with the customer").await;
    let moved = maryam.transition("AS-1", "accept").await;
    assert_eq!(moved["stage"], "review");
    assert_eq!(moved["version"], old_version.as_str());
    app.stop().await;
}
