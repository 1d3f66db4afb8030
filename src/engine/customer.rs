//! Customers: who a ticket is for, so nobody asks a customer to explain twice.
//!
//! A customer record holds how to reach the person; their tickets are found through the store's
//! customer index. The history summary ([`History`]) is what the engine needs to flag repeat
//! requests and what rules see of the customer's past.
//!
//! Every change to a record is a [`CustomerEvent`] in the customer's own trail: who, when, and
//! each field's old and new value ([`changes`]). Who may change an existing customer is
//! decided by [`may_change`]: administrators, integrations, and agents working one of the
//! customer's open tickets (so a stranger cannot redirect a customer's mail).
//!
//! Two records of one person (a phone-only record and a later one with an email) become one
//! with [`merge`]: the survivor takes the details it lacks, the merged record points at it
//! (`merged_into`), and both trails say so; the tickets move by an event on each
//! ([`crate::engine::Change::CustomerChanged`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::error::EngineError;
use super::event::{Actor, ActorKind};
use super::ticket::{Ticket, TicketId};
use crate::locale::Lang;
use crate::workflow::model::WorkflowFile;

/// A customer's id: a ULID, so ids sort by creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "01KAT8Z6Y9C3M5Q7R2V4W6X8Y0")]
pub struct CustomerId(pub Ulid);

impl std::fmt::Display for CustomerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for CustomerId {
    type Err = ulid::DecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(text).map(Self)
    }
}

/// A customer record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    /// Id.
    pub id: CustomerId,
    /// Full name.
    pub name: String,
    /// Email address, stored lower-case; unique among customers.
    pub email: Option<String>,
    /// Phone number in E.164 (`+989121112222`; see [`super::phone`]); unique among customers.
    /// Records saved before numbers were normalised keep the number as typed until changed.
    pub phone: Option<String>,
    /// Id in another system (CRM, shop); unique among customers.
    pub external_id: Option<String>,
    /// Very important customer: rules may treat them first.
    #[serde(default)]
    pub vip: bool,
    /// The language the customer reads (`en`, `fa`, `ar`): their mail is written in it,
    /// whatever the workflow's `language`; absent, the workflow's. Records saved before it
    /// existed read as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "fa")]
    pub language: Option<Lang>,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// What the customer said in surveys.
    #[serde(default)]
    pub satisfaction: Satisfaction,
    /// The customer this record was merged into: its tickets, history and lookup keys are
    /// theirs now; absent on a record in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub merged_into: Option<CustomerId>,
}

/// A customer's survey answers, summed up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Satisfaction {
    /// Surveys answered.
    pub answers: u32,
    /// Sum of the CSAT scores given (average = `csat_sum / csat_answers`).
    pub csat_sum: u32,
    /// Answers with a CSAT score.
    pub csat_answers: u32,
    /// The last CSAT score (1-5).
    pub last_csat: Option<u8>,
    /// The last NPS score (0-10).
    pub last_nps: Option<u8>,
    /// The last CES score (1-7).
    pub last_ces: Option<u8>,
    /// The ticket of the last answer.
    pub last_ticket: Option<crate::engine::TicketId>,
    /// When the last answer came.
    pub last_answered_at: Option<DateTime<Utc>>,
}

impl Satisfaction {
    /// Adds an answer given on `ticket` at `at`.
    pub fn add(&mut self, answer: &super::survey::SurveyAnswer, ticket: crate::engine::TicketId, at: DateTime<Utc>) {
        self.answers += 1;
        if let Some(csat) = answer.csat {
            self.csat_sum += u32::from(csat);
            self.csat_answers += 1;
            self.last_csat = Some(csat);
        }
        self.last_nps = answer.nps.or(self.last_nps);
        self.last_ces = answer.ces.or(self.last_ces);
        self.last_ticket = Some(ticket);
        self.last_answered_at = Some(at);
    }
}

/// How a caller identifies a customer when opening a ticket: an existing id, or contact details
/// that find (by email, then external id, then phone number) or create the record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// An existing customer's id.
    #[serde(default)]
    pub id: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Id in another system.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Very important customer.
    #[serde(default)]
    pub vip: Option<bool>,
    /// The language the customer reads: `en`, `fa` or `ar` (their mail is written in it).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "fa")]
    pub language: Option<Lang>,
}

/// One earlier ticket of a customer, as far as the engine needs to know it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastTicket {
    /// The ticket.
    pub id: crate::engine::TicketId,
    /// Its workflow.
    pub workflow: String,
    /// Its category.
    pub category: Option<String>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Its last survey CSAT, if answered.
    pub csat: Option<u8>,
    /// Who it is (or was last) assigned to: sticky assignment prefers them.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// A customer's history, newest ticket first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Earlier tickets, newest first.
    pub tickets: Vec<PastTicket>,
}

impl History {
    /// The most recent earlier ticket in the same workflow and category opened within `window`
    /// before `now`: the ticket a new one repeats.
    pub fn repeat_of(
        &self,
        workflow: &str,
        category: Option<&str>,
        window: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Option<&PastTicket> {
        let category = category?;
        self.tickets.iter().find(|past| {
            past.workflow == workflow && past.category.as_deref() == Some(category) && now - past.opened_at <= window
        })
    }

    /// How many earlier tickets of the same category the customer opened: the repeat requests.
    ///
    /// Counts only tickets of the same workflow opened within `window` before `now`, like
    /// [`History::repeat_of`].
    pub fn repeats(
        &self,
        workflow: &str,
        category: Option<&str>,
        window: chrono::Duration,
        now: DateTime<Utc>,
    ) -> usize {
        let Some(category) = category else { return 0 };
        let recent = |past: &&PastTicket| {
            past.workflow == workflow && past.category.as_deref() == Some(category) && now - past.opened_at <= window
        };
        self.tickets.iter().filter(recent).count()
    }

    /// The agent who last served the customer: the assignee of their newest earlier ticket that
    /// had one.
    pub fn last_agent(&self) -> Option<&str> {
        self.tickets.iter().find_map(|past| past.assignee.as_deref())
    }
}

/// What kind of change a customer event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerEventKind {
    /// The record was made (by `POST /v1/customers`, or for a ticket opened for someone new).
    Created,
    /// Its details were changed with `POST /v1/customers`.
    Updated,
    /// Details it lacked were filled in from a ticket opened for the customer.
    FilledIn,
    /// Two records became one (`POST /v1/customers/{id}/merge`): on the merged record's trail,
    /// `other` is the survivor; on the survivor's, `other` is the merged record, and `changes`
    /// the details it took from it.
    Merged,
}

/// One field of a customer record, before and after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// `name`, `email`, `phone`, `external_id` or `vip`.
    pub field: String,
    /// The value before (`null`: none, or the record is new).
    pub old: serde_json::Value,
    /// The value after (`null`: none).
    pub new: serde_json::Value,
}

/// An entry of a customer's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerEvent {
    /// Id (a ULID: events sort by time).
    #[schema(value_type = String)]
    pub id: Ulid,
    /// The customer.
    pub customer: CustomerId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// What kind of change.
    pub kind: CustomerEventKind,
    /// Each field that changed, with its old and new value.
    pub changes: Vec<FieldChange>,
    /// The ticket whose opening made the change, if one did.
    #[serde(default)]
    pub ticket: Option<TicketId>,
    /// The other customer of a merge (see [`CustomerEventKind::Merged`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub other: Option<CustomerId>,
}

/// The fields that differ between `before` (`None`: a new record) and `after`.
pub fn changes(before: Option<&Customer>, after: &Customer) -> Vec<FieldChange> {
    use serde_json::{Value, json};
    let fields = |c: &Customer| -> [(&'static str, Value); 6] {
        [
            ("name", json!(c.name)),
            ("email", json!(c.email)),
            ("phone", json!(c.phone)),
            ("external_id", json!(c.external_id)),
            ("vip", json!(c.vip)),
            ("language", json!(c.language)),
        ]
    };
    let old = before.map(fields);
    fields(after)
        .into_iter()
        .enumerate()
        .filter_map(|(i, (field, new))| {
            let old = old.as_ref().map_or(Value::Null, |old| old[i].1.clone());
            let unchanged = old == new || (before.is_none() && new == json!(false));
            (!unchanged).then(|| FieldChange { field: field.to_string(), old, new })
        })
        .collect()
}

/// Whether `actor` may change the existing `customer`, given the customer's open tickets with
/// the workflow (version) each is on: administrators and integrations may; an agent only while
/// working one of them, i.e. holding a role in its workflow and being its assignee or of the
/// current stage's responsible or accountable role.
pub fn may_change(
    actor: &Actor,
    customer: &Customer,
    open_tickets: &[(&Ticket, &WorkflowFile)],
) -> Result<(), EngineError> {
    match actor.kind {
        ActorKind::Admin | ActorKind::Integrator | ActorKind::System => return Ok(()),
        ActorKind::Customer => {
            return Err(EngineError::Forbidden("customers may not change customer records".into()));
        }
        ActorKind::Agent => {}
    }
    let works = |(ticket, workflow): &(&Ticket, &WorkflowFile)| {
        let mine = super::transition::roles_of(workflow, &actor.id);
        if ticket.status.is_finished() || mine.is_empty() {
            return false;
        }
        let assignee = ticket.assignee.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(&actor.id));
        let raci = workflow.stages.get(ticket.stage.as_str()).map(|stage| &stage.raci);
        let has =
            |role: Option<&crate::workflow::model::Name>| role.is_some_and(|r| mine.contains(&r.get_ref().as_str()));
        assignee || raci.is_some_and(|raci| has(raci.responsible.as_ref()) || has(raci.accountable.as_ref()))
    };
    if open_tickets.iter().any(works) {
        return Ok(());
    }
    Err(EngineError::Forbidden(format!(
        "only an administrator, an integration, or an agent working one of the customer's open tickets (its \
         assignee, or of its stage's responsible or accountable role) may change customer {}; {} works none of \
         their {} open ticket(s)",
        customer.id,
        actor.id,
        open_tickets.iter().filter(|(t, _)| !t.status.is_finished()).count()
    )))
}

/// Two records made one: both as they must be stored, and the details the survivor took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// The merged record, pointing at the survivor.
    pub merged: Customer,
    /// The survivor, with the details it lacked taken from the merged record.
    pub survivor: Customer,
    /// The survivor's fields that changed.
    pub changes: Vec<FieldChange>,
}

/// Merges `merged` into `survivor` as `actor` at `now`: only administrators and integrations
/// may (an agent sees only some workflows' tickets of a customer). The survivor keeps its own
/// details and takes those it lacks (email, phone, external id, a name when it has none), is VIP
/// if either was, and adds up both records' survey answers.
pub fn merge(actor: &Actor, merged: &Customer, survivor: &Customer, now: DateTime<Utc>) -> Result<Merge, EngineError> {
    if !matches!(actor.kind, ActorKind::Admin | ActorKind::Integrator | ActorKind::System) {
        return Err(EngineError::Forbidden(format!(
            "only an administrator or an integration may merge customers; {} may not",
            actor.id
        )));
    }
    let invalid = |field: &str, message: String| EngineError::Invalid(vec![super::FieldProblem::new(field, message)]);
    if merged.id == survivor.id {
        return Err(invalid("into", "a customer cannot be merged into themselves".into()));
    }
    if let Some(into) = merged.merged_into {
        return Err(invalid("id", format!("customer {} was already merged into {into}", merged.id)));
    }
    if let Some(into) = survivor.merged_into {
        return Err(invalid("into", format!("customer {} was merged into {into}; merge into {into}", survivor.id)));
    }
    let mut after = survivor.clone();
    let take = |field: &mut Option<String>, other: &Option<String>| {
        if field.is_none() {
            field.clone_from(other);
        }
    };
    take(&mut after.email, &merged.email);
    take(&mut after.phone, &merged.phone);
    take(&mut after.external_id, &merged.external_id);
    if after.name.is_empty() {
        after.name.clone_from(&merged.name);
    }
    after.vip |= merged.vip;
    after.language = after.language.or(merged.language);
    let (mine, theirs) = (&mut after.satisfaction, &merged.satisfaction);
    mine.answers += theirs.answers;
    mine.csat_sum += theirs.csat_sum;
    mine.csat_answers += theirs.csat_answers;
    if theirs.last_answered_at > mine.last_answered_at {
        mine.last_csat = theirs.last_csat.or(mine.last_csat);
        mine.last_nps = theirs.last_nps.or(mine.last_nps);
        mine.last_ces = theirs.last_ces.or(mine.last_ces);
        mine.last_ticket = theirs.last_ticket;
        mine.last_answered_at = theirs.last_answered_at;
    }
    after.updated_at = now;
    let changes = changes(Some(survivor), &after);
    let mut gone = merged.clone();
    gone.merged_into = Some(survivor.id);
    gone.updated_at = now;
    Ok(Merge { merged: gone, survivor: after, changes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sam() -> Customer {
        let at = DateTime::parse_from_rfc3339("2026-11-23T05:30:00Z").expect("time").to_utc();
        Customer {
            id: CustomerId(Ulid::from_parts(1, 1)),
            name: "Sam".into(),
            email: Some("sam@example.com".into()),
            phone: None,
            external_id: None,
            vip: false,
            language: None,
            created_at: at,
            updated_at: at,
            satisfaction: Satisfaction::default(),
            merged_into: None,
        }
    }

    fn change(field: &str, old: serde_json::Value, new: serde_json::Value) -> FieldChange {
        FieldChange { field: field.into(), old, new }
    }

    #[test]
    fn a_new_record_lists_what_it_was_given_and_a_change_only_what_changed() {
        use serde_json::{Value, json};
        let sam = sam();
        assert_eq!(
            changes(None, &sam),
            [change("name", Value::Null, json!("Sam")), change("email", Value::Null, json!("sam@example.com"))]
        );
        let mut after = sam.clone();
        after.phone = Some("+98 912 111 2222".into());
        after.email = None;
        after.vip = true;
        after.updated_at += chrono::Duration::hours(1);
        after.satisfaction.answers = 1;
        assert_eq!(
            changes(Some(&sam), &after),
            [
                change("email", json!("sam@example.com"), Value::Null),
                change("phone", Value::Null, json!("+98 912 111 2222")),
                change("vip", json!(false), json!(true)),
            ]
        );
        assert_eq!(changes(Some(&sam), &sam), [], "nothing changed, nothing listed");
    }

    #[test]
    fn a_merge_keeps_the_survivors_details_and_takes_those_it_lacks() {
        use serde_json::json;
        let mut caller = sam();
        caller.id = CustomerId(Ulid::from_parts(1, 2));
        caller.email = None;
        caller.phone = Some("+989121112222".into());
        caller.vip = true;
        let sam = sam();
        let now = sam.created_at + chrono::Duration::hours(1);
        let admin = Actor { id: "admin".into(), kind: ActorKind::Admin };
        let merge = merge(&admin, &caller, &sam, now).expect("an admin merges");
        assert_eq!(merge.merged.merged_into, Some(sam.id));
        assert_eq!(merge.survivor.email.as_deref(), Some("sam@example.com"), "its own");
        assert_eq!(merge.survivor.phone.as_deref(), Some("+989121112222"), "taken");
        assert_eq!(
            merge.changes,
            [
                change("phone", serde_json::Value::Null, json!("+989121112222")),
                change("vip", json!(false), json!(true))
            ]
        );
        let agent = Actor { id: "omid@example.com".into(), kind: ActorKind::Agent };
        assert!(matches!(super::merge(&agent, &caller, &sam, now), Err(EngineError::Forbidden(_))));
        assert!(matches!(super::merge(&admin, &sam, &sam, now), Err(EngineError::Invalid(_))));
        assert!(matches!(super::merge(&admin, &merge.merged, &sam, now), Err(EngineError::Invalid(_))), "twice");
        assert!(
            matches!(super::merge(&admin, &sam, &merge.merged, now), Err(EngineError::Invalid(_))),
            "into a gone one"
        );
    }
}
