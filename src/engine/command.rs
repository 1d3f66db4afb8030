//! What callers ask of the engine: open a ticket, or do something to one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::attachment::Attachment;
use super::customer::CustomerInput;
use super::event::{MailMeta, Relation};
use super::survey::SurveyAnswer;
use super::ticket::TicketId;

/// Form values: form id → field → value.
pub type FormValues = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

/// A request to open a ticket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenTicket {
    /// Workflow id.
    pub workflow: String,
    /// One-line summary.
    pub subject: String,
    /// The customer's own words.
    #[serde(default)]
    pub description: Option<String>,
    /// Who it is for.
    pub customer: CustomerInput,
    /// Category (one of the workflow's).
    #[serde(default)]
    pub category: Option<String>,
    /// Priority; default: the workflow's default priority.
    #[serde(default)]
    pub priority: Option<String>,
    /// Intake channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Initial form values (forms of the start stage).
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"request": {"product": "Dishwasher DW-500"}}))]
    pub forms: FormValues,
    /// The mail that opens the ticket (inbound mail only; never read from a request).
    #[serde(skip)]
    pub mail: Option<MailMeta>,
    /// Files stored already, attached at the opening (inbound mail only).
    #[serde(skip)]
    pub attachments: Vec<Attachment>,
    /// The closed ticket this one follows up (a reply to it by mail).
    #[serde(skip)]
    pub follow_up_of: Option<TicketId>,
}

/// Something done to an existing ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Save values of a form (a draft may leave required fields empty; `null` clears).
    SaveForm {
        /// The form.
        form: String,
        /// Field values.
        values: BTreeMap<String, serde_json::Value>,
    },
    /// Tick or untick a checklist item of the current stage.
    Tick {
        /// The item.
        item: String,
        /// Ticked or not.
        checked: bool,
    },
    /// Add a public reply or an internal note.
    Comment {
        /// The text.
        body: String,
        /// Visible to the customer.
        public: bool,
    },
    /// Record a step taken to resolve the request.
    RecordStep {
        /// What was done.
        description: String,
    },
    /// Assign to a person, or unassign.
    Assign {
        /// The person, or none.
        assignee: Option<String>,
    },
    /// Change the priority.
    SetPriority {
        /// The new priority.
        priority: String,
    },
    /// Ask the stage's accountable role to approve.
    RequestApproval {
        /// Why.
        note: Option<String>,
    },
    /// Approve (the stage's accountable role only).
    Approve {
        /// Comment.
        note: Option<String>,
    },
    /// Refuse the approval asked for, with a reason (the stage's accountable role only).
    RejectApproval {
        /// Why (required): the requester is told.
        note: String,
    },
    /// Take a transition of the current stage.
    Transition {
        /// Its name.
        name: String,
    },
    /// Resolve: take the current stage's transition to a resolved stage, or, where the way on
    /// is a transition to a terminal resolved stage, resolve in place once its guards are met.
    Resolve {
        /// How.
        note: Option<String>,
    },
    /// Close: take the current stage's transition to a terminal stage.
    Close,
    /// Reopen a resolved or closed ticket.
    Reopen {
        /// Why.
        reason: Option<String>,
    },
    /// Link to another ticket.
    Link {
        /// The other ticket.
        other: TicketId,
        /// This ticket's relation to it.
        relation: Relation,
    },
    /// Merge this ticket, a duplicate, into its original: takes the current stage's transition
    /// to a terminal stage (with its guards), like `close`.
    Merge {
        /// The original.
        into: TicketId,
    },
    /// The customer wrote: by mail (inbound mail), or relayed by an integration (a web form,
    /// a messaging gateway). It may move the ticket out of a waiting stage
    /// (`on_customer_reply`), and reopens a closed ticket.
    CustomerReply {
        /// What they wrote (new text only).
        body: String,
        /// The mail it came in (inbound mail only; never read from a request).
        #[serde(skip)]
        mail: Option<MailMeta>,
        /// Files stored already (inbound mail only).
        #[serde(skip)]
        attachments: Vec<Attachment>,
    },
    /// Record the customer's answer to a satisfaction survey (the survey page, or an
    /// integration that asked by phone or message).
    AnswerSurvey(SurveyAnswer),
    /// Attach files whose content is already stored (and flushed) as blobs: the caller has
    /// written each one with `Store::put_blob`. See [`super::attach`].
    Attach {
        /// The files, with ids the caller made.
        attachments: Vec<Attachment>,
    },
    /// The ticket's due SLA timers fire (Afterdesk itself only): every timer due by now, one
    /// after another in due order (a warning before its breach, level 1 before level 2).
    Fire {
        /// The timers the scheduler found due, as stored (due instant, kind): those the ticket
        /// no longer has once the due ones fired are dropped with the events.
        seen: Vec<(chrono::DateTime<chrono::Utc>, String)>,
    },
}

impl Command {
    /// The snake_case name of the command.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SaveForm { .. } => "save_form",
            Self::Tick { .. } => "tick",
            Self::Comment { .. } => "comment",
            Self::RecordStep { .. } => "record_step",
            Self::Assign { .. } => "assign",
            Self::SetPriority { .. } => "set_priority",
            Self::RequestApproval { .. } => "request_approval",
            Self::Approve { .. } => "approve",
            Self::RejectApproval { .. } => "reject_approval",
            Self::Transition { .. } => "transition",
            Self::Resolve { .. } => "resolve",
            Self::Close => "close",
            Self::Reopen { .. } => "reopen",
            Self::Link { .. } => "link",
            Self::Merge { .. } => "merge",
            Self::AnswerSurvey(_) => "answer_survey",
            Self::CustomerReply { .. } => "customer_reply",
            Self::Attach { .. } => "attach",
            Self::Fire { .. } => "fire",
        }
    }
}
