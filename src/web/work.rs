//! My work: the agent's start page. First the open tickets assigned to them, then the queues of
//! their roles (open, unassigned tickets in stages their roles are responsible for), then those
//! waiting for their approval; each list breached first, then warned, then by the nearest
//! deadline. Filters: workflow, breached only, and words in the number, subject or customer.
//!
//! A list reads at most [`CANDIDATES`] tickets of each of its index ranges (oldest first) and
//! shows the [`SHOWN`] most urgent of them, so a page costs the same whatever the store holds;
//! beyond that many open tickets in one list the page says there are more, and the filters (or
//! the API's listing) narrow it.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::clocks::{self, ClockView};
use super::page::PageError;
use super::session::SignedIn;
use crate::api::AppState;
use crate::api::scope::ReadScope;
use crate::engine::{Status, Ticket};
use crate::store::query::ListFilter;
use crate::workflow::Workflow;

/// Tickets of one list read from the index (oldest first) and ordered by urgency.
pub const CANDIDATES: usize = 200;
/// Most tickets one list shows (the count says when there are more: filters narrow it).
pub const SHOWN: usize = 50;

/// The routes of this page.
pub fn routes() -> Router<AppState> {
    Router::new().route("/work", get(work_page))
}

/// The filters of the page (a GET form).
#[derive(Debug, Default, Deserialize)]
pub struct WorkQuery {
    /// Only this workflow.
    #[serde(default)]
    pub workflow: Option<String>,
    /// Only tickets past a deadline.
    #[serde(default)]
    pub breached: Option<String>,
    /// Words to look for in the number, subject or customer's name.
    #[serde(default)]
    pub q: Option<String>,
}

/// A row of a list.
#[derive(Debug, Serialize)]
struct Row {
    number: String,
    subject: String,
    workflow: String,
    stage: String,
    priority: String,
    customer: String,
    assignee: Option<String>,
    created_at: DateTime<Utc>,
    clock: Option<ClockView>,
    breached: bool,
}

async fn work_page(State(state): State<AppState>, who: SignedIn, Query(query): Query<WorkQuery>) -> Response {
    let lang = who.lang(&state);
    let tz = state
        .registry
        .all_current()
        .iter()
        .find(|w| !crate::engine::transition::roles_of(&w.definition, who.person()).is_empty())
        .map_or(chrono_tz::UTC, |w| w.definition.timezone());
    let frame = who.frame(lang, tz);
    match lists(&state, &who, &query) {
        Ok(lists) => {
            let workflows: Vec<_> = visible(&state, &who)
                .iter()
                .map(|w| context! { id => w.id(), name => w.definition.name.clone() })
                .collect();
            frame.render(
                "work.html",
                context! {
                    mine => lists.mine, queues => lists.queues, approvals => lists.approvals,
                    workflows => workflows,
                    filter => context! {
                        workflow => query.workflow.clone().unwrap_or_default(),
                        breached => query.breached.is_some(),
                        q => query.q.clone().unwrap_or_default(),
                    },
                },
            )
        }
        Err(error) => frame.error(error),
    }
}

/// The workflows whose tickets the person may read.
fn visible(state: &AppState, who: &SignedIn) -> Vec<std::sync::Arc<Workflow>> {
    let scope = if who.is_admin() { ReadScope::All } else { ReadScope::of_agent(who.person(), &state.registry) };
    state.registry.all_current().into_iter().filter(|w| scope.sees(w.id())).collect()
}

struct Lists {
    mine: List,
    queues: List,
    approvals: List,
}

/// One list: the rows shown, and whether the index held more than were read.
#[derive(Debug, Default, Serialize)]
struct List {
    rows: Vec<Row>,
    more: bool,
}

/// A ticket taken into a list, with what orders it.
struct Candidate {
    workflow: std::sync::Arc<Workflow>,
    ticket: Ticket,
    clock: Option<ClockView>,
}

impl Candidate {
    fn urgency(&self) -> (clocks::ClockState, DateTime<Utc>, DateTime<Utc>) {
        let (state, due) = clocks::ticket_urgency(self.clock.as_ref());
        (state, due, self.ticket.created_at)
    }
}

/// Reads one list: up to [`CANDIDATES`] tickets from the index, most urgent first, the first
/// [`SHOWN`] of them that pass the filters as rows.
struct Reader<'a> {
    state: &'a AppState,
    query: &'a WorkQuery,
    words: Vec<String>,
    now: DateTime<Utc>,
    calendars: HashMap<(String, String), clocks::Calendars>,
}

impl Reader<'_> {
    fn list(
        &mut self,
        workflow: &std::sync::Arc<Workflow>,
        filters: &[ListFilter],
        keep: impl Fn(&Ticket) -> bool,
        out: &mut Vec<Candidate>,
    ) -> Result<bool, PageError> {
        let mut more = false;
        for filter in filters {
            let page = self.state.store.list(filter, None, CANDIDATES)?;
            more |= page.next.is_some();
            for ticket in page.tickets.into_iter().filter(|t| keep(t)) {
                let workflow = self
                    .state
                    .registry
                    .version(&ticket.workflow, &ticket.version)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| workflow.clone());
                let key = (workflow.id().to_string(), workflow.version.clone());
                let calendars = self.calendars.entry(key).or_default();
                let clock = clocks::clocks(&workflow.definition, &ticket, self.now, calendars).into_iter().next();
                if self.query.breached.is_some()
                    && clock.as_ref().is_none_or(|c| c.state != clocks::ClockState::Breached)
                {
                    continue;
                }
                out.push(Candidate { workflow, ticket, clock });
            }
        }
        Ok(more)
    }

    /// The first [`SHOWN`] candidates by urgency that the words match, as rows.
    fn rows(&self, mut candidates: Vec<Candidate>, more: bool) -> List {
        candidates.sort_by_key(Candidate::urgency);
        let mut rows = Vec::new();
        for candidate in candidates {
            if rows.len() == SHOWN {
                return List { rows, more: true };
            }
            let row = row(self.state, &candidate);
            let text = format!("{} {} {}", row.number, row.subject, row.customer).to_lowercase();
            if self.words.iter().all(|w| text.contains(w)) {
                rows.push(row);
            }
        }
        List { rows, more }
    }
}

fn lists(state: &AppState, who: &SignedIn, query: &WorkQuery) -> Result<Lists, PageError> {
    let person = who.person();
    let words = query.q.as_deref().unwrap_or_default().split_whitespace().map(str::to_lowercase).collect();
    let mut reader = Reader { state, query, words, now: state.clock.now(), calendars: HashMap::new() };
    let workflows: Vec<_> = visible(state, who)
        .into_iter()
        .filter(|w| query.workflow.as_deref().is_none_or(|id| id.is_empty() || id == w.id()))
        .collect();
    let (mut mine, mut queues, mut approvals) = (Vec::new(), Vec::new(), Vec::new());
    let mut more = [false; 3];
    for workflow in &workflows {
        let definition = &workflow.definition;
        let open = |stage: Option<&str>, assignee: Option<&str>, unassigned: bool| ListFilter {
            workflow: Some(workflow.id().to_string()),
            status: Some(Status::Open),
            stage: stage.map(str::to_string),
            assignee: assignee.map(str::to_string),
            unassigned,
            ..ListFilter::default()
        };
        more[0] |= reader.list(workflow, &[open(None, Some(person), false)], |_| true, &mut mine)?;
        let roles = crate::engine::transition::roles_of(definition, person);
        let has = |role: &Option<crate::workflow::model::Name>| {
            role.as_ref().is_some_and(|r| roles.contains(&r.get_ref().as_str()))
        };
        let responsible: Vec<ListFilter> = definition
            .stages
            .iter()
            .filter(|(_, stage)| has(&stage.raci.responsible))
            .map(|(id, _)| open(Some(id.get_ref()), None, true))
            .collect();
        more[1] |= reader.list(workflow, &responsible, |_| true, &mut queues)?;
        let accountable: Vec<ListFilter> = definition
            .stages
            .iter()
            .filter(|(_, stage)| has(&stage.raci.accountable) && stage.transitions.iter().any(|t| t.requires_approval))
            .map(|(id, _)| open(Some(id.get_ref()), None, false))
            .collect();
        let pending = |ticket: &Ticket| ticket.approvals.get(&ticket.stage).is_none_or(|a| a.approved_by.is_none());
        more[2] |= reader.list(workflow, &accountable, pending, &mut approvals)?;
    }
    Ok(Lists {
        mine: reader.rows(mine, more[0]),
        queues: reader.rows(queues, more[1]),
        approvals: reader.rows(approvals, more[2]),
    })
}

fn row(state: &AppState, candidate: &Candidate) -> Row {
    let (definition, ticket) = (&candidate.workflow.definition, &candidate.ticket);
    let customer = state.store.customer(ticket.customer).ok().flatten().map(|c| c.name).unwrap_or_default();
    Row {
        number: ticket.number.clone(),
        subject: ticket.subject.clone(),
        workflow: definition.name.clone(),
        stage: definition
            .stages
            .get(ticket.stage.as_str())
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| ticket.stage.clone()),
        priority: ticket.priority.clone(),
        customer,
        assignee: ticket.assignee.clone(),
        created_at: ticket.created_at,
        breached: candidate.clock.as_ref().is_some_and(|c| c.state == clocks::ClockState::Breached),
        clock: candidate.clock.clone(),
    }
}
