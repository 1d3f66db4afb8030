//! The shape of a workflow file: the serde types a TOML workflow deserializes into.
//!
//! These types say what a consultant may write and nothing more: each field here is a key of the
//! file. Values that can be wrong on their own (durations, percentages, time zones, cron
//! expressions) parse themselves (see [`super::values`]); names that refer to other parts of the
//! file are kept as [`Spanned`] strings so that [`super::check`] can point at the exact line and
//! column of a bad reference. This module does no cross-checking and no I/O.
//!
//! Conventions: keys and built-in words are `snake_case`; ids of stages, forms, roles,
//! calendars and jobs are lower-case words joined by `_` or `-`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::values::{CronSchedule, Date, Days, Duration, Percent, Shifts, TimeZone};

/// A name as written in the file, with its position.
pub type Name = Spanned<String>;

/// Everything one workflow file says.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowFile {
    /// Stable id used by the API (`"after-sales"`). Required (checked by `check`, so that a
    /// missing id does not hide the file's other problems).
    #[serde(default = "unnamed")]
    pub id: Name,
    /// Human name. Required, likewise.
    #[serde(default)]
    pub name: String,
    /// The language of the built-in texts of its pages and mails: `en` (the default), `fa`
    /// (Persian) or `ar` (Arabic).
    #[serde(default)]
    pub language: crate::locale::Lang,
    /// What the process is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Prefix of the human ticket numbers (`"AS"` gives `AS-1042`); defaults to the initials of
    /// the id.
    #[serde(default)]
    pub ticket_prefix: Option<Name>,
    /// The stage a new ticket starts in; defaults to the first stage in the file.
    #[serde(default)]
    pub start: Option<Name>,
    /// The default calendar of SLA clocks; defaults to the built-in `24x7`.
    #[serde(default)]
    pub calendar: Option<Name>,
    /// Ticket priorities, lowest first.
    #[serde(default = "default_priorities")]
    pub priorities: Vec<Name>,
    /// The priority of a ticket nobody prioritised; defaults to `normal` when listed, else the
    /// lowest.
    #[serde(default)]
    pub default_priority: Option<Name>,
    /// Request categories (`installation`, `repair`, `billing`, ...).
    #[serde(default)]
    pub categories: Vec<Name>,
    /// Intake channels.
    #[serde(default = "default_channels")]
    pub channels: Vec<Name>,
    /// A new ticket from the same customer in the same category within this window is flagged as
    /// a repeat request and linked to the earlier one.
    #[serde(default = "default_repeat_window")]
    pub repeat_window: Duration,
    /// Business-hours calendars by id.
    #[serde(default)]
    pub calendars: IndexMap<Name, Calendar>,
    /// Roles and their members (people by email or id).
    #[serde(default)]
    pub roles: IndexMap<Name, Vec<Name>>,
    /// Forms by id.
    #[serde(default)]
    pub forms: IndexMap<Name, Form>,
    /// Stages in the order a ticket usually passes them.
    #[serde(default)]
    pub stages: IndexMap<Name, Stage>,
    /// Ticket-level SLA clocks that span stages.
    #[serde(default)]
    pub sla: TicketSlas,
    /// Routing rules for new tickets, tried in order; the first that matches wins.
    #[serde(default)]
    pub routing: Vec<RoutingRule>,
    /// Who is emailed on which event.
    #[serde(default)]
    pub notifications: Vec<Notification>,
    /// Mail to customers beyond the notification rules (`[mail] public_replies = false`).
    #[serde(default)]
    pub mail: WorkflowMail,
    /// The satisfaction survey.
    #[serde(default)]
    pub survey: Option<Survey>,
    /// Scheduled jobs by id.
    #[serde(default)]
    pub jobs: IndexMap<Name, Job>,
    /// Rhai scripts run when an event happens.
    #[serde(default)]
    pub hooks: Vec<Hook>,
    /// A Rhai script computing the priority of a new ticket (see the README, "Rules").
    #[serde(default)]
    pub priority_rule: Option<Script>,
    /// Mail templates overriding the built-in ones (or adding new ones), by name.
    #[serde(default)]
    pub templates: IndexMap<Name, MailTemplate>,
    /// Webhooks: other systems told about events, by name.
    #[serde(default)]
    pub webhooks: IndexMap<Name, Webhook>,
    /// Separation of duties for approvals (default on): nobody approves what they asked to
    /// have approved, nor a ticket assigned to them. A stage's own `separation_of_duties`
    /// overrides this for that stage.
    #[serde(default = "yes")]
    pub separation_of_duties: bool,
    /// What a customer's mail to a closed ticket does: `reopen` it (the default), or open a
    /// `follow_up` ticket linked to it.
    #[serde(default)]
    pub reply_when_closed: Option<Spanned<ReplyWhenClosed>>,
    /// Limits on the files attached to a ticket (`[attachments]`).
    #[serde(default)]
    pub attachments: AttachmentLimits,
    /// How the workflow's KPIs count where businesses differ (`[reports]`).
    #[serde(default)]
    pub reports: ReportSettings,
}

/// `[reports]`: the definitions of KPIs that differ between businesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// First-contact resolution: resolved with at most this many public replies by staff
    /// (default 1) and never reopened.
    #[serde(default = "default_fcr_max_replies")]
    pub fcr_max_replies: u32,
    /// ... and, when set, resolved within this long of opening (wall time).
    #[serde(default)]
    pub fcr_within: Option<Duration>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self { fcr_max_replies: default_fcr_max_replies(), fcr_within: None }
    }
}

fn default_fcr_max_replies() -> u32 {
    1
}

/// What a customer's reply to a closed ticket does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyWhenClosed {
    /// Reopen the ticket, back where work was.
    #[default]
    Reopen,
    /// Open a new ticket, linked to the closed one as its follow-up.
    FollowUp,
}

/// How many files, and how large, a ticket of the workflow may carry (`[attachments]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentLimits {
    /// Largest file, in bytes (default 10 MiB).
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Most bytes of files on one ticket, all together (default 50 MiB).
    #[serde(default = "default_max_ticket_bytes")]
    pub max_ticket_bytes: u64,
    /// Most files on one ticket (default 100).
    #[serde(default = "default_max_files")]
    pub max_files: usize,
}

impl Default for AttachmentLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: default_max_file_bytes(),
            max_ticket_bytes: default_max_ticket_bytes(),
            max_files: default_max_files(),
        }
    }
}

fn default_max_file_bytes() -> u64 {
    10 * 1024 * 1024
}

fn default_max_ticket_bytes() -> u64 {
    50 * 1024 * 1024
}

fn default_max_files() -> usize {
    100
}

impl WorkflowFile {
    /// The stage a new ticket starts in: `start` as written, else the first stage.
    pub fn start_stage(&self) -> Option<&str> {
        self.start
            .as_ref()
            .map(|s| s.get_ref().as_str())
            .or_else(|| self.stages.keys().next().map(|k| k.get_ref().as_str()))
    }

    /// The workflow's default business calendar as written (none for `24x7` or when unnamed).
    pub fn default_calendar(&self) -> Option<&Calendar> {
        self.calendar.as_ref().and_then(|name| self.calendars.get(name.get_ref().as_str()))
    }

    /// The time zone people of this workflow read times in: its default calendar's, else UTC.
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.default_calendar().map_or(chrono_tz::UTC, |calendar| calendar.timezone.0)
    }

    /// The workflow's managers: members of the roles accountable in any stage, lower-case,
    /// sorted, each once.
    pub fn managers(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .stages
            .values()
            .filter_map(|stage| stage.raci.accountable.as_ref())
            .filter_map(|role| self.roles.get(role.get_ref().as_str()))
            .flatten()
            .map(|member| member.get_ref().to_lowercase())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

fn unnamed() -> Name {
    Spanned::new(0..0, String::new())
}

fn names(list: &[&str]) -> Vec<Name> {
    list.iter().map(|name| Spanned::new(0..0, (*name).to_string())).collect()
}

fn default_priorities() -> Vec<Name> {
    names(&["low", "normal", "high", "urgent"])
}

fn default_channels() -> Vec<Name> {
    names(&["phone", "email", "web", "walk_in", "messaging"])
}

fn default_repeat_window() -> Duration {
    Duration::from_minutes(30 * 24 * 60)
}

/// Business hours in one time zone.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// IANA time zone.
    pub timezone: TimeZone,
    /// Working hours by day: `{ mon-fri = "08:00-17:00", sat = "09:00-13:00" }`. Days not listed
    /// are closed.
    pub hours: IndexMap<Spanned<Days>, Shifts>,
    /// Days off.
    #[serde(default)]
    pub holidays: Vec<Spanned<Date>>,
}

/// A form: typed fields an agent or customer fills in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Form {
    /// Heading shown above the form.
    #[serde(default)]
    pub title: Option<String>,
    /// The fields, in display order.
    #[serde(default)]
    pub fields: Vec<Field>,
    /// Rhai script for cross-field checks; it returns a map of field name to message.
    #[serde(default)]
    pub validate: Option<Script>,
}

/// One form field.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Machine name, unique in the form.
    pub name: Name,
    /// Label shown to people; defaults to the name.
    #[serde(default)]
    pub label: Option<String>,
    /// The kind of value.
    #[serde(rename = "type")]
    pub kind: Spanned<FieldType>,
    /// Whether the form is incomplete without it.
    #[serde(default)]
    pub required: bool,
    /// Regular expression a text value must match.
    #[serde(default)]
    pub pattern: Option<Spanned<String>>,
    /// Smallest number, or shortest text length.
    #[serde(default)]
    pub min: Option<Spanned<f64>>,
    /// Largest number, or longest text length.
    #[serde(default)]
    pub max: Option<Spanned<f64>>,
    /// The choices of a `choice` or `multi_choice` field.
    #[serde(default)]
    pub options: Option<Spanned<Vec<Name>>>,
    /// Help text shown next to the field.
    #[serde(default)]
    pub help: Option<String>,
}

/// The kinds of form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// One line of text.
    Text,
    /// Several lines of text.
    LongText,
    /// A whole number.
    Integer,
    /// A decimal number.
    Number,
    /// Yes or no.
    Bool,
    /// A calendar day.
    Date,
    /// A moment in time.
    Datetime,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// One of `options`.
    Choice,
    /// Any number of `options`.
    MultiChoice,
    /// One file attached to the ticket: its attachment id.
    File,
    /// Any number of files attached to the ticket: a list of attachment ids.
    Files,
}

impl FieldType {
    /// Whether the field takes its values from `options`.
    pub fn has_options(self) -> bool {
        matches!(self, Self::Choice | Self::MultiChoice)
    }

    /// Whether `min`/`max` bound the value (numbers) or the length (text).
    pub fn has_bounds(self) -> bool {
        matches!(self, Self::Integer | Self::Number | Self::Text | Self::LongText)
    }

    /// Whether `pattern` applies.
    pub fn has_pattern(self) -> bool {
        matches!(self, Self::Text | Self::LongText | Self::Phone | Self::Email)
    }
}

/// One stage of the process.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Human name; defaults to the id.
    #[serde(default)]
    pub name: Option<String>,
    /// What happens here.
    #[serde(default)]
    pub description: Option<String>,
    /// What the stage means for the customer, in plain words, shown on their status page
    /// ("We are looking at your device"); without it the page shows the stage's name.
    #[serde(default)]
    pub customer_text: Option<String>,
    /// Forms filled in during this stage.
    #[serde(default)]
    pub forms: Vec<Name>,
    /// Checklist items that must be ticked before leaving the stage.
    #[serde(default)]
    pub checklist: Vec<Name>,
    /// Checklist items shown but not required.
    #[serde(default)]
    pub optional_checklist: Vec<Name>,
    /// Who does what here.
    #[serde(default)]
    pub raci: Raci,
    /// The stage's own SLA: time allowed in this stage.
    #[serde(default)]
    pub sla: Option<Sla>,
    /// The ticket waits on the customer here: every SLA clock pauses and resumes on leaving.
    #[serde(default)]
    pub pauses_sla: bool,
    /// The request counts as resolved here. On a working stage (a survey or confirmation
    /// stage) entering it resolves the ticket (meeting the resolution clock) and moving back to
    /// a stage that is not resolved reopens it. On a terminal stage it marks a solved outcome
    /// (`closed`, as opposed to `cancelled`): the `resolve` command may resolve a ticket in place
    /// once the guards of the transition to that stage are met.
    #[serde(default)]
    pub resolved: bool,
    /// The ticket is finished here (closed, cancelled).
    #[serde(default)]
    pub terminal: bool,
    /// The assignee may work here (forms, checklist, moves) without holding the responsible or
    /// accountable role. Off by default: an assignee outside the stage's RACI may only comment.
    #[serde(default)]
    pub assignee_may_work: bool,
    /// Separation of duties for approvals in this stage, overriding the workflow's
    /// `separation_of_duties`.
    #[serde(default)]
    pub separation_of_duties: Option<bool>,
    /// The stage a customer's reply moves the ticket to (by this stage's transition there, with
    /// its guards): `on_customer_reply = "review"` in a waiting stage resumes the work.
    #[serde(default)]
    pub on_customer_reply: Option<Name>,
    /// The ways out of this stage.
    #[serde(default)]
    pub transitions: Vec<Transition>,
}

/// RACI of a stage. Each entry is a role id; `informed` may also name `customer`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Raci {
    /// The role doing the work.
    #[serde(default)]
    pub responsible: Option<Name>,
    /// The role answerable for the outcome; it gives approvals.
    #[serde(default)]
    pub accountable: Option<Name>,
    /// Roles asked for advice; they may comment.
    #[serde(default)]
    pub consulted: Vec<Name>,
    /// Roles (or `customer`) told about progress.
    #[serde(default)]
    pub informed: Vec<Name>,
}

/// A way out of a stage.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// Name used by the API and shown on buttons (`"accept"`).
    pub name: Name,
    /// Target stage.
    pub to: Name,
    /// Human label; defaults to the name.
    #[serde(default)]
    pub label: Option<String>,
    /// Required fields of the stage's forms must be filled in.
    #[serde(default = "yes")]
    pub requires_forms: bool,
    /// Required checklist items must be ticked.
    #[serde(default = "yes")]
    pub requires_checklist: bool,
    /// The stage's accountable role must approve first.
    #[serde(default)]
    pub requires_approval: bool,
    /// A Rhai condition that must allow the move.
    #[serde(default)]
    pub when: Option<Script>,
}

fn yes() -> bool {
    true
}

/// A Rhai script: either a path ending in `.rhai` (looked up next to the workflow file, then in
/// each folder above it, so `"scripts/warranty.rhai"` finds the project's `scripts/` folder) or
/// the source itself.
pub type Script = Spanned<String>;

/// An SLA clock.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    /// Time allowed, in the calendar's business time.
    pub within: Spanned<Duration>,
    /// Time allowed per priority, overriding `within`.
    #[serde(default)]
    pub by_priority: IndexMap<Name, Spanned<Duration>>,
    /// Calendar of this clock; defaults to the workflow's.
    #[serde(default)]
    pub calendar: Option<Name>,
    /// When the warning fires, as a share of the allowed time.
    #[serde(default)]
    pub warn_at: Option<Spanned<Percent>>,
    /// Who is warned (roles, RACI words or emails); defaults to `responsible`.
    #[serde(default)]
    pub warn: Vec<Name>,
    /// Escalation levels after the breach.
    #[serde(default)]
    pub escalate: Vec<Escalation>,
    /// Send reminders this often after the breach until someone acts.
    #[serde(default)]
    pub remind_every: Option<Spanned<Duration>>,
    /// Hold warning and escalation mail until the calendar's business hours.
    #[serde(default)]
    pub business_hours_mail: bool,
    /// Ticket-level clocks only: what stops the clock as met.
    #[serde(default)]
    pub met_by: Option<Spanned<MetBy>>,
}

/// What satisfies a ticket-level SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetBy {
    /// An agent's first public reply.
    FirstPublicReply,
    /// The ticket leaving its start stage.
    LeavingStart,
    /// The ticket being resolved (reaching a terminal stage or resolved by command).
    Resolved,
}

/// One escalation level.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Time after the breach (`"0m"` is at the breach).
    pub after: Spanned<Duration>,
    /// Who is emailed: role ids, RACI words (`responsible`, `accountable`, `consulted`,
    /// `informed`, `assignee`) or email addresses.
    pub notify: Vec<Name>,
    /// Raise the ticket one priority up.
    #[serde(default)]
    pub raise_priority: bool,
    /// Reassign the ticket within this role.
    #[serde(default)]
    pub reassign_to: Option<Name>,
    /// Template overriding the default escalation mail.
    #[serde(default)]
    pub template: Option<Name>,
}

/// The ticket-level clocks.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSlas {
    /// Time to the first public reply (or as `met_by` says).
    #[serde(default)]
    pub first_response: Option<Sla>,
    /// Time to resolution (or as `met_by` says).
    #[serde(default)]
    pub resolution: Option<Sla>,
}

/// A routing rule. Every condition given must match; a rule without conditions always matches.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// Matching categories.
    #[serde(default)]
    pub category: Vec<Name>,
    /// Matching priorities.
    #[serde(default)]
    pub priority: Vec<Name>,
    /// Matching channels.
    #[serde(default)]
    pub channel: Vec<Name>,
    /// A Rhai script deciding instead of the conditions above.
    #[serde(default)]
    pub script: Option<Script>,
    /// Queue the ticket lands in.
    #[serde(default)]
    pub queue: Option<Name>,
    /// Role whose members may be assigned.
    #[serde(default)]
    pub role: Option<Name>,
    /// How a member of the role is picked.
    #[serde(default)]
    pub assign: Option<Spanned<Strategy>>,
    /// Prefer the agent who last served the same customer.
    #[serde(default)]
    pub sticky: bool,
}

/// How a ticket is assigned within a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Take turns.
    RoundRobin,
    /// The member with the fewest open tickets.
    LeastLoaded,
    /// Leave it in the queue for someone to pick.
    Manual,
}

/// Email people when an event happens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// The event.
    pub on: Spanned<EventKind>,
    /// Only for this stage (with `stage_entered` / `stage_left`).
    #[serde(default)]
    pub stage: Option<Name>,
    /// Recipients: role ids, RACI words, `customer` or email addresses.
    pub notify: Vec<Name>,
    /// The template staff get, overriding the default for the event (a staff-facing one).
    #[serde(default)]
    pub template: Option<Name>,
    /// Files of the ticket sent along: `form.field` of `file` or `files` fields.
    #[serde(default)]
    pub attach: Vec<Name>,
    /// The template the customer gets, when the recipients include them, overriding the
    /// default for the event (a customer-facing one: no `ticket_url`, `assignee`, ...).
    #[serde(default)]
    pub customer_template: Option<Name>,
}

/// `[mail]`: the workflow's mail to customers that no notification rule names.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowMail {
    /// Mail every agent's public reply to the ticket's customer (template `public_reply`;
    /// default on).
    #[serde(default = "yes")]
    pub public_replies: bool,
}

impl Default for WorkflowMail {
    fn default() -> Self {
        Self { public_replies: true }
    }
}

/// Events a notification or hook can react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A ticket was opened.
    TicketOpened,
    /// A ticket entered a stage.
    StageEntered,
    /// A ticket left a stage.
    StageLeft,
    /// A ticket was assigned.
    Assigned,
    /// An agent replied publicly.
    PublicReply,
    /// An internal note was added.
    InternalNote,
    /// A stage's accountable role was asked to approve.
    ApprovalRequested,
    /// Approval was given.
    ApprovalGiven,
    /// Approval was refused, with a reason.
    ApprovalRejected,
    /// An approval given was voided: a form value of its stage changed after it.
    ApprovalVoided,
    /// An SLA clock reached its warning point.
    SlaWarning,
    /// An SLA clock was breached.
    SlaBreached,
    /// The ticket was resolved.
    Resolved,
    /// The ticket was closed.
    Closed,
    /// The ticket was reopened.
    Reopened,
    /// The customer answered the survey.
    SurveyAnswered,
    /// The customer wrote (by mail, a page or an integration), and it is to be answered.
    CustomerReplied,
}

/// The satisfaction survey sent to customers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// Send when the ticket enters this stage; defaults to the first terminal stage.
    #[serde(default)]
    pub on_stage: Option<Name>,
    /// The questions asked.
    #[serde(default = "default_questions")]
    pub questions: Vec<Spanned<Question>>,
    /// Share of tickets surveyed.
    #[serde(default)]
    pub sample: Option<Spanned<Percent>>,
    /// Wait this long after the stage is entered.
    #[serde(default)]
    pub delay: Option<Spanned<Duration>>,
    /// The link stops working after this long.
    #[serde(default = "default_survey_expiry")]
    pub expires_after: Spanned<Duration>,
    /// Template overriding the default survey mail.
    #[serde(default)]
    pub template: Option<Name>,
}

impl Default for Survey {
    fn default() -> Self {
        Self {
            on_stage: None,
            questions: default_questions(),
            sample: None,
            delay: None,
            expires_after: default_survey_expiry(),
            template: None,
        }
    }
}

fn default_questions() -> Vec<Spanned<Question>> {
    [Question::Csat, Question::Nps, Question::Ces].into_iter().map(|q| Spanned::new(0..0, q)).collect()
}

fn default_survey_expiry() -> Spanned<Duration> {
    Spanned::new(0..0, Duration::from_minutes(14 * 24 * 60))
}

/// Survey questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Question {
    /// Customer satisfaction, 1 to 5.
    Csat,
    /// Net promoter score, 0 to 10.
    Nps,
    /// Customer effort score, 1 to 7.
    Ces,
    /// Free text.
    Comment,
}

/// A scheduled job.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// When it runs (cron, five fields).
    pub schedule: Spanned<CronSchedule>,
    /// What it does.
    pub action: Spanned<JobAction>,
    /// Time zone of the schedule; defaults to the workflow calendar's, else UTC.
    #[serde(default)]
    pub timezone: Option<Spanned<TimeZone>>,
    /// Recipients (digest; a KPI report's, instead of the accountable roles' members).
    #[serde(default)]
    pub notify: Vec<Name>,
    /// KPI report: the period it covers, the one before the run (default a month).
    #[serde(default)]
    pub period: Option<Spanned<ReportPeriod>>,
    /// Follow-up: tickets closed this long ago.
    #[serde(default)]
    pub after_closed: Option<Spanned<Duration>>,
    /// Survey sample: share of recently closed tickets surveyed.
    #[serde(default)]
    pub sample: Option<Spanned<Percent>>,
    /// Template overriding the action's default mail.
    #[serde(default)]
    pub template: Option<Name>,
    /// Run once at start when a run was missed while the server was down.
    #[serde(default = "yes")]
    pub catch_up: bool,
}

/// What a scheduled job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobAction {
    /// Email a digest of open and breached tickets.
    Digest,
    /// Email customers whose ticket closed `after_closed` ago.
    FollowUp,
    /// Survey a sample of recently closed tickets.
    SurveySample,
    /// Email managers the KPIs of the previous period, with the figures as CSV.
    KpiReport,
}

/// The period a KPI report covers: the calendar month or ISO week before the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportPeriod {
    /// The previous calendar month.
    #[default]
    Month,
    /// The previous week, Monday to Sunday.
    Week,
}

/// A Rhai script run on an event; it returns actions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The event.
    pub on: Spanned<EventKind>,
    /// Only for this stage.
    #[serde(default)]
    pub stage: Option<Name>,
    /// The script.
    pub script: Script,
}

/// A mail template: each part a MiniJinja template; a part left out is the built-in one's.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailTemplate {
    /// The subject line.
    #[serde(default)]
    pub subject: Option<Spanned<String>>,
    /// The plain-text body.
    #[serde(default)]
    pub text: Option<Spanned<String>>,
    /// The HTML body (values are HTML-escaped).
    #[serde(default)]
    pub html: Option<Spanned<String>>,
}

impl MailTemplate {
    /// The parts given, by name (`subject`, `text`, `html`).
    pub fn parts(&self) -> impl Iterator<Item = (&'static str, &Spanned<String>)> {
        [("subject", &self.subject), ("text", &self.text), ("html", &self.html)]
            .into_iter()
            .filter_map(|(part, source)| Some((part, source.as_ref()?)))
    }
}

/// A webhook: a URL that gets a signed JSON POST when one of its events happens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where to POST (`http://` or `https://`).
    pub url: Spanned<String>,
    /// The events it is told about.
    pub on: Vec<Spanned<EventKind>>,
    /// Only events of tickets in these stages (empty: all).
    #[serde(default)]
    pub stages: Vec<Name>,
    /// The name of the secret that signs the calls (`X-Afterdesk-Signature`), looked up in the
    /// server's `secrets`, then in the environment. Without it calls are not signed.
    #[serde(default)]
    pub secret: Option<Name>,
}
