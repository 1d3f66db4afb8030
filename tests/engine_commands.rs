//! The engine's commands, told as stories: every command and every guard of the pure engine
//! (`afterdesk::engine::{open, decide}`), with a manual clock, through the public API only.
//!
//! Each test opens a ticket on a workflow (the bundled `workflows/after-sales.toml`, or a small
//! fixture under `tests/workflows/engine/`) and applies commands the way the writer does:
//! decide, stamp, fold. [`Story`] checks at every step that the events are numbered, timed and
//! signed right, and that replaying the whole log gives the ticket it holds.
//!
//! People of `after-sales`: support agents Maryam and Omid, technicians Ali and Sara, support
//! lead Leila, service manager Reza, the warehouse (`parts@`); Kian has no role at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use afterdesk::clock::{Clock, ManualClock};
use afterdesk::engine::customer::PastTicket;
use afterdesk::engine::ticket::Link;
use afterdesk::engine::{
    Actor, ActorKind, Change, Command, Context, Customer, CustomerId, CustomerInput, EngineError, Event, FieldProblem,
    History, OpenTicket, Relation, Status, Ticket, TicketId, decide, open, stamp,
};
use afterdesk::workflow::{Workflow, load_file};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use ulid::Ulid;

// ------------------------------------------------------------------------------------- people

const MARYAM: &str = "maryam@example.com"; // support_agent
const OMID: &str = "omid@example.com"; // support_agent
const ALI: &str = "ali@example.com"; // technician
const SARA: &str = "sara@example.com"; // technician
const LEILA: &str = "leila@example.com"; // support_lead
const REZA: &str = "reza@example.com"; // service_manager
const PARTS: &str = "parts@example.com"; // warehouse
const KIAN: &str = "kian@example.com"; // no role
const WENDY: &str = "wendy@example.com"; // engine-guards: worker
const BOB: &str = "bob@example.com"; // engine-guards: boss
const ANN: &str = "ann@example.com"; // engine-scripts: agent
const HAL: &str = "hal@example.com"; // engine-guards variants: helper (no part in any stage)

const INTAKE_ITEMS: [&str; 2] = ["Customer and product identified", "Request confirmed with the customer"];
const REVIEW_ITEMS: [&str; 2] = ["Warranty status checked", "Parts availability checked"];
const RESOLUTION_ITEMS: [&str; 2] = ["Solution explained to the customer", "Customer confirmed the fix"];

/// Whether a change is about SLA clocks (tested in tests/sla.rs, left out of these stories).
fn is_clock(change: &Change) -> bool {
    change.kind().starts_with("sla_")
}

fn agent(id: &str) -> Actor {
    Actor::agent(id)
}

// ---------------------------------------------------------------------------------- workflows

static AFTER_SALES: LazyLock<Workflow> = LazyLock::new(|| load("workflows/after-sales.toml"));
static GUARDS: LazyLock<Workflow> = LazyLock::new(|| load("tests/workflows/engine/guards.toml"));
static SCRIPTS: LazyLock<Workflow> = LazyLock::new(|| load("tests/workflows/engine/scripts.toml"));
/// `engine-guards` relaxed: no separation of duties anywhere, a `helper` role (Hal) and the
/// assignee may work in `check`.
static GUARDS_RELAXED: LazyLock<Workflow> = LazyLock::new(|| {
    variant(
        "tests/workflows/engine/guards.toml",
        "guards-relaxed",
        &[
            ("categories = [", "separation_of_duties = false\ncategories = ["),
            ("[roles]\n", "[roles]\nhelper = [\"hal@example.com\"]\n"),
            ("[stages.check]\n", "[stages.check]\nassignee_may_work = true\n"),
        ],
    )
});
/// `engine-guards` with separation of duties relaxed for the `check` stage only.
static GUARDS_CHECK_RELAXED: LazyLock<Workflow> = LazyLock::new(|| {
    variant(
        "tests/workflows/engine/guards.toml",
        "guards-check-relaxed",
        &[("[stages.check]\n", "[stages.check]\nseparation_of_duties = false\n")],
    )
});
/// `after-sales` where the telephony integration's person is a support agent.
static AFTER_SALES_TELEPHONY: LazyLock<Workflow> = LazyLock::new(|| {
    variant(
        "workflows/after-sales.toml",
        "after-sales-telephony",
        &[("support_agent = [\"maryam@example.com\"", "support_agent = [\"telephony\", \"maryam@example.com\"")],
    )
});

/// A workflow of the project with `edits` (each text must occur), loaded from a folder of
/// cargo's temporary folder with a copy of the project's `scripts/` beside it (the target
/// folder may be anywhere, so relative script paths must not rely on where it is).
fn variant(relative: &str, name: &str, edits: &[(&str, &str)]) -> Workflow {
    let mut text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).expect("readable");
    for (from, to) in edits {
        assert!(text.contains(from), "{relative} has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("variants").join(name);
    let scripts = folder.join("scripts");
    std::fs::create_dir_all(&scripts).expect("writable");
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")).expect("scripts") {
        let script = entry.expect("entry").path();
        std::fs::copy(&script, scripts.join(script.file_name().expect("name"))).expect("copy a script");
    }
    let path = folder.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("writable");
    match load_file(&path) {
        Ok(workflow) => workflow,
        Err(problems) => panic!("{name} does not load:\n{}", problems.iter().map(|p| p.render()).collect::<String>()),
    }
}

fn load(relative: &str) -> Workflow {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    match load_file(&path) {
        Ok(workflow) => workflow,
        Err(problems) => {
            let text: String = problems.iter().map(|p| p.render()).collect();
            panic!("{} does not load:\n{text}", path.display())
        }
    }
}

// ------------------------------------------------------------------------------- time, values

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z").expect("a valid time").with_timezone(&Utc)
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// A JSON object as form values.
fn values(object: Value) -> BTreeMap<String, Value> {
    match object {
        Value::Object(map) => map.into_iter().collect(),
        other => panic!("form values are a JSON object, not {other}"),
    }
}

/// A JSON object of objects as the initial forms of a request.
fn forms(object: Value) -> BTreeMap<String, BTreeMap<String, Value>> {
    values(object).into_iter().map(|(form, fields)| (form, values(fields))).collect()
}

fn good_request() -> Value {
    json!({ "product": "Washing machine WM-700", "problem": "The drum does not turn any more." })
}

fn good_diagnosis() -> Value {
    json!({ "findings": "Motor brushes worn out.", "cause": "wear", "under_warranty": true })
}

fn good_report() -> Value {
    json!({ "outcome": "repaired", "work_done": "Replaced the motor brushes." })
}

// ----------------------------------------------------------------------------------- commands

fn save(form: &str, fields: Value) -> Command {
    Command::SaveForm { form: form.to_string(), values: values(fields) }
}

fn tick(item: &str) -> Command {
    Command::Tick { item: item.to_string(), checked: true }
}

fn untick(item: &str) -> Command {
    Command::Tick { item: item.to_string(), checked: false }
}

fn reply(body: &str) -> Command {
    Command::Comment { body: body.to_string(), public: true }
}

fn note(body: &str) -> Command {
    Command::Comment { body: body.to_string(), public: false }
}

fn go(name: &str) -> Command {
    Command::Transition { name: name.to_string() }
}

fn assign(person: Option<&str>) -> Command {
    Command::Assign { assignee: person.map(str::to_string) }
}

fn approve() -> Command {
    Command::Approve { note: None }
}

// ------------------------------------------------------------------------------------ errors

#[track_caller]
fn invalid(error: EngineError) -> Vec<FieldProblem> {
    match error {
        EngineError::Invalid(problems) => problems,
        other => panic!("expected EngineError::Invalid, got {other:?}"),
    }
}

#[track_caller]
fn refused(error: EngineError) -> Vec<FieldProblem> {
    match error {
        EngineError::Refused(problems) => problems,
        other => panic!("expected EngineError::Refused, got {other:?}"),
    }
}

#[track_caller]
fn forbidden(error: EngineError) -> String {
    match error {
        EngineError::Forbidden(reason) => reason,
        other => panic!("expected EngineError::Forbidden, got {other:?}"),
    }
}

#[track_caller]
fn finished(error: EngineError) -> String {
    match error {
        EngineError::Finished(reason) => reason,
        other => panic!("expected EngineError::Finished, got {other:?}"),
    }
}

#[track_caller]
fn not_found(error: EngineError) -> String {
    match error {
        EngineError::NotFound(reason) => reason,
        other => panic!("expected EngineError::NotFound, got {other:?}"),
    }
}

/// The script and message of a script error.
#[track_caller]
fn script_error(error: EngineError) -> (String, String) {
    match error {
        EngineError::Script { script, message } => (script, message),
        other => panic!("expected EngineError::Script, got {other:?}"),
    }
}

fn fields(problems: &[FieldProblem]) -> Vec<&str> {
    problems.iter().map(|p| p.field.as_str()).collect()
}

#[track_caller]
fn message<'a>(problems: &'a [FieldProblem], field: &str) -> &'a str {
    match problems.iter().find(|p| p.field == field) {
        Some(problem) => &problem.message,
        None => panic!("no problem with `{field}` in {problems:?}"),
    }
}

// ------------------------------------------------------------------------------ the desk, a story

static NUMBERS: AtomicU64 = AtomicU64::new(1000);

fn customer(name: &str, vip: bool) -> Customer {
    Customer {
        id: CustomerId(Ulid::generate()),
        name: name.to_string(),
        email: Some(format!("{}@customer.example", name.to_lowercase())),
        phone: None,
        external_id: None,
        vip,
        language: None,
        created_at: start_time(),
        updated_at: start_time(),
        satisfaction: Default::default(),
        merged_into: None,
    }
}

/// What opening a ticket needs: a workflow, a clock, the customer and their history.
struct Desk {
    workflow: &'static Workflow,
    clock: ManualClock,
    customer: Customer,
    history: History,
}

impl Desk {
    fn new(workflow: &'static Workflow) -> Self {
        Self {
            workflow,
            clock: ManualClock::new(start_time()),
            customer: customer("Parisa", false),
            history: History::default(),
        }
    }

    /// Another desk for the same customer, sharing the clock.
    fn same_customer(&self) -> Self {
        Self {
            workflow: self.workflow,
            clock: self.clock.clone(),
            customer: self.customer.clone(),
            history: History::default(),
        }
    }

    /// Another desk for another customer, sharing the clock.
    fn other_customer(&self) -> Self {
        Self { customer: customer("Farhad", false), ..self.same_customer() }
    }

    fn vip(mut self) -> Self {
        self.customer.vip = true;
        self
    }

    fn with_history(mut self, tickets: Vec<PastTicket>) -> Self {
        self.history = History { tickets };
        self
    }

    fn request(&self, subject: &str) -> OpenTicket {
        OpenTicket {
            workflow: self.workflow.id().to_string(),
            subject: subject.to_string(),
            customer: CustomerInput { id: Some(self.customer.id.to_string()), ..CustomerInput::default() },
            ..OpenTicket::default()
        }
    }

    fn try_open(&self, request: &OpenTicket) -> Result<Vec<Event>, EngineError> {
        let ctx = Context {
            workflow: self.workflow,
            customer: Some(&self.customer),
            history: &self.history,
            other: None,
            now: self.clock.now(),
            team: None,
        };
        let number = format!("T-{}", NUMBERS.fetch_add(1, Ordering::Relaxed));
        let log =
            open(&ctx, TicketId(Ulid::generate()), number, self.customer.id, request, &Actor::integrator("web-form"))?;
        // SLA clocks have their own tests (tests/sla.rs); these stories follow the rest.
        Ok(log.into_iter().filter(|e| !is_clock(&e.change)).collect())
    }

    #[track_caller]
    fn open(self, request: &OpenTicket) -> Story {
        let log = match self.try_open(request) {
            Ok(log) => log,
            Err(error) => panic!("the ticket must open: {error:?}"),
        };
        let now = self.clock.now();
        let id = log[0].ticket;
        for (event, revision) in log.iter().zip(1..) {
            assert_eq!((event.ticket, event.revision, event.at), (id, revision, now), "event {event:?}");
            assert_eq!(event.actor, Actor::integrator("web-form"));
        }
        let ticket = Ticket::replay(&log).expect("the log starts with `opened`");
        Story { desk: self, ticket, log }
    }

    /// Opens a ticket with just a subject.
    #[track_caller]
    fn open_plain(self) -> Story {
        let request = self.request("The washing machine does not spin");
        self.open(&request)
    }
}

/// A ticket and its log; commands are applied as the writer would: decide, stamp, fold.
struct Story {
    desk: Desk,
    ticket: Ticket,
    log: Vec<Event>,
}

impl Story {
    fn now(&self) -> DateTime<Utc> {
        self.desk.clock.now()
    }

    fn later(&self, by: Duration) {
        self.desk.clock.advance(by);
    }

    fn customer_actor(&self) -> Actor {
        Actor { id: self.ticket.customer.to_string(), kind: ActorKind::Customer }
    }

    /// Decides `command`; on success stamps, checks and applies the events, and returns the
    /// changes.
    fn act_with(
        &mut self,
        actor: &Actor,
        command: &Command,
        other: Option<&Ticket>,
    ) -> Result<Vec<Change>, EngineError> {
        let now = self.now();
        let ctx = Context {
            workflow: self.desk.workflow,
            customer: Some(&self.desk.customer),
            history: &self.desk.history,
            other,
            now,
            team: None,
        };
        let changes = decide(&ctx, &self.ticket, command, actor)?;
        let events = stamp(self.ticket.id, self.ticket.revision, actor, now, changes.clone());
        for (event, revision) in events.iter().zip(self.ticket.revision + 1..) {
            assert_eq!((event.ticket, event.revision, event.at), (self.ticket.id, revision, now), "event {event:?}");
            assert_eq!(&event.actor, actor);
        }
        for event in &events {
            self.ticket.apply(event);
        }
        self.log.extend(events);
        assert_eq!(Ticket::replay(&self.log).as_ref(), Some(&self.ticket), "replaying the log gives another ticket");
        Ok(changes.into_iter().filter(|c| !is_clock(c)).collect())
    }

    fn act(&mut self, actor: &Actor, command: Command) -> Result<Vec<Change>, EngineError> {
        self.act_with(actor, &command, None)
    }

    /// Applies a command that must succeed; returns its changes.
    #[track_caller]
    fn does(&mut self, actor: &Actor, command: Command) -> Vec<Change> {
        let name = command.name();
        match self.act(actor, command) {
            Ok(changes) => changes,
            Err(error) => panic!("{name} by {} must succeed, got {error:?}", actor.id),
        }
    }

    /// Applies a command (with the other ticket of a link or merge) that must succeed.
    #[track_caller]
    fn does_with(&mut self, actor: &Actor, command: Command, other: &Ticket) -> Vec<Change> {
        match self.act_with(actor, &command, Some(other)) {
            Ok(changes) => changes,
            Err(error) => panic!("{} by {} must succeed, got {error:?}", command.name(), actor.id),
        }
    }

    /// Applies a command that must fail; checks the ticket did not change.
    #[track_caller]
    fn fails(&mut self, actor: &Actor, command: Command) -> EngineError {
        self.fails_with(actor, command, None)
    }

    #[track_caller]
    fn fails_with(&mut self, actor: &Actor, command: Command, other: Option<&Ticket>) -> EngineError {
        let before = (self.ticket.clone(), self.log.len());
        match self.act_with(actor, &command, other) {
            Ok(changes) => panic!("{} by {} must fail, got {changes:?}", command.name(), actor.id),
            Err(error) => {
                assert_eq!((self.ticket.clone(), self.log.len()), before, "a refused command changed the ticket");
                error
            }
        }
    }

    /// Intake → review, by Maryam (support agent): request form, checklist, `accept`.
    fn through_intake(&mut self) {
        let maryam = agent(MARYAM);
        self.does(&maryam, save("request", good_request()));
        for item in INTAKE_ITEMS {
            self.does(&maryam, tick(item));
        }
        self.does(&maryam, go("accept"));
        assert_eq!(self.ticket.stage, "review");
    }

    /// Review → resolution, by Ali (technician): diagnosis under warranty, checklist, `proceed`.
    fn through_review(&mut self) {
        let ali = agent(ALI);
        self.does(&ali, save("diagnosis", good_diagnosis()));
        for item in REVIEW_ITEMS {
            self.does(&ali, tick(item));
        }
        self.does(&ali, go("proceed"));
        assert_eq!(self.ticket.stage, "resolution");
    }

    /// Resolution → survey, by Ali: final report, checklist, `resolve`.
    fn through_resolution(&mut self) {
        let ali = agent(ALI);
        self.does(&ali, save("resolution_report", good_report()));
        for item in RESOLUTION_ITEMS {
            self.does(&ali, tick(item));
        }
        self.does(&ali, go("resolve"));
        assert_eq!(self.ticket.stage, "survey");
    }

    /// Survey → closed, by Maryam.
    fn through_survey(&mut self) {
        self.does(&agent(MARYAM), Command::Close);
        assert_eq!((self.ticket.stage.as_str(), self.ticket.status), ("closed", Status::Closed));
    }

    fn in_review(mut self) -> Self {
        self.through_intake();
        self
    }

    fn in_resolution(mut self) -> Self {
        self.through_intake();
        self.through_review();
        self
    }

    fn in_survey(mut self) -> Self {
        self.through_intake();
        self.through_review();
        self.through_resolution();
        self
    }

    fn once_closed(mut self) -> Self {
        self = self.in_survey();
        self.through_survey();
        self
    }
}

fn after_sales() -> Desk {
    Desk::new(&AFTER_SALES)
}

fn past(workflow: &str, category: Option<&str>, opened_at: DateTime<Utc>) -> PastTicket {
    PastTicket {
        id: TicketId(Ulid::generate()),
        workflow: workflow.to_string(),
        category: category.map(str::to_string),
        opened_at,
        csat: None,
        assignee: None,
    }
}

// ======================================================================================= open

#[test]
fn open_a_minimal_request_lands_in_intake_with_the_default_priority() {
    let desk = after_sales();
    let customer = desk.customer.id;
    let request = desk.request("  The washing machine leaks  ");
    let story = desk.open(&request);

    assert_eq!(story.log.len(), 1, "a minimal request is one `opened` event: {:?}", story.log);
    assert_eq!(
        story.log[0].change,
        Change::Opened {
            number: story.ticket.number.clone(),
            workflow: "after-sales".into(),
            version: AFTER_SALES.version.clone(),
            stage: "intake".into(),
            priority: "normal".into(),
            category: None,
            channel: None,
            subject: "The washing machine leaks".into(),
            description: String::new(),
            customer,
            queue: Some("front_desk".into()),
            role: Some("support_agent".into()),
        }
    );
    let ticket = &story.ticket;
    assert_eq!((ticket.stage.as_str(), ticket.status, ticket.revision), ("intake", Status::Open, 1));
    assert_eq!(
        (ticket.created_at, ticket.updated_at, ticket.stage_entered_at),
        (start_time(), start_time(), start_time())
    );
    assert_eq!(ticket.subject, "The washing machine leaks");
    assert_eq!(ticket.visited.iter().collect::<Vec<_>>(), ["intake"]);
    assert!(ticket.assignee.is_none() && ticket.forms.is_empty() && ticket.links.is_empty());
    assert!(ticket.first_response_at.is_none() && ticket.resolved_at.is_none() && ticket.closed_at.is_none());
}

#[test]
fn open_keeps_the_category_priority_channel_and_description_given() {
    let desk = after_sales();
    let mut request = desk.request("Install the new dishwasher");
    request.category = Some("installation".into());
    request.priority = Some("high".into());
    request.channel = Some("phone".into());
    request.description = Some("Delivered yesterday; needs a water connection.".into());
    let story = desk.open(&request);
    let ticket = &story.ticket;
    assert_eq!(ticket.category.as_deref(), Some("installation"));
    assert_eq!(ticket.priority, "high");
    assert_eq!(ticket.channel.as_deref(), Some("phone"));
    assert_eq!(ticket.description, "Delivered yesterday; needs a water connection.");
}

#[test]
fn open_names_every_unknown_value_and_the_empty_subject_at_once() {
    let desk = after_sales();
    let mut request = desk.request("   ");
    request.category = Some("warranty".into());
    request.priority = Some("critical".into());
    request.channel = Some("fax".into());
    let problems = invalid(desk.try_open(&request).expect_err("nothing here is valid"));
    assert_eq!(fields(&problems), ["subject", "category", "priority", "channel"]);
    assert_eq!(message(&problems, "subject"), "must not be empty");
    assert_eq!(
        message(&problems, "category"),
        "unknown category \"warranty\"; use one of: installation, repair, maintenance, billing, order_status, complaint"
    );
    assert_eq!(message(&problems, "priority"), "unknown priority \"critical\"; use one of: low, normal, high, urgent");
    assert_eq!(
        message(&problems, "channel"),
        "unknown channel \"fax\"; use one of: phone, email, web, walk_in, messaging"
    );
}

#[test]
fn open_refuses_an_empty_or_overlong_subject_and_an_overlong_description() {
    let desk = after_sales();
    let problems = invalid(desk.try_open(&desk.request("")).expect_err("empty subject"));
    assert_eq!(fields(&problems), ["subject"]);

    let mut request = desk.request(&"x".repeat(201));
    request.description = Some("y".repeat(100_001));
    let problems = invalid(desk.try_open(&request).expect_err("too long"));
    assert_eq!(fields(&problems), ["subject", "description"]);
    assert_eq!(message(&problems, "subject"), "must be at most 200 characters");
    assert_eq!(message(&problems, "description"), "must be at most 100000 characters");

    let longest = desk.request(&"x".repeat(200));
    assert!(desk.try_open(&longest).is_ok(), "200 characters is the limit, not over it");
}

#[test]
fn open_validates_initial_form_values_and_names_every_bad_one() {
    let desk = after_sales();
    let mut request = desk.request("Broken dryer");
    request.forms = forms(json!({ "request": {
        "product": "p".repeat(121),
        "serial": "short",
        "purchase_date": "last week",
        "problem": "broken",
        "preferred_contact": "fax",
        "contact_phone": "call me",
        "colour": "red",
    }}));
    let problems = invalid(desk.try_open(&request).expect_err("every value is bad"));
    assert_eq!(
        fields(&problems),
        [
            "forms.request.colour",
            "forms.request.contact_phone",
            "forms.request.preferred_contact",
            "forms.request.problem",
            "forms.request.product",
            "forms.request.purchase_date",
            "forms.request.serial",
        ]
    );
    assert_eq!(
        message(&problems, "forms.request.colour"),
        "form `request` has no field `colour`; its fields: product, serial, purchase_date, order_number, problem, \
         preferred_contact, contact_phone"
    );
    assert_eq!(message(&problems, "forms.request.contact_phone"), "\"call me\" is not a phone number");
    assert_eq!(
        message(&problems, "forms.request.preferred_contact"),
        "\"fax\" is not one of the options: phone, email, messaging"
    );
    assert_eq!(message(&problems, "forms.request.problem"), "must be at least 10 characters long");
    assert_eq!(message(&problems, "forms.request.product"), "must be at most 120 characters long");
    assert_eq!(message(&problems, "forms.request.purchase_date"), "\"last week\" is not a date like 2026-03-20");
    assert_eq!(message(&problems, "forms.request.serial"), "\"short\" does not match the pattern ^[A-Z0-9]{8}$");
}

#[test]
fn open_refuses_forms_that_are_not_of_the_start_stage() {
    let desk = after_sales();
    let mut request = desk.request("Broken dryer");
    request.forms = forms(json!({
        "diagnosis": { "findings": "none yet" },
        "warranty": { "years": 2 },
        "request": good_request(),
    }));
    let problems = invalid(desk.try_open(&request).expect_err("diagnosis is not filled in at intake"));
    assert_eq!(fields(&problems), ["forms.diagnosis", "forms.warranty"]);
    assert_eq!(message(&problems, "forms.diagnosis"), "the start stage `intake` has no form `diagnosis`");
    assert_eq!(message(&problems, "forms.warranty"), "the start stage `intake` has no form `warranty`");
}

#[test]
fn open_with_initial_form_values_records_them_after_the_opened_event() {
    let desk = after_sales();
    let mut request = desk.request("Broken dryer");
    request.forms = forms(json!({ "request": good_request() }));
    let story = desk.open(&request);
    assert_eq!(story.log.len(), 2);
    assert_eq!(story.log[0].change.kind(), "opened");
    assert_eq!(story.log[1].change, Change::FormSaved { form: "request".into(), values: values(good_request()) });
    assert_eq!(story.ticket.forms["request"], values(good_request()));
    assert_eq!(story.ticket.revision, 2);
}

#[test]
fn open_runs_the_form_check_script_on_initial_values() {
    let desk = after_sales();
    let mut request = desk.request("Broken dryer");
    request.category = Some("repair".into());
    request.forms = forms(json!({ "request": {
        "product": "Dryer D-3",
        "problem": "It makes a loud noise.",
        "preferred_contact": "phone",
    }}));
    let problems = invalid(desk.try_open(&request).expect_err("the script wants a phone and a serial"));
    assert_eq!(fields(&problems), ["forms.request.contact_phone", "forms.request.serial"]);
    assert_eq!(
        message(&problems, "forms.request.contact_phone"),
        "a phone number is needed when the customer prefers phone"
    );
    assert_eq!(message(&problems, "forms.request.serial"), "repairs need the device's serial number");

    request.forms = forms(json!({ "request": {
        "product": "Dryer D-3",
        "problem": "It makes a loud noise.",
        "preferred_contact": "phone",
        "contact_phone": "+98 21 5555 1234",
        "serial": "AB12CD34",
    }}));
    assert!(desk.try_open(&request).is_ok());
}

#[test]
fn open_records_no_empty_form_saved_event() {
    for empty in [json!({ "request": {} }), json!({ "request": { "serial": null } })] {
        let desk = after_sales();
        let mut request = desk.request("Broken dryer");
        request.forms = forms(empty.clone());
        match desk.try_open(&request) {
            Err(EngineError::Invalid(_)) => {}
            Err(other) => panic!("{empty}: expected the empty form to be invalid or ignored, got {other:?}"),
            Ok(events) => {
                let kinds: Vec<&str> = events.iter().map(|e| e.change.kind()).collect();
                assert_eq!(kinds, ["opened"], "{empty}: {events:?}");
            }
        }
    }
}

#[test]
fn the_default_priority_is_the_declared_one_else_normal_else_the_lowest() {
    assert_eq!(after_sales().open_plain().ticket.priority, "normal", "after-sales declares `normal`");
    assert_eq!(Desk::new(&SCRIPTS).open_plain().ticket.priority, "normal", "the built-in list has `normal`");
    assert_eq!(Desk::new(&GUARDS).open_plain().ticket.priority, "p3", "p3, p2, p1: the lowest (first) one");
}

#[test]
fn routing_by_category_and_priority_picks_the_first_matching_rule() {
    let cases = [
        (None, None, "front_desk", "support_agent"),
        (Some("installation"), None, "field_service", "technician"),
        (Some("maintenance"), Some("low"), "field_service", "technician"),
        (Some("repair"), None, "repairs", "technician"),
        (Some("repair"), Some("low"), "repairs", "technician"),
        (Some("repair"), Some("high"), "priority_repairs", "technician"),
        (Some("repair"), Some("urgent"), "priority_repairs", "technician"),
        (Some("billing"), None, "back_office", "support_agent"),
        (Some("order_status"), Some("urgent"), "back_office", "support_agent"),
        (Some("complaint"), Some("high"), "front_desk", "support_agent"),
    ];
    for (category, priority, queue, role) in cases {
        let desk = after_sales();
        let mut request = desk.request("Something is wrong");
        request.category = category.map(str::to_string);
        request.priority = priority.map(str::to_string);
        let story = desk.open(&request);
        let Change::Opened { queue: routed_queue, role: routed_role, .. } = &story.log[0].change else {
            panic!("the first event is `opened`")
        };
        assert_eq!(
            (routed_queue.as_deref(), routed_role.as_deref()),
            (Some(queue), Some(role)),
            "{category:?} {priority:?}"
        );
        assert_eq!((story.ticket.queue.as_deref(), story.ticket.role.as_deref()), (Some(queue), Some(role)));
    }
}

#[test]
fn routing_by_channel() {
    let desk = Desk::new(&SCRIPTS);
    let mut request = desk.request("Call me back");
    request.channel = Some("phone".into());
    assert_eq!(desk.same_customer().open(&request).ticket.queue.as_deref(), Some("callbacks"));
    request.channel = Some("email".into());
    assert_eq!(desk.open(&request).ticket.queue.as_deref(), Some("general"));
}

#[test]
fn routing_sends_vip_customers_to_the_vip_queue_ahead_of_the_category_rules() {
    let desk = after_sales().vip();
    let mut request = desk.request("The fridge is warm");
    request.category = Some("repair".into());
    request.priority = Some("high".into());
    let story = desk.open(&request);
    assert_eq!((story.ticket.queue.as_deref(), story.ticket.role.as_deref()), (Some("vip"), Some("technician")));

    let desk = after_sales();
    let story = desk.open(&request);
    assert_eq!(story.ticket.queue.as_deref(), Some("priority_repairs"), "the same request from a regular customer");
}

#[test]
fn routing_sends_a_third_request_in_a_category_to_the_repeat_queue() {
    let now = start_time();
    let desk = after_sales().with_history(vec![
        past("after-sales", Some("repair"), now - Duration::days(3)),
        past("after-sales", Some("repair"), now - Duration::days(10)),
    ]);
    let mut request = desk.request("Broken again");
    request.category = Some("repair".into());
    let story = desk.open(&request);
    assert_eq!(story.ticket.queue.as_deref(), Some("repeat_requests"));
}

#[test]
fn a_repeat_request_within_the_window_is_linked_to_the_latest_earlier_ticket() {
    let now = start_time();
    let latest = past("after-sales", Some("repair"), now - Duration::days(5));
    let older = past("after-sales", Some("repair"), now - Duration::days(20));
    let desk = after_sales().with_history(vec![latest.clone(), older]);
    let mut request = desk.request("The washing machine broke again");
    request.category = Some("repair".into());
    request.forms =
        forms(json!({ "request": { "product": "WM-700", "problem": "Same noise as before.", "serial": "AB12CD34" } }));
    let story = desk.open(&request);
    let kinds: Vec<&str> = story.log.iter().map(|e| e.change.kind()).collect();
    assert_eq!(kinds, ["opened", "form_saved", "linked"]);
    assert_eq!(story.log[2].change, Change::Linked { other: latest.id, relation: Relation::RepeatOf });
    assert_eq!(story.log[2].revision, 3);
    assert_eq!(
        story.ticket.links.iter().collect::<Vec<_>>(),
        [&Link { ticket: latest.id, relation: Relation::RepeatOf }]
    );

    // The window (30 days) includes its last moment.
    let edge = past("after-sales", Some("repair"), now - Duration::days(30));
    let desk = after_sales().with_history(vec![edge.clone()]);
    let story = desk.open(&request);
    assert_eq!(
        story.log.last().map(|e| &e.change),
        Some(&Change::Linked { other: edge.id, relation: Relation::RepeatOf })
    );
}

#[test]
fn no_repeat_link_outside_the_window_in_another_category_or_workflow_or_without_a_category() {
    let now = start_time();
    let cases: [(&str, Vec<PastTicket>, Option<&str>); 4] = [
        (
            "outside the window",
            vec![past("after-sales", Some("repair"), now - Duration::days(30) - Duration::seconds(1))],
            Some("repair"),
        ),
        ("another category", vec![past("after-sales", Some("billing"), now - Duration::days(1))], Some("repair")),
        ("another workflow", vec![past("shop", Some("repair"), now - Duration::days(1))], Some("repair")),
        ("no category", vec![past("after-sales", None, now - Duration::days(1))], None),
    ];
    for (case, history, category) in cases {
        let desk = after_sales().with_history(history);
        let mut request = desk.request("The washing machine broke");
        request.category = category.map(str::to_string);
        let story = desk.open(&request);
        assert_eq!(story.log.len(), 1, "{case}: {:?}", story.log);
        assert!(story.ticket.links.is_empty(), "{case}");
    }
}

// ================================================================================== save_form

#[test]
fn save_form_records_only_the_values_that_change() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    story.later(minutes(10));
    let first = json!({ "product": "WM-700", "problem": "The drum does not turn." });
    assert_eq!(
        story.does(&maryam, save("request", first.clone())),
        [Change::FormSaved { form: "request".into(), values: values(first.clone()) }]
    );
    assert_eq!(story.ticket.forms["request"], values(first));
    assert_eq!(story.ticket.updated_at, start_time() + minutes(10));

    assert_eq!(
        story.does(&maryam, save("request", json!({ "product": "WM-700", "serial": "AB12CD34" }))),
        [Change::FormSaved { form: "request".into(), values: values(json!({ "serial": "AB12CD34" })) }],
        "the unchanged product is left out"
    );

    let revision = story.ticket.revision;
    assert_eq!(story.does(&maryam, save("request", json!({ "product": "WM-700", "serial": "AB12CD34" }))), []);
    assert_eq!(story.ticket.revision, revision, "saving the same values again records nothing");
}

#[test]
fn save_form_null_clears_a_field_and_clearing_an_empty_field_records_nothing() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    story.does(&maryam, save("request", json!({ "product": "WM-700", "serial": "AB12CD34" })));
    assert_eq!(
        story.does(&maryam, save("request", json!({ "serial": null }))),
        [Change::FormSaved { form: "request".into(), values: values(json!({ "serial": null })) }]
    );
    assert_eq!(story.ticket.forms["request"], values(json!({ "product": "WM-700" })));
    assert_eq!(story.does(&maryam, save("request", json!({ "order_number": null }))), []);
}

#[test]
fn save_form_names_the_type_error_of_every_field_type() {
    let mut story = Desk::new(&GUARDS).open_plain();
    let wendy = agent(WENDY);
    let problems = invalid(story.fails(
        &wendy,
        save(
            "details",
            json!({
                "model": 42,
                "count": 2.5,
                "short": "abcdefg",
                "notes": ["a"],
                "price": "cheap",
                "fragile": "yes",
                "bought": "20/03/2026",
                "visit": "2026-03-20 14:30",
                "mail": "nobody",
                "phone": "12",
                "colour": "green",
                "extras": ["bag", "bag"],
            }),
        ),
    ));
    let expected = [
        ("bought", "\"20/03/2026\" is not a date like 2026-03-20"),
        ("colour", "\"green\" is not one of the options: red, blue"),
        ("count", "must be a whole number, not a number"),
        ("extras", "\"bag\" is chosen twice"),
        ("fragile", "must be true or false, not text"),
        ("mail", "\"nobody\" is not an email address"),
        ("model", "must be text, not a number"),
        ("notes", "must be text, not a list"),
        ("phone", "\"12\" is not a phone number"),
        ("price", "must be a number, not text"),
        ("short", "must be at most 5 characters long"),
        ("visit", "\"2026-03-20 14:30\" is not a date and time like 2026-03-20T14:30:00+03:30"),
    ];
    let found: Vec<(String, &str)> = problems.iter().map(|p| (p.field.clone(), p.message.as_str())).collect();
    let wanted: Vec<(String, &str)> = expected.iter().map(|(f, m)| (format!("forms.details.{f}"), *m)).collect();
    assert_eq!(found, wanted);
}

#[test]
fn save_form_checks_ranges_lengths_patterns_and_options() {
    let mut story = Desk::new(&GUARDS).open_plain();
    let wendy = agent(WENDY);
    let problems = invalid(story.fails(
        &wendy,
        save(
            "details",
            json!({
                "model": "two\nlines",
                "count": 0,
                "short": "a",
                "notes": "n".repeat(51),
                "price": 100,
                "colour": 1,
                "extras": ["bag", "belt"],
                "fragile": null,
            }),
        ),
    ));
    let found: Vec<(&str, &str)> = problems.iter().map(|p| (p.field.as_str(), p.message.as_str())).collect();
    assert_eq!(
        found,
        [
            ("forms.details.colour", "must be one of the options, not a number"),
            ("forms.details.count", "must be at least 1"),
            ("forms.details.extras", "\"belt\" is not one of the options: bag, strap"),
            ("forms.details.model", "must be a single line (use a long_text field for several lines)"),
            ("forms.details.notes", "must be at most 50 characters long"),
            ("forms.details.price", "must be at most 99.5"),
            ("forms.details.short", "must be at least 2 characters long"),
        ],
        "null (fragile) is always allowed"
    );

    let problems = invalid(story.fails(&wendy, save("details", json!({ "short": "ABC", "count": 4, "price": 0.25 }))));
    let found: Vec<(&str, &str)> = problems.iter().map(|p| (p.field.as_str(), p.message.as_str())).collect();
    assert_eq!(
        found,
        [
            ("forms.details.count", "must be at most 3"),
            ("forms.details.price", "must be at least 0.5"),
            ("forms.details.short", "\"ABC\" does not match the pattern ^[a-z]+$"),
        ]
    );

    let good = json!({
        "model": "X1",
        "count": 3,
        "short": "abc",
        "notes": "line one\nline two",
        "price": 99.5,
        "fragile": false,
        "bought": "2026-03-20",
        "visit": "2026-03-20T14:30:00+03:30",
        "mail": "someone@example.com",
        "phone": "+98 (21) 555-1234",
        "colour": "blue",
        "extras": ["strap", "bag"],
    });
    assert_eq!(
        story.does(&wendy, save("details", good.clone())),
        [Change::FormSaved { form: "details".into(), values: values(good.clone()) }]
    );
    assert_eq!(story.ticket.forms["details"], values(good));
}

#[test]
fn save_form_names_an_unknown_field_and_lists_the_forms_fields() {
    let mut story = after_sales().open_plain();
    let problems =
        invalid(story.fails(&agent(MARYAM), save("request", json!({ "product": "WM-700", "colour": "red" }))));
    assert_eq!(fields(&problems), ["forms.request.colour"]);
    assert_eq!(
        problems[0].message,
        "form `request` has no field `colour`; its fields: product, serial, purchase_date, order_number, problem, \
         preferred_contact, contact_phone"
    );
}

#[test]
fn save_form_of_an_unknown_form_is_not_found_and_no_values_is_invalid() {
    let mut story = after_sales().open_plain();
    let reason = not_found(story.fails(&agent(MARYAM), save("warranty", json!({ "years": 2 }))));
    assert_eq!(
        reason,
        "workflow `after-sales` has no form `warranty`; forms: request, diagnosis, resolution_report, satisfaction"
    );
    let problems = invalid(story.fails(&agent(MARYAM), save("request", json!({}))));
    assert_eq!(fields(&problems), ["values"]);
    assert_eq!(problems[0].message, "no values to save");
}

#[test]
fn save_form_of_a_stage_not_reached_is_refused_but_earlier_forms_can_be_amended() {
    let mut story = after_sales().open_plain();
    let problems = refused(story.fails(&agent(MARYAM), save("diagnosis", good_diagnosis())));
    assert_eq!(fields(&problems), ["forms.diagnosis"]);
    assert_eq!(
        problems[0].message,
        "form `diagnosis` belongs to a stage the ticket has not reached (it is in `intake`)"
    );

    story.through_intake();
    let ali = agent(ALI);
    assert_eq!(
        story.does(&ali, save("request", json!({ "serial": "ZX98CV76" }))),
        [Change::FormSaved { form: "request".into(), values: values(json!({ "serial": "ZX98CV76" })) }],
        "the request form of intake can still be corrected in review"
    );
    let problems = refused(story.fails(&ali, save("satisfaction", json!({ "csat": 5 }))));
    assert_eq!(fields(&problems), ["forms.satisfaction"]);
}

#[test]
fn save_form_runs_the_form_check_script_on_the_form_as_it_would_be() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    let problems = invalid(story.fails(&maryam, save("request", json!({ "preferred_contact": "phone" }))));
    assert_eq!(fields(&problems), ["forms.request.contact_phone"]);
    assert_eq!(problems[0].message, "a phone number is needed when the customer prefers phone");

    // A phone saved earlier counts: the script sees the saved values merged with the new ones.
    story.does(&maryam, save("request", json!({ "contact_phone": "+98 21 5555 1234" })));
    story.does(&maryam, save("request", json!({ "preferred_contact": "phone" })));
    // Clearing the phone while phone is preferred is refused.
    let problems = invalid(story.fails(&maryam, save("request", json!({ "contact_phone": null }))));
    assert_eq!(fields(&problems), ["forms.request.contact_phone"]);
    story.does(&maryam, save("request", json!({ "preferred_contact": "email", "contact_phone": null })));
    assert_eq!(story.ticket.forms["request"], values(json!({ "preferred_contact": "email" })));
}

#[test]
fn save_form_check_script_sees_the_ticket() {
    let desk = after_sales();
    let mut request = desk.request("Order never arrived");
    request.category = Some("order_status".into());
    let mut story = desk.open(&request);
    let problems = invalid(story.fails(&agent(MARYAM), save("request", good_request())));
    assert_eq!(fields(&problems), ["forms.request.order_number"]);
    assert_eq!(problems[0].message, "order questions need the order number");

    let desk = after_sales();
    let mut request = desk.request("Noisy drum");
    request.category = Some("repair".into());
    let mut story = desk.open(&request);
    let problems = invalid(story.fails(&agent(MARYAM), save("request", good_request())));
    assert_eq!(fields(&problems), ["forms.request.serial"]);
}

// ============================================================================== tick / untick

#[test]
fn tick_and_untick_are_recorded_once() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    let item = INTAKE_ITEMS[0];
    assert_eq!(
        story.does(&maryam, tick(item)),
        [Change::ChecklistTicked { stage: "intake".into(), item: item.into(), checked: true }]
    );
    assert!(story.ticket.checklist["intake"].contains(item));
    assert_eq!(story.does(&maryam, tick(item)), [], "ticking a ticked item records nothing");

    assert_eq!(
        story.does(&maryam, untick(item)),
        [Change::ChecklistTicked { stage: "intake".into(), item: item.into(), checked: false }]
    );
    assert!(!story.ticket.checklist["intake"].contains(item));
    assert_eq!(story.does(&maryam, untick(item)), [], "unticking an unticked item records nothing");
    assert_eq!(story.does(&maryam, untick(INTAKE_ITEMS[1])), [], "never ticked");
}

#[test]
fn tick_of_an_unknown_item_is_invalid_and_lists_the_stages_items() {
    let mut story = after_sales().open_plain();
    let problems = invalid(story.fails(&agent(MARYAM), tick("Coffee served")));
    assert_eq!(fields(&problems), ["item"]);
    assert_eq!(
        problems[0].message,
        "stage `intake` has no checklist item \"Coffee served\"; its items: Customer and product identified, Request \
         confirmed with the customer"
    );
    // An item of another stage is unknown here too.
    let problems = invalid(story.fails(&agent(MARYAM), tick(REVIEW_ITEMS[0])));
    assert_eq!(fields(&problems), ["item"]);
}

#[test]
fn optional_checklist_items_can_be_ticked_but_are_not_required() {
    let mut story = after_sales().open_plain().in_review();
    let ali = agent(ALI);
    assert_eq!(
        story.does(&ali, tick("Photos of the fault attached")),
        [Change::ChecklistTicked {
            stage: "review".into(),
            item: "Photos of the fault attached".into(),
            checked: true
        }]
    );
    story.does(&ali, untick("Photos of the fault attached"));
    story.through_review();
}

// ==================================================================================== comment

#[test]
fn a_public_reply_by_an_agent_is_the_first_response_and_an_internal_note_is_not() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    story.later(minutes(5));
    assert_eq!(
        story.does(&maryam, note("Customer called twice already.")),
        [Change::Commented { body: "Customer called twice already.".into(), public: false }]
    );
    assert_eq!(story.ticket.first_response_at, None, "an internal note is no response");
    assert_eq!((story.ticket.comments, story.ticket.public_replies), (1, 0));

    story.later(minutes(25));
    let replied_at = story.now();
    assert_eq!(
        story.does(&maryam, reply("We are on it.")),
        [Change::Commented { body: "We are on it.".into(), public: true }]
    );
    assert_eq!(story.ticket.first_response_at, Some(replied_at));
    assert_eq!(replied_at, start_time() + minutes(30));

    story.later(minutes(30));
    story.does(&agent(OMID), reply("A technician will call you."));
    assert_eq!(story.ticket.first_response_at, Some(replied_at), "only the first reply counts");
    assert_eq!((story.ticket.comments, story.ticket.public_replies), (3, 2));
}

#[test]
fn the_customer_may_reply_publicly_but_not_write_internal_notes_and_is_no_first_response() {
    let mut story = after_sales().open_plain();
    let customer = story.customer_actor();
    story.later(minutes(3));
    assert_eq!(
        story.does(&customer, reply("Any news?")),
        [Change::Commented { body: "Any news?".into(), public: true }]
    );
    assert_eq!((story.ticket.comments, story.ticket.public_replies), (1, 0));
    assert_eq!(story.ticket.first_response_at, None, "the customer's own message is no response");

    let problems = invalid(story.fails(&customer, note("secret")));
    assert_eq!(fields(&problems), ["public"]);
    assert_eq!(problems[0].message, "customers cannot write internal notes");
    let problems = invalid(story.fails(&customer, note(" ")));
    assert_eq!(fields(&problems), ["body", "public"], "every problem at once");
}

#[test]
fn an_empty_or_overlong_comment_is_invalid() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    for body in ["", "   \n\t"] {
        let problems = invalid(story.fails(&maryam, reply(body)));
        assert_eq!(fields(&problems), ["body"]);
        assert_eq!(problems[0].message, "must not be empty");
    }
    let problems = invalid(story.fails(&maryam, note(&"x".repeat(100_001))));
    assert_eq!(fields(&problems), ["body"]);
    assert_eq!(problems[0].message, "must be at most 100000 characters");
    assert_eq!(story.does(&maryam, note(&"x".repeat(100_000))).len(), 1);
}

// ================================================================================ record_step

#[test]
fn record_step_counts_steps_and_needs_a_description() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    assert_eq!(
        story.does(&maryam, Command::RecordStep { description: "Called the customer back.".into() }),
        [Change::StepRecorded { description: "Called the customer back.".into() }]
    );
    story.does(&maryam, Command::RecordStep { description: "Checked the order.".into() });
    assert_eq!(story.ticket.steps, 2);
    let problems = invalid(story.fails(&maryam, Command::RecordStep { description: "  ".into() }));
    assert_eq!(fields(&problems), ["description"]);
    assert_eq!(problems[0].message, "must not be empty");
}

// ===================================================================================== assign

#[test]
fn assign_reassign_and_unassign() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    assert_eq!(
        story.does(&maryam, assign(Some(OMID))),
        [Change::Assigned { assignee: Some(OMID.into()), queue: None }]
    );
    assert_eq!(story.ticket.assignee.as_deref(), Some(OMID));
    assert_eq!(story.ticket.queue.as_deref(), Some("front_desk"), "assignment keeps the queue");
    assert_eq!(story.does(&maryam, assign(Some("OMID@example.com"))), [], "the same person, whatever the case");
    assert_eq!(story.does(&maryam, assign(None)), [Change::Assigned { assignee: None, queue: None }]);
    assert_eq!(story.ticket.assignee, None);
    assert_eq!(story.does(&maryam, assign(None)), [], "already unassigned");
}

#[test]
fn assigning_a_person_without_a_role_is_invalid() {
    let mut story = after_sales().open_plain();
    let problems = invalid(story.fails(&agent(MARYAM), assign(Some(KIAN))));
    assert_eq!(fields(&problems), ["assignee"]);
    assert_eq!(problems[0].message, "kian@example.com has no role in workflow `after-sales`");
}

#[test]
fn the_assignee_outside_the_stages_raci_may_comment_but_not_work() {
    // Issue 12: a technician assigned at intake filled in the clerk's checklist.
    let mut story = after_sales().open_plain();
    let ali = agent(ALI);
    story.does(&agent(MARYAM), assign(Some(ALI)));
    let reason = forbidden(story.fails(&ali, tick(INTAKE_ITEMS[0])));
    assert_eq!(
        reason,
        "in stage `intake` only the responsible (support_agent) or accountable (support_lead) role may do this; \
         ali@example.com has roles technician (being the assignee is not enough in this stage)"
    );
    for command in [save("request", good_request()), go("cancel"), Command::SetPriority { priority: "high".into() }] {
        forbidden(story.fails(&ali, command));
    }
    story.does(&ali, note("I will bring the spare seal."));
    // Once the ticket reaches the technician's stage, the assignee works it as the responsible.
    story.through_intake();
    story.does(&ali, save("diagnosis", good_diagnosis()));
}

#[test]
fn a_stage_with_assignee_may_work_lets_the_assignee_work() {
    let mut story = Desk::new(&GUARDS_RELAXED).open_plain();
    let hal = agent(HAL);
    forbidden(story.fails(&hal, tick("Box opened")));
    story.does(&agent(WENDY), assign(Some(HAL)));
    story.does(&hal, tick("Box opened"));
    story.does(&hal, tick("Parts counted"));
    story.does(&hal, go("quick"));
    // `recheck` does not say so: there the assignee is bound by RACI again.
    let reason = forbidden(story.fails(&hal, go("again")));
    assert!(reason.ends_with("(being the assignee is not enough in this stage)"), "{reason}");
}

// =============================================================================== set_priority

#[test]
fn set_priority_changes_it_once_and_refuses_unknown_priorities() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    assert_eq!(
        story.does(&maryam, Command::SetPriority { priority: "urgent".into() }),
        [Change::PriorityChanged { priority: "urgent".into() }]
    );
    assert_eq!(story.ticket.priority, "urgent");
    assert_eq!(story.does(&maryam, Command::SetPriority { priority: "urgent".into() }), []);
    let problems = invalid(story.fails(&maryam, Command::SetPriority { priority: "critical".into() }));
    assert_eq!(fields(&problems), ["priority"]);
    assert_eq!(problems[0].message, "unknown priority \"critical\"; use one of: low, normal, high, urgent");
}

// =================================================================== request_approval, approve

#[test]
fn approval_is_requested_by_the_team_and_given_by_the_accountable_role_only() {
    let mut story = after_sales().open_plain().in_review();
    let ali = agent(ALI);
    assert_eq!(
        story.does(&ali, Command::RequestApproval { note: Some("Customer wants to cancel.".into()) }),
        [Change::ApprovalRequested { stage: "review".into(), note: Some("Customer wants to cancel.".into()) }]
    );
    assert_eq!(story.ticket.approvals["review"].requested_by.as_deref(), Some(ALI));
    assert_eq!(story.ticket.approvals["review"].approved_by, None);

    let reason = forbidden(story.fails(&ali, approve()));
    assert_eq!(
        reason,
        "in stage `review` only the accountable role (service_manager) may approve; ali@example.com has roles technician"
    );
    let reason = forbidden(story.fails(&agent(LEILA), approve()));
    assert!(reason.contains("leila@example.com has roles support_lead"), "{reason}");

    assert_eq!(
        story.does(&agent(REZA), Command::Approve { note: Some("Fine.".into()) }),
        [Change::Approved { stage: "review".into(), note: Some("Fine.".into()) }]
    );
    assert_eq!(story.ticket.approvals["review"].approved_by.as_deref(), Some(REZA));

    let problems = refused(story.fails(&agent(REZA), approve()));
    assert_eq!(fields(&problems), ["approval"]);
    assert_eq!(problems[0].message, "this stage is already approved");
    let problems = refused(story.fails(&ali, Command::RequestApproval { note: None }));
    assert_eq!(fields(&problems), ["approval"]);
    assert_eq!(problems[0].message, "this stage is already approved");

    // `cancel` needs the approval, and now has it.
    assert_eq!(
        story.does(&ali, go("cancel")),
        [
            Change::StageChanged { from: "review".into(), to: "cancelled".into(), transition: "cancel".into() },
            Change::Closed
        ]
    );
}

#[test]
fn approval_without_an_accountable_role_is_refused() {
    let mut story = after_sales().open_plain().in_review();
    story.does(&agent(ALI), go("ask_customer"));
    assert_eq!(story.ticket.stage, "waiting_customer");
    let maryam = agent(MARYAM);
    for command in [Command::RequestApproval { note: None }, approve()] {
        let problems = refused(story.fails(&maryam, command));
        assert_eq!(fields(&problems), ["approval"]);
        assert_eq!(problems[0].message, "stage `waiting_customer` has no accountable role to approve");
    }
}

#[test]
fn approval_is_per_stage_visit_and_forgotten_on_leaving() {
    let mut story = after_sales().open_plain().in_review();
    story.does(&agent(REZA), approve());
    assert!(story.ticket.approvals.contains_key("review"));
    story.does(&agent(ALI), go("ask_customer"));
    assert!(story.ticket.approvals.is_empty(), "leaving review forgets its approval");
    story.does(&agent(MARYAM), go("customer_replied"));
    assert_eq!(story.ticket.stage, "review");

    let problems = refused(story.fails(&agent(ALI), go("cancel")));
    assert_eq!(fields(&problems), ["approval"]);
    assert_eq!(problems[0].message, "needs approval by the accountable role `service_manager`");

    story.does(&agent(REZA), approve());
    story.does(&agent(ALI), go("cancel"));
    assert_eq!(story.ticket.status, Status::Closed);
}

#[test]
fn separation_of_duties_the_requester_cannot_approve() {
    // Bob (boss, accountable in `check`) asks for the approval himself: another must give it.
    let mut story = Desk::new(&GUARDS).open_plain();
    let bob = agent(BOB);
    story.does(&bob, Command::RequestApproval { note: None });
    let reason = forbidden(story.fails(&bob, approve()));
    assert_eq!(
        reason,
        "separation of duties: bob@example.com asked for this approval and cannot approve it; another member of \
         the accountable role `boss` must (stage `check`)"
    );
    // An administrator is a person too: no approving what one asked for.
    let mut story = Desk::new(&GUARDS).open_plain();
    let root = Actor::admin("root");
    story.does(&root, Command::RequestApproval { note: None });
    forbidden(story.fails(&root, approve()));
    story.does(&bob, approve());
}

#[test]
fn separation_of_duties_the_assignee_cannot_approve() {
    let mut story = after_sales().open_plain().in_review();
    story.does(&agent(ALI), Command::RequestApproval { note: Some("Customer withdrew.".into()) });
    story.does(&agent(ALI), assign(Some(REZA)));
    let reason = forbidden(story.fails(&agent(REZA), approve()));
    assert!(reason.contains("reza@example.com is assigned the ticket and did the work"), "{reason}");
    story.does(&agent(ALI), assign(Some(ALI)));
    story.does(&agent(REZA), approve());
}

#[test]
fn separation_of_duties_is_relaxed_by_the_workflow_or_the_stage() {
    for workflow in [&*GUARDS_RELAXED, &*GUARDS_CHECK_RELAXED] {
        let mut story = Desk::new(workflow).open_plain();
        let bob = agent(BOB);
        story.does(&bob, Command::RequestApproval { note: None });
        story.does(&agent(WENDY), assign(Some(BOB)));
        assert_eq!(story.does(&bob, approve()), [Change::Approved { stage: "check".into(), note: None }]);
    }
}

#[test]
fn an_approval_is_voided_when_a_form_value_of_its_stage_changes() {
    // Issue 12: a repair approved at 750 was closed at 9,500.
    let mut story = Desk::new(&GUARDS).open_plain();
    let wendy = agent(WENDY);
    story.does(&wendy, save("details", json!({ "model": "M1", "count": 2, "price": 7.5 })));
    story.does(&wendy, tick("Box opened"));
    story.does(&wendy, tick("Parts counted"));
    story.does(&wendy, Command::RequestApproval { note: Some("At 7.5".into()) });
    story.does(&agent(BOB), approve());
    // Saving what is already there changes nothing and keeps the approval.
    assert_eq!(story.does(&wendy, save("details", json!({ "price": 7.5 }))), []);
    assert_eq!(
        story.does(&wendy, save("details", json!({ "price": 95 }))),
        [
            Change::FormSaved { form: "details".into(), values: values(json!({ "price": 95 })) },
            Change::ApprovalVoided { stage: "check".into(), form: "details".into(), approved_by: Some(BOB.into()) }
        ]
    );
    assert_eq!(story.ticket.approvals["check"].approved_by, None);
    assert_eq!(story.ticket.approvals["check"].requested_by.as_deref(), Some(WENDY), "the request stands");
    let problems = refused(story.fails(&wendy, go("pass")));
    assert_eq!(fields(&problems), ["approval"]);
    story.does(&agent(BOB), approve());
    assert_eq!(
        story.does(&wendy, go("pass"))[0],
        Change::StageChanged { from: "check".into(), to: "done".into(), transition: "pass".into() }
    );
}

#[test]
fn amending_a_form_of_an_earlier_stage_keeps_the_approval() {
    let mut story = after_sales().open_plain().in_review();
    story.does(&agent(REZA), approve());
    let changes = story.does(&agent(ALI), save("request", json!({ "serial": "AB12CD34" })));
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(story.ticket.approvals["review"].approved_by.as_deref(), Some(REZA));
}

#[test]
fn reject_refuses_the_approval_asked_for_with_a_reason() {
    let mut story = after_sales().open_plain().in_review();
    let ali = agent(ALI);
    let reza = agent(REZA);
    let reject = |note: &str| Command::RejectApproval { note: note.to_string() };
    let problems = refused(story.fails(&reza, reject("No.")));
    assert_eq!(fields(&problems), ["approval"]);
    assert_eq!(problems[0].message, "no approval was asked for in stage `review`: there is nothing to reject");

    story.does(&ali, Command::RequestApproval { note: Some("Cancel?".into()) });
    let problems = invalid(story.fails(&reza, reject("  ")));
    assert_eq!(fields(&problems), ["note"]);
    assert_eq!(problems[0].message, "a rejection needs a reason; the person who asked is told it");
    let reason = forbidden(story.fails(&ali, reject("Not mine to refuse.")));
    assert!(reason.contains("only the accountable role (service_manager) may approve"), "{reason}");
    forbidden(story.fails(&Actor::integrator("crm"), reject("No.")));

    assert_eq!(
        story.does(&reza, reject(" The customer still wants the repair. ")),
        [Change::ApprovalRejected {
            stage: "review".into(),
            note: "The customer still wants the repair.".into(),
            requested_by: Some(ALI.into())
        }]
    );
    assert!(story.ticket.approvals.is_empty(), "the request is cleared");
    assert_eq!(fields(&refused(story.fails(&ali, go("cancel")))), ["approval"]);
    refused(story.fails(&reza, reject("Again?")));

    // A new request can be made; an approval given cannot be rejected.
    story.does(&ali, Command::RequestApproval { note: None });
    story.does(&reza, approve());
    let problems = refused(story.fails(&reza, reject("Changed my mind.")));
    assert!(problems[0].message.starts_with("this stage is already approved"), "{problems:?}");
}

// ================================================================================= transition

#[test]
fn a_transition_moves_the_ticket_and_records_where_from() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    story.does(&maryam, save("request", good_request()));
    for item in INTAKE_ITEMS {
        story.does(&maryam, tick(item));
    }
    story.later(minutes(45));
    assert_eq!(
        story.does(&maryam, go("accept")),
        [Change::StageChanged { from: "intake".into(), to: "review".into(), transition: "accept".into() }]
    );
    let ticket = &story.ticket;
    assert_eq!((ticket.stage.as_str(), ticket.previous_stage.as_deref()), ("review", Some("intake")));
    assert_eq!(ticket.stage_entered_at, start_time() + minutes(45));
    assert_eq!(ticket.visited.iter().collect::<Vec<_>>(), ["intake", "review"]);
    assert_eq!(ticket.status, Status::Open);
}

#[test]
fn an_unknown_transition_is_invalid_and_lists_the_available_ones() {
    let mut story = after_sales().open_plain();
    let problems = invalid(story.fails(&agent(MARYAM), go("proceed")));
    assert_eq!(fields(&problems), ["name"]);
    assert_eq!(problems[0].message, "stage `intake` has no transition `proceed`; available: accept, cancel");
}

#[test]
fn leaving_intake_needs_the_required_fields_and_the_checklist() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    let problems = refused(story.fails(&maryam, go("accept")));
    assert_eq!(
        fields(&problems),
        [
            "forms.request.product",
            "forms.request.problem",
            "checklist.Customer and product identified",
            "checklist.Request confirmed with the customer",
        ]
    );
    assert_eq!(
        message(&problems, "forms.request.product"),
        "required field \"Product\" of form `request` is not filled in"
    );
    assert_eq!(
        message(&problems, "checklist.Customer and product identified"),
        "checklist item \"Customer and product identified\" is not ticked"
    );

    story.does(&maryam, save("request", json!({ "product": "WM-700" })));
    story.does(&maryam, tick(INTAKE_ITEMS[1]));
    let problems = refused(story.fails(&maryam, go("accept")));
    assert_eq!(fields(&problems), ["forms.request.problem", "checklist.Customer and product identified"]);
}

#[test]
fn a_transition_reports_every_unmet_guard_at_once() {
    let desk = Desk::new(&GUARDS);
    let mut request = desk.request("Parcel to check");
    request.priority = Some("p1".into());
    let mut story = desk.open(&request);
    let wendy = agent(WENDY);

    let problems = refused(story.fails(&wendy, go("pass")));
    assert_eq!(
        fields(&problems),
        [
            "forms.details.model",
            "forms.details.count",
            "checklist.Box opened",
            "checklist.Parts counted",
            "approval",
            "rule"
        ]
    );
    assert_eq!(
        message(&problems, "forms.details.model"),
        "required field \"Model\" of form `details` is not filled in"
    );
    assert_eq!(
        message(&problems, "forms.details.count"),
        "required field \"count\" of form `details` is not filled in"
    );
    assert_eq!(message(&problems, "checklist.Box opened"), "checklist item \"Box opened\" is not ticked");
    assert_eq!(message(&problems, "approval"), "needs approval by the accountable role `boss`");
    assert_eq!(message(&problems, "rule"), "p1 tickets need a second look");

    // Each fix removes its own refusal, and only that.
    story.does(&wendy, save("details", json!({ "model": "X1", "count": 2 })));
    let problems = refused(story.fails(&wendy, go("pass")));
    assert_eq!(fields(&problems), ["checklist.Box opened", "checklist.Parts counted", "approval", "rule"]);
    story.does(&wendy, tick("Box opened"));
    story.does(&wendy, tick("Parts counted"));
    let problems = refused(story.fails(&wendy, go("pass")));
    assert_eq!(fields(&problems), ["approval", "rule"]);
    story.does(&agent(BOB), approve());
    let problems = refused(story.fails(&wendy, go("pass")));
    assert_eq!(fields(&problems), ["rule"]);
    story.does(&wendy, Command::SetPriority { priority: "p2".into() });
    assert_eq!(
        story.does(&wendy, go("pass")),
        [Change::StageChanged { from: "check".into(), to: "done".into(), transition: "pass".into() }, Change::Closed]
    );
    assert_eq!(story.ticket.status, Status::Closed);
}

#[test]
fn a_transition_with_requires_forms_false_skips_the_form_check_only() {
    // after-sales: `cancel` from intake needs neither forms nor checklist.
    let mut story = after_sales().open_plain();
    assert_eq!(
        story.does(&agent(MARYAM), go("cancel")),
        [
            Change::StageChanged { from: "intake".into(), to: "cancelled".into(), transition: "cancel".into() },
            Change::Closed
        ]
    );

    // engine-guards: `quick` skips the forms but still wants the checklist.
    let mut story = Desk::new(&GUARDS).open_plain();
    let wendy = agent(WENDY);
    let problems = refused(story.fails(&wendy, go("quick")));
    assert_eq!(fields(&problems), ["checklist.Box opened", "checklist.Parts counted"]);
    story.does(&wendy, tick("Box opened"));
    story.does(&wendy, tick("Parts counted"));
    story.does(&wendy, go("quick"));
    assert_eq!(story.ticket.stage, "recheck");
    assert!(story.ticket.forms.is_empty(), "the required fields were never filled in");
}

#[test]
fn a_costly_repair_out_of_warranty_is_refused_with_the_rules_reason() {
    let mut story = after_sales().open_plain().in_review();
    let ali = agent(ALI);
    story.does(
        &ali,
        save(
            "diagnosis",
            json!({ "findings": "Motor burnt out.", "cause": "user_error", "under_warranty": false, "estimated_cost": 6000000 }),
        ),
    );
    let problems = refused(story.fails(&ali, go("proceed")));
    assert_eq!(
        fields(&problems),
        ["checklist.Warranty status checked", "checklist.Parts availability checked", "rule"]
    );
    assert_eq!(
        message(&problems, "rule"),
        "the repair costs 6000000 and is not under warranty: record the customer's agreement first"
    );
    for item in REVIEW_ITEMS {
        story.does(&ali, tick(item));
    }
    let problems = refused(story.fails(&ali, go("proceed")));
    assert_eq!(fields(&problems), ["rule"]);

    // 5,000,000 is not over the limit; under warranty any cost goes.
    story.does(&ali, save("diagnosis", json!({ "estimated_cost": 5000000 })));
    assert_eq!(story.does(&ali, go("proceed")).len(), 1);
    story.does(&ali, go("back_to_review"));
    story.does(&ali, save("diagnosis", json!({ "estimated_cost": 9000000, "under_warranty": true })));
    story.does(&ali, go("proceed"));
    assert_eq!(story.ticket.stage, "resolution");
}

#[test]
fn a_costly_repair_out_of_warranty_proceeds_once_the_customer_agreed() {
    let mut story = after_sales().open_plain().in_review();
    let ali = agent(ALI);
    story.does(
        &ali,
        save(
            "diagnosis",
            json!({ "findings": "Motor burnt out.", "cause": "user_error", "under_warranty": false, "estimated_cost": 6000000 }),
        ),
    );
    for item in REVIEW_ITEMS {
        story.does(&ali, tick(item));
    }
    story.does(&ali, tick("Customer agreed to the cost"));
    assert_eq!(
        story.does(&ali, go("proceed")),
        [Change::StageChanged { from: "review".into(), to: "resolution".into(), transition: "proceed".into() }]
    );
    assert_eq!(story.ticket.stage, "resolution");
}

#[test]
fn a_rule_that_says_no_without_a_reason_gets_a_default_one() {
    let mut story = Desk::new(&SCRIPTS).open_plain();
    let problems = refused(story.fails(&agent(ANN), go("refuse")));
    assert_eq!(fields(&problems), ["rule"]);
    assert_eq!(problems[0].message, "the rule inline script does not allow it");
}

// ======================================================================================= RACI

#[test]
fn an_agent_with_no_part_in_the_stage_is_forbidden_with_the_roles_named() {
    let mut story = after_sales().open_plain();
    let reason = forbidden(story.fails(&agent(KIAN), save("request", good_request())));
    assert_eq!(
        reason,
        "in stage `intake` only the responsible (support_agent) or accountable (support_lead) role may do this; \
         kian@example.com has no role in this workflow"
    );
    let reason = forbidden(story.fails(&agent(ALI), tick(INTAKE_ITEMS[0])));
    assert_eq!(
        reason,
        "in stage `intake` only the responsible (support_agent) or accountable (support_lead) role may do this; \
         ali@example.com has roles technician"
    );

    let other = after_sales().same_customer().open_plain().ticket;
    let kian = agent(KIAN);
    let work = [
        save("request", good_request()),
        tick(INTAKE_ITEMS[0]),
        Command::RecordStep { description: "Looked.".into() },
        assign(Some(OMID)),
        Command::SetPriority { priority: "high".into() },
        Command::RequestApproval { note: None },
        go("accept"),
        Command::Resolve { note: None },
        Command::Close,
        Command::Link { other: other.id, relation: Relation::Related },
        Command::Merge { into: other.id },
    ];
    for command in work {
        let name = command.name();
        let reason = forbidden(story.fails_with(&kian, command, Some(&other)));
        assert!(reason.contains("may do this; kian@example.com has no role"), "{name}: {reason}");
    }
    let reason = forbidden(story.fails(&kian, reply("Hello")));
    assert_eq!(
        reason,
        "in stage `intake` only the responsible, accountable or consulted roles, or the assignee, may comment; \
         kian@example.com has no role in this workflow"
    );
    let reason = forbidden(story.fails(&kian, approve()));
    assert_eq!(
        reason,
        "in stage `intake` only the accountable role (support_lead) may approve; kian@example.com has no role in this \
         workflow"
    );
}

#[test]
fn the_responsible_and_accountable_roles_may_work() {
    let mut story = after_sales().open_plain();
    story.does(&agent(OMID), save("request", good_request()));
    story.does(&agent(LEILA), tick(INTAKE_ITEMS[0]));
    story.does(&agent(MARYAM), tick(INTAKE_ITEMS[1]));
    story.does(&agent(LEILA), go("accept"));
    story.does(&agent(SARA), save("diagnosis", good_diagnosis()));
    story.does(&agent(REZA), tick(REVIEW_ITEMS[0]));
    forbidden(story.fails(&agent(MARYAM), tick(REVIEW_ITEMS[1])));
}

#[test]
fn a_consulted_role_may_comment_but_not_work() {
    let mut story = after_sales().open_plain().in_review();
    let parts = agent(PARTS);
    assert_eq!(story.does(&parts, note("Motor in stock: 3.")).len(), 1);
    assert_eq!(story.does(&parts, reply("The part is on its way.")).len(), 1);
    let reason = forbidden(story.fails(&parts, go("ask_customer")));
    assert_eq!(
        reason,
        "in stage `review` only the responsible (technician) or accountable (service_manager) role may do this; \
         parts@example.com has roles warehouse"
    );
    forbidden(story.fails(&parts, tick(REVIEW_ITEMS[1])));
    forbidden(story.fails(&parts, save("diagnosis", good_diagnosis())));
    forbidden(story.fails(&parts, approve()));

    // In resolution the support agents are consulted; the support lead is only informed.
    story.through_review();
    story.does(&agent(MARYAM), note("Customer prefers mornings."));
    forbidden(story.fails(&agent(MARYAM), go("resolve")));
    forbidden(story.fails(&agent(LEILA), note("Informed roles are told, they do not comment.")));
}

#[test]
fn a_stage_without_responsible_or_accountable_is_open_to_anyone_with_a_role() {
    // The terminal stages of after-sales have no RACI: a closed ticket may be linked by any
    // member of a role, not by an agent with no role.
    let mut story = after_sales().open_plain().once_closed();
    let other = after_sales().same_customer().open_plain().ticket;
    let link = Command::Link { other: other.id, relation: Relation::Related };
    let reason = forbidden(story.fails_with(&agent(KIAN), link.clone(), Some(&other)));
    assert!(reason.contains("kian@example.com has no role in this workflow"), "{reason}");
    assert_eq!(story.does_with(&agent(PARTS), link, &other).len(), 1);
}

#[test]
fn admins_and_the_system_bypass_raci_but_not_the_guards() {
    let mut story = after_sales().open_plain();
    let admin = Actor::admin("root");
    let integrator = Actor::integrator("crm");
    let system = Actor::system("scheduler");

    let problems = refused(story.fails(&admin, go("accept")));
    assert_eq!(fields(&problems).len(), 4, "RACI is bypassed, the guards are not: {problems:?}");
    story.does(&admin, save("request", good_request()));
    story.does(&system, tick(INTAKE_ITEMS[0]));
    story.does(&admin, tick(INTAKE_ITEMS[1]));
    story.does(&system, Command::SetPriority { priority: "high".into() });
    story.does(&admin, go("accept"));

    let problems = refused(story.fails(&system, go("cancel")));
    assert_eq!(fields(&problems), ["approval"]);
    forbidden(story.fails(&integrator, approve()));
    story.does(&admin, approve());
    assert_eq!(story.ticket.approvals["review"].approved_by.as_deref(), Some("root"));

    story.later(minutes(7));
    story.does(&admin, reply("An administrator answers."));
    assert_eq!(story.ticket.first_response_at, Some(start_time() + minutes(7)), "admins are staff");
}

#[test]
fn integrations_open_comment_and_answer_surveys_but_work_only_where_raci_names_them() {
    let mut story = after_sales().open_plain();
    let crm = Actor::integrator("crm");
    let other = after_sales().same_customer().open_plain().ticket;
    story.does(&crm, note("Customer called again."));
    story.does(&crm, reply("We are on it."));
    let work = [
        save("request", good_request()),
        tick(INTAKE_ITEMS[0]),
        Command::RecordStep { description: "Looked.".into() },
        assign(Some(MARYAM)),
        Command::SetPriority { priority: "high".into() },
        Command::RequestApproval { note: None },
        go("cancel"),
        Command::Close,
        Command::Link { other: other.id, relation: Relation::Related },
        Command::Merge { into: other.id },
    ];
    for command in work {
        let name = command.name();
        let reason = forbidden(story.fails_with(&crm, command, Some(&other)));
        assert!(reason.ends_with("may do this; the integration crm has no role in this workflow"), "{name}: {reason}");
    }
    assert_eq!((story.ticket.stage.as_str(), story.ticket.status), ("intake", Status::Open));
}

#[test]
fn an_integration_whose_person_is_in_the_stages_raci_works_there_only() {
    let mut story = Desk::new(&AFTER_SALES_TELEPHONY).open_plain();
    let telephony = Actor::integrator("telephony");
    story.does(&telephony, save("request", good_request()));
    for item in INTAKE_ITEMS {
        story.does(&telephony, tick(item));
    }
    story.does(&telephony, assign(Some(ALI)));
    story.does(&telephony, go("accept"));
    // Review belongs to the technicians: the integration comments, no more.
    let reason = forbidden(story.fails(&telephony, tick(REVIEW_ITEMS[0])));
    assert!(reason.ends_with("the integration telephony has roles support_agent"), "{reason}");
    story.does(&telephony, note("The customer sent a photo."));
    forbidden(story.fails(&telephony, approve()));
}

#[test]
fn customers_may_only_comment() {
    let mut story = after_sales().open_plain();
    let customer = story.customer_actor();
    let other = after_sales().same_customer().open_plain().ticket;
    let commands = [
        save("request", good_request()),
        tick(INTAKE_ITEMS[0]),
        Command::RecordStep { description: "I rebooted it.".into() },
        assign(Some(MARYAM)),
        Command::SetPriority { priority: "urgent".into() },
        Command::RequestApproval { note: None },
        approve(),
        go("cancel"),
        Command::Resolve { note: None },
        Command::Close,
        Command::Link { other: other.id, relation: Relation::Related },
        Command::Merge { into: other.id },
    ];
    for command in commands {
        let name = command.name();
        let reason = forbidden(story.fails_with(&customer, command, Some(&other)));
        assert_eq!(reason, "customers may only comment on their tickets", "{name}");
    }
    story.through_intake();
    story.through_review();
    story.through_resolution();
    assert_eq!(story.ticket.status, Status::Resolved);
    let reason = forbidden(story.fails(&customer, Command::Reopen { reason: Some("Still broken".into()) }));
    assert_eq!(reason, "customers may only comment on their tickets");
    story.does(&customer, reply("Thanks!"));
}

#[test]
fn a_customer_cannot_comment_on_another_customers_ticket() {
    let mut story = after_sales().open_plain();
    let stranger = Actor { id: CustomerId(Ulid::generate()).to_string(), kind: ActorKind::Customer };
    forbidden(story.fails(&stranger, reply("Me too!")));
}

// ==================================================================================== resolve

#[test]
fn resolve_is_refused_where_no_transition_leads_to_a_resolved_stage() {
    // The bug of issue 12: from intake, forms empty and checklist unticked, `resolve` used to
    // resolve the ticket, meet the resolution clock and mail the customer.
    let mut story = after_sales().open_plain();
    for actor in [agent(MARYAM), Actor::admin("root")] {
        let problems = refused(story.fails(&actor, Command::Resolve { note: None }));
        assert_eq!(fields(&problems), ["stage"]);
        assert_eq!(
            problems[0].message,
            "no transition of stage `intake` resolves the ticket (leads to a stage with `resolved = true`); move it \
             on first"
        );
    }
    assert_eq!((story.ticket.stage.as_str(), story.ticket.status), ("intake", Status::Open));
    // In review neither way out (`proceed`, `ask_customer`, `cancel` to a cancelled end) resolves.
    story.through_intake();
    refused(story.fails(&agent(ALI), Command::Resolve { note: None }));
}

#[test]
fn resolve_takes_the_transition_to_the_resolved_stage_with_its_guards_and_reopen_takes_the_way_back() {
    let mut story = after_sales().open_plain().in_resolution();
    let ali = agent(ALI);
    let problems = refused(story.fails(&ali, Command::Resolve { note: None }));
    assert_eq!(
        fields(&problems),
        [
            "forms.resolution_report.outcome",
            "forms.resolution_report.work_done",
            "checklist.Solution explained to the customer",
            "checklist.Customer confirmed the fix"
        ],
        "the guards of `resolve` (resolution -> survey)"
    );
    story.does(&ali, save("resolution_report", good_report()));
    for item in RESOLUTION_ITEMS {
        story.does(&ali, tick(item));
    }
    story.later(minutes(90));
    let resolved_at = story.now();
    assert_eq!(
        story.does(&ali, Command::Resolve { note: Some("Brushes replaced.".into()) }),
        [
            Change::StageChanged { from: "resolution".into(), to: "survey".into(), transition: "resolve".into() },
            Change::Resolved { note: Some("Brushes replaced.".into()) }
        ]
    );
    assert_eq!((story.ticket.status, story.ticket.resolved_at), (Status::Resolved, Some(resolved_at)));

    let problems = refused(story.fails(&agent(MARYAM), Command::Resolve { note: None }));
    assert_eq!(fields(&problems), ["status"]);
    assert_eq!(problems[0].message, "the ticket is already resolved");

    // Reopening leaves the survey by its way back to work, not by staying in a resolved stage.
    assert_eq!(
        story.does(&agent(MARYAM), Command::Reopen { reason: Some("Customer says no.".into()) }),
        [
            Change::StageChanged { from: "survey".into(), to: "resolution".into(), transition: "reopen_work".into() },
            Change::Reopened { reason: Some("Customer says no.".into()) }
        ]
    );
    let ticket = &story.ticket;
    assert_eq!((ticket.status, ticket.stage.as_str(), ticket.reopened), (Status::Open, "resolution", 1));
    assert_eq!(ticket.resolved_at, None);
}

#[test]
fn resolve_in_place_needs_every_guard_of_the_transition_to_the_solved_end() {
    // `check` leads to `done` (a solved end) by `pass`, which needs forms, checklist and approval.
    let mut story = Desk::new(&GUARDS).open_plain();
    let wendy = agent(WENDY);
    let problems = refused(story.fails(&wendy, Command::Resolve { note: None }));
    assert_eq!(
        fields(&problems),
        ["forms.details.model", "forms.details.count", "checklist.Box opened", "checklist.Parts counted", "approval"]
    );
    story.does(&wendy, tick("Box opened"));
    story.does(&wendy, tick("Parts counted"));
    story.does(&wendy, go("quick"));
    // `recheck` closes by `close` (to `done`, solved) or `abandon` (to `dropped`, not solved).
    let resolved_at = story.now();
    assert_eq!(story.does(&wendy, Command::Resolve { note: None }), [Change::Resolved { note: None }]);
    assert_eq!((story.ticket.stage.as_str(), story.ticket.status), ("recheck", Status::Resolved));
    story.later(minutes(30));
    assert_eq!(
        story.does(&wendy, Command::Close),
        [
            Change::StageChanged { from: "recheck".into(), to: "done".into(), transition: "close".into() },
            Change::Closed
        ]
    );
    assert_eq!(story.ticket.resolved_at, Some(resolved_at), "closing keeps the resolution time");
}

#[test]
fn a_ticket_resolved_in_place_reopens_in_place() {
    let mut story = Desk::new(&GUARDS).open_plain();
    let wendy = agent(WENDY);
    story.does(&wendy, tick("Box opened"));
    story.does(&wendy, tick("Parts counted"));
    story.does(&wendy, go("quick"));
    story.does(&wendy, Command::Resolve { note: None });
    assert_eq!(story.does(&wendy, Command::Reopen { reason: None }), [Change::Reopened { reason: None }]);
    assert_eq!((story.ticket.stage.as_str(), story.ticket.status), ("recheck", Status::Open));
}

// ====================================================================================== close

#[test]
fn close_takes_the_transition_to_the_terminal_stage() {
    let mut story = after_sales().open_plain().in_survey();
    let resolved_at = story.now();
    assert_eq!(story.ticket.status, Status::Resolved, "the survey stage is `resolved = true`");
    story.later(minutes(60));
    let closed_at = story.now();
    assert_eq!(
        story.does(&agent(MARYAM), Command::Close),
        [
            Change::StageChanged { from: "survey".into(), to: "closed".into(), transition: "close".into() },
            Change::Closed
        ]
    );
    let ticket = &story.ticket;
    assert_eq!((ticket.stage.as_str(), ticket.status), ("closed", Status::Closed));
    assert_eq!((ticket.closed_at, ticket.resolved_at), (Some(closed_at), Some(resolved_at)));
    assert_eq!(ticket.previous_stage.as_deref(), Some("survey"));
}

#[test]
fn close_is_refused_when_no_transition_of_the_stage_closes() {
    let mut story = after_sales().open_plain().in_resolution();
    let problems = refused(story.fails(&agent(ALI), Command::Close));
    assert_eq!(fields(&problems), ["stage"]);
    assert_eq!(problems[0].message, "no transition of stage `resolution` closes the ticket; move it on first");
}

#[test]
fn close_with_several_ways_to_close_takes_the_one_named_close_or_asks() {
    let mut story = Desk::new(&GUARDS).open_plain();
    let wendy = agent(WENDY);
    let problems = refused(story.fails(&wendy, Command::Close));
    assert_eq!(fields(&problems), ["stage"]);
    assert_eq!(problems[0].message, "stage `check` can be closed several ways (pass, drop); take one by name");

    story.does(&wendy, tick("Box opened"));
    story.does(&wendy, tick("Parts counted"));
    story.does(&wendy, go("quick"));
    assert_eq!(
        story.does(&wendy, Command::Close),
        [
            Change::StageChanged { from: "recheck".into(), to: "done".into(), transition: "close".into() },
            Change::Closed
        ]
    );
}

#[test]
fn close_obeys_the_guards_of_the_transition_it_takes() {
    // In review the only way to a terminal stage is `cancel`, which needs approval.
    let mut story = after_sales().open_plain().in_review();
    let problems = refused(story.fails(&agent(ALI), Command::Close));
    assert_eq!(fields(&problems), ["approval"]);
    story.does(&agent(REZA), approve());
    assert_eq!(
        story.does(&agent(ALI), Command::Close),
        [
            Change::StageChanged { from: "review".into(), to: "cancelled".into(), transition: "cancel".into() },
            Change::Closed
        ]
    );
}

// =========================================================================== finished tickets

#[test]
fn a_closed_ticket_refuses_every_command_but_reopen_and_link() {
    let mut story = after_sales().open_plain().once_closed();
    let number = story.ticket.number.clone();
    let other = after_sales().same_customer().open_plain().ticket;
    let commands = [
        save("satisfaction", json!({ "csat": 5 })),
        tick(INTAKE_ITEMS[0]),
        reply("Hello?"),
        Command::RecordStep { description: "More work.".into() },
        assign(Some(MARYAM)),
        Command::SetPriority { priority: "high".into() },
        Command::RequestApproval { note: None },
        approve(),
        go("close"),
        Command::Resolve { note: None },
        Command::Close,
        Command::Merge { into: other.id },
    ];
    for command in commands {
        let name = command.name();
        let reason = finished(story.fails_with(&Actor::admin("root"), command, Some(&other)));
        assert_eq!(reason, format!("ticket {number} is closed; reopen it first"), "{name}");
    }
    let customer = story.customer_actor();
    finished(story.fails(&customer, reply("Hello?")));

    story.does_with(&agent(MARYAM), Command::Link { other: other.id, relation: Relation::Related }, &other);
    story.does(&agent(ALI), Command::Reopen { reason: None });
    assert_eq!(story.ticket.status, Status::Open);
}

// ===================================================================================== reopen

#[test]
fn reopen_returns_a_closed_ticket_to_where_the_work_was() {
    let mut story = after_sales().open_plain().once_closed();
    story.later(Duration::days(2));
    let reopened_at = story.now();

    // Closed from the survey, a stage where the request counts as resolved: reopened work goes
    // where the survey leads back to (resolution), and that stage's RACI decides who reopens.
    let reason = forbidden(story.fails(&agent(MARYAM), Command::Reopen { reason: None }));
    assert!(reason.starts_with("in stage `resolution` only the responsible (technician)"), "{reason}");

    assert_eq!(
        story.does(&agent(ALI), Command::Reopen { reason: Some("The noise is back.".into()) }),
        [
            Change::StageChanged { from: "closed".into(), to: "resolution".into(), transition: "reopen".into() },
            Change::Reopened { reason: Some("The noise is back.".into()) }
        ]
    );
    let ticket = &story.ticket;
    assert_eq!((ticket.stage.as_str(), ticket.status, ticket.reopened), ("resolution", Status::Open, 1));
    assert_eq!((ticket.closed_at, ticket.resolved_at), (None, None));
    assert_eq!(ticket.stage_entered_at, reopened_at);

    // Work goes on from there; a second close and reopen count again.
    story.through_resolution();
    story.through_survey();
    story.does(&agent(SARA), Command::Reopen { reason: None });
    assert_eq!((story.ticket.stage.as_str(), story.ticket.reopened), ("resolution", 2));
}

#[test]
fn reopen_of_a_ticket_cancelled_at_intake_returns_to_intake() {
    let mut story = after_sales().open_plain();
    story.does(&agent(MARYAM), go("cancel"));
    story.does(&agent(LEILA), Command::Reopen { reason: Some("Cancelled by mistake.".into()) });
    assert_eq!((story.ticket.stage.as_str(), story.ticket.status), ("intake", Status::Open));
}

#[test]
fn reopen_of_an_open_ticket_is_refused() {
    let mut story = after_sales().open_plain();
    let problems = refused(story.fails(&agent(MARYAM), Command::Reopen { reason: None }));
    assert_eq!(fields(&problems), ["status"]);
    assert_eq!(problems[0].message, "the ticket is open already");
}

// =============================================================================== link, merge

#[test]
fn link_records_the_relation_once() {
    let desk = after_sales();
    let b = desk.same_customer().open_plain().ticket;
    let mut a = desk.open_plain();
    let maryam = agent(MARYAM);
    assert_eq!(
        a.does_with(&maryam, Command::Link { other: b.id, relation: Relation::Related }, &b),
        [Change::Linked { other: b.id, relation: Relation::Related }]
    );
    assert_eq!(a.does_with(&maryam, Command::Link { other: b.id, relation: Relation::Related }, &b), []);
    assert_eq!(
        a.does_with(&maryam, Command::Link { other: b.id, relation: Relation::Spawned }, &b),
        [Change::Linked { other: b.id, relation: Relation::Spawned }]
    );
    assert_eq!(
        a.ticket.links.iter().collect::<Vec<_>>(),
        [&Link { ticket: b.id, relation: Relation::Related }, &Link { ticket: b.id, relation: Relation::Spawned }]
    );
}

#[test]
fn link_to_a_ticket_the_caller_did_not_find_is_not_found() {
    let desk = after_sales();
    let b = desk.same_customer().open_plain().ticket;
    let c = desk.same_customer().open_plain().ticket;
    let mut a = desk.open_plain();
    let link = Command::Link { other: b.id, relation: Relation::Related };
    let reason = not_found(a.fails_with(&agent(MARYAM), link.clone(), None));
    assert_eq!(reason, format!("ticket {} not found", b.id));
    let reason = not_found(a.fails_with(&agent(MARYAM), link, Some(&c)));
    assert_eq!(reason, format!("ticket {} not found", b.id));
}

#[test]
fn a_ticket_cannot_be_linked_to_itself() {
    let mut story = after_sales().open_plain();
    let me = story.ticket.clone();
    let problems = invalid(story.fails_with(
        &agent(MARYAM),
        Command::Link { other: me.id, relation: Relation::Related },
        Some(&me),
    ));
    assert_eq!(fields(&problems), ["other"]);
    assert_eq!(problems[0].message, "a ticket cannot be linked to itself");
}

#[test]
fn merge_closes_the_duplicate_into_an_open_ticket_of_the_same_customer() {
    let desk = after_sales();
    let original = desk.same_customer().open_plain().ticket;
    let mut duplicate = desk.same_customer().open_plain();
    duplicate.later(minutes(15));
    let merged_at = duplicate.now();
    assert_eq!(
        duplicate.does_with(&agent(MARYAM), Command::Merge { into: original.id }, &original),
        [
            Change::StageChanged { from: "intake".into(), to: "cancelled".into(), transition: "cancel".into() },
            Change::Merged { into: original.id }
        ],
        "a merge takes the stage's way to a terminal stage"
    );
    let ticket = &duplicate.ticket;
    assert_eq!((ticket.status, ticket.closed_at), (Status::Merged, Some(merged_at)));
    assert_eq!(
        ticket.links.iter().collect::<Vec<_>>(),
        [&Link { ticket: original.id, relation: Relation::DuplicateOf }]
    );

    let number = ticket.number.clone();
    let reason = finished(duplicate.fails(&agent(MARYAM), Command::Reopen { reason: None }));
    assert_eq!(reason, format!("ticket {number} was merged into another; work on that one"));
    finished(duplicate.fails(&agent(MARYAM), note("more")));
    // Linking is still allowed, to record what the duplicate relates to.
    let related = desk.same_customer().open_plain().ticket;
    let link = Command::Link { other: related.id, relation: Relation::Related };
    assert_eq!(duplicate.does_with(&agent(MARYAM), link, &related).len(), 1);
}

#[test]
fn merge_into_a_finished_ticket_or_another_customers_ticket_is_refused() {
    let desk = after_sales();
    let closed = desk.same_customer().open_plain().once_closed().ticket;
    let theirs = desk.other_customer().open_plain().ticket;
    let mut story = desk.same_customer().open_plain();
    let maryam = agent(MARYAM);

    let problems = refused(story.fails_with(&maryam, Command::Merge { into: closed.id }, Some(&closed)));
    assert_eq!(fields(&problems), ["into"]);
    assert_eq!(problems[0].message, format!("ticket {} is closed: merge into an open ticket", closed.number));

    let problems = refused(story.fails_with(&maryam, Command::Merge { into: theirs.id }, Some(&theirs)));
    assert_eq!(fields(&problems), ["into"]);
    assert_eq!(problems[0].message, format!("ticket {} belongs to another customer", theirs.number));

    // Nor into a ticket that was itself merged away.
    let original = desk.same_customer().open_plain().ticket;
    let mut gone = desk.same_customer().open_plain();
    gone.does_with(&maryam, Command::Merge { into: original.id }, &original);
    let problems = refused(story.fails_with(&maryam, Command::Merge { into: gone.ticket.id }, Some(&gone.ticket)));
    assert_eq!(problems[0].message, format!("ticket {} is merged: merge into an open ticket", gone.ticket.number));

    let reason = not_found(story.fails_with(&maryam, Command::Merge { into: original.id }, None));
    assert_eq!(reason, format!("ticket {} not found", original.id));
}

#[test]
fn a_ticket_cannot_be_merged_into_itself() {
    let mut story = after_sales().open_plain();
    let me = story.ticket.clone();
    invalid(story.fails_with(&agent(MARYAM), Command::Merge { into: me.id }, Some(&me)));
}

#[test]
fn merging_into_itself_names_the_into_field() {
    let mut story = after_sales().open_plain();
    let me = story.ticket.clone();
    let problems = invalid(story.fails_with(&agent(MARYAM), Command::Merge { into: me.id }, Some(&me)));
    assert_eq!(fields(&problems), ["into"]);
}

#[test]
fn a_merged_ticket_does_not_tell_people_to_reopen_it() {
    let desk = after_sales();
    let original = desk.same_customer().open_plain().ticket;
    let mut duplicate = desk.open_plain();
    duplicate.does_with(&agent(MARYAM), Command::Merge { into: original.id }, &original);
    let reason = finished(duplicate.fails(&agent(MARYAM), note("more")));
    assert!(!reason.contains("reopen it first"), "{reason}");
}

// ==================================================================================== scripts

#[test]
fn a_condition_that_loops_forever_is_stopped_with_a_script_error_naming_the_line() {
    let mut story = Desk::new(&SCRIPTS).open_plain();
    let (script, message) = script_error(story.fails(&agent(ANN), go("spin")));
    assert_eq!(script, "inline script");
    // Its operation limit or its time bound, whichever comes first (a debug build is slow).
    let stopped = message == "stopped after 200000 operations (line 3): does it loop forever?"
        || message == "stopped after running 50 ms (line 3): scripts are limited in time";
    assert!(stopped, "{message}");
}

#[test]
fn a_failing_condition_in_a_script_file_names_the_file_and_line() {
    let mut story = Desk::new(&SCRIPTS).open_plain();
    let (script, message) = script_error(story.fails(&agent(ANN), go("divide")));
    assert!(script.ends_with("tests/workflows/engine/scripts/engine-divide-by-zero.rhai"), "{script}");
    assert!(message.contains("Division by zero") && message.ends_with("(line 4)"), "{message}");
}

#[test]
fn a_condition_that_returns_neither_bool_nor_reason_is_a_script_error() {
    let mut story = Desk::new(&SCRIPTS).open_plain();
    let (script, message) = script_error(story.fails(&agent(ANN), go("answer")));
    assert_eq!(script, "inline script");
    assert_eq!(message, "returned 42 (i64); a condition returns true, false or a reason");
    // The ticket is unharmed and the other ways out still work.
    story.does(&agent(ANN), go("finish"));
    assert_eq!(story.ticket.status, Status::Closed);
}

#[test]
fn a_form_check_that_returns_no_map_is_a_script_error() {
    let mut story = Desk::new(&SCRIPTS).open_plain();
    let (script, message) = script_error(story.fails(&agent(ANN), save("note", json!({ "text": "hello" }))));
    assert_eq!(script, "inline script");
    assert_eq!(message, "returned this is not a map (string); a form validation returns a map of field to message");

    let desk = Desk::new(&SCRIPTS);
    let mut request = desk.request("With a note");
    request.forms = forms(json!({ "note": { "text": "hello" } }));
    script_error(desk.try_open(&request).expect_err("the form check fails at opening too"));
}

#[test]
fn a_routing_script_that_answers_nonsense_fails_the_opening() {
    let desk = Desk::new(&SCRIPTS);
    let cases = [
        ("ghost role", "returned role \"ghost\", which the workflow does not define"),
        ("extra keys", "returned unknown keys team; a routing decision has queue, role and assign"),
        ("bad assign", "returned assign = \"random\"; use round_robin, least_loaded or manual"),
    ];
    for (subject, expected) in cases {
        let (script, message) = script_error(desk.try_open(&desk.request(subject)).expect_err(subject));
        assert_eq!((script.as_str(), message.as_str()), ("inline script", expected), "{subject}");
    }
    let (_, message) = script_error(desk.try_open(&desk.request("broken")).expect_err("runtime error"));
    assert!(message.contains("undefined_variable") && message.ends_with("(line 4)"), "{message}");
}

// ================================================================================== not found

#[test]
fn a_ticket_on_a_stage_its_workflow_version_lacks_is_not_found() {
    let mut story = Desk::new(&GUARDS).open_plain();
    story.desk.workflow = &AFTER_SALES;
    let reason = not_found(story.fails(&agent(MARYAM), reply("Hello")));
    assert_eq!(reason, format!("stage `check` is not in workflow version {}", AFTER_SALES.version));
}

// ================================================================================= a whole life

#[test]
fn a_request_from_intake_to_closed_with_the_clock_moving() {
    let mut story = after_sales().open_plain();
    let opened = story.ticket.created_at;
    story.later(minutes(20));
    story.does(&agent(MARYAM), reply("Thanks, we have your request."));
    story.does(&agent(MARYAM), assign(Some(ALI)));
    story.later(minutes(40));
    story.through_intake();
    assert_eq!(story.ticket.stage_entered_at, opened + minutes(60));
    story.later(Duration::hours(3));
    story.through_review();
    story.later(Duration::hours(5));
    story.through_resolution();
    story.later(Duration::days(1));
    story.does(&agent(MARYAM), save("satisfaction", json!({ "csat": 5, "nps": 9 })));
    story.through_survey();

    let ticket = &story.ticket;
    assert_eq!(ticket.first_response_at, Some(opened + minutes(20)));
    assert_eq!(ticket.closed_at, Some(opened + Duration::hours(33)));
    assert_eq!(ticket.visited.len(), 5);
    assert_eq!(ticket.assignee.as_deref(), Some(ALI));
    assert_eq!(ticket.revision, story.log.len() as u64);
    let stages: Vec<(&str, &str)> = story
        .log
        .iter()
        .filter_map(|e| match &e.change {
            Change::StageChanged { from, to, .. } => Some((from.as_str(), to.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        stages,
        [("intake", "review"), ("review", "resolution"), ("resolution", "survey"), ("survey", "closed")]
    );
}

// ============================================================================ resolved stages

#[test]
fn entering_a_resolved_stage_resolves_and_going_back_reopens() {
    let mut story = after_sales().open_plain().in_resolution();
    story.later(minutes(45));
    let resolved_at = story.now();
    story.through_resolution();
    assert_eq!((story.ticket.status, story.ticket.resolved_at), (Status::Resolved, Some(resolved_at)));
    let changes = story.does(&agent(MARYAM), go("reopen_work"));
    assert_eq!(
        changes,
        [
            Change::StageChanged { from: "survey".into(), to: "resolution".into(), transition: "reopen_work".into() },
            Change::Reopened { reason: Some("moved back to `resolution`".into()) },
        ]
    );
    assert_eq!((story.ticket.status, story.ticket.resolved_at), (Status::Open, None));
}

#[test]
fn integrations_and_the_system_cannot_approve() {
    let mut story = after_sales().open_plain().in_review();
    for actor in [Actor::integrator("crm"), Actor::system("scheduler")] {
        let reason = forbidden(story.fails(&actor, approve()));
        assert!(reason.contains("person of the accountable role"), "{reason}");
    }
    story.does(&Actor::admin("root"), approve());
}

#[test]
fn a_blank_value_clears_an_optional_typed_field() {
    let mut story = after_sales().open_plain();
    let maryam = agent(MARYAM);
    story.does(&maryam, save("request", json!({ "contact_phone": "+98 21 5555 1234", "purchase_date": "2026-01-05" })));
    let changes = story.does(&maryam, save("request", json!({ "contact_phone": "", "purchase_date": "  " })));
    assert_eq!(changes.len(), 1);
    let saved = &story.ticket.forms["request"];
    assert!(!saved.contains_key("contact_phone") && !saved.contains_key("purchase_date"), "{saved:?}");
}

// ------------------------------------------------------------------------- customer replies

fn customer_says(body: &str) -> Command {
    Command::CustomerReply { body: body.to_string(), mail: None, attachments: Vec::new() }
}

fn mail_meta(unanswered: Option<&str>) -> afterdesk::engine::event::MailMeta {
    afterdesk::engine::event::MailMeta {
        message_id: "m1@customer.example".into(),
        from: "parisa@customer.example".into(),
        subject: "Re: [T-1] The washing machine".into(),
        original: "ab".repeat(32),
        inbound: None,
        unanswered: unanswered.map(str::to_string),
    }
}

#[test]
fn a_customer_reply_comes_from_the_customer_or_an_integration_never_from_staff_or_others() {
    let mut story = after_sales().open_plain();
    let stranger = Actor { id: CustomerId(Ulid::generate()).to_string(), kind: ActorKind::Customer };
    assert!(forbidden(story.fails(&stranger, customer_says("Hello"))).contains("customer"));
    assert!(forbidden(story.fails(&agent(MARYAM), customer_says("Hello"))).contains("comments"));
    assert_eq!(fields(&invalid(story.fails(&story.customer_actor(), customer_says("  ")))), ["body"]);
    let own = story.customer_actor();
    let changes = story.does(&own, customer_says("  The drum still does not turn.  "));
    assert_eq!(changes, [Change::CustomerReplied { body: "The drum still does not turn.".into(), mail: None }]);
    story.does(&Actor::integrator("whatsapp-gateway"), customer_says("Photo sent."));
    assert_eq!(story.ticket.customer_replies, 2);
    assert_eq!(story.ticket.customer_replied_at, Some(story.now()));
    assert_eq!(story.ticket.stage, "intake", "a reply outside a waiting stage moves nothing");
}

#[test]
fn a_reply_leaves_a_waiting_stage_by_on_customer_reply() {
    let mut story = after_sales().open_plain().in_review();
    story.does(&agent(ALI), go("ask_customer"));
    assert_eq!(story.ticket.stage, "waiting_customer");
    story.later(minutes(30));
    let own = story.customer_actor();
    let changes = story.does(&own, customer_says("The serial is SN-1."));
    assert!(
        changes.iter().any(
            |c| matches!(c, Change::StageChanged { from, to, .. } if from == "waiting_customer" && to == "review")
        ),
        "{changes:?}"
    );
    assert_eq!(story.ticket.stage, "review");
}

#[test]
fn automatic_mail_is_recorded_and_moves_nothing() {
    let mut story = after_sales().open_plain().in_review();
    story.does(&agent(ALI), go("ask_customer"));
    let command = Command::CustomerReply {
        body: "I am out of the office.".into(),
        mail: Some(mail_meta(Some("automatic reply (Auto-Submitted: auto-replied)"))),
        attachments: Vec::new(),
    };
    let changes = story.does(&Actor::system("inbound-mail"), command);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(matches!(&changes[0], Change::CustomerReplied { mail: Some(m), .. } if m.unanswered.is_some()));
    assert_eq!(story.ticket.stage, "waiting_customer", "still waiting");
}

#[test]
fn a_reply_reopens_a_resolved_or_closed_ticket() {
    let mut story = after_sales().open_plain().in_survey();
    assert_eq!(story.ticket.status, Status::Resolved);
    let own = story.customer_actor();
    let changes = story.does(&own, customer_says("It broke again."));
    assert!(changes.iter().any(|c| matches!(c, Change::Reopened { .. })), "{changes:?}");
    assert_eq!(story.ticket.status, Status::Open);
    assert_eq!(story.ticket.reopened, 1);

    let mut closed = after_sales().open_plain().once_closed();
    let own = closed.customer_actor();
    closed.does(&own, customer_says("It broke again."));
    assert_eq!(closed.ticket.status, Status::Open);
    assert_ne!(closed.ticket.stage, "closed");
}

static FOLLOW_UP: LazyLock<Workflow> = LazyLock::new(|| {
    variant(
        "workflows/after-sales.toml",
        "after-sales-follow-up",
        &[("repeat_window = \"30d\"\n", "repeat_window = \"30d\"\nreply_when_closed = \"follow_up\"\n")],
    )
});

#[test]
fn with_reply_when_closed_follow_up_a_closed_ticket_takes_no_reply() {
    let mut story = Desk::new(&FOLLOW_UP).open_plain().once_closed();
    let own = story.customer_actor();
    let refused = finished(story.fails(&own, customer_says("Again!")));
    assert!(refused.contains("follow-up"), "{refused}");
    // A follow-up opens linked to the closed ticket.
    let desk = story.desk.same_customer();
    let request = OpenTicket { follow_up_of: Some(story.ticket.id), ..desk.request("Again!") };
    let follow_up = desk.open(&request);
    assert!(
        follow_up.ticket.links.contains(&Link { ticket: story.ticket.id, relation: Relation::FollowUpOf }),
        "{:?}",
        follow_up.ticket.links
    );
}
