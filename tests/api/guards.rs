//! Issue 12 §3 through the real server: no route moves a ticket past a guard; nobody approves
//! their own request or their own work; a later form change voids an approval; an approval can
//! be refused with a reason; the assignee and integrations act only where the stage's RACI
//! (or the stage itself) lets them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, User, encode, error_fields, error_on, expect_problem, expect_status, new_ticket, spawn_app,
};

const START: &str = "intake";

/// The numbered ticket's number.
fn number(ticket: &Value) -> String {
    ticket["number"].as_str().expect("a number").to_string()
}

/// Requests that a route should survive on an untouched ticket in intake: `(path under the
/// ticket, body)`, several for some routes. `other` is another open ticket of the customer.
fn plausible(method: &str, route: &str, other: &str) -> Vec<(String, Value)> {
    let one = |path: &str, body: Value| vec![(path.to_string(), body)];
    match (method, route) {
        ("POST", "/transitions") => ["accept", "cancel", "resolve", "close"]
            .into_iter()
            .map(|name| ("/transitions".to_string(), json!({ "name": name })))
            .collect(),
        ("PUT", "/forms/{form}") => vec![
            ("/forms/request".into(), json!({"product": "Dishwasher", "problem": "Leaks from the door"})),
            ("/forms/resolution_report".into(), json!({"outcome": "repaired", "work_done": "Nothing yet"})),
        ],
        ("POST", "/checklist/{item}") => {
            one(&format!("/checklist/{}", encode("Customer and product identified")), json!({}))
        }
        ("POST", "/comments") => one("/comments", json!({"body": "We are on it.", "public": true})),
        ("POST", "/customer-replies") => one("/customer-replies", json!({"body": "The serial is SN-1."})),
        ("POST", "/steps") => one("/steps", json!({"description": "Called the customer"})),
        ("POST", "/assign") => one("/assign", json!({"assignee": "maryam@example.com"})),
        ("POST", "/priority") => one("/priority", json!({"priority": "urgent"})),
        ("POST", "/approvals") => vec![
            ("/approvals".into(), json!({"action": "request", "note": "Please"})),
            ("/approvals".into(), json!({"action": "approve"})),
            ("/approvals".into(), json!({"action": "reject", "note": "No"})),
        ],
        ("POST", "/resolve") => one("/resolve", json!({"note": "Done"})),
        ("POST", "/close") => one("/close", json!({})),
        ("POST", "/reopen") => one("/reopen", json!({"reason": "Again"})),
        ("POST", "/links") => one("/links", json!({"other": other})),
        ("POST", "/merge") => one("/merge", json!({"into": other})),
        // A raw upload: the JSON document as a file (refused without a name, and moves nothing).
        ("POST", "/attachments") => one("/attachments", json!({"photo": "of the door"})),
        ("POST", "/survey") => one("/survey", json!({"survey": "phone-1", "csat": 5})),
        _ => panic!("{method} /v1/tickets/{{id}}{route} is new: give it a plausible body in tests/api/guards.rs"),
    }
}

/// Every mutating operation of `/openapi.json` on a ticket, as `(method, path after {id})`.
async fn ticket_routes(app: &TestApp) -> Vec<(String, String)> {
    let spec = expect_status(app.client.get(app.url("/openapi.json")).send().await.expect("GET"), StatusCode::OK).await;
    let mut routes = Vec::new();
    for (path, operations) in spec["paths"].as_object().expect("paths") {
        let Some(rest) = path.strip_prefix("/v1/tickets/{id}") else { continue };
        for method in operations.as_object().expect("operations").keys() {
            if ["post", "put", "patch", "delete"].contains(&method.as_str()) {
                routes.push((method.to_uppercase(), rest.to_string()));
            }
        }
    }
    routes.sort();
    routes
}

/// The transitions of the start stage that a ticket meets every guard of while untouched:
/// no required forms, checklist or approval, no rule.
async fn guard_free_exits(admin: &User) -> Vec<String> {
    let workflow = expect_status(admin.get("/v1/workflows/after-sales").await, StatusCode::OK).await;
    let transitions = workflow["definition"]["stages"][START]["transitions"].as_array().expect("transitions").clone();
    let needs_nothing = |t: &Value| {
        t["requires_forms"] == false
            && t["requires_checklist"] == false
            && t["requires_approval"] != true
            && t["when"].is_null()
    };
    transitions.iter().filter(|t| needs_nothing(t)).map(|t| t["name"].as_str().expect("name").to_string()).collect()
}

#[tokio::test]
async fn no_route_of_the_openapi_document_moves_an_untouched_ticket_past_a_guard() {
    let app = spawn_app().await;
    let admin = app.admin();
    let maryam = app.agent("maryam@example.com").await; // support agent: responsible in intake
    let routes = ticket_routes(&app).await;
    for expected in ["/resolve", "/close", "/reopen", "/merge", "/transitions", "/approvals"] {
        assert!(routes.iter().any(|(_, r)| r == expected), "{expected} is in the document: {routes:?}");
    }
    let free = guard_free_exits(&admin).await;
    assert_eq!(free, ["cancel"], "the bundled intake can only be left for nothing by cancelling");

    let mut tries = 0;
    for caller in [&maryam, &admin] {
        let other = number(&admin.open(new_ticket("The original", "sam@example.com")).await);
        for (method, route) in &routes {
            for (path, body) in plausible(method, route, &other) {
                let t = number(&admin.open(new_ticket("Untouched", "sam@example.com")).await);
                let method = Method::from_bytes(method.as_bytes()).expect("a method");
                let answer = caller.request(method.clone(), &format!("/v1/tickets/{t}{path}")).json(&body).send().await;
                let status = answer.expect("answered").status();
                let ticket = admin.ticket(&t).await;
                let events = expect_status(admin.get(&format!("/v1/tickets/{t}/events")).await, StatusCode::OK).await;
                let moves: Vec<&str> = events["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .filter(|e| e["kind"] == "stage_changed")
                    .map(|e| e["transition"].as_str().expect("transition"))
                    .collect();
                let what = format!("{} {method} {path} {body} answered {status}: {ticket}", caller.person);
                if moves.is_empty() {
                    assert_eq!(ticket["stage"], START, "{what}");
                    assert_eq!(ticket["status"], "open", "no status change without a transition: {what}");
                } else {
                    assert_eq!(moves.len(), 1, "{what}");
                    assert!(
                        free.iter().any(|f| f == moves[0]),
                        "moved by `{}`, whose guards are unmet: {what}",
                        moves[0]
                    );
                }
                tries += 1;
            }
        }
    }
    assert!(tries >= 2 * 17, "every route was tried by both callers ({tries} tries)");
    app.stop().await;
}

/// A ticket taken to review by Maryam; returns its number.
async fn in_review(app: &TestApp, subject: &str) -> String {
    let maryam = app.agent("maryam@example.com").await;
    let t = number(&app.admin().open(new_ticket(subject, "kim@example.com")).await);
    maryam.save_form(&t, "request", json!({"product": "Oven", "problem": "The door does not close"})).await;
    maryam.tick(&t, "Customer and product identified").await;
    maryam.tick(&t, "Request confirmed with the customer").await;
    assert_eq!(maryam.transition(&t, "accept").await["stage"], "review");
    t
}

/// Edits the bundled workflow as the server sees it and reloads it (new tickets get it).
async fn edit_workflow(app: &TestApp, edits: &[(&str, &str)]) {
    let file = app.workflow_file();
    let mut text = std::fs::read_to_string(&file).expect("read the workflow");
    for (from, to) in edits {
        assert!(text.contains(from), "the workflow has {from:?}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&file, text).expect("write the workflow");
    expect_status(app.admin().post("/v1/workflows/reload", json!({})).await, StatusCode::OK).await;
}

fn detail(problem: &Value) -> &str {
    problem["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_approver_is_neither_the_requester_nor_the_assignee_unless_the_workflow_relaxes_it() {
    let app = spawn_app().await;
    let reza = app.agent("reza@example.com").await; // service manager: accountable in review
    let ali = app.agent("ali@example.com").await; // technician: responsible in review
    let admin = app.admin();

    // The accountable who asked cannot approve; another person can.
    let t = in_review(&app, "Cancel my repair").await;
    reza.command(&t, "approvals", json!({"action": "request", "note": "Customer withdrew"})).await;
    let problem = expect_problem(
        reza.post(&format!("/v1/tickets/{t}/approvals"), json!({"action": "approve"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(
        detail(&problem).starts_with("separation of duties: reza@example.com asked for this approval"),
        "{problem}"
    );
    let approved = admin.command(&t, "approvals", json!({"action": "approve"})).await;
    assert_eq!(approved["approvals"]["review"]["approved_by"], "admin");

    // The assignee, who did the work, cannot approve it either.
    let t = in_review(&app, "Cancel my other repair").await;
    ali.command(&t, "approvals", json!({"action": "request"})).await;
    ali.command(&t, "assign", json!({"assignee": "reza@example.com"})).await;
    let problem = expect_problem(
        reza.post(&format!("/v1/tickets/{t}/approvals"), json!({"action": "approve"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("is assigned the ticket and did the work"), "{problem}");
    expect_problem(
        ali.post(&format!("/v1/tickets/{t}/transitions"), json!({"name": "cancel"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;

    // A workflow may relax it: tickets opened on the new version follow it.
    edit_workflow(&app, &[("repeat_window = \"30d\"\n", "repeat_window = \"30d\"\nseparation_of_duties = false\n")])
        .await;
    let t = in_review(&app, "Cancel, relaxed").await;
    reza.command(&t, "approvals", json!({"action": "request"})).await;
    reza.command(&t, "approvals", json!({"action": "approve"})).await;
    assert_eq!(ali.transition(&t, "cancel").await["stage"], "cancelled");
    app.stop().await;
}

#[tokio::test]
async fn a_form_value_changed_after_the_approval_voids_it() {
    // Issue 12: a repair approved at 750 was closed at 9,500.
    let app = spawn_app().await;
    let reza = app.agent("reza@example.com").await;
    let ali = app.agent("ali@example.com").await;
    let t = in_review(&app, "Repair estimate").await;
    let diagnosis = json!({"findings": "Hinge bent", "cause": "wear", "under_warranty": false, "estimated_cost": 750});
    ali.save_form(&t, "diagnosis", diagnosis).await;
    ali.command(&t, "approvals", json!({"action": "request", "note": "750 to the customer"})).await;
    reza.command(&t, "approvals", json!({"action": "approve"})).await;

    let changed = ali.save_form(&t, "diagnosis", json!({"estimated_cost": 9500})).await;
    assert_eq!(changed["approvals"]["review"]["approved_by"], Value::Null, "{changed}");
    let events = expect_status(ali.get(&format!("/v1/tickets/{t}/events")).await, StatusCode::OK).await;
    let last = events["items"].as_array().and_then(|items| items.last()).expect("events").clone();
    assert_eq!(last["kind"], "approval_voided", "{last}");
    assert_eq!(
        (&last["stage"], &last["form"], &last["approved_by"]),
        (&json!("review"), &json!("diagnosis"), &json!("reza@example.com"))
    );

    let problem = expect_problem(
        ali.post(&format!("/v1/tickets/{t}/transitions"), json!({"name": "cancel"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    assert_eq!(error_fields(&problem), ["approval"], "a new approval is needed: {problem}");
    reza.command(&t, "approvals", json!({"action": "approve", "note": "9,500 is fine"})).await;
    assert_eq!(ali.transition(&t, "cancel").await["status"], "closed");
    app.stop().await;
}

/// The email object of an outbox message (its payload, however it is tagged).
fn email(message: &Value) -> Option<&Value> {
    match message {
        Value::Object(map) if map.contains_key("template") && map.contains_key("to") => Some(message),
        Value::Object(map) => map.values().find_map(email),
        _ => None,
    }
}

#[tokio::test]
async fn reject_needs_a_reason_records_it_and_mails_the_requester() {
    let app = spawn_app().await;
    let reza = app.agent("reza@example.com").await;
    let ali = app.agent("ali@example.com").await;
    let t = in_review(&app, "Refund instead of repair").await;
    let path = format!("/v1/tickets/{t}/approvals");

    let problem = expect_problem(
        reza.post(&path, json!({"action": "reject", "note": "No"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refused",
    )
    .await;
    assert!(error_on(&problem, "approval").contains("nothing to reject"), "{problem}");
    ali.command(&t, "approvals", json!({"action": "request", "note": "Customer wants a refund"})).await;
    for body in [json!({"action": "reject"}), json!({"action": "reject", "note": "   "})] {
        let problem =
            expect_problem(reza.post(&path, body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert!(error_on(&problem, "note").contains("needs a reason"), "{problem}");
    }
    let problem = expect_problem(
        ali.post(&path, json!({"action": "reject", "note": "Self"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("only the accountable role (service_manager)"), "{problem}");

    let rejected =
        reza.command(&t, "approvals", json!({"action": "reject", "note": "Repair first, it is cheap"})).await;
    assert_eq!(rejected["approvals"], json!({}), "the pending request is cleared");
    let events = expect_status(ali.get(&format!("/v1/tickets/{t}/events")).await, StatusCode::OK).await;
    let last = events["items"].as_array().and_then(|items| items.last()).expect("events").clone();
    assert_eq!(last["kind"], "approval_rejected", "{last}");
    assert_eq!(last["note"], "Repair first, it is cheap");
    assert_eq!(last["requested_by"], "ali@example.com");
    assert_eq!(last["actor"]["id"], "reza@example.com");

    let outbox = expect_status(app.admin().get(&format!("/v1/outbox?ticket={t}")).await, StatusCode::OK).await;
    let mails: Vec<&Value> = outbox["messages"].as_array().expect("messages").iter().filter_map(email).collect();
    let refusal: Vec<&&Value> = mails.iter().filter(|m| m["template"] == "approval_rejected").collect();
    assert_eq!(refusal.len(), 1, "one mail about the refusal: {mails:?}");
    assert_eq!(refusal[0]["to"], json!(["ali@example.com"]), "to the requester");
    assert_eq!(refusal[0]["context"]["note"], "Repair first, it is cheap");
    assert_eq!(refusal[0]["context"]["rejected_by"], "reza@example.com");
    app.stop().await;
}

#[tokio::test]
async fn the_technician_assigned_at_intake_comments_but_does_not_fill_in_the_clerks_checklist() {
    let app = spawn_app().await;
    let admin = app.admin();
    let omid = app.agent("omid@example.com").await;
    let mut repair = new_ticket("Washer does not spin", "sam@example.com");
    repair["category"] = json!("repair");
    let ticket = admin.open(repair.clone()).await;
    let t = number(&ticket);
    let technician = ticket["assignee"].as_str().expect("a technician is assigned at intake").to_string();
    let tech = app.agent(&technician).await;
    let item = format!("/v1/tickets/{t}/checklist/{}", encode("Customer and product identified"));

    let problem = expect_problem(tech.post(&item, json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(detail(&problem).ends_with("(being the assignee is not enough in this stage)"), "{problem}");
    expect_problem(
        tech.put(&format!("/v1/tickets/{t}/forms/request"), json!({"product": "Washer"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    tech.command(&t, "comments", json!({"body": "I will bring a belt."})).await;
    omid.command(&t, &format!("checklist/{}", encode("Customer and product identified")), json!({})).await;

    // A stage may let the assignee work: then the technician ticks it.
    edit_workflow(&app, &[("[stages.intake]\n", "[stages.intake]\nassignee_may_work = true\n")]).await;
    let ticket = admin.open(repair).await;
    let t = number(&ticket);
    let tech = app.agent(ticket["assignee"].as_str().expect("assigned")).await;
    let ticked = tech.tick(&t, "Customer and product identified").await;
    assert_eq!(ticked["checklist"]["intake"], json!(["Customer and product identified"]));
    app.stop().await;
}

#[tokio::test]
async fn integrations_open_comment_and_answer_surveys_but_work_only_where_raci_names_them() {
    let app = spawn_app().await;
    let web = app.integrator("web-form").await;
    let t = number(&web.open(new_ticket("Fridge is warm", "sam@example.com")).await);
    web.command(&t, "comments", json!({"body": "Sent from the web form", "public": true})).await;
    web.command(&t, "survey", json!({"survey": "phone-1", "csat": 4})).await;
    let work = [
        (Method::POST, "transitions".to_string(), json!({"name": "cancel"})),
        (Method::PUT, "forms/request".to_string(), json!({"product": "Fridge"})),
        (Method::POST, format!("checklist/{}", encode("Customer and product identified")), json!({})),
        (Method::POST, "assign".to_string(), json!({"assignee": "maryam@example.com"})),
        (Method::POST, "priority".to_string(), json!({"priority": "high"})),
        (Method::POST, "close".to_string(), json!({})),
    ];
    for (method, command, body) in &work {
        let answer = web.request(method.clone(), &format!("/v1/tickets/{t}/{command}")).json(body).send().await;
        let problem = expect_problem(answer.expect("answered"), StatusCode::FORBIDDEN, "forbidden").await;
        assert!(
            detail(&problem).contains("the integration web-form has no role in this workflow"),
            "{command}: {problem}"
        );
    }
    assert_eq!(web.ticket(&t).await["stage"], "intake");

    // Named in the accountable role of intake, it works there (not in review), and never approves.
    edit_workflow(
        &app,
        &[(r#"support_lead = ["leila@example.com"]"#, r#"support_lead = ["leila@example.com", "web-form"]"#)],
    )
    .await;
    let t = number(&web.open(new_ticket("Oven door", "sam@example.com")).await);
    web.save_form(&t, "request", json!({"product": "Oven", "problem": "The door does not close"})).await;
    web.tick(&t, "Customer and product identified").await;
    web.tick(&t, "Request confirmed with the customer").await;
    let problem = expect_problem(
        web.post(&format!("/v1/tickets/{t}/approvals"), json!({"action": "approve"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("not by an integration"), "{problem}");
    assert_eq!(web.transition(&t, "accept").await["stage"], "review");
    let problem = expect_problem(
        web.post(&format!("/v1/tickets/{t}/checklist/{}", encode("Warranty status checked")), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("the integration web-form has roles support_lead"), "{problem}");
    app.stop().await;
}
