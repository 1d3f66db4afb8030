//! Reports: KPIs from the event log, kept up to date as tickets are written.
//!
//! - [`facts`]: what one ticket counts for (a pure function of the ticket and its workflow),
//!   and the change when a ticket changes: the writer puts it in the same transaction as the
//!   events; a rebuild sums it over every ticket replayed from its events.
//! - [`aggregate`]: one bucket's figures and how buckets add up (exact medians and p90).
//! - [`kpis`]: the definitions: figures from added-up buckets, the backlog of open tickets.
//! - [`query`]: a report read from the store: buckets of a workflow, period and filter.
//! - [`rebuild`]: every bucket recomputed from the events.
//! - [`kpi_report`]: the previous period's KPIs in business terms and as CSV, for the
//!   `kpi_report` job's mail.
//! - [`gauges`]: backlog and SLA breach gauges for `/metrics`.

pub mod aggregate;
pub mod facts;
pub mod gauges;
pub mod kpi_report;
pub mod kpis;
pub mod query;
pub mod rebuild;
