//! The broken-workflow corpus: every file in `tests/workflows/broken/` is a small workflow with
//! known mistakes, and must report exactly the errors its header comments announce.
//!
//! A corpus file starts with one comment per expected problem:
//!
//! ```toml
//! # expect: 14: unknown stage `reveiw`
//! # expect: scripts/warranty-check.rhai:7: Rhai syntax error
//! # expect-warning: 12: role `warranty_desk` has no members  (a warning, when one is expected)
//! ```
//!
//! `# expect: LINE: TEXT` is an error on that 1-based line of the file whose message contains
//! TEXT; `# expect: FILE:LINE: TEXT` is an error inside another file (a script), FILE being
//! relative to the workflow's folder. Errors must match exactly: the same number, each
//! expectation met by a distinct error. Warnings are only compared when the file has at least one
//! `# expect-warning:` line; then they must match exactly too.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use afterdesk::workflow::{Diagnostic, Severity, load_file};

/// The corpus folder, relative to the package root.
const CORPUS: &str = "tests/workflows/broken";

/// Fewest corpus files the suite accepts: fewer means files went missing.
const MIN_FILES: usize = 20;

fn package_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    package_root().join(CORPUS)
}

/// Every `*.toml` of the corpus, in name order.
fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus folder {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_FILES,
        "expected at least {MIN_FILES} broken workflows in {}, found {}",
        dir.display(),
        files.len()
    );
    files
}

/// One `# expect` line of a corpus file.
#[derive(Debug, Clone)]
struct Expectation {
    severity: Severity,
    /// The file the problem must be reported in.
    file: PathBuf,
    /// 1-based line in `file`.
    line: usize,
    /// Text the message must contain.
    text: String,
    /// The expectation as written, for failure reports.
    written: String,
}

/// Reads the `# expect:` and `# expect-warning:` lines of a corpus file.
fn expectations(path: &Path) -> Vec<Expectation> {
    let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let folder = path.parent().expect("a corpus file is inside a folder");
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let (severity, rest) = if let Some(rest) = line.strip_prefix("# expect:") {
            (Severity::Error, rest)
        } else if let Some(rest) = line.strip_prefix("# expect-warning:") {
            (Severity::Warning, rest)
        } else {
            continue;
        };
        let place = format!("{}:{}", path.display(), index + 1);
        let (location, text) = rest
            .trim()
            .split_once(": ")
            .unwrap_or_else(|| panic!("{place}: write `# expect: LINE: TEXT` or `# expect: FILE:LINE: TEXT`"));
        let (file, line_number) = match location.rsplit_once(':') {
            Some((file, line_number)) => (folder.join(file), line_number),
            None => (path.to_path_buf(), location),
        };
        let line_number: usize =
            line_number.trim().parse().unwrap_or_else(|_| panic!("{place}: `{location}` is not LINE or FILE:LINE"));
        let text = text.trim();
        assert!(line_number > 0, "{place}: lines count from 1");
        assert!(!text.is_empty(), "{place}: say which text the message must contain");
        assert!(file.is_file(), "{place}: {} does not exist", file.display());
        found.push(Expectation {
            severity,
            file,
            line: line_number,
            text: text.to_string(),
            written: line.to_string(),
        });
    }
    found
}

/// The same file, however the path was spelt.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn meets(expectation: &Expectation, diagnostic: &Diagnostic) -> bool {
    diagnostic.severity == expectation.severity
        && diagnostic.line == expectation.line
        && same_file(&diagnostic.file, &expectation.file)
        && diagnostic.message.contains(&expectation.text)
}

/// Pairs expectations with distinct diagnostics (a maximum bipartite matching, so that the order
/// of the lines never matters). Returns, per expectation, the index of its diagnostic.
fn pair(expected: &[Expectation], reported: &[&Diagnostic]) -> Vec<Option<usize>> {
    fn augment(
        e: usize,
        expected: &[Expectation],
        reported: &[&Diagnostic],
        owner: &mut [Option<usize>],
        visited: &mut [bool],
    ) -> bool {
        for (d, diagnostic) in reported.iter().enumerate() {
            if visited[d] || !meets(&expected[e], diagnostic) {
                continue;
            }
            visited[d] = true;
            let free = match owner[d] {
                None => true,
                Some(other) => augment(other, expected, reported, owner, visited),
            };
            if free {
                owner[d] = Some(e);
                return true;
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; reported.len()];
    for e in 0..expected.len() {
        let mut visited = vec![false; reported.len()];
        augment(e, expected, reported, &mut owner, &mut visited);
    }
    let mut paired = vec![None; expected.len()];
    for (d, e) in owner.iter().enumerate() {
        if let Some(e) = e {
            paired[*e] = Some(d);
        }
    }
    paired
}

fn load_problems(path: &Path) -> Vec<Diagnostic> {
    match load_file(path) {
        Ok(workflow) => workflow.warnings,
        Err(problems) => problems,
    }
}

fn relative(path: &Path) -> String {
    let root = package_root();
    path.strip_prefix(&root).unwrap_or(path).display().to_string()
}

fn describe(diagnostic: &Diagnostic) -> String {
    let severity = if diagnostic.is_error() { "error" } else { "warning" };
    let hint = diagnostic.hint.as_deref().map_or_else(|| " [NO HINT]".to_string(), |hint| format!(" (hint: {hint})"));
    format!(
        "{}:{}:{}: {severity}: {}{hint}",
        relative(&diagnostic.file),
        diagnostic.line,
        diagnostic.column,
        diagnostic.message
    )
}

/// What is wrong with one corpus file's report, or `None` when it is exactly as expected.
fn mismatch(path: &Path) -> Option<String> {
    let expected = expectations(path);
    if !expected.iter().any(|e| e.severity == Severity::Error) {
        return Some(format!("{}: no `# expect:` line; a broken workflow must expect an error\n", relative(path)));
    }
    let compare_warnings = expected.iter().any(|e| e.severity == Severity::Warning);
    let problems = load_problems(path);
    let reported: Vec<&Diagnostic> = problems.iter().filter(|d| d.is_error() || compare_warnings).collect();
    let paired = pair(&expected, &reported);
    let all_met = paired.iter().all(Option::is_some);
    if all_met && expected.len() == reported.len() {
        return None;
    }
    let mut report = format!(
        "{}: expected {} problem(s), {} reported\n  expected:\n",
        relative(path),
        expected.len(),
        reported.len()
    );
    for (expectation, diagnostic) in expected.iter().zip(&paired) {
        let mark = if diagnostic.is_some() { "ok     " } else { "MISSING" };
        let _ = writeln!(report, "    {mark} {}", expectation.written);
    }
    report.push_str("  reported:\n");
    for (d, diagnostic) in reported.iter().enumerate() {
        let mark = if paired.contains(&Some(d)) { "ok        " } else { "UNEXPECTED" };
        let _ = writeln!(report, "    {mark} {}", describe(diagnostic));
    }
    Some(report)
}

#[test]
fn every_broken_workflow_reports_exactly_its_expected_errors() {
    let failures: Vec<String> = corpus_files().iter().filter_map(|path| mismatch(path)).collect();
    assert!(
        failures.is_empty(),
        "{} broken workflow(s) did not report what their `# expect` lines say:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_reported_error_has_a_hint() {
    let mut missing = Vec::new();
    for path in corpus_files() {
        for problem in load_problems(&path) {
            if problem.is_error() && problem.hint.as_deref().is_none_or(|hint| hint.trim().is_empty()) {
                missing.push(describe(&problem));
            }
        }
    }
    assert!(missing.is_empty(), "{} error(s) without a hint:\n  {}", missing.len(), missing.join("\n  "));
}

#[test]
fn corpus_files_are_numbered_and_named_after_their_defect() {
    let mut numbers = Vec::new();
    for path in corpus_files() {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("a UTF-8 file name");
        let (number, what) = name.split_at_checked(2).expect("a name longer than two characters");
        assert!(
            number.chars().all(|c| c.is_ascii_digit()) && what.starts_with('-') && what.len() > 1,
            "{name}.toml: name corpus files `NN-what-is-wrong.toml`"
        );
        assert!(!numbers.contains(&number.to_string()), "{name}.toml: number {number} is used twice");
        numbers.push(number.to_string());
    }
}

fn many_errors_file() -> PathBuf {
    let files: Vec<PathBuf> = corpus_files()
        .into_iter()
        .filter(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("-many-errors.toml")))
        .collect();
    assert_eq!(files.len(), 1, "expected exactly one NN-many-errors.toml in {CORPUS}: {files:?}");
    files.into_iter().next().expect("one file")
}

#[test]
fn a_file_with_many_mistakes_reports_them_all_at_once() {
    let path = many_errors_file();
    let errors: Vec<Diagnostic> = load_problems(&path).into_iter().filter(Diagnostic::is_error).collect();
    let lines: std::collections::BTreeSet<usize> = errors.iter().map(|e| e.line).collect();
    let shown: Vec<String> = errors.iter().map(describe).collect();
    assert!(errors.len() >= 6, "only {} error(s) reported at once:\n  {}", errors.len(), shown.join("\n  "));
    assert!(lines.len() >= 6, "the errors should be spread over the file:\n  {}", shown.join("\n  "));
    let expected = expectations(&path).iter().filter(|e| e.severity == Severity::Error).count();
    assert!(expected >= 6, "{}: announce at least 6 errors with `# expect:`", relative(&path));
    assert_eq!(errors.len(), expected, "every announced error in one run:\n  {}", shown.join("\n  "));
}

/// Runs the real `afterdesk` binary from the package root.
fn afterdesk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_afterdesk"))
        .args(args)
        .current_dir(package_root())
        .output()
        .expect("the afterdesk binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn validate_fails_on_a_broken_file_and_shows_each_place() {
    let path = many_errors_file();
    let argument = relative(&path);
    let output = afterdesk(&["validate", &argument]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "validate {argument} should exit 1:\n{text}");
    let errors: Vec<Diagnostic> = load_problems(&path).into_iter().filter(Diagnostic::is_error).collect();
    for error in &errors {
        let place = format!("{argument}:{}:{}", error.line, error.column);
        assert!(text.contains(&place), "`{place}` ({}) missing from the output:\n{text}", error.message);
        assert!(text.contains(&error.message), "`{}` missing from the output:\n{text}", error.message);
    }
    assert!(text.contains(&format!("{} error(s)", errors.len())), "no error count in:\n{text}");
}

#[test]
fn validate_reports_script_errors_in_the_script_file() {
    let output = afterdesk(&["validate", &format!("{CORPUS}/19-rhai-syntax-error-in-script-file.toml")]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("{CORPUS}/scripts/warranty-check.rhai:7:")), "{text}");
}

#[test]
fn validate_accepts_the_bundled_workflows() {
    let output = afterdesk(&["validate", "workflows"]);
    let text = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "validate workflows should exit 0:\n{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("0 error(s)"), "{text}");
}

#[test]
fn validate_json_lists_every_problem_with_its_place() {
    let output = afterdesk(&["validate", CORPUS, "--format", "json"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    assert_eq!(report["valid"], serde_json::Value::Bool(false), "{text}");
    let problems = report["problems"].as_array().unwrap_or_else(|| panic!("no `problems` array:\n{text}"));
    assert!(!problems.is_empty(), "{text}");
    for problem in problems {
        assert!(problem["file"].as_str().is_some_and(|f| !f.is_empty()), "no file: {problem}");
        assert!(problem["line"].as_u64().is_some_and(|n| n >= 1), "no line: {problem}");
        assert!(problem["column"].as_u64().is_some_and(|n| n >= 1), "no column: {problem}");
        assert!(problem["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {problem}");
        assert!(problem["severity"].is_string(), "no severity: {problem}");
    }
    // Every announced error of the corpus, and nothing more, in one run over the folder.
    let announced: usize = corpus_files()
        .iter()
        .map(|path| expectations(path).iter().filter(|e| e.severity == Severity::Error).count())
        .sum();
    assert_eq!(report["errors"].as_u64(), Some(announced as u64), "error count of the whole corpus");
    let errors = problems.iter().filter(|p| p["severity"] == "error").count();
    assert_eq!(errors, announced, "errors listed in `problems`");
}

/// A workflow file with `count` stages in a chain, written to `dir`.
fn chain_of_stages(dir: &Path, count: usize) -> PathBuf {
    let mut text = String::from(
        "id = \"long-chain\"\nname = \"Long chain\"\npriorities = [\"low\"]\n[roles]\nagent = [\"a@example.com\"]\n",
    );
    for i in 0..count {
        let next = if i + 1 < count { format!("s{}", i + 1) } else { "done".to_string() };
        let _ = writeln!(
            text,
            "[stages.s{i}]\nraci = {{ responsible = \"agent\" }}\ntransitions = [{{ name = \"next\", to = \"{next}\" }}]"
        );
    }
    text.push_str("[stages.done]\nterminal = true\n");
    let path = dir.join("long-chain.toml");
    std::fs::write(&path, text).expect("the generated workflow is written");
    path
}

#[test]
fn twenty_thousand_stages_validate() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = chain_of_stages(dir.path(), 20_000);
    let workflow = load_file(&path).unwrap_or_else(|problems| panic!("{:?}", problems.first()));
    assert_eq!(workflow.definition.stages.len(), 20_001);
    assert!(workflow.warnings.is_empty(), "{:?}", workflow.warnings.first());
}

/// 8,000 copies of one category on one line: about 50 KB, like the file of issue 12.
fn eight_thousand_duplicates(dir: &Path) -> PathBuf {
    let categories = vec!["\"repair\""; 8_000].join(", ");
    let text = format!(
        "id = \"dups\"\nname = \"Duplicates\"\npriorities = [\"low\"]\ncategories = [{categories}]\n[roles]\n\
         agent = [\"a@example.com\"]\n[stages.open]\nraci = {{ responsible = \"agent\" }}\n\
         transitions = [{{ name = \"close\", to = \"done\" }}]\n[stages.done]\nterminal = true\n"
    );
    let path = dir.join("dups.toml");
    std::fs::write(&path, text).expect("the generated workflow is written");
    path
}

#[test]
fn validate_shows_a_repeated_mistake_a_few_times_then_counts_the_rest() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = eight_thousand_duplicates(dir.path());
    let argument = path.display().to_string();
    let output = afterdesk(&["validate", &argument]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{}", &text[..text.len().min(2_000)]);
    // Old code printed every duplicate with the whole 50 KB line under it: 400 MB.
    assert!(text.len() < 32 * 1024, "{} bytes of output; it starts:\n{}", text.len(), &text[..2_000]);
    let shown = text.matches("error: duplicate category `repair`").count();
    assert_eq!(shown, afterdesk::workflow::diagnostic::MAX_OF_A_KIND, "{text}");
    let more = 7_999 - shown;
    let summary = format!("... and {} more like the one above: duplicate category", more_text(more));
    assert!(text.contains(&summary), "no `{summary}` in:\n{text}");
    assert!(text.contains("7999 error(s)"), "the count is of every duplicate:\n{text}");

    let output = afterdesk(&["validate", &argument, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["errors"], 7_999, "{report}");
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), shown + 1, "{report}");
    assert_eq!(problems[shown]["omitted"], more, "{report}");
}

fn more_text(n: usize) -> String {
    afterdesk::workflow::diagnostic::thousands(n)
}
