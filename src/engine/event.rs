//! What happened to a ticket: the events of its log, the only truth about it.
//!
//! Every change to a ticket is an [`Event`]: who did it, when, and what changed. A ticket's
//! state is the fold of its events ([`super::ticket::Ticket::apply`]), so an event carries all
//! the data the fold needs and never refers to the workflow definition.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::attachment::Attachment;
use super::customer::CustomerId;
use super::survey::SurveyAnswer;
use super::ticket::TicketId;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// The person (email or id), the customer's id, or the name of a system.
    pub id: String,
    /// What kind of party acted.
    pub kind: ActorKind,
}

/// Kinds of actor. RACI rules apply to agents; integrators and the system act on behalf of
/// others; administrators may do anything an agent may, in any role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A member of staff, bound by RACI.
    Agent,
    /// The customer the ticket belongs to.
    Customer,
    /// Another system through the API (web form, telephony, messaging gateway).
    Integrator,
    /// An administrator.
    Admin,
    /// Afterdesk itself (timers, jobs, hooks).
    System,
}

impl Actor {
    /// An agent.
    pub fn agent(id: impl Into<String>) -> Self {
        Self { id: id.into(), kind: ActorKind::Agent }
    }

    /// Afterdesk itself.
    pub fn system(what: impl Into<String>) -> Self {
        Self { id: what.into(), kind: ActorKind::System }
    }

    /// An integration.
    pub fn integrator(id: impl Into<String>) -> Self {
        Self { id: id.into(), kind: ActorKind::Integrator }
    }

    /// An administrator.
    pub fn admin(id: impl Into<String>) -> Self {
        Self { id: id.into(), kind: ActorKind::Admin }
    }
}

/// One entry of a ticket's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// The ticket.
    pub ticket: TicketId,
    /// The ticket's revision once this event is applied: 1 for the first event, then +1 each.
    pub revision: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor: Actor,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
}

/// How two tickets are related.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Related in some way.
    Related,
    /// An earlier request of the same customer in the same category (repeat request).
    RepeatOf,
    /// The inverse of `repeat_of`.
    RepeatedBy,
    /// A ticket opened from this one (e.g. a sales opportunity spotted during service).
    Spawned,
    /// The inverse of `spawned`.
    SpawnedFrom,
    /// This ticket was merged into the other as a duplicate.
    DuplicateOf,
    /// The other ticket was merged into this one.
    Duplicate,
    /// This ticket follows up the other, closed one (its customer wrote again after it closed).
    FollowUpOf,
    /// The inverse of `follow_up_of`.
    FollowedUpBy,
}

impl Relation {
    /// The relation as seen from the other ticket.
    pub fn inverse(self) -> Self {
        match self {
            Self::Related => Self::Related,
            Self::RepeatOf => Self::RepeatedBy,
            Self::RepeatedBy => Self::RepeatOf,
            Self::Spawned => Self::SpawnedFrom,
            Self::SpawnedFrom => Self::Spawned,
            Self::DuplicateOf => Self::Duplicate,
            Self::Duplicate => Self::DuplicateOf,
            Self::FollowUpOf => Self::FollowedUpBy,
            Self::FollowedUpBy => Self::FollowUpOf,
        }
    }
}

/// What an event changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
// `Opened` is larger than the rest, and rare: boxing it would only complicate every match.
#[allow(clippy::large_enum_variant)]
pub enum Change {
    /// The ticket was opened.
    Opened {
        /// Human number, e.g. `AS-1042`.
        number: String,
        /// Workflow id.
        workflow: String,
        /// Workflow version the ticket runs on for its whole life.
        version: String,
        /// Start stage.
        stage: String,
        /// Priority.
        priority: String,
        /// Category, when given.
        category: Option<String>,
        /// Intake channel, when given.
        channel: Option<String>,
        /// One-line summary.
        subject: String,
        /// The customer's own words.
        description: String,
        /// The customer.
        customer: CustomerId,
        /// Queue chosen by routing.
        queue: Option<String>,
        /// Role chosen by routing.
        role: Option<String>,
    },
    /// Form values were saved; a `null` value clears a field.
    FormSaved {
        /// The form.
        form: String,
        /// The fields saved, with their new values.
        #[schema(value_type = Object)]
        values: BTreeMap<String, serde_json::Value>,
    },
    /// A checklist item was ticked or unticked.
    ChecklistTicked {
        /// Stage of the checklist.
        stage: String,
        /// The item.
        item: String,
        /// Ticked or not.
        checked: bool,
    },
    /// A comment: a public reply to the customer or an internal note.
    Commented {
        /// The text.
        body: String,
        /// Visible to the customer.
        public: bool,
    },
    /// A step taken to resolve the request.
    StepRecorded {
        /// What was done.
        description: String,
    },
    /// The ticket was (re)assigned or unassigned.
    Assigned {
        /// The new assignee.
        assignee: Option<String>,
        /// The queue, when it changed.
        queue: Option<String>,
    },
    /// The priority changed.
    PriorityChanged {
        /// New priority.
        priority: String,
    },
    /// Approval was asked of the stage's accountable role.
    ApprovalRequested {
        /// Stage needing approval.
        stage: String,
        /// Why.
        note: Option<String>,
    },
    /// The stage's accountable role approved.
    Approved {
        /// Stage approved.
        stage: String,
        /// Comment of the approver.
        note: Option<String>,
    },
    /// The stage's accountable role refused the approval asked for; the request is cleared.
    ApprovalRejected {
        /// Stage whose approval was refused.
        stage: String,
        /// Why (required).
        note: String,
        /// Who had asked for the approval (told by mail).
        requested_by: Option<String>,
    },
    /// An approval given was voided because a form value of its stage changed after it: a
    /// transition needing approval needs a new one.
    ApprovalVoided {
        /// Stage whose approval was voided.
        stage: String,
        /// The form whose values changed.
        form: String,
        /// Who had approved.
        approved_by: Option<String>,
    },
    /// The ticket moved to another stage.
    StageChanged {
        /// Stage left.
        from: String,
        /// Stage entered.
        to: String,
        /// Transition taken, or `reopen`.
        transition: String,
    },
    /// The request was resolved.
    Resolved {
        /// How.
        note: Option<String>,
    },
    /// The ticket reached a terminal stage.
    Closed,
    /// A closed or resolved ticket was reopened.
    Reopened {
        /// Why.
        reason: Option<String>,
    },
    /// A link to another ticket.
    Linked {
        /// The other ticket.
        other: TicketId,
        /// The relation of this ticket to the other.
        relation: Relation,
    },
    /// This ticket was merged into another as a duplicate; it is closed.
    Merged {
        /// The original.
        into: TicketId,
    },
    /// The customer answered a satisfaction survey.
    SurveyAnswered {
        /// The answer.
        answer: SurveyAnswer,
    },
    /// An SLA clock started (or restarted).
    SlaStarted {
        /// The clock: `first_response`, `resolution` or `stage:ID`.
        clock: String,
        /// Business time allowed, in seconds.
        target_secs: u64,
    },
    /// An SLA clock paused (the ticket waits on the customer).
    SlaPaused {
        /// The clock.
        clock: String,
        /// Business time used so far, in seconds.
        used_secs: u64,
    },
    /// A paused SLA clock runs again.
    SlaResumed {
        /// The clock.
        clock: String,
    },
    /// The time allowed changed (the priority changed).
    SlaTargetChanged {
        /// The clock.
        clock: String,
        /// Business time now allowed, in seconds.
        target_secs: u64,
    },
    /// An SLA clock reached its warning point.
    SlaWarned {
        /// The clock.
        clock: String,
        /// Who was told.
        notify: Vec<String>,
    },
    /// An SLA clock ran out.
    SlaBreached {
        /// The clock.
        clock: String,
    },
    /// An escalation level after a breach was reached.
    SlaEscalated {
        /// The clock.
        clock: String,
        /// The level, from 1.
        level: u32,
        /// Who was told.
        notify: Vec<String>,
    },
    /// A reminder that a breached clock still waits for someone to act.
    SlaReminded {
        /// The clock.
        clock: String,
        /// Reminders sent so far, this one included.
        count: u32,
        /// Who was told.
        notify: Vec<String>,
    },
    /// An SLA clock stopped: met in time, or done late.
    SlaStopped {
        /// The clock.
        clock: String,
        /// Business time taken, in seconds.
        business_secs: u64,
        /// Whether it was met within the time allowed.
        met: bool,
    },
    /// Automatic assignment found nobody to take the ticket: it waits in its queue.
    NotAssigned {
        /// The role assignment looked in.
        role: String,
        /// Why nobody was picked (everyone unavailable, an empty role).
        reason: String,
    },
    /// A tag was added (by a hook).
    Tagged {
        /// The tag.
        tag: String,
    },
    /// A hook asked for people to be told something.
    Notified {
        /// The addresses (or people ids) told.
        to: Vec<String>,
        /// What they are told.
        message: String,
    },
    /// A file was attached.
    Attached {
        /// The file.
        attachment: Attachment,
    },
    /// The customer wrote (a reply by mail, or through a page or an integration).
    CustomerReplied {
        /// What they wrote, new text only (quoted history and signature left out).
        body: String,
        /// The mail it came in, when it came by mail.
        #[serde(default)]
        mail: Option<MailMeta>,
    },
    /// The mail that opened the ticket (its text is the ticket's description).
    MailReceived {
        /// The mail.
        mail: MailMeta,
    },
    /// The ticket is now a different customer's: their records were merged.
    CustomerChanged {
        /// The customer it was for.
        #[schema(value_type = String)]
        from: crate::engine::CustomerId,
        /// The customer it is for now.
        #[schema(value_type = String)]
        to: crate::engine::CustomerId,
    },
}

/// What the log keeps of a mail received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MailMeta {
    /// Its Message-ID, without angle brackets.
    pub message_id: String,
    /// Its sender's address.
    pub from: String,
    /// Its subject.
    pub subject: String,
    /// SHA-256 of the whole original message in the blob store.
    pub original: String,
    /// The inbound record that carried it (`GET /v1/inbound`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub inbound: Option<ulid::Ulid>,
    /// Why it is not answered, when it is not (an automatic reply, a mailing list, a loop).
    #[serde(default)]
    pub unanswered: Option<String>,
}

impl Change {
    /// The snake_case name of the change (`"stage_changed"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Opened { .. } => "opened",
            Self::FormSaved { .. } => "form_saved",
            Self::ChecklistTicked { .. } => "checklist_ticked",
            Self::Commented { .. } => "commented",
            Self::StepRecorded { .. } => "step_recorded",
            Self::Assigned { .. } => "assigned",
            Self::PriorityChanged { .. } => "priority_changed",
            Self::ApprovalRequested { .. } => "approval_requested",
            Self::Approved { .. } => "approved",
            Self::ApprovalRejected { .. } => "approval_rejected",
            Self::ApprovalVoided { .. } => "approval_voided",
            Self::StageChanged { .. } => "stage_changed",
            Self::Resolved { .. } => "resolved",
            Self::Closed => "closed",
            Self::Reopened { .. } => "reopened",
            Self::Linked { .. } => "linked",
            Self::Merged { .. } => "merged",
            Self::SurveyAnswered { .. } => "survey_answered",
            Self::SlaStarted { .. } => "sla_started",
            Self::SlaPaused { .. } => "sla_paused",
            Self::SlaResumed { .. } => "sla_resumed",
            Self::SlaTargetChanged { .. } => "sla_target_changed",
            Self::SlaWarned { .. } => "sla_warned",
            Self::SlaBreached { .. } => "sla_breached",
            Self::SlaEscalated { .. } => "sla_escalated",
            Self::SlaReminded { .. } => "sla_reminded",
            Self::SlaStopped { .. } => "sla_stopped",
            Self::NotAssigned { .. } => "not_assigned",
            Self::Tagged { .. } => "tagged",
            Self::Notified { .. } => "notified",
            Self::Attached { .. } => "attached",
            Self::CustomerReplied { .. } => "customer_replied",
            Self::MailReceived { .. } => "mail_received",
            Self::CustomerChanged { .. } => "customer_changed",
        }
    }
}
