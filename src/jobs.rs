//! Scheduled jobs of the workflows (`[jobs.*]`, cron): a daily digest of open and breached
//! tickets, a follow-up to customers some days after closure, a survey of a sample of closed
//! tickets, a KPI report of the previous month or week to managers with its CSV attached.
//!
//! Each job's last run is stored, so a job knows what it missed: at start, a job that came due
//! while the server was down runs once (`catch_up = true`, the default), never once per missed
//! occurrence. A run queues its messages in the outbox and records the run in one transaction.
//! Jobs read the store; they never change tickets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use ulid::Ulid;

use crate::clock::Clock;
use crate::engine::attachment::Attachment;
use crate::engine::notices::Audience;
use crate::engine::{Status, Ticket, notices, survey};
use crate::registry::Registry;
use crate::reports::kpi_report;
use crate::store::outbox::{Email, OutboxMessage, Payload};
use crate::store::{Batch, ListFilter, Store, StoreError, keys};
use crate::workflow::Workflow;
use crate::workflow::model::{Job, JobAction, ReportPeriod};

/// Longest the job loop sleeps before looking again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobRuns {
    /// `workflow/job` of every job that ran.
    pub ran: Vec<String>,
    /// Messages queued.
    pub messages: usize,
}

/// Runs the scheduled jobs of the current workflows.
#[derive(Clone)]
pub struct Jobs {
    store: Store,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
}

fn timezone(workflow: &Workflow, job: &Job) -> Tz {
    if let Some(tz) = &job.timezone {
        return tz.get_ref().0;
    }
    workflow.definition.timezone()
}

/// The first occurrence of `job` after `after`.
pub fn next_run(workflow: &Workflow, job: &Job, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz = timezone(workflow, job);
    job.schedule.get_ref().schedule().after(&after.with_timezone(&tz)).next().map(|t| t.to_utc())
}

impl Jobs {
    /// Jobs over the store and the registry's workflows.
    pub fn new(store: Store, registry: Arc<Registry>, clock: Arc<dyn Clock>) -> Self {
        Self { store, registry, clock }
    }

    /// Runs every job that came due since its last run (once, however many runs were missed).
    /// A job never seen before starts counting from now.
    pub fn tick(&self) -> Result<JobRuns, StoreError> {
        let now = self.clock.now();
        let mut runs = JobRuns::default();
        let mut batch = Batch::default();
        for workflow in self.registry.all_current() {
            for (name, job) in &workflow.definition.jobs {
                let name = name.get_ref();
                let Some(last) = self.store.job_last_run(workflow.id(), name)? else {
                    batch.job_runs.push((workflow.id().to_string(), name.clone(), now));
                    continue;
                };
                let Some(next) = next_run(&workflow, job, last).filter(|next| *next <= now) else { continue };
                // Two occurrences or more since the last run: it was missed (the server was
                // down). It runs once, or not at all without `catch_up`.
                let missed = next_run(&workflow, job, next).is_some_and(|second| second <= now);
                if missed && !job.catch_up {
                    batch.job_runs.push((workflow.id().to_string(), name.clone(), now));
                    continue;
                }
                let messages = self.run(&workflow, name, job, last, now)?;
                runs.messages += messages.len();
                runs.ran.push(format!("{}/{name}", workflow.id()));
                batch.outbox.extend(messages);
                batch.job_runs.push((workflow.id().to_string(), name.clone(), now));
            }
        }
        if !batch.job_runs.is_empty() {
            self.store.commit(&batch)?;
        }
        Ok(runs)
    }

    fn tickets(&self, workflow: &str, status: Status) -> Result<Vec<Ticket>, StoreError> {
        let filter = ListFilter { workflow: Some(workflow.into()), status: Some(status), ..ListFilter::default() };
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.store.list(&filter, cursor, 500)?;
            all.extend(page.tickets);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        template: &str,
        audience: Audience,
        workflow: &Workflow,
        ticket: Option<&Ticket>,
        to: Vec<String>,
        subject: String,
        context: serde_json::Value,
        now: DateTime<Utc>,
    ) -> OutboxMessage {
        let email = Email {
            template: template.to_string(),
            to,
            subject,
            context,
            audience,
            personal: false,
            attachments: Vec::new(),
        };
        let message = OutboxMessage::queued(Ulid::from_datetime(now.into()), Payload::Email(email), now, now)
            .of_workflow(workflow.id(), &workflow.version);
        match ticket {
            Some(ticket) => message.about(ticket, ticket.revision),
            None => message,
        }
    }

    /// The messages one run of `job` sends.
    fn run(
        &self,
        workflow: &Workflow,
        name: &str,
        job: &Job,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let definition = &workflow.definition;
        let mut out = Vec::new();
        match job.action.get_ref() {
            JobAction::Digest => {
                let open = self.tickets(workflow.id(), Status::Open)?;
                let mut by_stage: BTreeMap<String, usize> = BTreeMap::new();
                let mut breached = Vec::new();
                for ticket in &open {
                    *by_stage.entry(ticket.stage.clone()).or_default() += 1;
                    if ticket.slas.values().any(|c| c.is_active() && c.breached_at.is_some()) {
                        breached.push(ticket.number.clone());
                    }
                }
                let names: Vec<&str> = job.notify.iter().map(|n| n.get_ref().as_str()).collect();
                let to = digest_recipients(definition, &names);
                let subject = format!("[{}] Digest: {} open, {} breached", definition.name, open.len(), breached.len());
                let context = json!({ "workflow": definition.name, "open": open.len(), "by_stage": by_stage, "breached": breached, "job": name });
                out.push(Self::message("digest", Audience::Staff, workflow, None, to, subject, context, now));
            }
            JobAction::FollowUp => {
                let after =
                    chrono::Duration::from_std(job.after_closed.as_ref().map_or(Duration::ZERO, |d| d.get_ref().get()))
                        .unwrap_or_default();
                for ticket in self.tickets(workflow.id(), Status::Closed)? {
                    let Some(closed) = ticket.closed_at else { continue };
                    // Closed `after_closed` ago, counted since the previous run: each ticket once.
                    if closed + after > last && closed + after <= now {
                        let Some(customer) = self.store.customer(ticket.customer)? else { continue };
                        let Some(email) = customer.email else { continue };
                        let subject = format!("[{}] How is everything since we closed your request?", ticket.number);
                        let context = json!({
                            "number": ticket.number, "subject": ticket.subject, "job": name,
                            "customer": customer.name, "workflow": definition.name,
                        });
                        out.push(Self::message(
                            job.template.as_ref().map_or("follow_up", |t| t.get_ref()),
                            Audience::Customer,
                            workflow,
                            Some(&ticket),
                            vec![email],
                            subject,
                            context,
                            now,
                        ));
                    }
                }
            }
            JobAction::SurveySample => {
                let share = job.sample.as_ref().map_or(1.0, |s| s.get_ref().fraction());
                for ticket in self.tickets(workflow.id(), Status::Closed)? {
                    let Some(closed) = ticket.closed_at else { continue };
                    // A stable sample: the same ticket is in or out whenever it is looked at.
                    let in_sample = survey::in_sample(&ticket, share);
                    if closed > last && closed <= now && in_sample {
                        let customer = self.store.customer(ticket.customer)?;
                        if let Some(notice) = notices::survey_mail(definition, &ticket, customer.as_ref(), now) {
                            let (template, to, subject) = (notice.template, notice.to, notice.subject);
                            out.push(Self::message(
                                &template,
                                notice.audience,
                                workflow,
                                Some(&ticket),
                                to,
                                subject,
                                notice.context,
                                now,
                            ));
                        }
                    }
                }
            }
            JobAction::KpiReport => out.extend(self.kpi_report(workflow, name, job, now)?),
        }
        // Messages of one run share a time: ids in order.
        let mut ids = ulid::Generator::new();
        for message in &mut out {
            message.id = keys::next_ulid(&mut ids, now);
        }
        Ok(out)
    }

    /// The KPI mail of `job`: the previous period's figures to the managers (or `notify`), the
    /// CSV stored as a blob and attached. None when nobody is to get it.
    fn kpi_report(
        &self,
        workflow: &Workflow,
        name: &str,
        job: &Job,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxMessage>, StoreError> {
        let definition = &workflow.definition;
        let to = if job.notify.is_empty() {
            definition.managers()
        } else {
            let names: Vec<&str> = job.notify.iter().map(|n| n.get_ref().as_str()).collect();
            digest_recipients(definition, &names)
        };
        if to.is_empty() {
            tracing::warn!(workflow = workflow.id(), job = name, "KPI report has nobody to send to");
            return Ok(None);
        }
        let period = job.period.as_ref().map_or(ReportPeriod::Month, |p| *p.get_ref());
        // The period is that of the run's date where the job runs; the buckets are UTC days.
        let today = now.with_timezone(&timezone(workflow, job)).date_naive();
        let about = kpi_report::Subject { workflow: workflow.id(), name: &definition.name, job: name, period };
        let report = kpi_report::build(&self.store, about, today, now)?;
        // The blob first, then the message that names it (committed with the run).
        let sha256 = self.store.put_blob(report.csv.as_bytes())?;
        let file = Attachment {
            id: Ulid::from_datetime(now.into()),
            name: report.file_name,
            content_type: "text/csv; charset=utf-8".into(),
            size: report.csv.len() as u64,
            sha256,
            added_at: now,
        };
        let template = job.template.as_ref().map_or("kpi_report", |t| t.get_ref());
        let mut message =
            Self::message(template, Audience::Staff, workflow, None, to, report.subject, report.context, now);
        if let Payload::Email(email) = &mut message.payload {
            email.attachments.push(file);
        }
        Ok(Some(message))
    }

    /// Runs jobs as they come due until `stop` is cancelled.
    pub async fn run_loop(self, stop: CancellationToken) {
        loop {
            let jobs = self.clone();
            match tokio::task::spawn_blocking(move || jobs.tick()).await {
                Ok(Ok(runs)) if !runs.ran.is_empty() => {
                    tracing::info!(jobs = ?runs.ran, messages = runs.messages, "scheduled jobs ran")
                }
                Ok(Err(error)) => tracing::error!(%error, "scheduled jobs failed"),
                _ => {}
            }
            let now = self.clock.now();
            let next = self
                .registry
                .all_current()
                .iter()
                .flat_map(|w| w.definition.jobs.values().filter_map(|job| next_run(w, job, now)).collect::<Vec<_>>())
                .min();
            let sleep = next.map_or(MAX_SLEEP, |n| (n - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP));
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}

/// Digest recipients: role members and addresses (a digest is about no ticket, so RACI words
/// do not apply).
fn digest_recipients(workflow: &crate::workflow::model::WorkflowFile, names: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        match workflow.roles.get(*name) {
            Some(members) => out.extend(members.iter().map(|m| m.get_ref().to_lowercase())),
            None if name.contains('@') => out.push(name.to_lowercase()),
            None => {}
        }
    }
    out.sort();
    out.dedup();
    out
}
