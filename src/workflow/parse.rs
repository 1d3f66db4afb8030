//! Turns the text of one workflow file into a [`WorkflowFile`], reporting *every* syntax and
//! structure problem with its line and column, not just the first.
//!
//! TOML syntax errors are all collected by the recoverable parser. Structure errors (unknown
//! keys, wrong value types, bad durations, unknown field types, ...) come from serde, which stops
//! at the first one; so after each error the offending entry is cut out of the parsed tree and
//! deserialization is tried again, until the rest of the file deserializes. The caller gets every
//! error plus the model of what was sound, so the semantic checks can still run on it.
//!
//! This module knows nothing about the meaning of a workflow: only TOML and serde.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

use super::diagnostic::{Diagnostic, Severity};
use super::model::WorkflowFile;
use super::values::{HINT_SEPARATOR, closest};

/// Top-level sections whose entries are named; when such an entry has to be dropped, references
/// to its name are not reported as unknown (the real problem was already reported).
const NAMED_SECTIONS: [&str; 5] = ["calendars", "roles", "forms", "stages", "jobs"];

/// The result of parsing one file.
#[derive(Debug)]
pub struct Parsed {
    /// What could be read: everything, when `problems` is empty.
    pub model: Option<WorkflowFile>,
    /// Syntax and structure problems.
    pub problems: Vec<Diagnostic>,
    /// Names of calendars, roles, forms, stages and jobs dropped because of a problem.
    pub dropped: HashSet<String>,
}

/// Most syntax errors reported for one file.
const MAX_SYNTAX_ERRORS: usize = 10;

/// Most structure errors a file may report before parsing gives up.
const MAX_PROBLEMS: usize = 100;

/// Parses `source`, the text of `file`.
pub fn parse(file: &Path, source: &Arc<str>) -> Parsed {
    let (root, syntax_errors) = DeTable::parse_recoverable(source);
    if !syntax_errors.is_empty() {
        // One unclosed bracket makes every later line look wrong: the first few errors are
        // the ones to fix.
        let mut problems: Vec<Diagnostic> = syntax_errors
            .iter()
            .take(MAX_SYNTAX_ERRORS)
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                Diagnostic::new(Severity::Error, file, source, span, syntax_message(e.message()))
                    .with_hint("this is not valid TOML; see https://toml.io for the syntax")
            })
            .collect();
        if syntax_errors.len() > MAX_SYNTAX_ERRORS
            && let Some(last) = problems.last_mut()
        {
            let more = syntax_errors.len() - MAX_SYNTAX_ERRORS;
            last.hint = Some(format!("{more} more syntax errors follow, probably caused by these; fix these first"));
        }
        return Parsed { model: None, problems, dropped: HashSet::new() };
    }

    let mut tree = Spanned::new(root.span(), DeValue::Table(root.into_inner()));
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut dropped = HashSet::new();
    // Keys we removed, with their table: a later "missing field" for one is our own doing.
    let mut trimmed: Vec<(Range<usize>, String)> = Vec::new();

    for _ in 0..MAX_PROBLEMS {
        match WorkflowFile::deserialize(ValueDeserializer::from(tree.clone())) {
            Ok(model) => return Parsed { model: Some(model), problems, dropped },
            Err(error) => {
                let span = error.span().unwrap_or(0..0);
                let own_doing = trimmed
                    .iter()
                    .any(|(table, key)| table == &span && error.message() == format!("missing field `{key}`"));
                if !own_doing {
                    problems.push(structure_problem(file, source, span.clone(), error.message()));
                }
                match cut(&mut tree, &span, &mut Vec::new()) {
                    Some(cut) => {
                        trimmed.push((cut.parent_span, cut.path.last().cloned().unwrap_or_default()));
                        if let [section, name] = cut.path.as_slice()
                            && NAMED_SECTIONS.contains(&section.as_str())
                        {
                            dropped.insert(name.clone());
                        }
                    }
                    None => break,
                }
            }
        }
    }
    Parsed { model: None, problems, dropped }
}

fn syntax_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or("invalid TOML").trim();
    format!("TOML syntax error: {first}")
}

/// Rewrites serde's messages into the words of the workflow language and adds a hint.
fn structure_problem(file: &Path, source: &Arc<str>, span: Range<usize>, message: &str) -> Diagnostic {
    let message = message.trim().lines().next().unwrap_or_default().to_string();
    let diagnostic = |text: String| Diagnostic::new(Severity::Error, file, source, span.clone(), text);

    if let Some((word, expected)) = parse_unknown(&message, "unknown field `") {
        let hint = match closest(&word, expected.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`? keys allowed here: {}", expected.join(", ")),
            None => format!("keys allowed here: {}", expected.join(", ")),
        };
        return diagnostic(format!("unknown key `{word}`")).with_hint(hint);
    }
    if let Some((word, expected)) = parse_unknown(&message, "unknown variant `") {
        let hint = match closest(&word, expected.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`? allowed values: {}", expected.join(", ")),
            None => format!("allowed values: {}", expected.join(", ")),
        };
        return diagnostic(format!("unknown value `{word}`")).with_hint(hint);
    }
    if let Some(field) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        return diagnostic(format!("missing key `{field}`")).with_hint(format!("add `{field} = ...` to this table"));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let rest = rest
            .replace("a sequence", "a list")
            .replace("sequence", "list")
            .replace("a map", "a table")
            .replace("map", "table");
        return diagnostic(format!("wrong type: {rest}")).with_hint("check the quotes and brackets of this value");
    }
    if message.starts_with("duplicate field `") {
        return diagnostic(message.replacen("duplicate field", "duplicate key", 1)).with_hint("remove one of them");
    }
    match message.split_once(HINT_SEPARATOR) {
        Some((text, hint)) => diagnostic(text.to_string()).with_hint(hint),
        None => diagnostic(message).with_hint("see the workflow language reference in the README"),
    }
}

/// Reads serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn parse_unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let (word, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>();
    Some((word.to_string(), expected))
}

/// What [`cut`] removed.
struct Cut {
    /// Span of the table or array it was removed from.
    parent_span: Range<usize>,
    /// Keys (and indexes) from the root to the removed entry.
    path: Vec<String>,
}

/// Removes the innermost entry (key and value, or array item) whose key or value contains `span`.
///
/// Every child is searched, not only those whose span contains `span`: the span of a table
/// made by `[a.b]` headers covers only its header, not its keys.
fn cut(node: &mut Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut Vec<String>) -> Option<Cut> {
    let parent_span = node.span();
    let contains = |outer: &Range<usize>| outer.start <= span.start && span.end <= outer.end;
    match node.get_mut() {
        DeValue::Table(table) => {
            let keys: Vec<_> = table.keys().cloned().collect();
            for key in keys {
                path.push(key.get_ref().to_string());
                let on_key = contains(&key.span());
                if !on_key && let Some(inner) = table.get_mut(&key).and_then(|value| cut(value, span, path)) {
                    return Some(inner);
                }
                let on_value =
                    table.get(&key).is_some_and(|value| contains(&value.span()) && value.span() != parent_span);
                if on_key || on_value {
                    table.remove(&key);
                    return Some(Cut { parent_span, path: path.clone() });
                }
                path.pop();
            }
            None
        }
        DeValue::Array(array) => {
            for index in 0..array.len() {
                path.push(index.to_string());
                if let Some(inner) = array.get_mut(index).and_then(|item| cut(item, span, path)) {
                    return Some(inner);
                }
                if array.get(index).is_some_and(|item| contains(&item.span())) {
                    let mut kept = DeArray::new();
                    for (i, item) in array.iter().enumerate() {
                        if i != index {
                            kept.push(item.clone());
                        }
                    }
                    *array = kept;
                    return Some(Cut { parent_span, path: path.clone() });
                }
                path.pop();
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Parsed {
        parse(Path::new("t.toml"), &Arc::from(text))
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_suggestion() {
        let parsed = parse_text(
            r#"
id = "x"
name = "X"
nmae = "typo"
[forms.f]
fields = [{ name = "a", type = "text", requird = true }]
[stages.a]
terminal = true
pauses_sal = true
"#,
        );
        let messages: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
        assert_eq!(parsed.problems.len(), 3, "{messages:#?}");
        assert!(messages[0].contains("t.toml:4:1") && messages[0].contains("unknown key `nmae`"), "{messages:#?}");
        assert!(messages[1].contains(":6:") && messages[1].contains("did you mean `required`?"), "{messages:#?}");
        assert!(messages[2].contains("t.toml:9:1") && messages[2].contains("`pauses_sla`"), "{messages:#?}");
        assert!(parsed.model.is_some());
    }

    #[test]
    fn a_bad_value_is_reported_and_the_rest_still_loads() {
        let parsed = parse_text(
            r#"
id = "x"
name = "X"
[stages.a]
sla = { within = "2 fortnights" }
terminal = true
[stages.b]
sla = { within = "2h", warn_at = "75" }
terminal = true
"#,
        );
        let messages: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
        assert_eq!(parsed.problems.len(), 2, "{messages:#?}");
        assert!(messages[0].contains("t.toml:5:") && messages[0].contains("invalid duration"), "{messages:#?}");
        assert!(messages[1].contains("t.toml:8:") && messages[1].contains("% sign is missing"), "{messages:#?}");
        let model = parsed.model.expect("rest loads");
        assert_eq!(model.stages.len(), 2);
    }

    #[test]
    fn syntax_errors_are_all_reported() {
        let parsed = parse_text("id = \"x\nname = 3 4\n");
        assert!(!parsed.problems.is_empty());
        assert!(parsed.problems[0].message.starts_with("TOML syntax error"), "{:?}", parsed.problems);
        assert!(parsed.model.is_none());
    }
}
