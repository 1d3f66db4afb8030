//! Customers: who a ticket is for, so nobody asks a customer to explain twice.
//!
//! A customer record holds how to reach the person; their tickets are found through the store's
//! customer index. The history summary ([`History`]) is what the engine needs to flag repeat
//! requests and what rules see of the customer's past.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

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
    /// Phone number.
    pub phone: Option<String>,
    /// Id in another system (CRM, shop); unique among customers.
    pub external_id: Option<String>,
    /// Very important customer: rules may treat them first.
    #[serde(default)]
    pub vip: bool,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// What the customer said in surveys.
    #[serde(default)]
    pub satisfaction: Satisfaction,
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
/// that find (by email, then external id) or create the record.
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
