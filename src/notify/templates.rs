//! Mail templates: the built-in ones (`templates.toml`, compiled into the binary) with a
//! workflow's `[templates.NAME]` overrides on top, rendered with MiniJinja.
//!
//! Each template has three parts: `subject`, `text` and `html`. A workflow may override any part
//! of any template, or add templates of its own; what it leaves out is the built-in part. HTML
//! parts are auto-escaped and usually extend the built-in `layout`. One [`Templates`] is built
//! per workflow version, so a message queued before a workflow changed renders as it would have.
//!
//! Templates are guests, like scripts: each part of a mail is rendered with at most [`FUEL`]
//! MiniJinja instructions, [`MAX_DEPTH`] levels of nesting, and into [`MAX_OUTPUT`] bytes, and
//! a template that goes past one fails that one message with a clear error instead of running
//! without end. [`Templates::trial`] renders a template with sample values of exactly the values
//! its messages have ([`Purpose::sample`]), so `validate` catches a runaway template at load.

use std::collections::BTreeMap;
use std::io;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use indexmap::IndexMap;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde_json::json;

use crate::engine::notices::Audience;
use crate::workflow::diagnostic::thousands;
use crate::workflow::model::{MailTemplate, Name};

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line (one line).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// Most MiniJinja instructions one part of a mail may run. A built-in part needs under a
/// hundred (the digest's HTML 77, measured); a digest listing a hundred stages under a thousand.
/// A loop without end stops here within milliseconds.
pub const FUEL: u64 = 100_000;
/// Largest part (subject, text or HTML) a template may produce, in bytes; also the largest
/// value it may print.
pub const MAX_OUTPUT: usize = 512 * 1024;
/// Deepest nesting of blocks, includes and macro calls.
pub const MAX_DEPTH: usize = 64;

/// Why a template could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No template of that name.
    #[error("no mail template named `{0}`")]
    Unknown(String),
    /// MiniJinja failed.
    #[error("mail template `{name}`: {message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Render {
        /// The template file that failed: `NAME.subject`, `NAME.txt` or `NAME.html` (which may
        /// be another one than was rendered: the layout it extends, say).
        name: String,
        /// Its line, from 1, when known.
        line: Option<usize>,
        /// What went wrong.
        message: String,
    },
}

impl TemplateError {
    fn of(file: &str, error: &minijinja::Error) -> Self {
        let detail = error.detail().unwrap_or("cannot render");
        let message = match error.kind() {
            ErrorKind::OutOfFuel => {
                format!(
                    "stopped after {} steps: does a loop never end? (mail templates are limited in steps)",
                    thousands(FUEL)
                )
            }
            ErrorKind::WriteFailure => {
                format!("its output is larger than {} KiB (mail templates are limited in size)", MAX_OUTPUT / 1024)
            }
            _ => detail.to_string(),
        };
        Self::Render { name: error.name().unwrap_or(file).to_string(), line: error.line(), message }
    }
}

/// What a message is for, which decides the values its template gets and who reads it
/// ([`Purpose::audience`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// A workflow's `[[notifications]]` about a ticket event, to staff (ticket opened, stage
    /// entered, ...).
    Notification,
    /// A workflow's `[[notifications]]` about a ticket event, to the customer.
    CustomerNotification,
    /// An agent's public reply, mailed to the customer.
    Reply,
    /// A refused approval, to the person who asked for it.
    Rejection,
    /// A hook's `notify` action.
    Hook,
    /// An SLA warning or breach.
    SlaAlert,
    /// An SLA escalation level.
    Escalation,
    /// An SLA reminder.
    Reminder,
    /// The satisfaction survey.
    Survey,
    /// The digest job.
    Digest,
    /// The follow-up job.
    FollowUp,
    /// The KPI report job.
    KpiReport,
    /// A one-time link to sign in to the pages, to a person of the team.
    SignIn,
}

/// Names a template may use that are not values: MiniJinja's global functions.
const GLOBALS: &[&str] = &["range", "dict", "namespace", "debug", "self"];

impl Purpose {
    /// The purpose in words: `an escalation`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Notification => "a notification to staff",
            Self::CustomerNotification => "a notification to the customer",
            Self::Reply => "a public reply",
            Self::Rejection => "a refused approval",
            Self::Hook => "a hook's notice",
            Self::SlaAlert => "an SLA warning or breach",
            Self::Escalation => "an escalation",
            Self::Reminder => "an SLA reminder",
            Self::Survey => "a survey",
            Self::Digest => "a digest",
            Self::FollowUp => "a follow-up",
            Self::KpiReport => "a KPI report",
            Self::SignIn => "a sign-in link",
        }
    }

    /// Who reads mail of this purpose.
    pub fn audience(self) -> Audience {
        match self {
            Self::CustomerNotification | Self::Reply | Self::Survey | Self::FollowUp => Audience::Customer,
            _ => Audience::Staff,
        }
    }

    /// What a built-in template is for.
    pub fn of_built_in(name: &str) -> Option<Self> {
        Some(match name {
            "sla_warning" | "sla_breach" => Self::SlaAlert,
            "sla_escalation" => Self::Escalation,
            "sla_reminder" => Self::Reminder,
            "hook_notice" => Self::Hook,
            "approval_rejected" => Self::Rejection,
            "survey" => Self::Survey,
            "digest" => Self::Digest,
            "follow_up" => Self::FollowUp,
            "kpi_report" => Self::KpiReport,
            "sign_in" => Self::SignIn,
            "public_reply" => Self::Reply,
            "ticket_received"
            | "stage_entered_customer"
            | "resolved"
            | "closed_customer"
            | "reopened_customer"
            | "ticket_update_customer" => Self::CustomerNotification,
            _ if is_built_in(name) => Self::Notification,
            _ => return None,
        })
    }

    /// The names of the values a message for this purpose has, sorted.
    pub fn values(self) -> Vec<String> {
        let mut names: Vec<String> = self.sample().as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        names.sort();
        names
    }

    /// Sample values of exactly the keys a message for this purpose has: those the engine puts
    /// in (`engine::notices`, `jobs`) and the links the delivery worker adds (customer mail
    /// gets no `ticket_url`: customers cannot open the API).
    pub fn sample(self) -> serde_json::Value {
        let ticket = json!({
            "number": "AS-7", "subject": "Washer stops mid-cycle", "stage": "review", "stage_name": "Review",
            "priority": "high", "assignee": "ali@example.com", "customer": "Sam Rahimi", "workflow": "After-sales",
        });
        let for_customer = json!({
            "number": "AS-7", "subject": "Washer stops mid-cycle", "stage_name": "Review", "customer": "Sam Rahimi",
            "workflow": "After-sales",
        });
        let links = json!({
            "default_subject": "[AS-7] Washer stops mid-cycle", "public_url": "https://help.example.com",
            "ticket_url": "https://help.example.com/t/AS-7",
        });
        let clock = json!({
            "clock": "resolution", "deadline": "2026-11-23T10:00:00Z", "late_by": "2h 30m",
            "responsible": ["ali@example.com", "sara@example.com"],
        });
        let (mut sample, extra) = match self {
            Self::Notification => (ticket, json!({ "event": "stage_changed" })),
            Self::CustomerNotification => (for_customer, json!({ "event": "stage_changed" })),
            Self::Reply => (for_customer, json!({ "reply": "Hello Sam,\n\nthe new pump arrives on Monday." })),
            Self::Rejection => {
                (ticket, json!({ "note": "The cost is not covered.", "rejected_by": "reza@example.com" }))
            }
            Self::Hook => (ticket, json!({ "message": "A part was ordered for this repair." })),
            Self::SlaAlert => (ticket, clock),
            Self::Escalation => (merged(ticket, &clock), json!({ "level": 1 })),
            Self::Reminder => (merged(ticket, &clock), json!({ "reminder": 2 })),
            Self::Survey => (
                json!({
                    "number": "AS-7", "subject": "Washer stops mid-cycle", "customer": "Sam Rahimi",
                    "workflow": "After-sales", "questions": ["csat", "comment"], "expires_at": "2026-12-07T10:00:00Z",
                }),
                json!({ "survey_url": "https://help.example.com/survey/sample" }),
            ),
            Self::Digest => (
                json!({
                    "workflow": "After-sales", "open": 12, "by_stage": { "intake": 4, "review": 6, "resolution": 2 },
                    "breached": ["AS-3", "AS-7"], "job": "daily_digest",
                }),
                json!({}),
            ),
            Self::KpiReport => (
                json!({
                    "workflow": "After-sales", "job": "monthly_kpis", "period": "month", "from": "2026-11-01",
                    "to": "2026-11-30", "opened": 120, "resolved": 110, "first_response": "3h 20m",
                    "resolution": "26h 40m", "fcr_rate": "62%", "csat": "84%", "csat_responses": 40, "nps": "+31",
                    "nps_responses": 38, "sla_breaches": 7, "breach_rate": "3.2%", "reopen_rate": "4.5%",
                    "repeat_rate": "8.3%", "top_repeats": [{ "category": "warranty", "repeats": 6 }],
                    "backlog": 23, "backlog_by_stage": { "intake": 9, "repair": 14 },
                    "csv": "kpi-after-sales-2026-11-01-2026-11-30.csv",
                }),
                json!({}),
            ),
            Self::SignIn => (
                json!({
                    "workflow": "After-sales", "person": "ali@example.com", "minutes": 15, "sign_in_id": "00112233445566778899aabbccddeeff",
                    "expires_at": "2026-11-23T10:15:00Z",
                }),
                json!({ "sign_in_url": "https://help.example.com/sign-in/sample" }),
            ),
            Self::FollowUp => (
                json!({
                    "number": "AS-7", "subject": "Washer stops mid-cycle", "customer": "Sam Rahimi",
                    "workflow": "After-sales", "job": "follow_up",
                }),
                json!({}),
            ),
        };
        sample = merged(merged(sample, &extra), &links);
        if let Some(map) = sample.as_object_mut() {
            // A digest is about no ticket, and customers cannot open the API: no ticket link.
            if matches!(self, Self::Digest | Self::KpiReport | Self::SignIn) || self.audience() == Audience::Customer {
                map.remove("ticket_url");
            }
            if self == Self::Digest {
                map["default_subject"] = json!("[After-sales] Digest: 12 open, 2 breached");
            }
            if self == Self::SignIn {
                map["default_subject"] = json!("Your sign-in link to Afterdesk");
            }
            if self == Self::KpiReport {
                map["default_subject"] = json!("[After-sales] KPIs 2026-11-01 to 2026-11-30");
            }
        }
        sample
    }
}

/// The values template `source` uses (its undeclared variables, top level only), sorted;
/// MiniJinja's global functions are not values. Empty for a template that does not parse.
pub fn values_used(source: &str) -> Vec<String> {
    let env = Environment::new();
    let Ok(template) = env.template_from_str(source) else { return Vec::new() };
    let mut used: Vec<String> =
        template.undeclared_variables(false).into_iter().filter(|name| !GLOBALS.contains(&name.as_str())).collect();
    used.sort();
    used
}

/// The values `source` uses that a message for `purpose` does not have, sorted.
pub fn values_missing(source: &str, purpose: Purpose) -> Vec<String> {
    let has = purpose.values();
    values_used(source).into_iter().filter(|name| !has.contains(name)).collect()
}

/// The built-in template of `source` (name and part), for checking built-ins in tests.
pub fn built_in_source(name: &str, part: &str) -> Option<&'static str> {
    BUILT_IN.get(name)?.parts().find(|(p, _)| *p == part).map(|(_, source)| source.get_ref().as_str())
}

fn merged(mut base: serde_json::Value, extra: &serde_json::Value) -> serde_json::Value {
    if let (Some(target), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    base
}

/// Output that stops taking bytes past a limit: rendering then fails with a write error.
struct Bounded {
    out: Vec<u8>,
    limit: usize,
}

impl io::Write for Bounded {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.out.len() + bytes.len() > self.limit {
            return Err(io::Error::other("the output is too large"));
        }
        self.out.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

static BUILT_IN: LazyLock<BTreeMap<String, MailTemplate>> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    toml::from_str(include_str!("templates.toml")).expect("the built-in templates are valid TOML")
});

/// Names of the built-in templates.
pub fn built_in() -> impl Iterator<Item = &'static str> {
    BUILT_IN.keys().map(String::as_str).filter(|name| is_built_in(name))
}

/// Whether a template of this name exists without any workflow override.
pub fn is_built_in(name: &str) -> bool {
    !matches!(name, "layout" | "plain") && BUILT_IN.contains_key(name)
}

/// The syntax error of a template source, if any: its line (from 1) and message.
pub fn syntax_error(source: &str) -> Option<(usize, String)> {
    let env = Environment::new();
    match env.template_from_str(source) {
        Ok(_) => None,
        Err(error) => Some((error.line().unwrap_or(1), error.detail().unwrap_or("syntax error").to_string())),
    }
}

/// The templates of one workflow version.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// The built-in templates with `overrides` on top; times shown in `timezone`.
    pub fn new(overrides: &IndexMap<Name, MailTemplate>, timezone: Tz) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(MAX_DEPTH);
        // A value too large to print fails before it is copied (into a `{% set %}` block, say,
        // which does not go through the bounded output).
        env.set_formatter(|out, state, value| {
            let size = value.as_str().map_or(0, str::len);
            if size > MAX_OUTPUT {
                return Err(minijinja::Error::from(ErrorKind::WriteFailure));
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
        env.add_filter("local", move |value: String| local_time(&value, timezone));
        let mut add = |name: String, source: String| {
            env.add_template_owned(name.clone(), source).map_err(|error| TemplateError::Render {
                name,
                line: error.line(),
                message: error.to_string(),
            })
        };
        let built_in = BUILT_IN.iter().map(|(name, parts)| (name.as_str(), parts));
        for (name, parts) in built_in.chain(overrides.iter().map(|(name, parts)| (name.get_ref().as_str(), parts))) {
            for (part, source) in parts.parts() {
                add(file_name(name, part), source.get_ref().clone())?;
            }
        }
        Ok(Self { env })
    }

    /// Renders template `name` with `context`.
    ///
    /// A workflow's own template needs a `text` part; without `subject` it has Afterdesk's
    /// subject line (`default_subject`), without `html` its text in the HTML layout.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<Rendered, TemplateError> {
        let render = |file: &str, context: &serde_json::Value| -> Result<Option<String>, TemplateError> {
            let Ok(template) = self.env.get_template(file) else { return Ok(None) };
            let mut out = Bounded { out: Vec::new(), limit: MAX_OUTPUT };
            template.render_captured_to(context, &mut out).map_err(|error| TemplateError::of(file, &error))?;
            Ok(Some(String::from_utf8_lossy(&out.out).into_owned()))
        };
        let text =
            render(&file_name(name, "text"), context)?.ok_or_else(|| TemplateError::Unknown(name.to_string()))?;
        let subject = match render(&file_name(name, "subject"), context)? {
            Some(subject) => subject,
            None => context.get("default_subject").and_then(|s| s.as_str()).unwrap_or_default().to_string(),
        };
        let html = match render(&file_name(name, "html"), context)? {
            Some(html) => html,
            None => {
                let mut with_body = context.clone();
                if let Some(map) = with_body.as_object_mut() {
                    map.insert("body".into(), text.clone().into());
                }
                render("plain.html", &with_body)?.unwrap_or_default()
            }
        };
        Ok(Rendered { subject: subject.split_whitespace().collect::<Vec<_>>().join(" "), text, html })
    }

    /// Renders template `name` as a message for each of `purposes`, with sample values
    /// ([`Purpose::sample`]): the first failure, if any.
    pub fn trial(&self, name: &str, purposes: &[Purpose]) -> Result<(), TemplateError> {
        for purpose in purposes {
            self.render(name, &purpose.sample())?;
        }
        Ok(())
    }
}

/// Which template and part a template file is: `survey.txt` is (`survey`, `text`).
pub fn part_of(file: &str) -> Option<(&str, &'static str)> {
    let (name, extension) = file.rsplit_once('.')?;
    let part = match extension {
        "subject" => "subject",
        "txt" => "text",
        "html" => "html",
        _ => return None,
    };
    Some((name, part))
}

fn file_name(name: &str, part: &str) -> String {
    match part {
        "subject" => format!("{name}.subject"),
        "text" => format!("{name}.txt"),
        _ => format!("{name}.html"),
    }
}

/// An RFC 3339 time as people read it in `timezone`: `Mon 23 Nov 2026 14:30 (Asia/Tehran)`.
fn local_time(value: &str, timezone: Tz) -> String {
    match DateTime::parse_from_rfc3339(value) {
        Ok(at) => {
            let at = at.with_timezone(&Utc).with_timezone(&timezone);
            format!("{} ({})", at.format("%a %-d %b %Y %H:%M"), timezone.name())
        }
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates() -> Templates {
        Templates::new(&IndexMap::new(), chrono_tz::Asia::Tehran).expect("built-in templates compile")
    }

    #[test]
    fn every_built_in_template_renders_all_parts() {
        let templates = templates();
        let context = json!({
            "number": "AS-7", "subject": "Leaking <washer>", "stage_name": "Review", "priority": "high",
            "default_subject": "[AS-7] Something", "ticket_url": "http://x/t/AS-7", "clock": "resolution",
            "deadline": "2026-11-23T10:00:00Z", "late_by": "2h", "responsible": ["ali@example.com"], "level": 1,
            "open": 3, "by_stage": {"review": 2, "intake": 1}, "breached": ["AS-7"], "workflow": "After-sales",
            "event": "internal_note", "survey_url": "http://x/survey/abc", "expires_at": "2026-12-07T10:00:00Z",
        });
        for name in built_in() {
            let rendered = templates.render(name, &context).expect(name);
            assert_eq!(rendered.subject, "[AS-7] Something", "{name}");
            assert!(!rendered.text.trim().is_empty(), "{name} text");
            assert!(rendered.html.contains("<html>"), "{name} html extends the layout");
            assert!(!rendered.html.contains("<washer>"), "{name}: values are escaped in HTML");
        }
        let escalation = templates.render("sla_escalation", &context).expect("renders");
        assert!(escalation.text.contains("Late by:     2h (business time)"), "{}", escalation.text);
        assert!(escalation.text.contains("Mon 23 Nov 2026 13:30 (Asia/Tehran)"), "{}", escalation.text);
    }

    #[test]
    fn a_workflow_overrides_a_part_and_keeps_the_others() {
        let overrides: IndexMap<Name, MailTemplate> = toml::from_str(
            "[ticket_received]\nsubject = \"درخواست شما {{ number }} ثبت شد\"\n[custom]\ntext = \"Hi {{ number }}\"\n",
        )
        .expect("valid");
        let templates = Templates::new(&overrides, chrono_tz::UTC).expect("compiles");
        let rendered = templates.render("ticket_received", &json!({ "number": "AS-1" })).expect("renders");
        assert_eq!(rendered.subject, "درخواست شما AS-1 ثبت شد");
        assert!(rendered.text.contains("AS-1"), "the built-in text stays");
        let custom = templates.render("custom", &json!({ "number": "AS-2", "default_subject": "S" })).expect("renders");
        assert_eq!(custom.text, "Hi AS-2");
        assert_eq!(custom.subject, "S", "without a subject, Afterdesk's");
        assert!(custom.html.contains("Hi AS-2") && custom.html.contains("<html>"), "the text in the layout");
        assert!(matches!(templates.render("nope", &json!({})), Err(TemplateError::Unknown(_))));
    }

    fn custom(text: &str) -> Templates {
        let mut overrides: IndexMap<Name, MailTemplate> = IndexMap::new();
        let template =
            MailTemplate { subject: None, text: Some(toml::Spanned::new(0..0, text.to_string())), html: None };
        overrides.insert(toml::Spanned::new(0..0, "custom".to_string()), template);
        Templates::new(&overrides, chrono_tz::UTC).expect("compiles")
    }

    fn failure(text: &str) -> String {
        let started = std::time::Instant::now();
        let result = custom(text).render("custom", &Purpose::Notification.sample());
        let error = result.err().unwrap_or_else(|| panic!("`{text}` rendered"));
        // Not a timing assertion: a guard so a regression shows as a failure, not a hung run.
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "`{text}` ran for {:?}", started.elapsed());
        error.to_string()
    }

    #[test]
    fn a_loop_without_end_stops_with_a_clear_error() {
        let nested = failure("{% for a in range(100000) %}{% for b in range(100000) %}.{% endfor %}{% endfor %}");
        assert!(nested.contains("stopped after 100,000 steps"), "{nested}");
        assert!(nested.contains("custom.txt") && nested.contains("line 1"), "{nested}");
        let huge = failure("{% for i in range(100000000) %}x{% endfor %}");
        assert!(huge.contains("too many elements"), "{huge}");
    }

    #[test]
    fn output_is_bounded() {
        let raw = failure(&format!("{{% for i in range(5000) %}}{}{{% endfor %}}", "x".repeat(200)));
        assert!(raw.contains("larger than 512 KiB"), "{raw}");
        let value = failure("{{ 'x' * 1000000 }}");
        assert!(value.contains("larger than 512 KiB"), "{value}");
        // Doubling a captured value: it fails once the value is too large to print.
        let doubling = failure(
            "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}\
             {% set s %}{{ ns.s }}{{ ns.s }}{% endset %}{% set ns.s = s %}{% endfor %}",
        );
        assert!(doubling.contains("larger than 512 KiB"), "{doubling}");
    }

    #[test]
    fn recursion_is_bounded() {
        let error = failure("{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}");
        assert!(error.contains("recursion"), "{error}");
    }

    #[test]
    fn every_built_in_renders_with_the_samples_of_its_purpose() {
        let templates = templates();
        for name in built_in() {
            let purpose = Purpose::of_built_in(name).expect("a built-in has a purpose");
            let sample = purpose.sample();
            let rendered = templates.render(name, &sample).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(rendered.subject, sample["default_subject"].as_str().unwrap_or_default(), "{name}");
            assert!(!rendered.text.trim().is_empty() && rendered.html.contains("<html>"), "{name}");
            templates.trial(name, &[purpose]).unwrap_or_else(|e| panic!("{name}: {e}"));
            for part in ["subject", "text", "html"] {
                let source = built_in_source(name, part).unwrap_or_default();
                assert_eq!(values_missing(source, purpose), Vec::<String>::new(), "{name}.{part}");
            }
        }
        assert_eq!(Purpose::of_built_in("sla_reminder"), Some(Purpose::Reminder));
        assert_eq!(Purpose::of_built_in("layout"), None, "not a mail of its own");
        assert!(Purpose::Digest.sample().get("ticket_url").is_none(), "a digest is about no ticket");
    }

    #[test]
    fn customer_mail_has_no_staff_values() {
        for purpose in [Purpose::CustomerNotification, Purpose::Reply, Purpose::Survey, Purpose::FollowUp] {
            assert_eq!(purpose.audience(), Audience::Customer);
            let values = purpose.values();
            for staff in ["ticket_url", "assignee", "priority", "responsible"] {
                assert!(!values.iter().any(|v| v == staff), "{purpose:?} has {staff}");
            }
        }
        assert!(Purpose::Notification.values().iter().any(|v| v == "ticket_url"));
        assert_eq!(values_used("{{ number }} {% for x in range(2) %}{{ x }}{{ loop.index }}{% endfor %}"), ["number"]);
        assert_eq!(values_missing("{{ ticket_url }} {{ number }}", Purpose::CustomerNotification), ["ticket_url"]);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(syntax_error("fine {{ number }}"), None);
        let (line, message) = syntax_error("line one\nline two {{ number }\nline three").expect("error");
        assert_eq!(line, 2, "{message}");
    }
}
