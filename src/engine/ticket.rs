//! A ticket's state: the fold of its events.
//!
//! [`Ticket::apply`] is the one place state changes, and it depends on nothing but the event:
//! replaying a ticket's log always gives the same snapshot (a property test checks it). The
//! engine decides *which* events happen; this module only says what each one does.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::customer::CustomerId;
use super::event::{ActorKind, Change, Event, Relation};
use super::survey::SurveyAnswer;

/// A ticket's internal id: a ULID, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "01KAT8Z6Y9C3M5Q7R2V4W6X8Y0")]
pub struct TicketId(pub Ulid);

impl std::fmt::Display for TicketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for TicketId {
    type Err = ulid::DecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(text).map(Self)
    }
}

/// Where a ticket stands, across stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being worked on.
    Open,
    /// Resolved, not yet closed (survey, confirmation).
    Resolved,
    /// In a terminal stage.
    Closed,
    /// Merged into another ticket as a duplicate.
    Merged,
}

impl Status {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
            Self::Merged => "merged",
        }
    }

    /// Whether work on the ticket is over.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Closed | Self::Merged)
    }
}

/// Approval state of a stage visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    /// Asked for, and by whom.
    pub requested_by: Option<String>,
    /// Given, and by whom.
    pub approved_by: Option<String>,
}

/// A link to another ticket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Link {
    /// The other ticket.
    pub ticket: TicketId,
    /// This ticket's relation to it.
    pub relation: Relation,
}

/// The state of one SLA clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaClock {
    /// Business time allowed, in seconds.
    pub target_secs: u64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Business time used before the current running stretch, in seconds.
    pub used_secs: u64,
    /// When the current running stretch began; `None` while paused or stopped.
    pub running_since: Option<DateTime<Utc>>,
    /// Whether the warning was sent.
    pub warned: bool,
    /// When it ran out.
    pub breached_at: Option<DateTime<Utc>>,
    /// Escalation levels reached.
    pub level: u32,
    /// Reminders sent.
    pub reminders: u32,
    /// When the last escalation or reminder went out.
    pub last_alert_at: Option<DateTime<Utc>>,
    /// When it stopped, if it did.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Business time taken, once stopped.
    pub business_secs: Option<u64>,
    /// Met in time, once stopped.
    pub met: Option<bool>,
}

impl SlaClock {
    /// Whether the clock still counts (running or paused).
    pub fn is_active(&self) -> bool {
        self.stopped_at.is_none()
    }
}

/// A ticket snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ticket {
    /// Internal id.
    pub id: TicketId,
    /// Human number (`AS-1042`).
    pub number: String,
    /// Workflow id.
    pub workflow: String,
    /// Workflow version it runs on.
    pub version: String,
    /// Current stage.
    pub stage: String,
    /// When it entered the current stage.
    pub stage_entered_at: DateTime<Utc>,
    /// Open, resolved, closed or merged.
    pub status: Status,
    /// Priority.
    pub priority: String,
    /// Category.
    pub category: Option<String>,
    /// Intake channel.
    pub channel: Option<String>,
    /// One-line summary.
    pub subject: String,
    /// The customer's description.
    pub description: String,
    /// The customer.
    pub customer: CustomerId,
    /// Queue.
    pub queue: Option<String>,
    /// Role tickets of this queue are assigned within.
    pub role: Option<String>,
    /// The person working on it.
    pub assignee: Option<String>,
    /// Form values by form and field.
    #[schema(value_type = Object)]
    pub forms: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// Ticked checklist items by stage.
    pub checklist: BTreeMap<String, BTreeSet<String>>,
    /// Approval state of the current stage visit, by stage.
    pub approvals: BTreeMap<String, Approval>,
    /// Stages visited so far.
    pub visited: BTreeSet<String>,
    /// Links to other tickets.
    pub links: BTreeSet<Link>,
    /// Counts of comments, public replies and recorded steps.
    pub comments: u32,
    /// Public replies by staff.
    pub public_replies: u32,
    /// Steps recorded.
    pub steps: u32,
    /// Times reopened.
    pub reopened: u32,
    /// The stage before the current one: where a reopened ticket returns to.
    pub previous_stage: Option<String>,
    /// Revision: the number of events applied.
    pub revision: u64,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The first public reply by staff.
    pub first_response_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// SLA clocks by name (`first_response`, `resolution`, `stage:ID`).
    #[serde(default)]
    pub slas: BTreeMap<String, SlaClock>,
    /// The last time staff (an agent or admin) did something on the ticket.
    #[serde(default)]
    pub staff_activity_at: Option<DateTime<Utc>>,
    /// Survey answers, oldest first.
    #[serde(default)]
    pub surveys: Vec<SurveyAnswer>,
    /// Tags added by hooks.
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Files attached, oldest first.
    #[serde(default)]
    pub attachments: Vec<super::attachment::Attachment>,
    /// Times the customer wrote after the opening.
    #[serde(default)]
    pub customer_replies: u32,
    /// When the customer last wrote.
    #[serde(default)]
    pub customer_replied_at: Option<DateTime<Utc>>,
    /// Public replies by staff when it was last resolved (first-contact resolution).
    #[serde(default)]
    pub replies_at_resolution: Option<u32>,
}

impl Ticket {
    /// The ticket as its first event creates it; `None` if the event is not an `Opened`.
    pub fn open(event: &Event) -> Option<Self> {
        let Change::Opened {
            number,
            workflow,
            version,
            stage,
            priority,
            category,
            channel,
            subject,
            description,
            customer,
            queue,
            role,
        } = &event.change
        else {
            return None;
        };
        Some(Self {
            id: event.ticket,
            number: number.clone(),
            workflow: workflow.clone(),
            version: version.clone(),
            stage: stage.clone(),
            stage_entered_at: event.at,
            status: Status::Open,
            priority: priority.clone(),
            category: category.clone(),
            channel: channel.clone(),
            subject: subject.clone(),
            description: description.clone(),
            customer: *customer,
            queue: queue.clone(),
            role: role.clone(),
            assignee: None,
            forms: BTreeMap::new(),
            checklist: BTreeMap::new(),
            approvals: BTreeMap::new(),
            visited: BTreeSet::from([stage.clone()]),
            links: BTreeSet::new(),
            comments: 0,
            public_replies: 0,
            steps: 0,
            reopened: 0,
            previous_stage: None,
            revision: event.revision,
            created_at: event.at,
            updated_at: event.at,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            slas: BTreeMap::new(),
            staff_activity_at: None,
            surveys: Vec::new(),
            tags: BTreeSet::new(),
            attachments: Vec::new(),
            customer_replies: 0,
            customer_replied_at: None,
            replies_at_resolution: None,
        })
    }

    /// Rebuilds a ticket from its whole log; `None` if the log does not start with `Opened`.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<Self> {
        let mut events = events.into_iter();
        let mut ticket = Self::open(events.next()?)?;
        for event in events {
            ticket.apply(event);
        }
        Some(ticket)
    }

    /// Applies one event (not the first).
    pub fn apply(&mut self, event: &Event) {
        self.revision = event.revision;
        self.updated_at = event.at;
        if matches!(event.actor.kind, ActorKind::Agent | ActorKind::Admin) {
            self.staff_activity_at = Some(event.at);
        }
        match &event.change {
            Change::Opened { .. } => {}
            Change::FormSaved { form, values } => {
                let saved = self.forms.entry(form.clone()).or_default();
                for (field, value) in values {
                    if value.is_null() {
                        saved.remove(field);
                    } else {
                        saved.insert(field.clone(), value.clone());
                    }
                }
            }
            Change::ChecklistTicked { stage, item, checked } => {
                let ticked = self.checklist.entry(stage.clone()).or_default();
                if *checked {
                    ticked.insert(item.clone());
                } else {
                    ticked.remove(item);
                }
            }
            Change::Commented { public, .. } => {
                self.comments += 1;
                let by_staff = matches!(event.actor.kind, ActorKind::Agent | ActorKind::Admin);
                if *public && by_staff {
                    self.public_replies += 1;
                    self.first_response_at.get_or_insert(event.at);
                }
            }
            Change::StepRecorded { .. } => self.steps += 1,
            Change::Assigned { assignee, queue } => {
                self.assignee.clone_from(assignee);
                if queue.is_some() {
                    self.queue.clone_from(queue);
                }
            }
            Change::PriorityChanged { priority } => self.priority.clone_from(priority),
            Change::ApprovalRequested { stage, .. } => {
                let approval =
                    self.approvals.entry(stage.clone()).or_insert(Approval { requested_by: None, approved_by: None });
                approval.requested_by = Some(event.actor.id.clone());
            }
            Change::Approved { stage, .. } => {
                let approval =
                    self.approvals.entry(stage.clone()).or_insert(Approval { requested_by: None, approved_by: None });
                approval.approved_by = Some(event.actor.id.clone());
            }
            Change::ApprovalRejected { stage, .. } => {
                // Refused: nothing is pending any more; a new request starts afresh.
                self.approvals.remove(stage);
            }
            Change::ApprovalVoided { stage, .. } => {
                if let Some(approval) = self.approvals.get_mut(stage) {
                    approval.approved_by = None;
                }
            }
            Change::StageChanged { from, to, .. } => {
                // Approval is per visit: leaving a stage forgets it, entering asks afresh.
                self.approvals.remove(from);
                self.approvals.remove(to);
                self.previous_stage = Some(from.clone());
                self.stage.clone_from(to);
                self.stage_entered_at = event.at;
                self.visited.insert(to.clone());
            }
            Change::Resolved { .. } => {
                self.status = Status::Resolved;
                self.resolved_at = Some(event.at);
                self.replies_at_resolution = Some(self.public_replies);
            }
            Change::Closed => {
                self.status = Status::Closed;
                self.closed_at = Some(event.at);
                self.resolved_at.get_or_insert(event.at);
            }
            Change::Reopened { .. } => {
                self.status = Status::Open;
                self.reopened += 1;
                self.resolved_at = None;
                self.closed_at = None;
            }
            Change::Linked { other, relation } => {
                self.links.insert(Link { ticket: *other, relation: *relation });
            }
            Change::SurveyAnswered { answer } => self.surveys.push(answer.clone()),
            Change::Merged { into } => {
                self.status = Status::Merged;
                self.closed_at = Some(event.at);
                self.links.insert(Link { ticket: *into, relation: Relation::DuplicateOf });
            }
            Change::SlaStarted { clock, target_secs } => {
                let started = SlaClock {
                    target_secs: *target_secs,
                    started_at: event.at,
                    used_secs: 0,
                    running_since: Some(event.at),
                    warned: false,
                    breached_at: None,
                    level: 0,
                    reminders: 0,
                    last_alert_at: None,
                    stopped_at: None,
                    business_secs: None,
                    met: None,
                };
                self.slas.insert(clock.clone(), started);
            }
            Change::SlaPaused { clock, used_secs } => {
                if let Some(sla) = self.slas.get_mut(clock) {
                    sla.used_secs = *used_secs;
                    sla.running_since = None;
                }
            }
            Change::SlaResumed { clock } => {
                if let Some(sla) = self.slas.get_mut(clock) {
                    sla.running_since = Some(event.at);
                }
            }
            Change::SlaTargetChanged { clock, target_secs } => {
                if let Some(sla) = self.slas.get_mut(clock) {
                    sla.target_secs = *target_secs;
                }
            }
            Change::SlaWarned { clock, .. } => {
                if let Some(sla) = self.slas.get_mut(clock) {
                    sla.warned = true;
                }
            }
            Change::SlaBreached { clock } => {
                if let Some(sla) = self.slas.get_mut(clock) {
                    sla.breached_at = Some(event.at);
                    sla.last_alert_at = Some(event.at);
                }
            }
            Change::SlaEscalated { clock, level, .. } => {
                if let Some(sla) = self.slas.get_mut(clock) {
                    sla.level = *level;
                    sla.last_alert_at = Some(event.at);
                }
            }
            Change::SlaReminded { clock, count, .. } => {
                if let Some(sla) = self.slas.get_mut(clock) {
                    sla.reminders = *count;
                    sla.last_alert_at = Some(event.at);
                }
            }
            Change::SlaStopped { clock, business_secs, met } => {
                if let Some(sla) = self.slas.get_mut(clock) {
                    sla.running_since = None;
                    sla.stopped_at = Some(event.at);
                    sla.business_secs = Some(*business_secs);
                    sla.met = Some(*met);
                }
            }
            Change::Tagged { tag } => {
                self.tags.insert(tag.clone());
            }
            Change::Attached { attachment } => self.attachments.push(attachment.clone()),
            Change::CustomerReplied { .. } => {
                self.customer_replies += 1;
                self.customer_replied_at = Some(event.at);
            }
            Change::CustomerChanged { to, .. } => self.customer = *to,
            Change::NotAssigned { .. } | Change::Notified { .. } | Change::MailReceived { .. } => {}
        }
    }
}
