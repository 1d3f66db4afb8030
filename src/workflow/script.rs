//! Finds and compiles the Rhai scripts a workflow refers to.
//!
//! A script reference is either a path ending in `.rhai` or the source itself (inline). A path
//! is looked up next to the workflow file, then in each folder above it, so that both
//! `workflows/after-sales.toml` and `examples/workflows/shop.toml` find `scripts/x.rhai` in the
//! project root. Scripts are compiled once, at load; a syntax error is reported at the script's
//! own line (in the `.rhai` file, or inside the TOML string for inline scripts).
//!
//! This module only parses scripts; running them (with the sandbox limits) is the engine's job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diagnostic::{Diagnostic, Severity, line_column, offset_of};
use super::model::{Script, WorkflowFile};

/// Deepest expression nesting a script may have (statements, functions).
const MAX_EXPR_DEPTH: usize = 64;
/// Deepest expression nesting inside functions.
const MAX_FUNCTION_EXPR_DEPTH: usize = 32;

/// A compiled script and where it came from.
#[derive(Debug, Clone)]
pub struct CompiledScript {
    /// The file it was read from; `None` for an inline script.
    pub path: Option<PathBuf>,
    /// The source text.
    pub source: Arc<str>,
    /// The compiled form, shared by every evaluation.
    pub ast: Arc<rhai::AST>,
}

/// Scripts of one workflow, by the reference text used in the workflow file.
pub type Scripts = BTreeMap<String, CompiledScript>;

/// Why a script could not be read.
#[derive(Debug, Clone)]
pub struct ReadProblem {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Reads the script a reference names, given the workflow file it appears in: its path and
/// text. [`read_from_disk`] reads files; a stored workflow version reads from its saved copies.
pub type ReadScript<'a> = dyn Fn(&Path, &str) -> Result<(PathBuf, Arc<str>), ReadProblem> + 'a;

/// Reads a script file, looked up next to the workflow file and then in each folder above it.
pub fn read_from_disk(workflow_file: &Path, reference: &str) -> Result<(PathBuf, Arc<str>), ReadProblem> {
    let path = find(workflow_file, reference).map_err(|tried| {
        let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        ReadProblem {
            message: format!("script file `{}` not found", reference.trim()),
            hint: format!("looked for {}", tried.join(", ")),
        }
    })?;
    let text = std::fs::read_to_string(&path).map_err(|e| ReadProblem {
        message: format!("cannot read script `{}`: {e}", path.display()),
        hint: "check the file's permissions and that it is UTF-8 text".to_string(),
    })?;
    Ok((path, text.into()))
}

/// Every script reference in a workflow, in file order.
pub fn references(workflow: &WorkflowFile) -> Vec<&Script> {
    let mut found: Vec<&Script> = Vec::new();
    found.extend(workflow.forms.values().filter_map(|form| form.validate.as_ref()));
    for stage in workflow.stages.values() {
        found.extend(stage.transitions.iter().filter_map(|t| t.when.as_ref()));
    }
    found.extend(workflow.routing.iter().filter_map(|rule| rule.script.as_ref()));
    found.extend(workflow.hooks.iter().map(|hook| &hook.script));
    found.extend(workflow.priority_rule.as_ref());
    found
}

/// Whether a reference names a file rather than holding the source.
pub fn is_path(reference: &str) -> bool {
    let trimmed = reference.trim();
    trimmed.ends_with(".rhai") && !trimmed.contains('\n')
}

/// A Rhai engine used only to parse: the same nesting limits as the runtime sandbox, and no
/// `eval` (a script must be what was checked at load, not build new code as it runs).
fn compiler() -> rhai::Engine {
    let mut engine = rhai::Engine::new_raw();
    engine.set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FUNCTION_EXPR_DEPTH);
    engine.disable_symbol("eval");
    engine
}

/// Finds a script file: next to the workflow file, then in each folder above it.
fn find(workflow_file: &Path, reference: &str) -> Result<PathBuf, Vec<PathBuf>> {
    let relative = Path::new(reference.trim());
    if relative.is_absolute() {
        return if relative.is_file() { Ok(relative.to_path_buf()) } else { Err(vec![relative.to_path_buf()]) };
    }
    let start = workflow_file.parent().map(Path::to_path_buf).unwrap_or_default();
    let start = if start.as_os_str().is_empty() { PathBuf::from(".") } else { start };
    let absolute = std::fs::canonicalize(&start).unwrap_or(start.clone());
    let mut tried = Vec::new();
    let mut display_dir = start;
    for dir in absolute.ancestors() {
        let candidate = dir.join(relative);
        tried.push(display_dir.join(relative));
        if candidate.is_file() {
            return Ok(display_dir.join(relative));
        }
        display_dir = display_dir.join("..");
    }
    tried.truncate(3);
    Err(tried)
}

/// Reads and compiles every script of `workflow`. Problems are reported at the reference (file
/// not found) or inside the script (syntax errors).
pub fn compile_all(
    file: &Path,
    source: &Arc<str>,
    workflow: &WorkflowFile,
    read: &ReadScript<'_>,
) -> (Scripts, Vec<Diagnostic>) {
    let engine = compiler();
    let mut scripts = Scripts::new();
    let mut problems = Vec::new();
    for reference in references(workflow) {
        let text = reference.get_ref();
        if scripts.contains_key(text) {
            continue;
        }
        match compile_one(&engine, file, source, reference, read) {
            Ok(script) => {
                scripts.insert(text.clone(), script);
            }
            Err(problem) => problems.push(*problem),
        }
    }
    (scripts, problems)
}

fn compile_one(
    engine: &rhai::Engine,
    file: &Path,
    source: &Arc<str>,
    reference: &Script,
    read: &ReadScript<'_>,
) -> Result<CompiledScript, Box<Diagnostic>> {
    let text = reference.get_ref();
    if text.trim().is_empty() {
        return Err(Box::new(
            Diagnostic::new(Severity::Error, file, source, reference.span(), "empty script")
                .with_hint("write a path like \"scripts/route.rhai\" or the Rhai code itself"),
        ));
    }
    if is_path(text) {
        let (path, script_source) = read(file, text).map_err(|problem| {
            Box::new(
                Diagnostic::new(Severity::Error, file, source, reference.span(), problem.message)
                    .with_hint(problem.hint),
            )
        })?;
        let ast = engine.compile(script_source.as_ref()).map_err(|e| {
            let (line, column) = (e.1.line().unwrap_or(1), e.1.position().unwrap_or(1));
            let offset = offset_of(&script_source, line, column);
            Box::new(
                Diagnostic::new(
                    Severity::Error,
                    &path,
                    &script_source,
                    offset..offset,
                    format!("Rhai syntax error: {}", e.0),
                )
                .with_hint(format!(
                    "in the script used at {}:{}",
                    file.display(),
                    line_column(source, reference.span().start).0
                )),
            )
        })?;
        return Ok(CompiledScript { path: Some(path), source: script_source, ast: Arc::new(ast) });
    }
    let ast = engine.compile(text).map_err(|e| {
        let (line, column) = (e.1.line().unwrap_or(1), e.1.position().unwrap_or(1));
        let offset = inline_offset(source, reference.span().start, text, line, column);
        Box::new(
            Diagnostic::new(Severity::Error, file, source, offset..offset, format!("Rhai syntax error: {}", e.0))
                .with_hint("in this inline script; a longer rule reads better in its own file under scripts/"),
        )
    })?;
    Ok(CompiledScript { path: None, source: Arc::from(text.as_str()), ast: Arc::new(ast) })
}

fn skip(chars: &mut impl Iterator<Item = (usize, char)>, count: usize) {
    for _ in 0..count {
        chars.next();
    }
}

/// Where line/column of an inline script (whose decoded text is `script`) fall in the TOML
/// file, given where its string starts. Escapes (`\"`, `\u00e9`, a line-ending backslash) make
/// the raw text longer than the decoded one, so the raw string is walked alongside.
fn inline_offset(source: &str, string_start: usize, script: &str, line: usize, column: usize) -> usize {
    let rest = &source[string_start.min(source.len())..];
    let (quote, basic) = match rest.as_bytes() {
        [b'"', b'"', b'"', ..] => (3, true),
        [b'\'', b'\'', b'\'', ..] => (3, false),
        [b'"', ..] => (1, true),
        _ => (1, false),
    };
    let mut raw = string_start + quote;
    // TOML drops a newline right after the opening quotes of a multi-line string.
    if quote == 3 {
        if source[raw..].starts_with("\r\n") {
            raw += 2;
        } else if source[raw..].starts_with('\n') {
            raw += 1;
        }
    }
    let target = offset_of(script, line, column);
    let wanted = script[..target.min(script.len())].chars().count();
    let mut chars = source[raw..].char_indices().peekable();
    let mut decoded = 0;
    while let Some((at, c)) = chars.next() {
        if decoded == wanted {
            return raw + at;
        }
        if basic && c == '\\' {
            match chars.peek().map(|(_, next)| *next) {
                Some('u') => skip(&mut chars, 5),
                Some('U') => skip(&mut chars, 9),
                Some('x') => skip(&mut chars, 3),
                Some(next) if next.is_whitespace() => {
                    // A line-ending backslash: it and all white space after it vanish.
                    while chars.peek().is_some_and(|(_, w)| w.is_whitespace()) {
                        chars.next();
                    }
                    continue;
                }
                _ => skip(&mut chars, 1),
            }
        }
        decoded += 1;
    }
    source.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_errors_point_into_the_toml_string() {
        let source = "when = \'\'\'\nlet x = 1;\nx +* 2\n\'\'\'\n";
        let script = "let x = 1;\nx +* 2\n";
        assert_eq!(line_column(source, inline_offset(source, 7, script, 2, 3)), (3, 3));
        let single = "when = \"a b\"";
        assert_eq!(line_column(single, inline_offset(single, 7, "a b", 1, 3)), (1, 11));
    }

    #[test]
    fn escapes_do_not_shift_inline_error_positions() {
        let source = r#"when = "ticket.priority == \"high\" && && true""#;
        let script = r#"ticket.priority == "high" && && true"#;
        let column = script.find("&& true").map_or(0, |i| i + 1);
        let offset = inline_offset(source, 7, script, 1, column);
        assert_eq!(&source[offset..offset + 7], "&& true");
        let continued = "when = \"\"\"\nlet a = 1 + \\\n    2;\nbad bad\n\"\"\"";
        let decoded = "let a = 1 + 2;\nbad bad\n";
        let offset = inline_offset(continued, 7, decoded, 2, 5);
        assert_eq!(line_column(continued, offset), (4, 5));
    }

    #[test]
    fn paths_and_inline_code_are_told_apart() {
        assert!(is_path("scripts/route.rhai"));
        assert!(!is_path("ticket.priority == \"high\""));
    }
}
