//! Mail templates: the built-in ones (`templates.toml`, compiled into the binary) with a
//! workflow's `[templates.NAME]` overrides on top, rendered with MiniJinja.
//!
//! Each template has three parts: `subject`, `text` and `html`. A workflow may override any part
//! of any template, or add templates of its own; what it leaves out is the built-in part. HTML
//! parts are auto-escaped and usually extend the built-in `layout`. One [`Templates`] is built
//! per workflow version, so a message queued before a workflow changed renders as it would have.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use indexmap::IndexMap;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

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

/// Why a template could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No template of that name.
    #[error("no mail template named `{0}`")]
    Unknown(String),
    /// MiniJinja failed.
    #[error("mail template `{name}`: {message}")]
    Render {
        /// Template and part.
        name: String,
        /// What went wrong.
        message: String,
    },
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
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
        env.add_filter("local", move |value: String| local_time(&value, timezone));
        let mut add = |name: String, source: String| {
            env.add_template_owned(name.clone(), source)
                .map_err(|error| TemplateError::Render { name, message: error.to_string() })
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
            template.render(context).map(Some).map_err(|error| TemplateError::Render {
                name: file.to_string(),
                message: match error.line() {
                    Some(line) => format!("{} (line {line})", error.detail().unwrap_or("cannot render")),
                    None => error.detail().unwrap_or("cannot render").to_string(),
                },
            })
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
            "default_subject": "[AS-7] Something", "ticket_url": "http://x/v1/tickets/AS-7", "clock": "resolution",
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

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(syntax_error("fine {{ number }}"), None);
        let (line, message) = syntax_error("line one\nline two {{ number }\nline three").expect("error");
        assert_eq!(line, 2, "{message}");
    }
}
