//! Draws a workflow as a Mermaid state diagram: stages, transitions with their names, and a
//! note per stage with its SLA, RACI and whether it waits on the customer.
//!
//! The output renders in any Mermaid viewer (GitHub, GitLab, mermaid.live). Only the text is
//! produced here; nothing is validated (a checked workflow is expected).

use std::collections::HashMap;
use std::fmt::Write as _;

use super::model::{Sla, Stage, WorkflowFile};

/// The Mermaid source of `workflow`'s stage diagram.
pub fn mermaid(workflow: &WorkflowFile) -> String {
    let ids = diagram_ids(workflow);
    let id = |name: &str| ids.get(name).cloned().unwrap_or_else(|| sanitize_id(name));
    let mut out = String::new();
    // YAML front matter: a double-quoted string takes any text once `\` and `"` are escaped.
    let title = workflow.name.replace('\\', "\\\\").replace('"', "\\\"").replace(['\n', '\r'], " ");
    let _ = writeln!(out, "---\ntitle: \"{title}\"\n---");
    out.push_str("stateDiagram-v2\n");
    for (name, stage) in &workflow.stages {
        let title = stage.name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(name.get_ref());
        let _ = writeln!(out, "    state \"{}\" as {}", label(title), id(name.get_ref()));
    }
    if let Some(start) = workflow.start_stage() {
        let _ = writeln!(out, "    [*] --> {}", id(start));
    }
    for (name, stage) in &workflow.stages {
        for transition in &stage.transitions {
            let mut text = transition.name.get_ref().clone();
            if transition.requires_approval {
                text.push_str(" (approval)");
            }
            if transition.when.is_some() {
                text.push_str(" [rule]");
            }
            let _ = writeln!(out, "    {} --> {} : {}", id(name.get_ref()), id(transition.to.get_ref()), label(&text));
        }
        if stage.terminal {
            let _ = writeln!(out, "    {} --> [*]", id(name.get_ref()));
        }
    }
    for (name, stage) in &workflow.stages {
        let lines = note_lines(workflow, stage);
        if !lines.is_empty() {
            let _ = writeln!(out, "    note right of {}", id(name.get_ref()));
            for line in lines {
                let _ = writeln!(out, "        {}", label(&line));
            }
            out.push_str("    end note\n");
        }
    }
    out
}

fn note_lines(workflow: &WorkflowFile, stage: &Stage) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(sla) = &stage.sla {
        lines.push(format!("SLA {}", describe_sla(workflow, sla)));
    }
    if stage.pauses_sla {
        lines.push("waits on customer (SLA paused)".to_string());
    }
    let raci = &stage.raci;
    if let Some(role) = &raci.responsible {
        lines.push(format!("R {}", role.get_ref()));
    }
    if let Some(role) = &raci.accountable {
        lines.push(format!("A {}", role.get_ref()));
    }
    if !stage.checklist.is_empty() {
        lines.push(format!("checklist {} items", stage.checklist.len()));
    }
    lines
}

fn describe_sla(workflow: &WorkflowFile, sla: &Sla) -> String {
    let mut text = sla.within.get_ref().to_string();
    let calendar = sla.calendar.as_ref().or(workflow.calendar.as_ref()).map_or("24x7", |c| c.get_ref().as_str());
    let _ = write!(text, " ({calendar})");
    if let Some(warn) = &sla.warn_at {
        let _ = write!(text, ", warn at {}", warn.get_ref());
    }
    if !sla.escalate.is_empty() {
        let _ = write!(text, ", {} escalation levels", sla.escalate.len());
    }
    text
}

/// Mermaid ids for stage names: `-` is not allowed in them, so it becomes `_`, with a number
/// added where that would make two ids equal.
fn diagram_ids(workflow: &WorkflowFile) -> HashMap<String, String> {
    let mut ids = HashMap::new();
    let mut used = std::collections::HashSet::new();
    for (index, name) in workflow.stages.keys().enumerate() {
        let mut id = sanitize_id(name.get_ref());
        if !used.insert(id.clone()) {
            id = format!("{id}_{index}");
            used.insert(id.clone());
        }
        ids.insert(name.get_ref().clone(), id);
    }
    ids
}

fn sanitize_id(name: &str) -> String {
    let id: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    // Mermaid reserves a few words as ids (in any case).
    const RESERVED: [&str; 10] =
        ["end", "state", "note", "direction", "class", "classdef", "click", "style", "default", "statediagram"];
    if RESERVED.contains(&id.to_ascii_lowercase().as_str()) { format!("{id}_") } else { id }
}

/// Text safe inside a Mermaid label: characters that would end a statement or start markup
/// are written as Mermaid entity codes (`#58;` is `:`), so they still show as typed.
fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            ':' | ';' | '#' | '"' | '<' | '>' | '&' | '{' | '}' => {
                let _ = write!(out, "#{};", u32::from(c));
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ids_are_made_safe() {
        assert_eq!(label("Wait: \"customer\"; #1 <b>"), "Wait#58; #34;customer#34;#59; #35;1 #60;b#62;");
        assert_eq!(sanitize_id("on-site"), "on_site");
        assert_eq!(sanitize_id("end"), "end_");
        assert_eq!(sanitize_id("class"), "class_");
    }
}
