//! Problems found in workflow files, with their place (file, line, column) and a hint, and the
//! two ways of showing them: for people (source excerpt with a caret, like a compiler) and for
//! tools (JSON).
//!
//! A diagnostic is plain data; finding problems is the job of `load` and `check`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use codespan_reporting::diagnostic::{Diagnostic as Report, Label, Severity as ReportSeverity};
use codespan_reporting::files::SimpleFile;
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
                let file = SimpleFile::new(name, source.as_ref());
                report = report.with_labels(vec![Label::primary((), self.span.clone())]);
                term::emit_into_string(&term::Config::default(), &file, &report).ok()
            }
            None => None,
        };
        rendered.unwrap_or_else(|| self.to_string())
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
}
