//! Reads workflow files and folders into versioned, checked [`Workflow`]s.
//!
//! Loading a file runs every stage of the pipeline (parse, compile scripts, check) and keeps all
//! their problems; a file loads only when none is an error. Each loaded workflow gets a version:
//! a hash of its text and of the text of every script it uses, so any change to either makes a
//! new version, and an unchanged file keeps its version across restarts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::check::check;
use super::diagnostic::{Diagnostic, Severity, cap};
use super::model::WorkflowFile;
use super::parse::parse;
use super::script::{ReadScript, Scripts, compile_all, read_from_disk};

/// A checked workflow definition, ready to run tickets on.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The definition as written.
    pub definition: WorkflowFile,
    /// Content hash of the file and its scripts (16 hex digits).
    pub version: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The file's text.
    pub source: Arc<str>,
    /// Its compiled scripts, by reference.
    pub scripts: Scripts,
    /// Warnings found while loading (errors stop loading).
    pub warnings: Vec<Diagnostic>,
}

impl Workflow {
    /// The workflow id.
    pub fn id(&self) -> &str {
        self.definition.id.get_ref()
    }
}

/// The outcome of loading files: what loaded, and every problem found (errors and warnings).
#[derive(Debug, Default)]
pub struct Loaded {
    /// Workflows without errors.
    pub workflows: Vec<Workflow>,
    /// All problems, in file order.
    pub problems: Vec<Diagnostic>,
}

impl Loaded {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Diagnostic::is_error)
    }
}

/// Loads one workflow from its text, reading its scripts with `read`. Its problems come in file
/// order, a repeated kind of problem shown a few times and then counted ([`cap`]).
pub fn load_source(path: &Path, source: Arc<str>, read: &ReadScript<'_>) -> Result<Workflow, Vec<Diagnostic>> {
    let parsed = parse(path, &source);
    let mut problems = parsed.problems;
    let Some(definition) = parsed.model else {
        sort(&mut problems);
        return Err(cap(problems));
    };
    let structure_ok = problems.is_empty();
    let (scripts, script_problems) = compile_all(path, &source, &definition, read);
    problems.extend(script_problems);
    problems.extend(check(path, &source, &definition, &parsed.dropped, structure_ok));
    sort(&mut problems);
    let problems = cap(problems);
    if problems.iter().any(Diagnostic::is_error) {
        return Err(problems);
    }
    let version = version(&source, &scripts);
    Ok(Workflow { definition, version, path: path.to_path_buf(), source, scripts, warnings: problems })
}

/// Loads one workflow file.
pub fn load_file(path: &Path) -> Result<Workflow, Vec<Diagnostic>> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| vec![Diagnostic::whole_file(path, format!("cannot read the workflow file: {e}"))])?;
    load_source(path, source.into(), &read_from_disk)
}

/// Loads files and folders: a folder contributes every `*.toml` directly inside it, in name
/// order. Workflow ids and ticket prefixes must be unique across everything loaded together.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match toml_files(path) {
                Ok(found) if found.is_empty() => {
                    loaded.problems.push(Diagnostic::whole_file(path, "no workflow files (*.toml) in this folder"))
                }
                Ok(found) => files.extend(found),
                Err(e) => loaded.problems.push(Diagnostic::whole_file(path, format!("cannot read the folder: {e}"))),
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut ids: HashMap<String, PathBuf> = HashMap::new();
    let mut prefixes: HashMap<String, String> = HashMap::new();
    for file in files {
        match load_file(&file) {
            Ok(workflow) => {
                loaded.problems.extend(workflow.warnings.iter().cloned());
                let id = workflow.id().to_string();
                if let Some(first) = ids.get(&id) {
                    let span = workflow.definition.id.span();
                    loaded.problems.push(
                        Diagnostic::new(
                            Severity::Error,
                            &file,
                            &workflow.source,
                            span,
                            format!("workflow id `{id}` is already used"),
                        )
                        .with_hint(format!("{} has the same id; ids must be unique", first.display())),
                    );
                    continue;
                }
                let prefix = ticket_prefix(&workflow);
                if let Some(other) = prefixes.get(&prefix) {
                    let span =
                        workflow.definition.ticket_prefix.as_ref().map_or(workflow.definition.id.span(), |p| p.span());
                    loaded.problems.push(
                        Diagnostic::new(
                            Severity::Error,
                            &file,
                            &workflow.source,
                            span,
                            format!("ticket prefix `{prefix}` is already used by workflow `{other}`"),
                        )
                        .with_hint("set a distinct `ticket_prefix` so ticket numbers stay unique"),
                    );
                    continue;
                }
                ids.insert(id.clone(), file.clone());
                prefixes.insert(prefix, id);
                loaded.workflows.push(workflow);
            }
            Err(problems) => loaded.problems.extend(problems),
        }
    }
    loaded
}

/// The human ticket-number prefix: as written, or the initials of the id (`after-sales` → `AS`).
pub fn ticket_prefix(workflow: &Workflow) -> String {
    match &workflow.definition.ticket_prefix {
        Some(prefix) => prefix.get_ref().clone(),
        None => workflow
            .id()
            .split(['-', '_'])
            .filter_map(|word| word.chars().next())
            .collect::<String>()
            .to_ascii_uppercase(),
    }
}

/// File order: by file, then line and column.
fn sort(problems: &mut [Diagnostic]) {
    problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

fn version(source: &str, scripts: &Scripts) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    for (reference, script) in scripts {
        hasher.update([0]);
        hasher.update(reference.as_bytes());
        hasher.update([0]);
        hasher.update(script.source.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}
