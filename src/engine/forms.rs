//! Form values against their definition: type, pattern, range, options; and completeness.
//!
//! Saving a form checks every value given (a draft may leave required fields empty);
//! leaving a stage checks that every required field is filled in ([`missing_required`]).

use std::collections::BTreeMap;

use serde_json::Value;

use super::attachment::Attachment;
use super::error::FieldProblem;
use crate::workflow::model::{Field, FieldType, Form};

/// Checks `values` (the fields being saved) against `form`. `null` clears a field and is
/// always allowed. Returns every problem, each naming `forms.FORM.FIELD`.
pub fn check_values(form_id: &str, form: &Form, values: &BTreeMap<String, Value>) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    for (name, value) in values {
        let path = format!("forms.{form_id}.{name}");
        let Some(field) = form.fields.iter().find(|f| f.name.get_ref() == name) else {
            let known: Vec<&str> = form.fields.iter().map(|f| f.name.get_ref().as_str()).collect();
            problems.push(FieldProblem::new(
                path,
                format!("form `{form_id}` has no field `{name}`; its fields: {}", known.join(", ")),
            ));
            continue;
        };
        if value.is_null() {
            continue;
        }
        if let Err(message) = check_value(field, value) {
            problems.push(FieldProblem::new(path, message));
        }
    }
    problems
}

/// The required fields of `form` that `saved` leaves empty.
pub fn missing_required(form_id: &str, form: &Form, saved: Option<&BTreeMap<String, Value>>) -> Vec<FieldProblem> {
    form.fields
        .iter()
        .filter(|field| field.required)
        .filter(|field| saved.and_then(|values| values.get(field.name.get_ref())).is_none_or(is_empty))
        .map(|field| {
            let label = field.label.as_deref().unwrap_or(field.name.get_ref());
            FieldProblem::new(
                format!("forms.{form_id}.{}", field.name.get_ref()),
                format!("required field \"{label}\" of form `{form_id}` is not filled in"),
            )
        })
        .collect()
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn check_value(field: &Field, value: &Value) -> Result<(), String> {
    let kind = *field.kind.get_ref();
    let bounds = (field.min.as_ref().map(|m| *m.get_ref()), field.max.as_ref().map(|m| *m.get_ref()));
    match kind {
        FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Phone => {
            let text = value.as_str().ok_or_else(|| expected("text", value))?;
            if kind == FieldType::Text && text.contains('\n') {
                return Err("must be a single line (use a long_text field for several lines)".into());
            }
            let length = text.chars().count() as f64;
            if let Some(min) = bounds.0
                && length < min
            {
                return Err(format!("must be at least {min} characters long"));
            }
            if let Some(max) = bounds.1
                && length > max
            {
                return Err(format!("must be at most {max} characters long"));
            }
            if kind == FieldType::Email && !is_email(text) {
                return Err(format!("\"{text}\" is not an email address"));
            }
            if kind == FieldType::Phone && !is_phone(text) {
                return Err(format!("\"{text}\" is not a phone number"));
            }
            if let Some(pattern) = &field.pattern {
                // The pattern compiled when the workflow was checked.
                let matches = regex::Regex::new(pattern.get_ref()).map(|re| re.is_match(text)).unwrap_or(true);
                if !matches {
                    return Err(format!("\"{text}\" does not match the pattern {}", pattern.get_ref()));
                }
            }
            Ok(())
        }
        FieldType::Integer => {
            let number = value.as_i64().ok_or_else(|| expected("a whole number", value))?;
            in_range(number as f64, bounds)
        }
        FieldType::Number => {
            let number = value.as_f64().ok_or_else(|| expected("a number", value))?;
            in_range(number, bounds)
        }
        FieldType::Bool => value.as_bool().map(|_| ()).ok_or_else(|| expected("true or false", value)),
        FieldType::Date => {
            let text = value.as_str().ok_or_else(|| expected("a date like 2026-03-20", value))?;
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|_| ())
                .map_err(|_| format!("\"{text}\" is not a date like 2026-03-20"))
        }
        FieldType::Datetime => {
            let text = value.as_str().ok_or_else(|| expected("a date and time", value))?;
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|_| ())
                .map_err(|_| format!("\"{text}\" is not a date and time like 2026-03-20T14:30:00+03:30"))
        }
        FieldType::Choice => {
            let text = value.as_str().ok_or_else(|| expected("one of the options", value))?;
            one_of(field, text)
        }
        FieldType::MultiChoice => {
            let items = value.as_array().ok_or_else(|| expected("a list of options", value))?;
            let mut seen = std::collections::BTreeSet::new();
            for item in items {
                let text = item.as_str().ok_or_else(|| expected("a list of options", value))?;
                one_of(field, text)?;
                if !seen.insert(text) {
                    return Err(format!("\"{text}\" is chosen twice"));
                }
            }
            Ok(())
        }
        FieldType::File => {
            let text = value.as_str().ok_or_else(|| expected("an attachment id", value))?;
            attachment_id(text)
        }
        FieldType::Files => {
            let items = value.as_array().ok_or_else(|| expected("a list of attachment ids", value))?;
            let mut seen = std::collections::BTreeSet::new();
            for item in items {
                let text = item.as_str().ok_or_else(|| expected("a list of attachment ids", value))?;
                attachment_id(text)?;
                if !seen.insert(text) {
                    return Err(format!("attachment {text} is listed twice"));
                }
            }
            Ok(())
        }
    }
}

fn attachment_id(text: &str) -> Result<(), String> {
    ulid::Ulid::from_string(text).map(|_| ()).map_err(|_| format!("\"{text}\" is not an attachment id"))
}

/// The attachment ids of a `file` or `files` value (none for other values).
pub fn file_ids(value: &Value) -> Vec<&str> {
    match value {
        Value::String(id) => vec![id.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The `file` and `files` values of `values` that name no attachment of the ticket (whose
/// files are `attached`): each a problem naming `forms.FORM.FIELD`.
pub fn check_files(
    form_id: &str,
    form: &Form,
    values: &BTreeMap<String, Value>,
    attached: &[Attachment],
) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    for field in &form.fields {
        if !matches!(field.kind.get_ref(), FieldType::File | FieldType::Files) {
            continue;
        }
        let Some(value) = values.get(field.name.get_ref()) else { continue };
        // Ids that are not ids at all are `check_values`' to report.
        for id in file_ids(value).into_iter().filter(|id| ulid::Ulid::from_string(id).is_ok()) {
            if !attached.iter().any(|a| a.id.to_string().eq_ignore_ascii_case(id)) {
                problems.push(FieldProblem::new(
                    format!("forms.{form_id}.{}", field.name.get_ref()),
                    format!("{id} is not a file of this ticket; attach it first (POST /v1/tickets/{{id}}/attachments)"),
                ));
            }
        }
    }
    problems
}

fn expected(what: &str, value: &Value) -> String {
    let found = match value {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    format!("must be {what}, not {found}")
}

fn in_range(number: f64, (min, max): (Option<f64>, Option<f64>)) -> Result<(), String> {
    if let Some(min) = min
        && number < min
    {
        return Err(format!("must be at least {min}"));
    }
    if let Some(max) = max
        && number > max
    {
        return Err(format!("must be at most {max}"));
    }
    Ok(())
}

fn one_of(field: &Field, text: &str) -> Result<(), String> {
    let options: Vec<&str> =
        field.options.as_ref().map(|o| o.get_ref().iter().map(|n| n.get_ref().as_str()).collect()).unwrap_or_default();
    if options.contains(&text) {
        Ok(())
    } else {
        Err(format!("\"{text}\" is not one of the options: {}", options.join(", ")))
    }
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(char::is_whitespace)
}

/// A plausible phone number: digits with optional `+`, spaces, dashes, dots and parentheses,
/// at least five digits.
pub fn is_phone(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    digits >= 5 && text.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form() -> Form {
        toml::from_str(
            r#"
fields = [
  { name = "serial", type = "text", required = true, pattern = "^[A-Z0-9]{8}$" },
  { name = "count", type = "integer", min = 1, max = 5 },
  { name = "kind", type = "choice", options = ["a", "b"] },
  { name = "parts", type = "multi_choice", options = ["x", "y"] },
  { name = "when", type = "date" },
  { name = "mail", type = "email" },
  { name = "ok", type = "bool", required = true },
]
"#,
        )
        .expect("valid form")
    }

    fn values(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
    }

    #[test]
    fn valid_values_pass() {
        let v = values(&[
            ("serial", json!("AB12CD34")),
            ("count", json!(3)),
            ("kind", json!("a")),
            ("parts", json!(["x", "y"])),
            ("when", json!("2026-03-20")),
            ("mail", json!("a@b.example")),
            ("ok", json!(false)),
        ]);
        assert_eq!(check_values("f", &form(), &v), vec![]);
    }

    #[test]
    fn each_bad_value_is_named() {
        let v = values(&[
            ("serial", json!("short")),
            ("count", json!(9)),
            ("kind", json!("c")),
            ("parts", json!(["x", "x"])),
            ("when", json!("20/03/2026")),
            ("mail", json!("nobody")),
            ("ok", json!("yes")),
            ("colour", json!("red")),
        ]);
        let problems = check_values("f", &form(), &v);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "forms.f.colour",
                "forms.f.count",
                "forms.f.kind",
                "forms.f.mail",
                "forms.f.ok",
                "forms.f.parts",
                "forms.f.serial",
                "forms.f.when"
            ]
        );
        assert!(problems.iter().any(|p| p.message.contains("does not match the pattern")));
    }

    #[test]
    fn required_fields_are_reported_until_filled() {
        let form = form();
        assert_eq!(missing_required("f", &form, None).len(), 2);
        let saved = values(&[("serial", json!("AB12CD34")), ("ok", json!(false))]);
        assert!(missing_required("f", &form, Some(&saved)).is_empty());
        let blank = values(&[("serial", json!("  ")), ("ok", json!(true))]);
        assert_eq!(missing_required("f", &form, Some(&blank)).len(), 1);
    }
}
