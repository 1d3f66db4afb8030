//! `/v1/customers`: create, then update by email; one customer with their tickets; search; who
//! may change a customer, and every change in the customer's own trail; what agents may read;
//! phone numbers in E.164 finding their customer; merging two records of one person.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    User, WarrantyStaff, error_fields, error_on, expect_problem, expect_status, header, new_ticket, spawn_app,
    spawn_app_with, spawn_app_with_warranty,
};

#[tokio::test]
async fn posting_a_customer_creates_then_updates_by_email() {
    let app = spawn_app().await;
    let maryam = app.agent("maryam@example.com").await;
    // Changing a customer is for integrations (and administrators, and agents working one of
    // the customer's tickets: see below); anybody may create one.
    let crm = app.integrator("crm").await;

    let response = maryam.post("/v1/customers", json!({"name": "Sam Rahimi", "email": "Sam@Example.com"})).await;
    let location = header(&response, "location").expect("a Location header");
    let created = expect_status(response, StatusCode::CREATED).await;
    let id = created["id"].as_str().expect("an id").to_string();
    assert_eq!(location, format!("/v1/customers/{id}"));
    let found = expect_status(maryam.get(&location).await, StatusCode::OK).await;
    assert_eq!(found["tickets"], json!([]), "{found}");
    assert_eq!(created["name"], "Sam Rahimi");
    assert_eq!(created["email"], "sam@example.com", "stored lower-case");
    assert_eq!(created["vip"], false);
    assert_eq!(created["created_at"], "2026-11-23T05:30:00Z");

    // The same email (any case) updates the same customer.
    app.advance(chrono::Duration::hours(1));
    let body = json!({"name": "Sam R.", "email": "SAM@example.com", "phone": "+98 912 345 6789", "vip": true});
    let response = crm.post("/v1/customers", body).await;
    assert_eq!(header(&response, "location"), None, "an update creates nothing");
    let updated = expect_status(response, StatusCode::OK).await;
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["name"], "Sam R.");
    assert_eq!(updated["phone"], "+989123456789", "stored in E.164");
    assert_eq!(updated["vip"], true);
    assert_eq!(updated["created_at"], "2026-11-23T05:30:00Z");
    assert_eq!(updated["updated_at"], "2026-11-23T06:30:00Z");
    // By external id, too, and by id.
    let by_external = json!({"name": "Kim", "external_id": "crm-42"});
    let kim = expect_status(maryam.post("/v1/customers", by_external).await, StatusCode::CREATED).await;
    let again = json!({"external_id": "crm-42", "email": "kim@example.com"});
    let kim_again = expect_status(crm.post("/v1/customers", again).await, StatusCode::OK).await;
    assert_eq!(kim_again["id"], kim["id"]);
    assert_eq!(kim_again["email"], "kim@example.com");
    let by_id = json!({"id": id, "name": "Sam Rahimi"});
    assert_eq!(expect_status(crm.post("/v1/customers", by_id).await, StatusCode::OK).await["name"], "Sam Rahimi");

    // Invalid details name the field of this body (no `customer.` prefix here).
    let problem = expect_problem(
        maryam.post("/v1/customers", json!({"name": "X", "email": "not-an-email", "phone": "call me"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["email", "phone"], "{problem}");
    let problem = expect_problem(
        maryam.post("/v1/customers", json!({"name": "Nobody"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    error_on(&problem, "email");
    let problem = expect_problem(
        crm.post("/v1/customers", json!({"email": "kim@example.com", "external_id": "crm-1", "id": id})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "email").contains("another customer"), "{problem}");
    let problem = expect_problem(
        maryam.post("/v1/customers", json!({"email": "x@example.com", "emial": "y@example.com"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["emial"], "{problem}");
    let problem = expect_problem(
        maryam.post("/v1/customers", json!({"id": "01KAT8Z6Y9C3M5Q7R2V4W6X8Y0"})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("customer")), "{problem}");
    app.stop().await;
}

#[tokio::test]
async fn a_customer_comes_with_all_their_tickets_newest_first() {
    let app = spawn_app().await;
    let web = app.integrator("web-form").await;
    let mut first = new_ticket("Fridge is warm", "sam@example.com");
    first["category"] = json!("repair");
    let first = web.open(first).await;
    app.advance(chrono::Duration::hours(2));
    web.open(new_ticket("Someone else", "kim@example.com")).await;
    let mut second = new_ticket("Fridge again", "SAM@example.com");
    second["category"] = json!("repair");
    let second = web.open(second).await;
    assert_eq!(second["customer"], first["customer"], "found by email, any case");
    // A repeat request of the same category is linked to the earlier one.
    assert_eq!(second["links"], json!([{"ticket": first["id"], "relation": "repeat_of"}]));

    let id = first["customer"].as_str().expect("customer id");
    let customer = expect_status(web.get(&format!("/v1/customers/{id}")).await, StatusCode::OK).await;
    assert_eq!(customer["id"], id);
    assert_eq!(customer["email"], "sam@example.com");
    assert_eq!(customer["name"], "Customer");
    let tickets = customer["tickets"].as_array().expect("tickets");
    let numbers: Vec<&str> = tickets.iter().filter_map(|t| t["number"].as_str()).collect();
    assert_eq!(numbers, ["AS-3", "AS-1"], "newest first");
    assert_eq!(
        tickets[1],
        json!({
            "id": first["id"],
            "number": "AS-1",
            "workflow": "after-sales",
            "stage": "intake",
            "status": "open",
            "category": "repair",
            "subject": "Fridge is warm",
            "created_at": "2026-11-23T05:30:00Z",
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn customers_are_found_by_name_email_phone_or_external_id() {
    let app = spawn_app().await;
    let agent = app.agent("omid@example.com").await;
    for body in [
        json!({"name": "Sam Rahimi", "email": "sam@example.com", "phone": "+98 912 111 2222"}),
        json!({"name": "Kim Tehrani", "email": "kim@shop.example", "external_id": "CRM-77"}),
        json!({"name": "Samira Karimi", "email": "samira@example.com"}),
    ] {
        expect_status(agent.post("/v1/customers", body).await, StatusCode::CREATED).await;
    }
    let search = |query: &'static str| {
        let agent = agent.clone();
        async move {
            let found = expect_status(agent.get(&format!("/v1/customers?{query}")).await, StatusCode::OK).await;
            let mut names: Vec<String> = found["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["name"].as_str().expect("name").into())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(search("q=sam").await, ["Sam Rahimi", "Samira Karimi"]);
    assert_eq!(search("q=SAMIRA").await, ["Samira Karimi"], "any case");
    assert_eq!(search("q=shop.example").await, ["Kim Tehrani"], "by email");
    assert_eq!(search("q=9121112222").await, ["Sam Rahimi"], "by phone (stored as +989121112222)");
    assert_eq!(search("q=crm-77").await, ["Kim Tehrani"], "by external id");
    assert_eq!(search("q=nobody").await, Vec::<String>::new());
    assert_eq!(search("").await.len(), 3, "no query: everyone");
    assert_eq!(search("q=a&limit=1").await.len(), 1);
    app.stop().await;
}

/// `POST /v1/customers` expecting `status`; returns the body.
async fn save(user: &User, body: Value, status: StatusCode) -> Value {
    expect_status(user.post("/v1/customers", body).await, status).await
}

/// The whole trail of a customer, read by `user`.
async fn trail(user: &User, id: &str) -> Vec<Value> {
    let page = expect_status(user.get(&format!("/v1/customers/{id}/events")).await, StatusCode::OK).await;
    assert!(page.get("next_cursor").is_none(), "one page: {page}");
    page["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn only_admins_integrations_and_agents_working_their_ticket_change_a_customer() {
    let app = spawn_app().await;
    let admin = app.admin();
    let web = app.integrator("web-form").await;
    let omid = app.agent("omid@example.com").await; // support_agent: responsible in intake
    let leila = app.agent("leila@example.com").await; // support_lead: accountable in intake
    let ali = app.agent("ali@example.com").await; // technician: no part in intake
    let mallory = app.agent("mallory@example.com").await; // no role at all
    let ticket = web.open(new_ticket("Fridge is warm", "sam@example.com")).await;
    let t = ticket["number"].as_str().expect("number").to_string();
    let id = ticket["customer"].as_str().expect("customer").to_string();
    assert_ne!(ticket["assignee"], "ali@example.com", "{ticket}");

    // Not working the customer's ticket: refused, and nothing is changed or shown.
    for (user, body) in [
        (&ali, json!({"id": id, "email": "mallory@evil.example"})),
        (&mallory, json!({"email": "sam@example.com", "phone": "+98 912 000 0000"})),
        (&mallory, json!({"email": "sam@example.com"})),
    ] {
        let problem = expect_problem(user.post("/v1/customers", body).await, StatusCode::FORBIDDEN, "forbidden").await;
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("working one of the customer's open tickets") && detail.contains(&user.person),
            "{problem}"
        );
        assert!(!problem.to_string().contains("Customer\""), "the record is not shown: {problem}");
    }
    let unchanged = expect_status(admin.get(&format!("/v1/customers/{id}")).await, StatusCode::OK).await;
    assert_eq!((&unchanged["email"], &unchanged["phone"]), (&json!("sam@example.com"), &Value::Null));

    // The responsible and the accountable role of the current stage may; so may the assignee.
    app.advance(chrono::Duration::minutes(1));
    let changed = save(&omid, json!({"email": "sam@example.com", "phone": "+98 912 111 2222"}), StatusCode::OK).await;
    assert_eq!(changed["phone"], "+989121112222");
    app.advance(chrono::Duration::minutes(1));
    save(&leila, json!({"id": id, "name": "Sam Rahimi"}), StatusCode::OK).await;
    admin.command(&t, "assign", json!({"assignee": "ali@example.com"})).await;
    app.advance(chrono::Duration::minutes(1));
    save(&ali, json!({"id": id, "vip": true}), StatusCode::OK).await;
    // Nothing to change is no change: no entry in the trail.
    save(&ali, json!({"id": id, "vip": true}), StatusCode::OK).await;

    // Once the ticket is over, its people may no longer; integrations and administrators may.
    admin.transition(&t, "cancel").await;
    for user in [&omid, &ali] {
        expect_problem(
            user.post("/v1/customers", json!({"id": id, "vip": false})).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    app.advance(chrono::Duration::minutes(1));
    save(&web, json!({"id": id, "external_id": "crm-7"}), StatusCode::OK).await;
    app.advance(chrono::Duration::minutes(1));
    save(&admin, json!({"id": id, "email": "sam.rahimi@example.com", "vip": false}), StatusCode::OK).await;

    // Every change is in the customer's trail: who, when, each field's old and new value.
    let events = trail(&admin, &id).await;
    let summary: Vec<Value> = events
        .iter()
        .map(|e| json!([e["kind"], e["actor"]["id"], e["actor"]["kind"], e["at"], e["changes"]]))
        .collect();
    let change = |field: &str, old: Value, new: Value| json!({"field": field, "old": old, "new": new});
    assert_eq!(
        summary,
        [
            json!([
                "created",
                "web-form",
                "integrator",
                "2026-11-23T05:30:00Z",
                [
                    change("name", Value::Null, json!("Customer")),
                    change("email", Value::Null, json!("sam@example.com")),
                ]
            ]),
            json!([
                "updated",
                "omid@example.com",
                "agent",
                "2026-11-23T05:31:00Z",
                [change("phone", Value::Null, json!("+989121112222"))]
            ]),
            json!([
                "updated",
                "leila@example.com",
                "agent",
                "2026-11-23T05:32:00Z",
                [change("name", json!("Customer"), json!("Sam Rahimi"))]
            ]),
            json!([
                "updated",
                "ali@example.com",
                "agent",
                "2026-11-23T05:33:00Z",
                [change("vip", json!(false), json!(true))]
            ]),
            json!([
                "updated",
                "web-form",
                "integrator",
                "2026-11-23T05:34:00Z",
                [change("external_id", Value::Null, json!("crm-7"))]
            ]),
            json!([
                "updated",
                "admin",
                "admin",
                "2026-11-23T05:35:00Z",
                [
                    change("email", json!("sam@example.com"), json!("sam.rahimi@example.com")),
                    change("vip", json!(true), json!(false)),
                ]
            ]),
        ]
    );
    assert_eq!(events[0]["ticket"], ticket["id"], "made for the ticket opened");
    assert!(events[1..].iter().all(|e| e["ticket"].is_null() && e["customer"] == id.as_str()));
    app.stop().await;
}

#[tokio::test]
async fn a_ticket_fills_in_missing_details_only_for_those_who_may_change_them() {
    let app = spawn_app().await;
    let admin = app.admin();
    let web = app.integrator("web-form").await;
    let ali = app.agent("ali@example.com").await; // not working kim's ticket
    let first = web.open(new_ticket("Bill is wrong", "kim@example.com")).await;
    let id = first["customer"].as_str().expect("customer").to_string();

    // Ali opens a ticket for kim with details her record lacks: the ticket opens, her record
    // stays as it was (a ticket is no way around the rule).
    app.advance(chrono::Duration::minutes(1));
    let mut body = new_ticket("Bill again", "kim@example.com");
    body["customer"]["phone"] = json!("+98 912 333 4444");
    body["customer"]["name"] = json!("Someone Else");
    let by_ali = ali.open(body.clone()).await;
    assert_eq!(by_ali["customer"], id.as_str());
    let kim = expect_status(admin.get(&format!("/v1/customers/{id}")).await, StatusCode::OK).await;
    assert_eq!((&kim["phone"], &kim["name"]), (&Value::Null, &json!("Customer")), "{kim}");
    assert_eq!(trail(&admin, &id).await.len(), 1, "only the creation");

    // An integration's ticket fills in what is missing (the name is not missing: kept).
    app.advance(chrono::Duration::minutes(1));
    let by_web = web.open(body).await;
    let kim = expect_status(admin.get(&format!("/v1/customers/{id}")).await, StatusCode::OK).await;
    assert_eq!((&kim["phone"], &kim["name"]), (&json!("+989123334444"), &json!("Customer")), "{kim}");
    let events = trail(&admin, &id).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["kind"], "filled_in");
    assert_eq!(events[1]["ticket"], by_web["id"]);
    assert_eq!(events[1]["actor"], json!({"id": "web-form", "kind": "integrator"}));
    assert_eq!(events[1]["at"], "2026-11-23T05:32:00Z");
    assert_eq!(events[1]["changes"], json!([{"field": "phone", "old": null, "new": "+989123334444"}]));
    app.stop().await;
}

#[tokio::test]
async fn a_customers_trail_comes_a_page_at_a_time() {
    let app = spawn_app().await;
    let crm = app.integrator("crm").await;
    let created = save(&crm, json!({"name": "Lee", "email": "lee@example.com"}), StatusCode::CREATED).await;
    let id = created["id"].as_str().expect("id").to_string();
    for n in 1..=4 {
        app.advance(chrono::Duration::seconds(1));
        save(&crm, json!({"id": id, "phone": format!("+98 912 000 000{n}")}), StatusCode::OK).await;
    }
    let mut phones = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = cursor.as_ref().map_or("limit=2".to_string(), |c| format!("limit=2&cursor={c}"));
        let page = expect_status(crm.get(&format!("/v1/customers/{id}/events?{query}")).await, StatusCode::OK).await;
        pages += 1;
        for event in page["items"].as_array().expect("items") {
            let phone = event["changes"].as_array().and_then(|c| c.iter().find(|c| c["field"] == "phone"));
            phones.push(phone.map_or(Value::Null, |c| c["new"].clone()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        phones,
        [Value::Null, json!("+989120000001"), json!("+989120000002"), json!("+989120000003"), json!("+989120000004")]
    );
    for (query, field) in [("limit=0", "limit"), ("limit=501", "limit"), ("cursor=AS-1", "cursor"), ("page=2", "page")]
    {
        let response = crm.get(&format!("/v1/customers/{id}/events?{query}")).await;
        let problem = expect_problem(response, StatusCode::BAD_REQUEST, "bad-request").await;
        error_on(&problem, field);
    }
    let response = crm.get("/v1/customers/01KAT8Z6Y9C3M5Q7R2V4W6X8Y0/events").await;
    expect_problem(response, StatusCode::NOT_FOUND, "not-found").await;
    app.stop().await;
}

#[tokio::test]
async fn agents_read_the_customers_of_their_workflows_only() {
    let app = spawn_app_with_warranty().await;
    let admin = app.admin();
    let WarrantyStaff { web, omid, wendy, navid, mallory } = app.warranty_staff().await;
    let warranty = |subject: &str, email: &str| {
        let mut body = new_ticket(subject, email);
        body["workflow"] = json!("warranty");
        body
    };
    let sam = web.open(new_ticket("Fridge", "sam@example.com")).await["customer"].as_str().expect("id").to_string();
    web.open(warranty("Fridge warranty", "sam@example.com")).await;
    let kim =
        web.open(warranty("Oven warranty", "kim@example.com")).await["customer"].as_str().expect("id").to_string();
    let lee = save(&web, json!({"name": "Lee", "email": "lee@example.com"}), StatusCode::CREATED).await;
    let lee = lee["id"].as_str().expect("id").to_string();

    let tickets = |user: &User, id: &str| {
        let (user, path) = (user.clone(), format!("/v1/customers/{id}"));
        async move {
            let customer = expect_status(user.get(&path).await, StatusCode::OK).await;
            let numbers: Vec<String> = customer["tickets"]
                .as_array()
                .expect("tickets")
                .iter()
                .map(|t| t["number"].as_str().expect("n").into())
                .collect();
            numbers
        }
    };
    let found = |user: &User| {
        let user = user.clone();
        async move {
            let page = expect_status(user.get("/v1/customers?q=example").await, StatusCode::OK).await;
            let mut emails: Vec<String> = page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["email"].as_str().expect("e").into())
                .collect();
            emails.sort();
            emails
        }
    };
    // Each agent sees the tickets of their workflows, and no customer of the others.
    assert_eq!(tickets(&omid, &sam).await, ["AS-1"]);
    assert_eq!(tickets(&wendy, &sam).await, ["WA-1"]);
    assert_eq!(tickets(&navid, &sam).await, ["WA-1", "AS-1"]);
    assert_eq!(tickets(&admin, &sam).await, ["WA-1", "AS-1"]);
    assert_eq!(tickets(&web, &kim).await, ["WA-2"]);
    assert_eq!(tickets(&wendy, &kim).await, ["WA-2"]);
    for path in [format!("/v1/customers/{kim}"), format!("/v1/customers/{kim}/events")] {
        let problem = expect_problem(omid.get(&path).await, StatusCode::NOT_FOUND, "not-found").await;
        assert!(!problem.to_string().contains("kim@"), "{problem}");
    }
    // A customer without tickets is everybody's with a role; nobody's without one.
    assert_eq!(tickets(&omid, &lee).await, Vec::<String>::new());
    for id in [&sam, &kim, &lee] {
        expect_problem(mallory.get(&format!("/v1/customers/{id}")).await, StatusCode::NOT_FOUND, "not-found").await;
    }
    // Search finds what one may read.
    assert_eq!(found(&omid).await, ["lee@example.com", "sam@example.com"]);
    assert_eq!(found(&wendy).await, ["kim@example.com", "lee@example.com", "sam@example.com"]);
    assert_eq!(found(&mallory).await, Vec::<String>::new());
    assert_eq!(found(&admin).await, ["kim@example.com", "lee@example.com", "sam@example.com"]);
    assert_eq!(found(&web).await.len(), 3);
    // The limit counts what is found in scope: one result for omid is sam or lee, never kim.
    let one = expect_status(omid.get("/v1/customers?q=example&limit=1").await, StatusCode::OK).await;
    assert_eq!(one["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(one["items"][0]["email"], "kim@example.com");
    app.stop().await;
}

/// A server reading national phone numbers as Iranian (`default_phone_region = "IR"`).
async fn spawn_app_in_iran() -> crate::helpers::TestApp {
    spawn_app_with(|config| config.default_phone_region = Some("IR".into())).await
}

/// A repair ticket for a caller known only by `phone`.
fn phoned_in(subject: &str, phone: &str) -> Value {
    json!({
        "workflow": "after-sales",
        "subject": subject,
        "category": "repair",
        "channel": "phone",
        "customer": { "phone": phone },
    })
}

#[tokio::test]
async fn a_caller_is_one_customer_however_their_number_is_written() {
    let app = spawn_app_in_iran().await;
    let web = app.integrator("web-form").await;
    let first = web.open(phoned_in("Fridge is warm", "+98 912 111 2222")).await;
    app.advance(chrono::Duration::hours(3));
    let second = web.open(phoned_in("Fridge is warm again", "09121112222")).await;
    let customer = first["customer"].as_str().expect("customer").to_string();
    assert_eq!(second["customer"], customer.as_str(), "the same number, written nationally: {second}");
    // Their history is theirs: the second call of the same category is a repeat of the first.
    assert_eq!(second["links"], json!([{"ticket": first["id"], "relation": "repeat_of"}]), "{second}");
    let first_now = web.ticket(first["number"].as_str().expect("number")).await;
    assert_eq!(first_now["links"], json!([{"ticket": second["id"], "relation": "repeated_by"}]), "{first_now}");

    let record = expect_status(web.get(&format!("/v1/customers/{customer}")).await, StatusCode::OK).await;
    assert_eq!(record["phone"], "+989121112222", "stored in E.164: {record}");
    let numbers: Vec<&str> =
        record["tickets"].as_array().expect("tickets").iter().filter_map(|t| t["number"].as_str()).collect();
    assert_eq!(numbers, ["AS-2", "AS-1"]);

    // An email they give later is filled in on the same record (found by the number).
    let mut third = phoned_in("Bill", "(0912) 111-2222");
    third["category"] = json!("billing");
    third["customer"]["email"] = json!("sam@example.com");
    let third = web.open(third).await;
    assert_eq!(third["customer"], customer.as_str());
    let record = expect_status(web.get(&format!("/v1/customers/{customer}")).await, StatusCode::OK).await;
    assert_eq!(record["email"], "sam@example.com", "{record}");
    // Saving by the number (any form) updates the record too.
    let saved = save(&web, json!({"phone": "0912 111 2222", "name": "Sam"}), StatusCode::OK).await;
    assert_eq!((&saved["id"], &saved["name"]), (&json!(customer), &json!("Sam")));

    // Someone else's number is theirs alone: no taking it in an update.
    let kim = save(&web, json!({"name": "Kim", "phone": "0912 222 3333"}), StatusCode::CREATED).await;
    let problem = expect_problem(
        web.post("/v1/customers", json!({"id": kim["id"], "phone": "+989121112222"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "phone").contains("another customer"), "{problem}");

    // A number that is none is refused, naming the field.
    for phone in ["call me", "12345", "+98 1"] {
        let problem = expect_problem(
            web.post("/v1/tickets", phoned_in("Broken", phone)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        )
        .await;
        assert_eq!(error_fields(&problem), ["customer.phone"], "{phone}: {problem}");
    }
    app.stop().await;
}

#[tokio::test]
async fn without_a_default_region_a_national_number_needs_its_country_code() {
    let app = spawn_app().await;
    let web = app.integrator("web-form").await;
    let problem = expect_problem(
        web.post("/v1/tickets", phoned_in("Broken", "09121112222")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(error_on(&problem, "customer.phone").contains("default_phone_region"), "{problem}");
    let opened = web.open(phoned_in("Broken", "+98 912 111 2222")).await;
    let again = web.open(phoned_in("Broken again", "+989121112222")).await;
    assert_eq!(opened["customer"], again["customer"]);
    app.stop().await;
}

/// The numbers of a customer's tickets, newest first, as `user` reads them.
async fn ticket_numbers(user: &User, id: &str) -> Vec<String> {
    let customer = expect_status(user.get(&format!("/v1/customers/{id}")).await, StatusCode::OK).await;
    customer["tickets"].as_array().expect("tickets").iter().map(|t| t["number"].as_str().expect("n").into()).collect()
}

#[tokio::test]
async fn two_records_of_one_person_are_merged_into_one_history() {
    let app = spawn_app_in_iran().await;
    let admin = app.admin();
    let web = app.integrator("web-form").await;
    let omid = app.agent("omid@example.com").await;
    // Sam called once (a record by phone and a second email), then wrote from their usual address.
    let mut called = phoned_in("Fridge is warm", "0912 111 2222");
    called["customer"]["email"] = json!("sam.work@example.com");
    let called = web.open(called).await;
    app.advance(chrono::Duration::hours(1));
    let mut wrote = new_ticket("Fridge still warm", "sam@example.com");
    wrote["category"] = json!("repair");
    let wrote = web.open(wrote).await;
    let gone = called["customer"].as_str().expect("id").to_string();
    let stays = wrote["customer"].as_str().expect("id").to_string();
    assert_ne!(gone, stays, "two records so far");
    assert_eq!(wrote["links"], json!([]), "not yet one history: {wrote}");
    let path = format!("/v1/customers/{gone}/merge");

    // Only administrators and integrations merge.
    let problem =
        expect_problem(omid.post(&path, json!({"into": stays})).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("administrator")), "{problem}");
    assert_eq!(ticket_numbers(&admin, &stays).await, ["AS-2"], "nothing merged");

    app.advance(chrono::Duration::minutes(5));
    let merged = expect_status(admin.post(&path, json!({"into": stays})).await, StatusCode::OK).await;
    assert_eq!(merged["merged"]["merged_into"], stays.as_str(), "{merged}");
    assert_eq!(merged["into"]["id"], stays.as_str());
    assert_eq!(merged["into"]["email"], "sam@example.com", "the survivor keeps its own details");
    assert_eq!(merged["into"]["phone"], "+989121112222", "and takes those it lacked");
    assert_eq!(merged["moved"], json!([called["id"]]));

    // Both tickets are the survivor's; the merged record is still there, pointing at it.
    assert_eq!(ticket_numbers(&admin, &stays).await, ["AS-2", "AS-1"]);
    let old = expect_status(admin.get(&format!("/v1/customers/{gone}")).await, StatusCode::OK).await;
    assert_eq!((&old["merged_into"], &old["tickets"]), (&json!(stays), &json!([])), "{old}");
    assert_eq!(old["email"], "sam.work@example.com", "kept as it was");
    let moved = web.ticket("AS-1").await;
    assert_eq!(moved["customer"], stays.as_str(), "{moved}");
    let events = expect_status(web.get("/v1/tickets/AS-1/events").await, StatusCode::OK).await;
    let last = events["items"].as_array().and_then(|items| items.last()).cloned().unwrap_or_default();
    assert_eq!((&last["kind"], &last["actor"]["id"]), (&json!("customer_changed"), &json!("admin")), "{events}");
    assert_eq!((&last["from"], &last["to"]), (&json!(gone), &json!(stays)));

    // The merged record's email and phone find the survivor, and the history is one: a new call
    // about the fridge repeats the last ticket of either record.
    let by_email = save(&web, json!({"email": "sam.work@example.com"}), StatusCode::OK).await;
    assert_eq!(by_email["id"], stays.as_str());
    let mut again = new_ticket("Fridge, third time", "SAM.WORK@example.com");
    again["category"] = json!("repair");
    let again = web.open(again).await;
    assert_eq!(again["customer"], stays.as_str());
    assert_eq!(again["links"], json!([{"ticket": wrote["id"], "relation": "repeat_of"}]), "{again}");
    let by_phone = web.open(phoned_in("Fridge, by phone", "+98 912 111 2222")).await;
    assert_eq!(by_phone["customer"], stays.as_str());
    // Naming the merged record by id means the survivor, too.
    let by_id = save(&web, json!({"id": gone, "vip": true}), StatusCode::OK).await;
    assert_eq!((&by_id["id"], &by_id["vip"]), (&json!(stays), &json!(true)));

    // Both trails record the merge, each naming the other record.
    let survivor_trail = trail(&admin, &stays).await;
    let entry = survivor_trail.iter().find(|e| e["kind"] == "merged").expect("a merged entry");
    assert_eq!(
        (&entry["other"], &entry["actor"]["id"], &entry["at"]),
        (&json!(gone), &json!("admin"), &json!("2026-11-23T06:35:00Z"))
    );
    assert_eq!(entry["changes"], json!([{"field": "phone", "old": null, "new": "+989121112222"}]));
    let merged_trail = trail(&admin, &gone).await;
    let entry = merged_trail.last().expect("entries");
    assert_eq!((&entry["kind"], &entry["other"]), (&json!("merged"), &json!(stays)), "{merged_trail:?}");
    assert_eq!(entry["changes"], json!([{"field": "merged_into", "old": null, "new": stays}]));

    // A record merges once, never into itself or into one that is gone; ids must exist.
    for (path, body, status, field) in [
        (format!("/v1/customers/{gone}/merge"), json!({"into": stays}), StatusCode::UNPROCESSABLE_ENTITY, "id"),
        (format!("/v1/customers/{stays}/merge"), json!({"into": stays}), StatusCode::UNPROCESSABLE_ENTITY, "into"),
        (format!("/v1/customers/{stays}/merge"), json!({"into": gone}), StatusCode::UNPROCESSABLE_ENTITY, "into"),
        (
            format!("/v1/customers/{stays}/merge"),
            json!({"into": "01KAT8Z6Y9C3M5Q7R2V4W6X8Y0"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "into",
        ),
        (format!("/v1/customers/{stays}/merge"), json!({"into": "nobody"}), StatusCode::UNPROCESSABLE_ENTITY, "into"),
        (format!("/v1/customers/{stays}/merge"), json!({"ito": gone}), StatusCode::UNPROCESSABLE_ENTITY, "ito"),
    ] {
        let response = admin.post(&path, body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        let problem: Value = response.json().await.expect("a problem");
        error_on(&problem, field);
    }
    let response = admin.post("/v1/customers/01KAT8Z6Y9C3M5Q7R2V4W6X8Y0/merge", json!({"into": stays})).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not-found").await;
    app.stop().await;
}
