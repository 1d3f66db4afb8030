//! Rhai rules, one kind at a time, through the pure engine: priority rules, validation, transition
//! conditions, routing and event hooks; scripts that fail, loop or grow without end; the
//! helpers scripts may call; and every script shipped in `scripts/`, each against the workflow
//! that uses it. The last tests run hooks through the real writer: a linked ticket opened in
//! another workflow in the same commit, and a failing hook that leaves nothing behind.

mod support;

use std::path::Path;
use std::sync::{Arc, LazyLock};

use afterdesk::clock::ManualClock;
use afterdesk::engine::hooks::{self, Outcome};
use afterdesk::engine::rules::{self, HookAction};
use afterdesk::engine::{
    Actor, ActorKind, Change, Command, Context, Customer, CustomerInput, EngineError, Event, History, OpenTicket,
    Relation, Ticket, TicketId, decide, notices, open, stamp,
};
use afterdesk::workflow::script::CompiledScript;
use afterdesk::workflow::{Workflow, load_file};
use chrono::{DateTime, Duration, Utc};
use rhai::Dynamic;
use serde_json::{Value, json};
use support::Desk;
use ulid::Ulid;

fn load(relative: &str) -> Workflow {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    load_file(&path).unwrap_or_else(|problems| {
        let text: String = problems.iter().map(|p| p.render()).collect();
        panic!("{} does not load:\n{text}", path.display())
    })
}

static RULES: LazyLock<Workflow> = LazyLock::new(|| load("tests/workflows/rules/rules.toml"));
static AFTER_SALES: LazyLock<Workflow> = LazyLock::new(|| load("workflows/after-sales.toml"));
static SHOP: LazyLock<Workflow> = LazyLock::new(|| load("examples/workflows/online-shop.toml"));
static EQUIPMENT: LazyLock<Workflow> = LazyLock::new(|| load("examples/workflows/manufacturer.toml"));

/// Monday 23 November 2026, 10:00 UTC: office hours of the fixture's calendar.
fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").expect("a valid time").to_utc()
}

fn customer(vip: bool) -> Customer {
    support::sam(vip, start())
}

fn earlier(n: usize) -> History {
    let past = |i: usize| afterdesk::engine::customer::PastTicket {
        id: TicketId(Ulid::from_parts(i as u64 + 1, 9)),
        workflow: "engine-rules".into(),
        category: Some("repair".into()),
        opened_at: start() - Duration::days(i as i64 + 1),
        csat: Some(4),
        assignee: None,
    };
    History { tickets: (0..n).map(past).collect() }
}

fn request(subject: &str, category: Option<&str>) -> OpenTicket {
    OpenTicket {
        workflow: "engine-rules".into(),
        subject: subject.into(),
        category: category.map(str::to_string),
        customer: CustomerInput { id: Some(customer(false).id.to_string()), ..CustomerInput::default() },
        ..OpenTicket::default()
    }
}

fn open_with(
    workflow: &Workflow,
    customer: &Customer,
    history: &History,
    request: &OpenTicket,
) -> Result<Vec<Event>, EngineError> {
    let ctx = Context { workflow, customer: Some(customer), history, other: None, now: start(), team: None };
    open(&ctx, TicketId(Ulid::generate()), "ER-1".into(), customer.id, request, &Actor::integrator("web"))
}

fn opened(request: &OpenTicket) -> Ticket {
    let events = open_with(&RULES, &customer(false), &History::default(), request).expect("opens");
    Ticket::replay(&events).expect("a ticket")
}

/// Decides `command` on `ticket` an hour and a half later; returns the events and the ticket.
fn act(ticket: &Ticket, actor: &Actor, command: Command) -> Result<(Vec<Event>, Ticket), EngineError> {
    let customer = customer(false);
    let history = History::default();
    let now = start() + Duration::minutes(90);
    let ctx = Context { workflow: &RULES, customer: Some(&customer), history: &history, other: None, now, team: None };
    let changes = decide(&ctx, ticket, &command, actor)?;
    let events = stamp(ticket.id, ticket.revision, actor, now, changes);
    let mut after = ticket.clone();
    events.iter().for_each(|e| after.apply(e));
    Ok((events, after))
}

fn hooks_of(ticket: &Ticket, events: &[Event]) -> Result<Outcome, EngineError> {
    let customer = customer(false);
    let history = History::default();
    let now = start() + Duration::minutes(90);
    let ctx = Context { workflow: &RULES, customer: Some(&customer), history: &history, other: None, now, team: None };
    hooks::run(&ctx, ticket, events)
}

fn script_error(result: Result<impl std::fmt::Debug, EngineError>) -> (String, String) {
    match result {
        Err(EngineError::Script { script, message }) => (script, message),
        other => panic!("a script error, not {other:?}"),
    }
}

// ================================================================================ priority

#[test]
fn the_priority_rule_raises_vip_and_third_repeat_requests() {
    let plain = open_with(&RULES, &customer(false), &History::default(), &request("Noise", Some("repair")));
    let plain = plain.expect("opens");
    assert!(!plain.iter().any(|e| matches!(e.change, Change::PriorityChanged { .. })), "kept: {plain:?}");

    for (vip, history) in [(true, earlier(0)), (false, earlier(2))] {
        let events = open_with(&RULES, &customer(vip), &history, &request("Noise", Some("repair"))).expect("opens");
        let raised = events.iter().find(|e| matches!(e.change, Change::PriorityChanged { .. })).expect("raised");
        assert_eq!(raised.change, Change::PriorityChanged { priority: "high".into() });
        assert_eq!(raised.actor, Actor::system("priority-rule"));
        assert_eq!(Ticket::replay(&events).map(|t| t.priority).as_deref(), Some("high"));
    }
    // One earlier request is not yet a pattern.
    let events = open_with(&RULES, &customer(false), &earlier(1), &request("Noise", Some("repair"))).expect("opens");
    assert_eq!(Ticket::replay(&events).map(|t| t.priority).as_deref(), Some("normal"));
}

#[test]
fn a_priority_rule_answering_an_unknown_priority_fails_the_open() {
    let (script, message) =
        script_error(open_with(&RULES, &customer(false), &History::default(), &request("bad priority", None)));
    assert_eq!(script, "inline script");
    assert!(message.contains("\"whenever\"") || message.contains("whenever"), "{message}");
    assert!(message.contains("low, normal, high, urgent"), "says what it may return: {message}");
}

#[test]
fn the_shop_priority_rule_serves_vip_and_repeat_customers_first() {
    let shop = |vip: bool, repeats: usize, priority: Option<&str>| {
        let history = History {
            tickets: (0..repeats)
                .map(|i| afterdesk::engine::customer::PastTicket {
                    id: TicketId(Ulid::from_parts(i as u64 + 1, 3)),
                    workflow: "online-shop".into(),
                    category: Some("device_fault".into()),
                    opened_at: start() - Duration::days(3),
                    csat: None,
                    assignee: None,
                })
                .collect(),
        };
        let mut request = request("Headphones crackle", Some("device_fault"));
        request.workflow = "online-shop".into();
        request.priority = priority.map(str::to_string);
        let events = open_with(&SHOP, &customer(vip), &history, &request).expect("opens");
        Ticket::replay(&events).map(|t| t.priority).unwrap_or_default()
    };
    assert_eq!(shop(false, 0, None), "normal");
    assert_eq!(shop(true, 0, None), "high");
    assert_eq!(shop(false, 2, Some("low")), "high");
    assert_eq!(shop(true, 0, Some("urgent")), "urgent", "never lowers");
}

// ============================================================== validation and conditions

#[test]
fn validation_checks_fields_against_each_other() {
    let ticket = opened(&request("Refund", Some("billing")));
    let agent = Actor::agent("a@example.com");
    let save = |values: Value| Command::SaveForm {
        form: "order".into(),
        values: serde_json::from_value(values).expect("a map"),
    };
    let Err(EngineError::Invalid(problems)) = act(&ticket, &agent, save(json!({"refund": true}))) else {
        panic!("a refund without an amount is refused");
    };
    assert_eq!(problems[0].field, "forms.order.amount");
    assert_eq!(problems[0].message, "a refund needs an amount");
    let Err(EngineError::Invalid(problems)) = act(&ticket, &agent, save(json!({"amount": 12.5}))) else {
        panic!("an amount without a refund is refused");
    };
    assert_eq!(problems[0].field, "forms.order.refund");
    assert!(act(&ticket, &agent, save(json!({"refund": true, "amount": 12.5}))).is_ok());
}

#[test]
fn a_transition_condition_allows_or_refuses_with_its_reason() {
    let ticket = opened(&request("Noise", None));
    let agent = Actor::agent("a@example.com");
    let escalate = || Command::Transition { name: "escalate".into() };
    let Err(EngineError::Refused(problems)) = act(&ticket, &agent, escalate()) else {
        panic!("normal priority is not escalated");
    };
    assert!(problems.iter().any(|p| p.message == "only high-priority tickets are escalated"), "{problems:?}");
    let mut high = ticket.clone();
    high.priority = "high".into();
    assert!(act(&high, &agent, escalate()).is_ok());
}

#[test]
fn routing_sends_billing_and_repairs_to_their_queues() {
    assert_eq!(opened(&request("Invoice", Some("billing"))).queue.as_deref(), Some("billing"));
    assert_eq!(opened(&request("Noise", Some("repair"))).queue.as_deref(), Some("repairs"));
    assert_eq!(opened(&request("Hello", None)).queue.as_deref(), Some("general"));
}

// ==================================================================================== hooks

fn escalated(subject: &str) -> (Ticket, Vec<Event>) {
    let mut ticket = opened(&request(subject, None));
    ticket.priority = "high".into();
    let (events, after) =
        act(&ticket, &Actor::agent("a@example.com"), Command::Transition { name: "escalate".into() }).expect("moves");
    (after, events)
}

#[test]
fn a_hook_returns_actions_turned_into_changes_and_tickets_to_open() {
    let (ticket, events) = escalated("Noise");
    let outcome = hooks_of(&ticket, &events).expect("the hook runs");
    assert_eq!(outcome.changes[0], Change::Tagged { tag: "escalated".into() });
    // 10:00 to 11:30 on a Monday: an hour and a half of business time.
    let Change::FormSaved { form, values } = &outcome.changes[1] else { panic!("{:?}", outcome.changes) };
    assert_eq!((form.as_str(), &values["note"]), ("order", &json!("escalated after 1.5 business hours")));
    assert_eq!(
        outcome.changes[2],
        Change::Notified { to: vec!["l@example.com".into()], message: "ER-1 was escalated".into() }
    );
    assert_eq!(outcome.open.len(), 1);
    let (script, follow_up) = &outcome.open[0];
    assert_eq!(script, "inline script");
    assert_eq!((follow_up.workflow.as_str(), follow_up.subject.as_str()), ("other", "Follow-up of ER-1"));
    assert_eq!(follow_up.customer.id.as_deref(), Some(ticket.customer.to_string().as_str()));

    // A notify change becomes an email with the `hook_notice` template.
    let event =
        stamp(ticket.id, ticket.revision, &Actor::system(hooks::ACTOR), start(), vec![outcome.changes[2].clone()]);
    let mail = notices::notices(&RULES.definition, &ticket, Some(&customer(false)), &event[0]);
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].template, "hook_notice");
    assert_eq!(mail[0].context["message"], "ER-1 was escalated");
}

#[test]
fn hooks_do_not_fire_on_their_own_changes_nor_on_other_events() {
    let (ticket, events) = escalated("Noise");
    let outcome = hooks_of(&ticket, &events).expect("runs");
    let by_hook = stamp(ticket.id, ticket.revision, &Actor::system(hooks::ACTOR), start(), outcome.changes);
    assert_eq!(hooks_of(&ticket, &by_hook).expect("runs"), Outcome::default());
    let comment = stamp(
        ticket.id,
        ticket.revision,
        &Actor::agent("l@example.com"),
        start(),
        vec![Change::Commented { body: "hi".into(), public: false }],
    );
    assert_eq!(hooks_of(&ticket, &comment).expect("runs"), Outcome::default());
}

#[test]
fn a_hook_that_fails_names_the_script_and_line() {
    let (ticket, events) = escalated("hook loop");
    let (script, message) = script_error(hooks_of(&ticket, &events));
    assert_eq!(script, "inline script");
    let stopped = message.contains("operations") || message.contains("limited in time");
    assert!(stopped && message.contains("line 1"), "{message}");

    let (ticket, events) = escalated("hook greedy");
    let (_, message) = script_error(hooks_of(&ticket, &events));
    assert!(message.contains("too large"), "memory limits stop it: {message}");

    let (ticket, events) = escalated("hook bad");
    let (_, message) = script_error(hooks_of(&ticket, &events));
    assert!(message.contains("action 1") && message.contains("unknown action \"explode\""), "{message}");

    let (ticket, events) = escalated("hook self");
    let (_, message) = script_error(hooks_of(&ticket, &events));
    assert!(message.contains("another workflow"), "{message}");
}

// ================================================================================== helpers

fn inline(source: &str) -> CompiledScript {
    let ast = rhai::Engine::new().compile(source).expect("compiles");
    CompiledScript { path: None, source: Arc::from(source), ast: Arc::new(ast) }
}

fn view() -> Dynamic {
    let ticket = opened(&request("Noise", None));
    let customer = customer(false);
    let history = History::default();
    let now = start() + Duration::hours(30);
    let ctx = Context { workflow: &RULES, customer: Some(&customer), history: &history, other: None, now, team: None };
    afterdesk::engine::view::ticket_view(&ctx, &ticket)
}

#[test]
fn scripts_have_date_business_time_and_text_helpers() {
    let allowed = |source: &str| rules::condition(&inline(source), &view());
    for check in [
        r#"timestamp("2026-11-23") == 1795392000"#,
        r#"date(1795392000) == "2026-11-23T00:00:00Z""#,
        r#"days_between("2026-11-01", "2026-11-23T10:00:00Z") == 22"#,
        r#"hours_between(ticket.created_at, ticket.now) == 30.0"#,
        r#"add_days("2026-11-23", -1) == "2026-11-22T00:00:00Z""#,
        r#"add_hours("2026-11-23T10:00:00+01:00", 2) == "2026-11-23T11:00:00Z""#,
        r#"format_date(ticket.created_at, "%d.%m.%Y") == "23.11.2026""#,
        // Monday 10:00 to Tuesday 16:00: 7 hours on Monday, 7 on Tuesday.
        r#"ticket.calendar.business_hours(ticket.created_at, ticket.now) == 14.0"#,
        r#"ticket.calendar.is_open(ticket.created_at) && !ticket.calendar.is_open("2026-11-22T10:00:00Z")"#,
        r#"is_blank("  ") && !is_blank(ticket.subject) && is_blank(ticket.category)"#,
        r#"matches(ticket.subject, "^No[a-z]+$") && !matches("x", "^y")"#,
        r#"ticket.customer.tickets == 0 && ticket.customer.repeats == 0 && ticket.customer.last_csat == ()"#,
    ] {
        assert_eq!(allowed(check), Ok(None), "{check}");
    }
    for (bad, says) in [
        (r#"timestamp("yesterday")"#, "not a date"),
        (r#"format_date("2026-11-23", "%Q") != """#, "not a date format"),
        (r#"matches("x", "(")"#, "bad regular expression"),
        (r#"loop { ticket.calendar.business_hours("2020-01-01", "2026-01-01"); }"#, "limited in time"),
        (r#"let f = File.open("/etc/passwd"); true"#, "line 1"),
    ] {
        let result = allowed(bad);
        assert!(
            matches!(&result, Err(EngineError::Script { message, .. }) if message.contains(says)),
            "{bad}: {result:?}"
        );
    }
}

#[test]
fn a_script_using_eval_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("eval.toml");
    let text = "id = \"eval\"\nname = \"Eval\"\n[roles]\nr = [\"r@example.com\"]\n[stages.a]\n\
                raci = { responsible = \"r\" }\ntransitions = [{ name = \"go\", to = \"b\", when = 'eval(\"true\")' }]\n\
                [stages.b]\nterminal = true\n";
    std::fs::write(&file, text).expect("write");
    let Err(problems) = load_file(&file) else { panic!("a script calling eval must not load") };
    let text: String = problems.iter().map(|p| p.render()).collect();
    assert!(text.contains("eval"), "{text}");
}

#[test]
fn rule_mistakes_are_refused_at_load_with_their_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = "id = \"w\"\nname = \"W\"\nPRIORITY\n[roles]\nr = [\"r@example.com\"]\n[stages.a]\n\
                raci = { responsible = \"r\" }\ntransitions = [{ name = \"go\", to = \"b\" }]\n\
                [stages.b]\nterminal = true\nHOOK\n";
    let cases = [
        ("", "[[hooks]]\non = \"closed\"\nstage = \"b\"\nscript = \"[]\"", "only applies to `stage_entered`"),
        ("priority_rule = \"scripts/none.rhai\"", "", "script file `scripts/none.rhai` not found"),
        ("priority_rule = '\"high\" +'", "", "priority_rule"),
    ];
    for (i, (priority, hook, says)) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("w{i}.toml"));
        std::fs::write(&file, base.replace("PRIORITY", priority).replace("HOOK", hook)).expect("write");
        let Err(problems) = load_file(&file) else { panic!("case {i} must not load") };
        let text: String = problems.iter().map(|p| p.render()).collect();
        assert!(text.contains(says), "case {i}: {text}");
        assert!(text.contains(&format!("w{i}.toml:")), "names the file and line: {text}");
    }
}

// ======================================================================= scripts/ as shipped

fn script<'a>(workflow: &'a Workflow, reference: &str) -> &'a CompiledScript {
    workflow.scripts.get(reference).unwrap_or_else(|| panic!("{reference} is used by {}", workflow.id()))
}

fn ticket_json(fields: Value) -> Dynamic {
    let mut base = json!({
        "number": "T-1", "subject": "s", "priority": "normal", "category": null, "forms": {}, "checklist": {},
        "customer": { "name": "Sam", "vip": false, "tickets": 0, "repeats": 0, "last_csat": null },
    });
    if let (Some(base), Some(fields)) = (base.as_object_mut(), fields.as_object()) {
        for (key, value) in fields {
            base.insert(key.clone(), value.clone());
        }
    }
    rules::to_script_value(&base)
}

fn allows(workflow: &Workflow, reference: &str, ticket: Value) -> Option<String> {
    rules::condition(script(workflow, reference), &ticket_json(ticket)).expect("runs")
}

fn problems(workflow: &Workflow, reference: &str, ticket: Value, form: Value) -> Vec<String> {
    let found =
        rules::validate_form(script(workflow, reference), "f", &ticket_json(ticket), &rules::to_script_value(&form));
    found.expect("runs").into_iter().map(|p| p.field.trim_start_matches("forms.f.").to_string()).collect()
}

fn routed(workflow: &Workflow, reference: &str, ticket: Value) -> Option<(Option<String>, Option<String>)> {
    let decision = rules::route(script(workflow, reference), &ticket_json(ticket)).expect("runs");
    decision.map(|d| (d.queue, d.assign))
}

#[test]
fn the_after_sales_scripts() {
    let vip = json!({ "customer": { "vip": true, "repeats": 0 } });
    assert_eq!(
        routed(&AFTER_SALES, "scripts/route-vip.rhai", vip),
        Some((Some("vip".into()), Some("least_loaded".into())))
    );
    let third = json!({ "customer": { "vip": false, "repeats": 2 } });
    assert_eq!(
        routed(&AFTER_SALES, "scripts/route-vip.rhai", third).and_then(|r| r.0).as_deref(),
        Some("repeat_requests")
    );
    assert_eq!(routed(&AFTER_SALES, "scripts/route-vip.rhai", json!({})), None);

    let checks = "scripts/request-checks.rhai";
    assert_eq!(problems(&AFTER_SALES, checks, json!({"category": "repair"}), json!({})), ["serial"]);
    assert_eq!(problems(&AFTER_SALES, checks, json!({}), json!({"preferred_contact": "phone"})), ["contact_phone"]);
    assert!(problems(&AFTER_SALES, checks, json!({"category": "repair"}), json!({"serial": "AB12CD34"})).is_empty());

    let costly = "scripts/costly-repair-approved.rhai";
    assert!(allows(&AFTER_SALES, costly, json!({})).is_some());
    let expensive = json!({"forms": {"diagnosis": {"estimated_cost": 9000000, "under_warranty": false}}});
    assert!(allows(&AFTER_SALES, costly, expensive).is_some_and(|r| r.contains("agreement")));
    let agreed = json!({"forms": {"diagnosis": {"estimated_cost": 9000000}}, "checklist": {"Customer agreed to the cost": true}});
    assert_eq!(allows(&AFTER_SALES, costly, agreed), None);
}

#[test]
fn the_online_shop_scripts() {
    let repeat = json!({"category": "device_fault", "customer": {"repeats": 1, "vip": false}});
    assert_eq!(
        routed(&SHOP, "scripts/shop-route-repeat-faults.rhai", repeat),
        Some((Some("second_level".into()), Some("manual".into())))
    );
    assert_eq!(routed(&SHOP, "scripts/shop-route-repeat-faults.rhai", json!({"category": "refund"})), None);

    let billing = "scripts/shop-billing-checks.rhai";
    assert_eq!(problems(&SHOP, billing, json!({}), json!({"case_type": "refund"})), ["refund_to"]);
    assert_eq!(problems(&SHOP, billing, json!({}), json!({"order_total": 10.0, "amount": 20.0})), ["amount"]);

    let limits = "scripts/shop-refund-limits.rhai";
    assert_eq!(allows(&SHOP, limits, json!({})), None);
    let big = json!({"forms": {"billing_case": {"amount": 1500.0}}});
    assert!(allows(&SHOP, limits, big).is_some_and(|r| r.contains("finance manager")));

    let rma = "scripts/shop-rma-eligible.rhai";
    assert!(allows(&SHOP, rma, json!({})).is_some());
    let tried = json!({"forms": {"device_case": {"symptom": "no_sound", "steps_tried": ["restart", "factory_reset"]}}});
    assert_eq!(allows(&SHOP, rma, tried), None);
    let dead = json!({"forms": {"device_case": {"symptom": "no_power"}}});
    assert_eq!(allows(&SHOP, rma, dead), None);

    let priority = rules::priority(
        script(&SHOP, "scripts/shop-priority.rhai"),
        &ticket_json(json!({"customer": {"vip": true}})),
        &SHOP.definition.priorities,
    );
    assert_eq!(priority, Ok(Some("high".into())));
}

#[test]
fn the_manufacturer_scripts() {
    let down = json!({"forms": {"service_request": {"production_impact": "line_down"}}});
    assert_eq!(
        routed(&EQUIPMENT, "scripts/equipment-route-line-down.rhai", down).and_then(|r| r.0).as_deref(),
        Some("hotline")
    );
    assert_eq!(routed(&EQUIPMENT, "scripts/equipment-route-line-down.rhai", json!({})), None);

    let request = "scripts/equipment-request-checks.rhai";
    let mut found = problems(&EQUIPMENT, request, json!({"category": "breakdown"}), json!({"contract_level": "gold"}));
    found.sort();
    assert_eq!(found, ["contract_number", "serial"]);

    let sat = "scripts/equipment-commissioning-checks.rhai";
    let mut found = problems(&EQUIPMENT, sat, json!({}), json!({"sat_signed": true, "test_run_hours": 1}));
    found.sort();
    assert_eq!(found, ["sat_signed", "test_run_hours"]);

    let report = "scripts/equipment-service-report-checks.rhai";
    assert_eq!(problems(&EQUIPMENT, report, json!({}), json!({"opportunity_spotted": true})), ["opportunity_notes"]);

    let covered = "scripts/equipment-contract-covered.rhai";
    assert!(allows(&EQUIPMENT, covered, json!({"forms": {"service_request": {}}})).is_some());
    assert_eq!(allows(&EQUIPMENT, covered, json!({"forms": {"service_request": {"po_number": "PO-1"}}})), None);

    let spotted = "scripts/equipment-no-open-opportunity.rhai";
    assert!(allows(&EQUIPMENT, spotted, json!({"forms": {"service_report": {"opportunity_spotted": true}}})).is_some());
    assert_eq!(allows(&EQUIPMENT, spotted, json!({})), None);

    let hook = script(&EQUIPMENT, "scripts/sales-opportunity.rhai");
    let event = rules::to_script_value(&json!({"kind": "stage_changed"}));
    let lead = json!({"number": "EQ-7", "forms": {"sales_lead": {"kind": "software_upgrade", "qualified": true}}});
    let actions = rules::hook(hook, &ticket_json(lead), &event).expect("runs");
    assert_eq!(actions[0], HookAction::AddTag("sales-opportunity".into()));
    let HookAction::OpenTicket(opened) = &actions[1] else { panic!("{actions:?}") };
    assert_eq!(opened.workflow, "sales");
    assert_eq!(opened.subject, "software upgrade for Sam (from service ticket EQ-7)");
    assert_eq!(actions[2], HookAction::AddTag("lead-handed-to-sales".into()));
    assert_eq!(rules::hook(hook, &ticket_json(json!({})), &event), Ok(Vec::new()));
}

// ========================================================================= through the writer

fn writer_request(subject: &str) -> OpenTicket {
    OpenTicket {
        workflow: "engine-rules".into(),
        subject: subject.into(),
        priority: Some("high".into()),
        customer: CustomerInput { email: Some("sam@example.com".into()), ..CustomerInput::default() },
        ..OpenTicket::default()
    }
}

#[tokio::test]
async fn a_hook_opens_a_linked_ticket_in_another_workflow_in_the_same_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workflows/rules");
    let desk = Desk::start(&dir.path().join("data"), &workflows, ManualClock::new(start()));
    let mut billing = writer_request("Invoice twice");
    billing.category = Some("billing".into());
    let money = desk.open(billing).await.expect("opens");
    assert!(money.ticket.tags.contains("money"), "the ticket_opened hook ran: {:?}", money.ticket.tags);
    let tagged = money.events.iter().find(|e| matches!(e.change, Change::Tagged { .. })).expect("tagged");
    assert_eq!(tagged.actor, Actor::system(hooks::ACTOR));
    let opened = desk.open(writer_request("Noise")).await.expect("opens");
    assert!(opened.ticket.tags.is_empty());
    let number = opened.ticket.number.clone();
    let escalate = Command::Transition { name: "escalate".into() };
    let done = desk.run(&number, Actor::agent("a@example.com"), escalate).await.expect("escalated");
    let kinds: Vec<&str> = done.events.iter().map(|e| e.change.kind()).collect();
    assert!(kinds.starts_with(&["stage_changed"]), "{kinds:?}");
    for kind in ["tagged", "form_saved", "notified", "linked"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert!(done.events.iter().filter(|e| e.actor.kind == ActorKind::System).all(|e| e.actor.id == hooks::ACTOR));
    assert!(done.ticket.tags.contains("escalated"));
    let tagged = afterdesk::store::ListFilter { tag: Some("escalated".into()), ..Default::default() };
    let listed = desk.store.list(&tagged, None, 10).expect("list").tickets;
    assert_eq!(listed.iter().map(|t| t.number.as_str()).collect::<Vec<_>>(), [number.as_str()], "listed by tag");
    let link = done.ticket.links.iter().find(|l| l.relation == Relation::Spawned).expect("spawned link");
    let follow_up = desk.store.ticket(link.ticket).expect("read").expect("stored");
    assert_eq!((follow_up.workflow.as_str(), follow_up.number.as_str()), ("other", "OT-1"));
    assert_eq!(follow_up.priority, "high");
    assert_eq!(follow_up.customer, done.ticket.customer);
    assert_eq!(follow_up.assignee.as_deref(), Some("d@example.com"), "assigned in its own workflow");
    assert!(follow_up.links.iter().any(|l| l.ticket == done.ticket.id && l.relation == Relation::SpawnedFrom));
    desk.stop();
}

#[tokio::test]
async fn a_failing_hook_fails_the_command_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workflows/rules");
    let desk = Desk::start(&dir.path().join("data"), &workflows, ManualClock::new(start()));
    for subject in ["hook nowhere", "hook loop"] {
        let number = desk.open(writer_request(subject)).await.expect("opens").ticket.number;
        let escalate = Command::Transition { name: "escalate".into() };
        let error = desk.run(&number, Actor::agent("a@example.com"), escalate).await.expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("inline script"), "{text}");
        let ticket = desk.store.resolve(&number).expect("read").and_then(|id| desk.store.ticket(id).ok().flatten());
        assert_eq!(ticket.map(|t| t.stage).as_deref(), Some("open"), "nothing of {subject} was written");
    }
    assert_eq!(desk.store.resolve("OT-1").expect("read"), None);
    desk.stop();
}
