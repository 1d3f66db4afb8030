//! My work: the agent's start page. First the open tickets assigned to them, then the queues of
//! their roles (open, unassigned tickets in stages their roles are responsible for), then those
//! waiting for their approval; each list breached first, then warned, then by the nearest
//! deadline. Filters: workflow, breached only, and words in the number, subject or customer.

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

/// Most tickets one list shows.
pub const LIST_LIMIT: usize = 200;

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
    mine: Vec<Row>,
    queues: Vec<Row>,
    approvals: Vec<Row>,
}

fn lists(state: &AppState, who: &SignedIn, query: &WorkQuery) -> Result<Lists, PageError> {
    let now = state.clock.now();
    let person = who.person();
    let words: Vec<String> = query.q.as_deref().unwrap_or_default().split_whitespace().map(str::to_lowercase).collect();
    let keep = |workflow: &Workflow, ticket: &Ticket| -> Option<Row> {
        let row = row(state, workflow, ticket, now);
        let breached_only = query.breached.is_some();
        let text = format!("{} {} {}", row.number, row.subject, row.customer).to_lowercase();
        ((row.breached || !breached_only) && words.iter().all(|w| text.contains(w))).then_some(row)
    };
    let workflows: Vec<_> = visible(state, who)
        .into_iter()
        .filter(|w| query.workflow.as_deref().is_none_or(|id| id.is_empty() || id == w.id()))
        .collect();
    let (mut mine, mut queues, mut approvals) = (Vec::new(), Vec::new(), Vec::new());
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
        let current = |ticket: &Ticket| state.registry.version(&ticket.workflow, &ticket.version).ok().flatten();
        for ticket in state.store.list(&open(None, Some(person), false), None, LIST_LIMIT)?.tickets {
            let workflow = current(&ticket).unwrap_or_else(|| workflow.clone());
            mine.extend(keep(&workflow, &ticket));
        }
        let roles = crate::engine::transition::roles_of(definition, person);
        for (stage_id, stage) in &definition.stages {
            let responsible = stage.raci.responsible.as_ref().is_some_and(|r| roles.contains(&r.get_ref().as_str()));
            let accountable = stage.raci.accountable.as_ref().is_some_and(|r| roles.contains(&r.get_ref().as_str()));
            if responsible {
                for ticket in state.store.list(&open(Some(stage_id.get_ref()), None, true), None, LIST_LIMIT)?.tickets {
                    queues.extend(keep(workflow, &ticket));
                }
            }
            if accountable && stage.transitions.iter().any(|t| t.requires_approval) {
                for ticket in state.store.list(&open(Some(stage_id.get_ref()), None, false), None, LIST_LIMIT)?.tickets
                {
                    let pending = ticket.approvals.get(&ticket.stage).is_none_or(|a| a.approved_by.is_none());
                    if pending {
                        approvals.extend(keep(workflow, &ticket));
                    }
                }
            }
        }
    }
    for list in [&mut mine, &mut queues, &mut approvals] {
        list.sort_by(|a, b| {
            let key = |row: &Row| clocks::ticket_urgency(row.clock.as_ref());
            key(a).cmp(&key(b)).then(a.created_at.cmp(&b.created_at))
        });
        list.truncate(LIST_LIMIT);
    }
    Ok(Lists { mine, queues, approvals })
}

fn row(state: &AppState, workflow: &Workflow, ticket: &Ticket, now: DateTime<Utc>) -> Row {
    let definition = &workflow.definition;
    let clocks = clocks::clocks(definition, ticket, now);
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
        breached: clocks.iter().any(|c| c.state == clocks::ClockState::Breached),
        clock: clocks.into_iter().next(),
    }
}
