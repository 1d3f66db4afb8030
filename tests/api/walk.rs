//! A ticket's whole life on the bundled workflow, over HTTP, each step by the person whose role
//! the stage's RACI names: forms, checklists, guards, approvals, assignment, priority, comments,
//! steps, resolve, close, reopen; then the audit trail. Links and merges on their own tickets.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, User, encode, error_fields, error_on, expect_problem, expect_status, header, new_ticket, spawn_app,
};

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// The events of a log that record what people and integrations did (SLA clock events, which
/// the engine adds on its own, left out).
fn work(events: &Value) -> Vec<&Value> {
    events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| !e["kind"].as_str().expect("kind").starts_with("sla_"))
        .collect()
}

fn kinds(events: &Value) -> Vec<String> {
    work(events).iter().map(|e| e["kind"].as_str().expect("kind").to_string()).collect()
}

fn detail(problem: &Value) -> &str {
    problem["detail"].as_str().expect("detail")
}

#[tokio::test]
async fn a_repair_goes_from_intake_to_closed_with_the_right_people() {
    let app = spawn_app().await;
    let web = app.integrator("web-form").await;
    let maryam = app.agent("maryam@example.com").await; // support_agent
    let ali = app.agent("ali@example.com").await; // technician
    let reza = app.agent("reza@example.com").await; // service_manager
    let parts = app.agent("parts@example.com").await; // warehouse
    let navid = app.agent("navid@example.com").await; // technician, not the one assigned
    let eve = app.agent("eve@example.com").await; // no role at all

    // --- intake: the web form opens a repair request.
    let mut body = new_ticket("Washing machine does not spin", "sam@example.com");
    body["category"] = json!("repair");
    let ticket = web.open(body).await;
    let t = ticket["number"].as_str().expect("number").to_string();
    assert_eq!(ticket["queue"], "repairs");
    // Repairs go round robin among technicians: the first turn is Ali's.
    assert_eq!(ticket["assignee"], "ali@example.com");
    app.advance(minutes(5));

    // Nothing filled in: every unmet guard is listed at once.
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{t}/transitions"), json!({"name": "accept"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        [
            "checklist.Customer and product identified",
            "checklist.Request confirmed with the customer",
            "forms.request.problem",
            "forms.request.product",
        ],
        "{problem}"
    );
    assert!(error_on(&problem, "forms.request.product").contains("Product"), "names the field's label: {problem}");

    // A technician other than the assignee has no part in intake; someone without a role has
    // none anywhere.
    let problem = expect_problem(
        navid.put(&format!("/v1/tickets/{t}/forms/request"), json!({"product": "Washer"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("in stage `intake`"), "{problem}");
    assert!(detail(&problem).contains("support_agent"), "says who may: {problem}");
    assert!(detail(&problem).contains("navid@example.com has roles technician"), "{problem}");
    let problem = expect_problem(
        eve.post(&format!("/v1/tickets/{t}/comments"), json!({"body": "hi"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("eve@example.com has no role in this workflow"), "{problem}");

    // The form script wants a serial number for repairs; a later stage's form is not yet open.
    let problem = expect_problem(
        maryam
            .put(
                &format!("/v1/tickets/{t}/forms/request"),
                json!({"product": "Washer W-9", "problem": "The drum does not turn."}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "forms.request.serial").contains("serial"), "{problem}");
    let problem = expect_problem(
        maryam.put(&format!("/v1/tickets/{t}/forms/resolution_report"), json!({"outcome": "repaired"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    error_on(&problem, "forms.resolution_report");
    let problem = expect_problem(
        maryam
            .put(&format!("/v1/tickets/{t}/forms/request"), json!({"serial": "lower", "purchase_date": "yesterday"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["forms.request.purchase_date", "forms.request.serial"], "{problem}");
    let problem = expect_problem(
        maryam.put(&format!("/v1/tickets/{t}/forms/warranty"), json!({"x": 1})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert!(detail(&problem).contains("no form `warranty`"), "{problem}");

    let saved = maryam
        .save_form(
            &t,
            "request",
            json!({"product": "Washer W-9", "serial": "AB12CD34", "problem": "The drum does not turn."}),
        )
        .await;
    assert_eq!(saved["forms"]["request"]["serial"], "AB12CD34");
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{t}/checklist/{}", encode("Warranty status checked")), json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "item").contains("Customer and product identified"), "lists the items: {problem}");
    maryam.tick(&t, "Customer and product identified").await;
    let ticked = maryam.tick(&t, "Request confirmed with the customer").await;
    assert_eq!(ticked["checklist"]["intake"].as_array().map(Vec::len), Some(2));
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{t}/comments"), json!({"body": "  "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "body").contains("must not be empty"), "{problem}");
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{t}/reopen"), json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    assert!(error_on(&problem, "status").contains("open already"), "{problem}");
    let replied = maryam.command(&t, "comments", json!({"body": "We received your request.", "public": true})).await;
    assert_eq!(replied["public_replies"], 1);
    assert_eq!(replied["first_response_at"], "2026-11-23T05:35:00Z");
    let stepped = maryam.command(&t, "steps", json!({"description": "Called the customer to confirm"})).await;
    assert_eq!(stepped["steps"], 1);

    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{t}/transitions"), json!({"name": "accpet"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "name").contains("available: accept, cancel"), "{problem}");
    let accepted = maryam.transition(&t, "accept").await;
    assert_eq!(accepted["stage"], "review");
    assert_eq!(accepted["stage_name"], "Technical review / order status");
    assert_eq!(accepted["previous_stage"], "intake");
    app.advance(minutes(30));

    // --- review: technicians work, the warehouse is consulted, support agents are out.
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{t}/comments"), json!({"body": "Any news?"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("in stage `review`"), "{problem}");
    let consulted = parts.command(&t, "comments", json!({"body": "Motor in stock"})).await;
    assert_eq!(consulted["comments"], 2);
    let problem = expect_problem(
        parts.post(&format!("/v1/tickets/{t}/transitions"), json!({"name": "proceed"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("responsible (technician) or accountable (service_manager)"), "{problem}");

    let assigned = ali.command(&t, "assign", json!({"assignee": "ali@example.com"})).await;
    assert_eq!(assigned["assignee"], "ali@example.com");
    let problem = expect_problem(
        ali.post(&format!("/v1/tickets/{t}/assign"), json!({"assignee": "eve@example.com"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "assignee").contains("no role"), "{problem}");
    let prioritised = ali.command(&t, "priority", json!({"priority": "high"})).await;
    assert_eq!(prioritised["priority"], "high");
    let problem = expect_problem(
        ali.post(&format!("/v1/tickets/{t}/priority"), json!({"priority": "asap"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "priority").contains("low, normal, high, urgent"), "{problem}");

    let problem = expect_problem(
        ali.post(&format!("/v1/tickets/{t}/transitions"), json!({"name": "proceed"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        [
            "checklist.Parts availability checked",
            "checklist.Warranty status checked",
            "forms.diagnosis.cause",
            "forms.diagnosis.findings",
            "forms.diagnosis.under_warranty",
            "rule",
        ],
        "{problem}"
    );
    ali.save_form(
        &t,
        "diagnosis",
        json!({"findings": "Motor worn out", "cause": "wear", "under_warranty": false, "estimated_cost": 6_000_000}),
    )
    .await;
    ali.tick(&t, "Warranty status checked").await;
    ali.tick(&t, "Parts availability checked").await;
    let photo = ali.tick(&t, "Photos of the fault attached").await;
    assert!(
        photo["checklist"]["review"].as_array().is_some_and(|i| i.contains(&json!("Photos of the fault attached")))
    );
    let unticked = ali
        .command(&t, &format!("checklist/{}", encode("Photos of the fault attached")), json!({"checked": false}))
        .await;
    assert!(
        !unticked["checklist"]["review"].as_array().is_some_and(|i| i.contains(&json!("Photos of the fault attached")))
    );
    // Only the rule is left: a costly repair out of warranty needs the customer's agreement.
    let problem = expect_problem(
        ali.post(&format!("/v1/tickets/{t}/transitions"), json!({"name": "proceed"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    assert_eq!(error_fields(&problem), ["rule"], "{problem}");
    assert!(error_on(&problem, "rule").contains("record the customer's agreement first"), "{problem}");
    ali.tick(&t, "Customer agreed to the cost").await;

    // Approval: asked by the technician, given only by the accountable service manager.
    let asked = ali.command(&t, "approvals", json!({"action": "request", "note": "Costly repair"})).await;
    assert_eq!(asked["approvals"]["review"]["requested_by"], "ali@example.com");
    let problem = expect_problem(
        ali.post(&format!("/v1/tickets/{t}/approvals"), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("only the accountable role (service_manager) may approve"), "{problem}");
    let problem = expect_problem(
        web.post(&format!("/v1/tickets/{t}/approvals"), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("not by an integration"), "{problem}");
    let approved = reza.command(&t, "approvals", json!({"action": "approve", "note": "OK"})).await;
    assert_eq!(approved["approvals"]["review"]["approved_by"], "reza@example.com");
    let problem = expect_problem(
        reza.post(&format!("/v1/tickets/{t}/approvals"), json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    error_on(&problem, "approval");

    let proceeded = ali.transition(&t, "proceed").await;
    assert_eq!(proceeded["stage"], "resolution");
    assert_eq!(proceeded["approvals"], json!({}), "approval is per stage visit");
    app.advance(minutes(60));

    // --- resolution: support agents are consulted (comment, not move).
    let noted = maryam.command(&t, "comments", json!({"body": "Customer asks for a morning visit"})).await;
    assert_eq!(noted["comments"], 3);
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{t}/transitions"), json!({"name": "resolve"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("in stage `resolution`"), "{problem}");
    ali.save_form(&t, "resolution_report", json!({"outcome": "repaired", "work_done": "Replaced the motor"})).await;
    ali.tick(&t, "Solution explained to the customer").await;
    ali.tick(&t, "Customer confirmed the fix").await;
    let resolved = ali.transition(&t, "resolve").await;
    assert_eq!(resolved["stage"], "survey");
    assert_eq!(resolved["status"], "resolved", "survey counts as resolved");
    assert_eq!(resolved["resolved_at"], "2026-11-23T07:05:00Z");
    app.advance(minutes(60));

    // --- survey: resolve / reopen / close, by the support agent.
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{t}/resolve"), json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    assert!(error_on(&problem, "status").contains("already resolved"), "{problem}");
    // Reopening leaves the survey by its way back to work; resolving takes `resolve` again,
    // with its guards (the report and the checklist of the visit still stand), by the technician.
    let reopened = maryam.command(&t, "reopen", json!({"reason": "Still noisy"})).await;
    assert_eq!(reopened["status"], "open");
    assert_eq!(reopened["stage"], "resolution");
    assert_eq!(reopened["reopened"], 1);
    assert_eq!(reopened["resolved_at"], Value::Null);
    let resolved = ali.command(&t, "resolve", json!({"note": "Noise was the transport lock"})).await;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["stage"], "survey");
    let response = maryam.post(&format!("/v1/tickets/{t}/close"), json!({})).await;
    let etag = header(&response, "etag").expect("an ETag");
    let closed = expect_status(response, StatusCode::OK).await;
    assert_eq!(closed["stage"], "closed");
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closed_at"], "2026-11-23T08:05:00Z");
    assert_eq!(closed["transitions"], json!([]), "a terminal stage has no way out");
    assert_eq!(etag, format!("\"{}\"", closed["revision"]));

    // A closed ticket takes no more work: 409 until reopened.
    for (command, body) in [
        ("comments", json!({"body": "hello"})),
        ("transitions", json!({"name": "close"})),
        ("priority", json!({"priority": "low"})),
        ("close", json!({})),
    ] {
        let problem = expect_problem(
            maryam.post(&format!("/v1/tickets/{t}/{command}"), body).await,
            StatusCode::CONFLICT,
            "ticket-finished",
        )
        .await;
        assert!(detail(&problem).contains("reopen it first"), "{command}: {problem}");
    }
    // Reopened work goes back where the work was: the survey stage counts as resolved, so the
    // ticket returns to the stage the survey leads back to, and that stage's technician reopens.
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{t}/reopen"), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("in stage `resolution`"), "{problem}");
    let back = ali.command(&t, "reopen", json!({"reason": "Customer called again"})).await;
    assert_eq!(back["stage"], "resolution", "back to work, not to the survey");
    assert_eq!(back["status"], "open");
    assert_eq!(back["reopened"], 2);
    let surveyed = ali.command(&t, "transitions", json!({"name": "resolve"})).await;
    assert_eq!(surveyed["status"], "resolved");
    let closed = maryam.command(&t, "close", json!({})).await;
    assert_eq!(closed["status"], "closed");

    // --- the audit trail: every change, in order, with who and when.
    let response = maryam.get(&format!("/v1/tickets/{t}/events")).await;
    let events = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        kinds(&events),
        [
            "opened",
            "assigned",
            "form_saved",
            "checklist_ticked",
            "checklist_ticked",
            "commented",
            "step_recorded",
            "stage_changed",
            "commented",
            "priority_changed",
            "form_saved",
            "checklist_ticked",
            "checklist_ticked",
            "checklist_ticked",
            "checklist_ticked",
            "checklist_ticked",
            "approval_requested",
            "approved",
            "stage_changed",
            "commented",
            "form_saved",
            "checklist_ticked",
            "checklist_ticked",
            "stage_changed",
            "resolved",
            "stage_changed",
            "reopened",
            "stage_changed",
            "resolved",
            "stage_changed",
            "closed",
            "stage_changed",
            "reopened",
            "stage_changed",
            "resolved",
            "stage_changed",
            "closed",
        ],
        "refused commands left no trace"
    );
    let all = events["items"].as_array().expect("items");
    for (index, event) in all.iter().enumerate() {
        assert_eq!(event["revision"], index as u64 + 1, "revisions count up: {event}");
        assert_eq!(event["ticket"], ticket["id"]);
    }
    assert_eq!(all.last().map(|e| &e["revision"]), Some(&closed["revision"]), "the log ends at the ETag's revision");
    let items = work(&events);
    assert_eq!(items[0]["actor"], json!({"id": "web-form", "kind": "integrator"}));
    assert_eq!(items[0]["at"], "2026-11-23T05:30:00Z");
    assert_eq!(items[0]["subject"], "Washing machine does not spin");
    assert_eq!(items[1]["actor"], json!({"id": "round-robin", "kind": "system"}));
    assert_eq!(items[7]["actor"]["id"], "maryam@example.com");
    assert_eq!(items[7]["from"], "intake");
    assert_eq!(items[7]["to"], "review");
    assert_eq!(items[7]["transition"], "accept");
    assert_eq!(items[8]["actor"]["id"], "parts@example.com");
    assert_eq!(items[17]["kind"], "approved");
    assert_eq!(items[17]["actor"], json!({"id": "reza@example.com", "kind": "agent"}));
    assert_eq!(items[17]["stage"], "review");
    assert_eq!(items[25]["transition"], "reopen_work", "reopened from the survey by its way back to work");
    assert_eq!(items[26]["reason"], "Still noisy");
    assert_eq!(items[31]["transition"], "reopen");
    assert_eq!(items[32]["reason"], "Customer called again");
    let times: Vec<&str> = all.iter().map(|e| e["at"].as_str().expect("at")).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first: {times:?}");
    app.stop().await;
}

#[tokio::test]
async fn cancelling_from_review_needs_the_accountable_roles_approval() {
    let app = spawn_app().await;
    let maryam = app.agent("maryam@example.com").await;
    let sara = app.agent("sara@example.com").await;
    let reza = app.agent("reza@example.com").await;
    let leila = app.agent("leila@example.com").await;
    let t = in_review(&app, &maryam).await;

    let problem = expect_problem(
        sara.post(&format!("/v1/tickets/{t}/transitions"), json!({"name": "cancel"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    assert_eq!(error_fields(&problem), ["approval"], "forms and checklist are not required to cancel: {problem}");
    assert!(error_on(&problem, "approval").contains("service_manager"), "{problem}");
    // The support lead is accountable in intake, not here.
    expect_problem(
        leila.post(&format!("/v1/tickets/{t}/approvals"), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    reza.command(&t, "approvals", json!({})).await;
    let cancelled = sara.transition(&t, "cancel").await;
    assert_eq!(cancelled["stage"], "cancelled");
    assert_eq!(cancelled["status"], "closed");
    app.stop().await;
}

/// Opens a ticket and takes it to review as the support agent; returns its number.
async fn in_review(app: &TestApp, agent: &User) -> String {
    let ticket = app.admin().open(new_ticket("Oven door broken", "kim@example.com")).await;
    let t = ticket["number"].as_str().expect("number").to_string();
    agent.save_form(&t, "request", json!({"product": "Oven", "problem": "The door does not close"})).await;
    agent.tick(&t, "Customer and product identified").await;
    agent.tick(&t, "Request confirmed with the customer").await;
    assert_eq!(agent.transition(&t, "accept").await["stage"], "review");
    t
}

#[tokio::test]
async fn links_and_merges_are_recorded_on_both_tickets() {
    let app = spawn_app().await;
    let maryam = app.agent("maryam@example.com").await;
    let web = app.integrator("web-form").await;
    let original = web.open(new_ticket("Fridge is warm", "sam@example.com")).await;
    let other = web.open(new_ticket("Oven is cold", "kim@example.com")).await;
    let duplicate = web.open(new_ticket("Fridge still warm", "sam@example.com")).await;
    let (a, b, c) = (
        original["number"].as_str().expect("number"),
        other["number"].as_str().expect("number"),
        duplicate["number"].as_str().expect("number"),
    );

    // Link by number (or id); the other ticket gets the inverse relation.
    let linked = maryam.command(a, "links", json!({"other": other["id"], "relation": "spawned"})).await;
    assert_eq!(linked["links"], json!([{"ticket": other["id"], "relation": "spawned"}]));
    assert_eq!(maryam.ticket(b).await["links"], json!([{"ticket": original["id"], "relation": "spawned_from"}]));
    let related = maryam.command(a, "links", json!({"other": b})).await;
    assert_eq!(related["links"].as_array().map(Vec::len), Some(2), "default relation `related`: {related}");
    let again = maryam.command(a, "links", json!({"other": b})).await;
    assert_eq!(again["revision"], related["revision"], "linking twice changes nothing");
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{a}/links"), json!({"other": a})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    error_on(&problem, "other");
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{a}/links"), json!({"other": b, "relation": "cousin"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    error_on(&problem, "relation");

    // Merging needs the same customer and an open original.
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{b}/merge"), json!({"into": a})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    assert!(error_on(&problem, "into").contains("another customer"), "{problem}");
    let merged = maryam.command(c, "merge", json!({"into": a})).await;
    assert_eq!(merged["status"], "merged");
    assert!(
        merged["links"]
            .as_array()
            .is_some_and(|l| l.contains(&json!({"ticket": original["id"], "relation": "duplicate_of"}))),
        "{merged}"
    );
    let original_now = maryam.ticket(a).await;
    assert!(
        original_now["links"]
            .as_array()
            .is_some_and(|l| l.contains(&json!({"ticket": duplicate["id"], "relation": "duplicate"}))),
        "{original_now}"
    );
    // A merged ticket takes no more work, and cannot be reopened.
    let problem = expect_problem(
        maryam.post(&format!("/v1/tickets/{c}/comments"), json!({"body": "hello"})).await,
        StatusCode::CONFLICT,
        "ticket-finished",
    )
    .await;
    assert!(detail(&problem).contains("merged"), "{problem}");
    expect_problem(
        maryam.post(&format!("/v1/tickets/{c}/reopen"), json!({})).await,
        StatusCode::CONFLICT,
        "ticket-finished",
    )
    .await;
    let events = expect_status(maryam.get(&format!("/v1/tickets/{a}/events")).await, StatusCode::OK).await;
    assert_eq!(kinds(&events), ["opened", "assigned", "linked", "linked", "linked"]);
    app.stop().await;
}
