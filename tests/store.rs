//! The store and the writer on real sled in a temporary folder: everything written survives a
//! restart, ticket numbers continue, and a ticket keeps its workflow version when the workflow
//! file changes.

mod support;

use std::collections::BTreeMap;

use afterdesk::clock::ManualClock;
use afterdesk::engine::{Actor, Command, EngineError, Status, Ticket};
use afterdesk::store::ListFilter;
use afterdesk::writer::WriteError;
use serde_json::json;
use support::{Desk, copy_project_workflows, request, start_time};

fn values(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
}

/// Fills the request form and ticks the intake checklist, as the support agent.
async fn ready_to_accept(desk: &Desk, number: &str) {
    let agent = Actor::agent("maryam@example.com");
    let form = values(&[("product", json!("Dishwasher DW-500")), ("problem", json!("Leaks water from the door"))]);
    desk.run(number, agent.clone(), Command::SaveForm { form: "request".into(), values: form })
        .await
        .expect("save form");
    for item in ["Customer and product identified", "Request confirmed with the customer"] {
        desk.run(number, agent.clone(), Command::Tick { item: item.into(), checked: true }).await.expect("tick");
    }
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = copy_project_workflows(dir.path());
    let data = dir.path().join("data");
    let clock = ManualClock::new(start_time());

    let desk = Desk::start(&data, &workflows, clock.clone());
    let first = desk.open(request("Dishwasher leaks", "neda@example.com")).await.expect("open");
    let second = desk.open(request("Invoice is wrong", "neda@example.com")).await.expect("open");
    assert_eq!(first.ticket.number, "AS-1");
    assert_eq!(second.ticket.number, "AS-2");
    ready_to_accept(&desk, "AS-1").await;
    clock.advance(chrono::Duration::minutes(20));
    let accepted = desk
        .run("as-1", Actor::agent("maryam@example.com"), Command::Transition { name: "accept".into() })
        .await
        .expect("accept");
    assert_eq!(accepted.ticket.stage, "review");
    let before_restart = desk.store.ticket(first.ticket.id).expect("read").expect("stored");
    desk.stop();

    let desk = Desk::start(&data, &workflows, clock.clone());
    let store = &desk.store;
    let ticket = store.ticket(first.ticket.id).expect("read").expect("still there");
    assert_eq!(ticket, before_restart);
    assert_eq!(store.resolve("AS-1").expect("resolve"), Some(first.ticket.id));
    assert_eq!(store.resolve(&first.ticket.id.to_string()).expect("resolve"), Some(first.ticket.id));
    let events = store.events(first.ticket.id).expect("events");
    assert_eq!(events.len() as u64, ticket.revision);
    assert_eq!(Ticket::replay(&events).as_ref(), Some(&ticket));
    let customer = store.customer(ticket.customer).expect("read").expect("customer stored");
    assert_eq!(customer.email.as_deref(), Some("neda@example.com"));
    assert_eq!(store.customer_tickets(customer.id).expect("index"), vec![first.ticket.id, second.ticket.id]);
    let in_review = store
        .list(
            &ListFilter { workflow: Some("after-sales".into()), stage: Some("review".into()), ..ListFilter::default() },
            None,
            50,
        )
        .expect("list");
    assert_eq!(in_review.tickets.iter().map(|t| t.id).collect::<Vec<_>>(), vec![first.ticket.id]);
    let in_intake = store
        .list(
            &ListFilter { workflow: Some("after-sales".into()), stage: Some("intake".into()), ..ListFilter::default() },
            None,
            50,
        )
        .expect("list");
    assert_eq!(in_intake.tickets.iter().map(|t| t.id).collect::<Vec<_>>(), vec![second.ticket.id]);

    // Numbers continue where they stopped; the customer is found again, not duplicated.
    let third = desk.open(request("Still leaking", "NEDA@example.com")).await.expect("open");
    assert_eq!(third.ticket.number, "AS-3");
    assert_eq!(third.ticket.customer, customer.id);
    desk.stop();
}

#[tokio::test]
async fn lists_page_through_an_index_with_a_cursor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = copy_project_workflows(dir.path());
    let desk = Desk::start(&dir.path().join("data"), &workflows, ManualClock::new(start_time()));
    let mut opened = Vec::new();
    for i in 0..25 {
        let mut ticket = request(&format!("Request {i}"), &format!("c{i}@example.com"));
        ticket.category = Some(if i % 2 == 0 { "repair".into() } else { "billing".into() });
        opened.push(desk.open(ticket).await.expect("open").ticket);
        desk.clock.advance(chrono::Duration::seconds(1));
    }
    let filter = ListFilter { category: Some("repair".into()), ..ListFilter::default() };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = desk.store.list(&filter, cursor, 5).expect("list");
        assert!(page.tickets.len() <= 5);
        seen.extend(page.tickets.iter().map(|t| t.number.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> =
        opened.iter().filter(|t| t.category.as_deref() == Some("repair")).map(|t| t.number.clone()).collect();
    assert_eq!(seen, expected);
    // Newest first, and a created-time range.
    let newest = ListFilter { newest_first: true, ..filter.clone() };
    let page = desk.store.list(&newest, None, 3).expect("list");
    assert_eq!(page.tickets.iter().map(|t| t.number.as_str()).collect::<Vec<_>>(), ["AS-25", "AS-23", "AS-21"]);
    let range = ListFilter {
        created_from: Some(start_time() + chrono::Duration::seconds(10)),
        created_to: Some(start_time() + chrono::Duration::seconds(14)),
        ..ListFilter::default()
    };
    let page = desk.store.list(&range, None, 50).expect("list");
    assert_eq!(
        page.tickets.iter().map(|t| t.number.as_str()).collect::<Vec<_>>(),
        ["AS-11", "AS-12", "AS-13", "AS-14"]
    );
    desk.stop();
}

#[tokio::test]
async fn a_ticket_keeps_its_workflow_version_when_the_file_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = copy_project_workflows(dir.path());
    let data = dir.path().join("data");
    let clock = ManualClock::new(start_time());
    let desk = Desk::start(&data, &workflows, clock.clone());
    let old = desk.open(request("Oven does not heat", "old@example.com")).await.expect("open").ticket;

    // The consultant adds a required field to the request form.
    let file = workflows.join("after-sales.toml");
    let text = std::fs::read_to_string(&file).expect("read workflow");
    let changed = text.replacen(
        r#"  { name = "product", label = "Product", type = "text", required = true, max = 120 },"#,
        r#"  { name = "product", label = "Product", type = "text", required = true, max = 120 },
  { name = "bought_at", label = "Where was it bought?", type = "text", required = true },"#,
        1,
    );
    assert_ne!(text, changed, "the edit must apply");
    std::fs::write(&file, changed).expect("write workflow");
    desk.registry.reload().expect("the changed workflow is valid");
    let new = desk.open(request("Fridge is noisy", "new@example.com")).await.expect("open").ticket;
    assert_ne!(old.version, new.version);

    ready_to_accept(&desk, &old.number).await;
    ready_to_accept(&desk, &new.number).await;
    let agent = Actor::agent("maryam@example.com");
    let moved = desk.run(&old.number, agent.clone(), Command::Transition { name: "accept".into() }).await;
    assert_eq!(moved.expect("the old ticket moves on its old version").ticket.stage, "review");
    let refused = desk.run(&new.number, agent.clone(), Command::Transition { name: "accept".into() }).await;
    let Err(WriteError::Engine(EngineError::Refused(problems))) = refused else {
        panic!("the new ticket needs the new field: {refused:?}");
    };
    assert_eq!(problems.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["forms.request.bought_at"]);
    desk.stop();

    // After a restart the old version is rebuilt from the store, not from the changed file.
    let desk = Desk::start(&data, &workflows, clock);
    let agent = Actor::agent("ali@example.com");
    let diagnosis = values(&[
        ("findings", json!("Heating element burnt")),
        ("cause", json!("wear")),
        ("under_warranty", json!(true)),
    ]);
    let saved = desk.run(&old.number, agent, Command::SaveForm { form: "diagnosis".into(), values: diagnosis }).await;
    let ticket = saved.expect("the old ticket still works after a restart").ticket;
    assert_eq!(ticket.version, old.version);
    assert_eq!(ticket.status, Status::Open);
    desk.stop();
}

#[tokio::test]
async fn a_repeat_request_is_linked_both_ways() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = copy_project_workflows(dir.path());
    let desk = Desk::start(&dir.path().join("data"), &workflows, ManualClock::new(start_time()));
    let mut first = request("Washer stops mid-cycle", "sam@example.com");
    first.category = Some("repair".into());
    let first = desk.open(first.clone()).await.expect("open").ticket;
    desk.clock.advance(chrono::Duration::days(3));
    let mut again = request("Washer stops again", "sam@example.com");
    again.category = Some("repair".into());
    let again = desk.open(again).await.expect("open").ticket;
    assert!(again.links.iter().any(|l| l.ticket == first.id), "{:?}", again.links);
    let first = desk.store.ticket(first.id).expect("read").expect("stored");
    assert!(first.links.iter().any(|l| l.ticket == again.id), "{:?}", first.links);
    desk.stop();
}

#[tokio::test]
async fn a_stale_revision_is_a_conflict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = copy_project_workflows(dir.path());
    let desk = Desk::start(&dir.path().join("data"), &workflows, ManualClock::new(start_time()));
    let ticket = desk.open(request("Dryer is loud", "kim@example.com")).await.expect("open").ticket;
    let command = afterdesk::writer::CommandRequest {
        ticket: ticket.number.clone(),
        command: Command::Comment { body: "We will call you".into(), public: true },
        actor: Actor::agent("maryam@example.com"),
        expected_revision: Some(ticket.revision),
    };
    let first = desk.writer.command(command.clone()).await.expect("first writer wins").ticket;
    let second = desk.writer.command(command).await;
    assert!(
        matches!(second, Err(WriteError::Engine(EngineError::Conflict { expected, actual })) if expected == ticket.revision && actual == first.revision),
        "{second:?}"
    );
    desk.stop();
}

#[test]
fn the_outbox_pages_by_state_and_moves_messages_between_queue_and_index() {
    use afterdesk::store::outbox::{DeliveryState, Email, OutboxFilter, OutboxMessage, Payload};
    use afterdesk::store::{Batch, Store, StoreConfig};

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&StoreConfig::new(dir.path())).expect("open");
    let now = start_time();
    let mut ids = ulid::Generator::new();
    let messages: Vec<OutboxMessage> = (0..5)
        .map(|i| {
            let email = Email {
                template: "t".into(),
                to: vec![format!("c{i}@example.com")],
                subject: format!("m{i}"),
                context: json!({}),
                audience: afterdesk::engine::notices::Audience::Staff,
                personal: false,
                attachments: Vec::new(),
            };
            // Due in reverse order of creation: the queue lists by due time.
            let due = now + chrono::Duration::minutes(10 - i);
            OutboxMessage::queued(ids.generate().expect("id"), Payload::Email(email), due, now)
        })
        .collect();
    store.commit(&Batch { outbox: messages.clone(), ..Batch::default() }).expect("commit");
    let pending = OutboxFilter { state: Some(DeliveryState::Pending), ..OutboxFilter::default() };
    let (first, cursor) = store.list_outbox(&pending, None, 2).expect("page");
    assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), [messages[4].id, messages[3].id], "earliest due first");
    let (second, _) = store.list_outbox(&pending, cursor, 10).expect("page");
    assert_eq!(second.iter().map(|m| m.id).collect::<Vec<_>>(), [messages[2].id, messages[1].id, messages[0].id]);
    assert_eq!(store.due_messages(now + chrono::Duration::minutes(7), 10).expect("due").len(), 2);
    assert_eq!(store.next_message_due().expect("next"), Some(messages[4].not_before));

    // Sent and dead messages leave the queue for the state index.
    let mut sent = messages[4].clone();
    sent.state = DeliveryState::Sent;
    store.record_delivery(&messages[4], &sent).expect("record");
    let mut dead = messages[3].clone();
    dead.state = DeliveryState::Dead;
    store.record_delivery(&messages[3], &dead).expect("record");
    assert_eq!(store.pending_messages(), 3);
    let listed = |state| {
        let filter = OutboxFilter { state: Some(state), ..OutboxFilter::default() };
        store.list_outbox(&filter, None, 10).expect("page").0.into_iter().map(|m| m.id).collect::<Vec<_>>()
    };
    assert_eq!(listed(DeliveryState::Sent), [sent.id]);
    assert_eq!(listed(DeliveryState::Dead), [dead.id]);
    let (all, _) = store.list_outbox(&OutboxFilter::default(), None, 10).expect("page");
    assert_eq!(all.first().map(|m| m.id), Some(messages[4].id), "newest first");
    assert_eq!(all.len(), 5);
}
