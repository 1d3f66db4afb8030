//! `/v1/customers`: create, then update by email; one customer with their tickets; search.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_fields, error_on, expect_problem, expect_status, header, new_ticket, spawn_app};

#[tokio::test]
async fn posting_a_customer_creates_then_updates_by_email() {
    let app = spawn_app().await;
    let maryam = app.agent("maryam@example.com").await;

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
    let response = maryam.post("/v1/customers", body).await;
    assert_eq!(header(&response, "location"), None, "an update creates nothing");
    let updated = expect_status(response, StatusCode::OK).await;
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["name"], "Sam R.");
    assert_eq!(updated["phone"], "+98 912 345 6789");
    assert_eq!(updated["vip"], true);
    assert_eq!(updated["created_at"], "2026-11-23T05:30:00Z");
    assert_eq!(updated["updated_at"], "2026-11-23T06:30:00Z");
    // By external id, too, and by id.
    let by_external = json!({"name": "Kim", "external_id": "crm-42"});
    let kim = expect_status(maryam.post("/v1/customers", by_external).await, StatusCode::CREATED).await;
    let again = json!({"external_id": "crm-42", "email": "kim@example.com"});
    let kim_again = expect_status(maryam.post("/v1/customers", again).await, StatusCode::OK).await;
    assert_eq!(kim_again["id"], kim["id"]);
    assert_eq!(kim_again["email"], "kim@example.com");
    let by_id = json!({"id": id, "name": "Sam Rahimi"});
    assert_eq!(expect_status(maryam.post("/v1/customers", by_id).await, StatusCode::OK).await["name"], "Sam Rahimi");

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
        maryam.post("/v1/customers", json!({"email": "kim@example.com", "external_id": "crm-1", "id": id})).await,
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
    assert_eq!(search("q=111%202222").await, ["Sam Rahimi"], "by phone");
    assert_eq!(search("q=crm-77").await, ["Kim Tehrani"], "by external id");
    assert_eq!(search("q=nobody").await, Vec::<String>::new());
    assert_eq!(search("").await.len(), 3, "no query: everyone");
    assert_eq!(search("q=a&limit=1").await.len(), 1);
    app.stop().await;
}
