//! Problems found in workflow files, with their place (file, line, column) and a hint, and the
//! two ways of showing them: for people (source excerpt with a caret, like a compiler) and for
//! tools (JSON).
//!
//! A diagnostic is plain data; finding problems is the job of `load` and `check`. A file with
//! thousands of the same mistake is reported with the first [`MAX_OF_A_KIND`] of each kind and
//! one summary line for the rest ([`cap`]), and an excerpt never shows more than a window of a
//! long line, so what `validate` prints stays readable and small whatever the file holds.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use codespan_reporting::diagnostic::{Diagnostic as Report, Label, Severity as ReportSeverity};
use codespan_reporting::files::{self, Files};
use codespan_reporting::term;
use serde::Serialize;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The workflow still loads, but probably does not do what its author meant.
    Warning,
    /// The workflow cannot be loaded.
    Error,
}

/// One problem in a workflow file or a script it uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, in one line.
    pub message: String,
    /// How to fix it, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// For a summary line: how many problems of the kind above it were left out (else 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted: usize,
    /// Byte range in the file.
    #[serde(skip)]
    pub span: Range<usize>,
    /// The file's text, kept to show the excerpt.
    #[serde(skip)]
    source: Option<std::sync::Arc<str>>,
}

impl Diagnostic {
    /// A problem at `span` (bytes) of `source`, the text of `file`.
    pub fn new(
        severity: Severity,
        file: &Path,
        source: &std::sync::Arc<str>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let span = clamp(span, source);
        let (line, column) = line_column(source, span.start);
        Self {
            severity,
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            hint: None,
            omitted: 0,
            span,
            source: Some(source.clone()),
        }
    }

    /// A problem with a file as a whole (it cannot be read, for instance).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message: message.into(),
            hint: None,
            omitted: 0,
            span: 0..0,
            source: None,
        }
    }

    /// Adds a hint on how to fix it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this stops the workflow from loading.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// How many problems this stands for: 1, or the number a summary line left out.
    pub fn count(&self) -> usize {
        self.omitted.max(1)
    }

    /// The line standing for `omitted` more problems of the kind of `shown`, at its place.
    pub fn summary(shown: &Self, omitted: usize) -> Self {
        Self {
            message: summary_message(omitted, &kind(&shown.message)),
            hint: Some("fix the ones shown first; each kind is listed only so many times".to_string()),
            omitted,
            source: None,
            ..shown.clone()
        }
    }

    /// The diagnostic as a person reads it: message, `file:line:column`, the line of source with
    /// the place underlined, and the hint.
    pub fn render(&self) -> String {
        let severity = match self.severity {
            Severity::Error => ReportSeverity::Error,
            Severity::Warning => ReportSeverity::Warning,
        };
        let mut report = Report::new(severity).with_message(&self.message);
        if let Some(hint) = &self.hint {
            report = report.with_notes(vec![format!("hint: {hint}")]);
        }
        let name = self.file.display().to_string();
        let rendered = match &self.source {
            Some(source) => {
                let excerpt = Excerpt::new(name, source, self.span.clone(), self.line);
                report = report.with_labels(vec![Label::primary((), excerpt.span.clone())]);
                term::emit_into_string(&term::Config::default(), &excerpt, &report).ok()
            }
            None => None,
        };
        rendered.unwrap_or_else(|| format!("{self}\n"))
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Most problems of one kind reported for a file; the rest are counted in a summary line.
pub const MAX_OF_A_KIND: usize = 20;
/// Most problems reported for a file, whatever their kinds (errors go first).
pub const MAX_PER_FILE: usize = 200;
/// Widest excerpt of a line shown under a problem, in bytes.
const EXCERPT_WIDTH: usize = 160;
/// Most lines of a long span shown.
const EXCERPT_LINES: usize = 4;

/// What kind of problem a message tells: its words, with names (in backticks or quotes) and
/// numbers left out. `duplicate category \`a\`` and `duplicate category \`b\`` are one kind.
pub fn kind(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted: Option<char> = None;
    let mut digits = false;
    for c in message.chars() {
        match quoted {
            Some(close) if c == close => {
                out.push(c);
                quoted = None;
            }
            Some(_) => {}
            None if c == '`' || c == '"' => {
                out.push(c);
                out.push_str("...");
                quoted = Some(c);
            }
            None if c.is_ascii_digit() => {
                if !digits {
                    out.push('N');
                }
                digits = true;
                continue;
            }
            None => out.push(c),
        }
        digits = false;
    }
    out
}

/// `7980` as `7,980` (any whole number).
pub fn thousands(n: impl fmt::Display) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Counts problems by kind as they are found, so that a checker builds (and words hints for)
/// only the first [`MAX_OF_A_KIND`] of each kind.
#[derive(Debug, Default)]
pub struct Tally {
    seen: HashMap<String, usize>,
}

impl Tally {
    /// Counts a problem with this message; whether it is still to be reported in full.
    pub fn admit(&mut self, message: &str) -> bool {
        let seen = self.seen.entry(kind(message)).or_default();
        *seen += 1;
        *seen <= MAX_OF_A_KIND
    }

    /// Whether problems with this message are no longer reported in full.
    pub fn is_full(&self, message: &str) -> bool {
        self.seen.get(&kind(message)).is_some_and(|seen| *seen >= MAX_OF_A_KIND)
    }

    /// Summary lines for the kinds that had more than [`MAX_OF_A_KIND`], each after the last
    /// problem of its kind in `shown`.
    pub fn summaries(&self, shown: &[Diagnostic]) -> Vec<Diagnostic> {
        let mut last: HashMap<String, &Diagnostic> = HashMap::new();
        for diagnostic in shown {
            last.insert(kind(&diagnostic.message), diagnostic);
        }
        let mut out: Vec<Diagnostic> = self
            .seen
            .iter()
            .filter(|(_, seen)| **seen > MAX_OF_A_KIND)
            .filter_map(|(kind, seen)| last.get(kind).map(|d| Diagnostic::summary(d, seen - MAX_OF_A_KIND)))
            .collect();
        out.sort_by_key(|d| (d.span.start, d.span.end));
        out
    }
}

/// Problems in file order, reduced so that one file shows at most [`MAX_OF_A_KIND`] of each
/// kind and [`MAX_PER_FILE`] in all: what is left out is counted in summary lines (existing
/// summary lines are merged). Errors are kept before warnings when the file has too many.
pub fn cap(problems: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::with_capacity(problems.len().min(MAX_PER_FILE + 8));
    // Per file and kind: problems shown, and the index of its summary line in `out`.
    let mut kinds: HashMap<(std::path::PathBuf, String), (usize, Option<usize>)> = HashMap::new();
    for problem in problems {
        let (shown, summary) = kinds.entry((problem.file.clone(), kind_of(&problem))).or_default();
        if problem.omitted == 0 && *shown < MAX_OF_A_KIND {
            *shown += 1;
            out.push(problem);
            continue;
        }
        match summary {
            Some(at) => out[*at].omitted += problem.count(),
            None => {
                *summary = Some(out.len());
                match problem.omitted {
                    0 => {
                        let previous = out
                            .iter()
                            .rev()
                            .find(|d| d.file == problem.file && kind(&d.message) == kind(&problem.message));
                        out.push(Diagnostic::summary(previous.unwrap_or(&problem), 1));
                    }
                    _ => out.push(problem),
                }
            }
        }
    }
    // Counts grew after the summary lines were made.
    for (_, summary) in kinds.into_values() {
        if let Some(at) = summary {
            out[at].message = summary_message(out[at].omitted, &kind_of(&out[at]));
        }
    }
    total(out)
}

fn summary_message(omitted: usize, kind: &str) -> String {
    format!("... and {} more like the one above: {kind}", thousands(omitted))
}

/// The kind of a problem, the same for a summary line and the problems it stands for.
fn kind_of(problem: &Diagnostic) -> String {
    match problem.omitted {
        0 => kind(&problem.message),
        _ => problem.message.split_once(": ").map_or_else(|| problem.message.clone(), |(_, kind)| kind.to_string()),
    }
}

/// At most [`MAX_PER_FILE`] lines per file, errors first; the rest counted in a last line.
fn total(problems: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut per_file: HashMap<&Path, (usize, usize)> = HashMap::new();
    for problem in &problems {
        let (errors, all) = per_file.entry(&problem.file).or_default();
        *all += 1;
        *errors += usize::from(problem.is_error());
    }
    let over: Vec<(std::path::PathBuf, usize)> = per_file
        .iter()
        .filter(|(_, (_, all))| *all > MAX_PER_FILE)
        .map(|(file, (errors, _))| (file.to_path_buf(), *errors))
        .collect();
    if over.is_empty() {
        return problems;
    }
    let mut kept: HashMap<std::path::PathBuf, (usize, usize, Option<Diagnostic>)> = HashMap::new();
    let mut out = Vec::new();
    for problem in problems {
        let Some((_, errors)) = over.iter().find(|(file, _)| *file == problem.file) else {
            out.push(problem);
            continue;
        };
        let (shown, left_out, last) = kept.entry(problem.file.clone()).or_default();
        // Errors first: warnings only take the places errors leave.
        let room = if problem.is_error() { MAX_PER_FILE } else { MAX_PER_FILE.saturating_sub(*errors) };
        if *shown < room.min(MAX_PER_FILE) {
            *shown += 1;
            out.push(problem);
        } else {
            *left_out += problem.count();
            *last = Some(problem);
        }
    }
    for (_, (_, left_out, last)) in kept {
        if let Some(last) = last {
            out.push(Diagnostic {
                message: format!("... and {} more problems in this file", thousands(left_out)),
                hint: Some("fix the ones shown first".to_string()),
                omitted: left_out,
                source: None,
                ..last
            });
        }
    }
    out
}

/// The lines of a file a problem is shown with: those of its span, at most
/// [`EXCERPT_LINES`], and of a long line only a window around the place, so that a problem on a
/// 50 KB line prints a few hundred bytes.
struct Excerpt<'a> {
    name: String,
    text: &'a str,
    /// The problem's span within `text`.
    span: Range<usize>,
    /// Line number of the first line of `text`.
    first_line: usize,
    /// Characters of that line left out before `text`.
    columns_before: usize,
}

impl<'a> Excerpt<'a> {
    fn new(name: String, source: &'a str, span: Range<usize>, line: usize) -> Self {
        let line_start = source[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let mut end = span.end.max(span.start);
        let line_end = |from: usize| source[from..].find('\n').map_or(source.len(), |i| from + i);
        let mut region_end = line_end(span.start);
        for _ in 1..EXCERPT_LINES {
            if region_end >= end || region_end >= source.len() {
                break;
            }
            region_end = line_end(region_end + 1);
        }
        end = end.min(region_end);
        let (mut start, mut stop) = (line_start, region_end);
        if stop - start > EXCERPT_WIDTH * EXCERPT_LINES {
            // One long line: a window around the place.
            start = span.start.saturating_sub(EXCERPT_WIDTH / 2).max(line_start);
            stop = (start + EXCERPT_WIDTH).min(line_end(span.start));
            end = end.min(stop);
        }
        while !source.is_char_boundary(start) {
            start -= 1;
        }
        while !source.is_char_boundary(stop) {
            stop += 1;
        }
        while !source.is_char_boundary(end) {
            end += 1;
        }
        Self {
            name,
            text: &source[start..stop],
            span: span.start - start..end.max(span.start) - start,
            first_line: line,
            columns_before: source[line_start..start].chars().count(),
        }
    }

    fn line_starts(&self) -> impl Iterator<Item = usize> + '_ {
        files::line_starts(self.text)
    }
}

impl<'a> Files<'a> for Excerpt<'a> {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(&self.name)
    }

    fn source(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(self.text)
    }

    fn line_index(&'a self, (): (), byte_index: usize) -> Result<usize, files::Error> {
        Ok(self.line_starts().take_while(|start| *start <= byte_index).count().saturating_sub(1))
    }

    fn line_number(&'a self, (): (), line_index: usize) -> Result<usize, files::Error> {
        Ok(self.first_line + line_index)
    }

    fn column_number(&'a self, (): (), line_index: usize, byte_index: usize) -> Result<usize, files::Error> {
        let range = self.line_range((), line_index)?;
        let before = if line_index == 0 { self.columns_before } else { 0 };
        Ok(files::column_index(self.text, range, byte_index) + before + 1)
    }

    fn line_range(&'a self, (): (), line_index: usize) -> Result<Range<usize>, files::Error> {
        let start = self.line_starts().nth(line_index).ok_or(files::Error::LineTooLarge {
            given: line_index,
            max: self.line_starts().count().saturating_sub(1),
        })?;
        let end = self.line_starts().nth(line_index + 1).unwrap_or(self.text.len());
        Ok(start..end)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {severity}: {}", self.file.display(), self.line, self.column, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

fn clamp(span: Range<usize>, source: &str) -> Range<usize> {
    let mut start = span.start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, source.len());
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Byte offset of a 1-based line and column (in characters); the end of the text if past it.
pub fn offset_of(source: &str, line: usize, column: usize) -> usize {
    let line_start = source.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum::<usize>();
    let rest = &source[line_start.min(source.len())..];
    line_start + rest.char_indices().nth(column.saturating_sub(1)).map_or(rest.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\nنام = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        let offset = text.find('=').map(|_| text.rfind('=').unwrap_or(0)).unwrap_or(0);
        assert_eq!(line_column(text, offset), (2, 5));
        assert_eq!(offset_of(text, 2, 5), offset);
    }

    #[test]
    fn render_shows_place_and_hint() {
        let source: std::sync::Arc<str> = "id = \"x\"\nnmae = 1\n".into();
        let d = Diagnostic::new(Severity::Error, Path::new("w.toml"), &source, 9..13, "unknown key `nmae`")
            .with_hint("did you mean `name`?");
        let text = d.render();
        assert!(text.contains("w.toml:2:1"), "{text}");
        assert!(text.contains("unknown key `nmae`"), "{text}");
        assert!(text.contains("hint: did you mean `name`?"), "{text}");
        assert_eq!(d.to_string(), "w.toml:2:1: error: unknown key `nmae` (hint: did you mean `name`?)");
    }

    #[test]
    fn a_kind_leaves_out_names_and_numbers() {
        assert_eq!(kind("duplicate category `a`"), kind("duplicate category `repair`"));
        assert_eq!(kind("holiday 2027-03-21 is listed twice"), "holiday N-N-N is listed twice");
        assert_ne!(kind("duplicate category `a`"), kind("duplicate channel `a`"));
        assert_eq!(thousands(7_980), "7,980");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    fn many(source: &std::sync::Arc<str>, message: &str, severity: Severity, count: usize) -> Vec<Diagnostic> {
        (0..count)
            .map(|i| Diagnostic::new(severity, Path::new("w.toml"), source, i..i + 1, format!("{message} `{i}`")))
            .collect()
    }

    #[test]
    fn cap_keeps_a_few_of_each_kind_and_merges_summaries() {
        let source: std::sync::Arc<str> = "x".repeat(1_000).into();
        let mut problems = many(&source, "duplicate option", Severity::Error, 30);
        // A checker's own summary of the same kind adds to the count.
        let summary = Diagnostic::summary(&problems[0], 100);
        problems.push(summary);
        problems.extend(many(&source, "unknown role", Severity::Error, 3));
        let capped = cap(problems);
        assert_eq!(capped.len(), MAX_OF_A_KIND + 1 + 3, "{capped:#?}");
        let summary = &capped[MAX_OF_A_KIND];
        assert_eq!(summary.omitted, 10 + 100, "{summary:?}");
        assert!(summary.message.contains("110 more like the one above: duplicate option"), "{}", summary.message);
        assert_eq!(capped.iter().map(Diagnostic::count).sum::<usize>(), 30 + 100 + 3);
    }

    #[test]
    fn cap_keeps_errors_before_warnings_when_a_file_has_too_many() {
        let source: std::sync::Arc<str> = "x".repeat(10_000).into();
        let mut problems = Vec::new();
        for kind in 0..20 {
            problems.extend(many(
                &source,
                &format!("warning of kind {}", "ab".repeat(kind + 1)),
                Severity::Warning,
                15,
            ));
        }
        problems.extend(many(&source, "the error", Severity::Error, 5));
        let capped = cap(problems);
        assert_eq!(capped.len(), MAX_PER_FILE + 1);
        assert_eq!(capped.iter().filter(|d| d.is_error()).count(), 5, "every error is kept");
        let last = capped.last().expect("a summary");
        assert_eq!(last.omitted, 20 * 15 + 5 - MAX_PER_FILE);
        assert_eq!(capped.iter().map(Diagnostic::count).sum::<usize>(), 20 * 15 + 5);
    }

    #[test]
    fn a_problem_on_a_long_line_shows_a_window_of_it() {
        let line = format!("categories = [{}]", vec!["\"a\""; 10_000].join(","));
        let source: std::sync::Arc<str> = format!("id = \"x\"\n{line}\n").into();
        let at = source.len() / 2;
        let at = at - (at - 9) % 4; // on a `"a"`
        let d = Diagnostic::new(Severity::Error, Path::new("w.toml"), &source, at..at + 3, "duplicate category `a`");
        let text = d.render();
        assert!(text.len() < 1_000, "{} bytes:\n{text}", text.len());
        assert!(text.contains(&format!("w.toml:2:{}", d.column)), "{text}");
        assert!(text.contains("^^^"), "{text}");
    }
}
