//! `GET /v1/tickets`: every filter, the order, and cursor pagination (`next_cursor` and the
//! `Link` header), each ticket exactly once across the pages; agents list and read only the
//! tickets of the workflows they hold a role in.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, User, WarrantyStaff, encode, expect_problem, expect_status, header, new_ticket, spawn_app,
    spawn_app_with_warranty,
};

fn hours(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

async fn numbers(user: &User, query: &str) -> Vec<String> {
    let page = expect_status(user.get(&format!("/v1/tickets?{query}")).await, StatusCode::OK).await;
    assert!(page.get("next_cursor").is_none(), "one page is enough here: {query}");
    page["items"].as_array().expect("items").iter().map(|t| t["number"].as_str().expect("number").to_string()).collect()
}

/// Seven tickets, one an hour from 05:30Z, of various customers, categories and priorities.
/// Everybody the routing rules assign to is away, so the tickets stay unassigned in their
/// queues (assignment has its own tests, in `people.rs`).
async fn seven_tickets(app: &TestApp) -> Vec<Value> {
    let admin = app.admin();
    for person in ["maryam", "omid", "ali", "sara", "navid"] {
        let path = format!("/v1/people/{person}@example.com/availability");
        expect_status(admin.post(&path, json!({"available": false})).await, StatusCode::OK).await;
    }
    let specs = [
        ("sam@example.com", Some("repair"), None),
        ("kim@example.com", Some("billing"), Some("high")),
        ("sam@example.com", Some("repair"), Some("urgent")),
        ("lee@example.com", Some("installation"), Some("low")),
        ("kim@example.com", Some("complaint"), None),
        ("pat@example.com", None, None),
        ("pat@example.com", Some("billing"), None),
    ];
    let mut tickets = Vec::new();
    for (index, (email, category, priority)) in specs.into_iter().enumerate() {
        if index > 0 {
            app.advance(hours(1));
        }
        let mut body = new_ticket(&format!("Ticket {}", index + 1), email);
        if let Some(category) = category {
            body["category"] = json!(category);
        }
        if let Some(priority) = priority {
            body["priority"] = json!(priority);
        }
        tickets.push(admin.open(body).await);
    }
    tickets
}

#[tokio::test]
async fn every_filter_narrows_the_list() {
    let app = spawn_app().await;
    let admin = app.admin();
    let maryam = app.agent("maryam@example.com").await;
    let tickets = seven_tickets(&app).await;
    admin.command("AS-2", "assign", json!({"assignee": "maryam@example.com"})).await;
    admin.command("AS-5", "assign", json!({"assignee": "maryam@example.com"})).await;
    admin.save_form("AS-4", "request", json!({"product": "Air conditioner", "problem": "Needs installing"})).await;
    admin.tick("AS-4", "Customer and product identified").await;
    admin.tick("AS-4", "Request confirmed with the customer").await;
    admin.transition("AS-4", "accept").await;
    admin.transition("AS-6", "cancel").await;
    admin.through_to_survey("AS-7").await;

    let all = ["AS-1", "AS-2", "AS-3", "AS-4", "AS-5", "AS-6", "AS-7"];
    let kim = tickets[1]["customer"].as_str().expect("customer id");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (String::new(), all.to_vec()),
        ("workflow=after-sales".into(), all.to_vec()),
        ("workflow=shop".into(), vec![]),
        ("stage=review".into(), vec!["AS-4"]),
        ("workflow=after-sales&stage=review".into(), vec!["AS-4"]),
        ("stage=cancelled".into(), vec!["AS-6"]),
        ("stage=intake".into(), vec!["AS-1", "AS-2", "AS-3", "AS-5"]),
        ("stage=survey".into(), vec!["AS-7"]),
        ("status=open".into(), vec!["AS-1", "AS-2", "AS-3", "AS-4", "AS-5"]),
        ("status=resolved".into(), vec!["AS-7"]),
        ("status=closed".into(), vec!["AS-6"]),
        ("status=merged".into(), vec![]),
        ("assignee=maryam@example.com".into(), vec!["AS-2", "AS-5"]),
        (format!("assignee={}", encode("Maryam@Example.com")), vec!["AS-2", "AS-5"]),
        ("assignee=ali@example.com".into(), vec![]),
        // Open work nobody has: the cancelled AS-6 is not waiting for anyone.
        ("unassigned=true".into(), vec!["AS-1", "AS-3", "AS-4", "AS-7"]),
        (format!("customer={kim}"), vec!["AS-2", "AS-5"]),
        ("category=billing".into(), vec!["AS-2", "AS-7"]),
        ("category=repair".into(), vec!["AS-1", "AS-3"]),
        ("priority=high".into(), vec!["AS-2"]),
        ("priority=normal".into(), vec!["AS-1", "AS-5", "AS-6", "AS-7"]),
        ("queue=back_office".into(), vec!["AS-2", "AS-7"]),
        ("queue=priority_repairs".into(), vec!["AS-3"]),
        // 05:30 + n hours: AS-3 at 07:30, AS-4 at 08:30.
        ("created_from=2026-11-23T07:30:00Z".into(), vec!["AS-3", "AS-4", "AS-5", "AS-6", "AS-7"]),
        ("created_to=2026-11-23T08:30:00Z".into(), vec!["AS-1", "AS-2", "AS-3"]),
        (
            format!(
                "created_from={}&created_to={}",
                encode("2026-11-23T10:00:00+03:30"),
                encode("2026-11-23T13:00:00+03:30")
            ),
            vec!["AS-2", "AS-3", "AS-4"],
        ),
        ("created_from=2026-11-24T00:00:00Z".into(), vec![]),
        ("category=billing&status=open".into(), vec!["AS-2"]),
        (format!("customer={kim}&assignee=maryam@example.com&category=complaint"), vec!["AS-5"]),
        ("order=newest".into(), vec!["AS-7", "AS-6", "AS-5", "AS-4", "AS-3", "AS-2", "AS-1"]),
        ("order=newest&category=repair".into(), vec!["AS-3", "AS-1"]),
        ("order=oldest&created_from=2026-11-23T09:30:00Z".into(), vec!["AS-5", "AS-6", "AS-7"]),
    ];
    for (query, expected) in cases {
        assert_eq!(numbers(&maryam, &query).await, expected, "GET /v1/tickets?{query}");
    }

    // Items are whole tickets with their stage name and transitions.
    let page = expect_status(maryam.get("/v1/tickets?stage=review").await, StatusCode::OK).await;
    let item = &page["items"][0];
    assert_eq!(item["stage_name"], "Technical review / order status");
    assert_eq!(item["transitions"].as_array().map(Vec::len), Some(3));
    assert_eq!(item["customer"], tickets[3]["customer"]);
    app.stop().await;
}

#[tokio::test]
async fn cursor_pagination_returns_every_ticket_exactly_once() {
    let app = spawn_app().await;
    let admin = app.admin();
    let tickets = seven_tickets(&app).await;
    let all: Vec<String> = tickets.iter().map(|t| t["id"].as_str().expect("id").to_string()).collect();

    for (order, expected) in [("oldest", all.clone()), ("newest", all.iter().rev().cloned().collect())] {
        // Follow `next_cursor` by hand.
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(cursor) => format!("/v1/tickets?order={order}&limit=3&cursor={cursor}"),
                None => format!("/v1/tickets?order={order}&limit=3"),
            };
            let response = admin.get(&query).await;
            let link = header(&response, "link");
            let page = expect_status(response, StatusCode::OK).await;
            let items = page["items"].as_array().expect("items");
            sizes.push(items.len());
            seen.extend(items.iter().map(|t| t["id"].as_str().expect("id").to_string()));
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => {
                    assert_eq!(
                        next,
                        seen.last().map(String::as_str).expect("a last item"),
                        "the cursor is the last item"
                    );
                    let link = link.expect("a Link header while there are more pages");
                    assert!(link.ends_with("; rel=\"next\""), "{link}");
                    assert!(link.contains(&format!("cursor={next}")) && link.contains("limit=3"), "{link}");
                    assert!(link.contains(&format!("order={order}")), "{link}");
                    cursor = Some(next.to_string());
                }
                None => {
                    assert_eq!(link, None, "no Link on the last page");
                    break;
                }
            }
        }
        assert_eq!(sizes, [3, 3, 1], "{order}");
        assert_eq!(seen, expected, "{order}: every ticket once, in order");
    }

    // Follow the Link header itself, with a filter: it carries the filter along.
    let mut path = "/v1/tickets?limit=1&category=billing".to_string();
    let mut seen = BTreeSet::new();
    let mut pages = 0;
    loop {
        pages += 1;
        let response = admin.get(&path).await;
        let link = header(&response, "link");
        let page = expect_status(response, StatusCode::OK).await;
        for item in page["items"].as_array().expect("items") {
            assert_eq!(item["category"], "billing");
            assert!(seen.insert(item["number"].as_str().expect("number").to_string()), "each ticket once");
        }
        let Some(link) = link else { break };
        let url = link.strip_prefix('<').and_then(|l| l.split_once(">; rel=\"next\"")).map(|(url, _)| url);
        let url = url.unwrap_or_else(|| panic!("a Link like <URL>; rel=\"next\": {link}"));
        let start = url.find("/v1/tickets?").unwrap_or_else(|| panic!("a link to the list: {url}"));
        assert!(url[start..].contains("category=billing"), "{url}");
        path = url[start..].to_string();
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["AS-2", "AS-7"]);
    assert_eq!(pages, 2, "no empty last page");

    // A page exactly the size of the rest has no next page; the largest page is 500.
    let page = expect_status(admin.get("/v1/tickets?limit=7").await, StatusCode::OK).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(7));
    assert!(page.get("next_cursor").is_none(), "{page}");
    let page = expect_status(admin.get("/v1/tickets?limit=500").await, StatusCode::OK).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(7));
    // Tickets opened after a page was read show up on the next page, not twice.
    let first = expect_status(admin.get("/v1/tickets?limit=4").await, StatusCode::OK).await;
    let cursor = first["next_cursor"].as_str().expect("a next page").to_string();
    app.advance(hours(1));
    admin.open(new_ticket("Late", "zed@example.com")).await;
    let rest = expect_status(admin.get(&format!("/v1/tickets?limit=10&cursor={cursor}")).await, StatusCode::OK).await;
    let numbers: Vec<&str> =
        rest["items"].as_array().expect("items").iter().filter_map(|t| t["number"].as_str()).collect();
    assert_eq!(numbers, ["AS-5", "AS-6", "AS-7", "AS-8"]);
    app.stop().await;
}

#[tokio::test]
async fn unassigned_means_the_same_whichever_filter_comes_with_it() {
    let app = spawn_app().await;
    let admin = app.admin();
    let tickets = seven_tickets(&app).await;
    admin.transition("AS-6", "cancel").await;
    let pat = tickets[5]["customer"].as_str().expect("customer id");
    assert_eq!(numbers(&admin, "unassigned=true").await, ["AS-1", "AS-2", "AS-3", "AS-4", "AS-5", "AS-7"]);
    assert_eq!(numbers(&admin, &format!("unassigned=true&customer={pat}")).await, ["AS-7"]);
    assert_eq!(numbers(&admin, "unassigned=true&workflow=after-sales&stage=cancelled").await, Vec::<String>::new());
    app.stop().await;
}

/// The numbers of every page of `GET /v1/tickets?{query}&limit={limit}`, following the cursor.
async fn pages(user: &User, query: &str, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/tickets?{query}&limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = expect_status(user.get(&path).await, StatusCode::OK).await;
        let items = page["items"].as_array().expect("items");
        pages.push(items.iter().map(|t| t["number"].as_str().expect("number").to_string()).collect());
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_string()),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn agents_list_and_read_only_the_tickets_of_their_workflows() {
    let app = spawn_app_with_warranty().await;
    let admin = app.admin();
    let WarrantyStaff { web, omid, wendy, navid, mallory } = app.warranty_staff().await;
    // One ticket a minute, the two workflows taking turns: AS-1, WA-1, AS-2, WA-2, AS-3, WA-3.
    for n in 1..=3 {
        for workflow in ["after-sales", "warranty"] {
            let mut body = new_ticket(&format!("Ticket {n}"), &format!("c{n}@example.com"));
            body["workflow"] = json!(workflow);
            admin.open(body).await;
            app.advance(chrono::Duration::minutes(1));
        }
    }
    admin.transition("WA-3", "settle").await;
    let all = ["AS-1", "WA-1", "AS-2", "WA-2", "AS-3", "WA-3"];

    assert_eq!(numbers(&admin, "").await, all);
    assert_eq!(numbers(&web, "").await, all);
    assert_eq!(numbers(&omid, "").await, ["AS-1", "AS-2", "AS-3"]);
    assert_eq!(numbers(&omid, "workflow=after-sales").await, ["AS-1", "AS-2", "AS-3"]);
    assert_eq!(numbers(&omid, "workflow=warranty").await, Vec::<String>::new());
    assert_eq!(numbers(&omid, "status=open&order=newest").await, ["AS-3", "AS-2", "AS-1"]);
    assert_eq!(numbers(&wendy, "").await, ["WA-1", "WA-2", "WA-3"]);
    assert_eq!(numbers(&wendy, "status=closed").await, ["WA-3"]);
    assert_eq!(numbers(&mallory, "").await, Vec::<String>::new());
    assert_eq!(numbers(&mallory, "workflow=after-sales").await, Vec::<String>::new());

    // An agent of both workflows pages through both, in order, each ticket once.
    assert_eq!(pages(&navid, "", 2).await, [["AS-1", "WA-1"], ["AS-2", "WA-2"], ["AS-3", "WA-3"]]);
    assert_eq!(pages(&navid, "order=newest", 4).await, [vec!["WA-3", "AS-3", "WA-2", "AS-2"], vec!["WA-1", "AS-1"]]);
    assert_eq!(pages(&navid, "status=open", 3).await, [vec!["AS-1", "WA-1", "AS-2"], vec!["WA-2", "AS-3"]]);
    assert_eq!(pages(&omid, "", 2).await, [vec!["AS-1", "AS-2"], vec!["AS-3"]]);

    // A ticket out of scope is not found, like one that does not exist; in scope it is read.
    for user in [&omid, &mallory] {
        for path in ["/v1/tickets/WA-1", "/v1/tickets/WA-1/events"] {
            let problem = expect_problem(user.get(path).await, StatusCode::NOT_FOUND, "not-found").await;
            assert_eq!(problem["detail"], "ticket WA-1 not found", "{}: {problem}", user.person);
        }
    }
    expect_problem(mallory.get("/v1/tickets/AS-1").await, StatusCode::NOT_FOUND, "not-found").await;
    for (user, ticket) in [(&omid, "AS-1"), (&wendy, "WA-1"), (&navid, "WA-1"), (&navid, "AS-2"), (&web, "WA-2")] {
        assert_eq!(user.ticket(ticket).await["number"], ticket);
        let events = expect_status(user.get(&format!("/v1/tickets/{ticket}/events")).await, StatusCode::OK).await;
        assert!(!events["items"].as_array().expect("items").is_empty());
    }
    app.stop().await;
}
