//! How `validate` grows with the size of a workflow file: generated chains of 2,000 and 20,000
//! stages (a tenth and all of the issue's file), and 8,000 copies of one category. Checks that
//! are linear take ten times as long for ten times the stages; quadratic ones a hundred times.
//!
//! ```sh
//! cargo run --release --example bench_validate
//! ```

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use afterdesk::workflow::load_file;

fn chain(dir: &Path, stages: usize) -> std::io::Result<std::path::PathBuf> {
    let mut text = String::from(
        "id = \"chain\"\nname = \"Chain\"\npriorities = [\"low\"]\n[roles]\nagent = [\"a@example.com\"]\n",
    );
    for i in 0..stages {
        let next = if i + 1 < stages { format!("s{}", i + 1) } else { "done".to_string() };
        let _ = writeln!(
            text,
            "[stages.s{i}]\nraci = {{ responsible = \"agent\" }}\ntransitions = [{{ name = \"next\", to = \"{next}\" }}]"
        );
    }
    text.push_str("[stages.done]\nterminal = true\n");
    let path = dir.join(format!("chain-{stages}.toml"));
    std::fs::write(&path, text)?;
    Ok(path)
}

fn duplicates(dir: &Path, count: usize) -> std::io::Result<std::path::PathBuf> {
    let categories = vec!["\"repair\""; count].join(", ");
    let text = format!(
        "id = \"dups\"\nname = \"D\"\npriorities = [\"low\"]\ncategories = [{categories}]\n[roles]\nagent = [\"a@example.com\"]\n\
         [stages.open]\nraci = {{ responsible = \"agent\" }}\ntransitions = [{{ name = \"close\", to = \"done\" }}]\n\
         [stages.done]\nterminal = true\n"
    );
    let path = dir.join("dups.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The fastest of three loads, and what the human report of the last one would print.
fn time(path: &Path) -> (Duration, usize, usize) {
    let mut best = Duration::MAX;
    let mut printed = 0;
    let mut problems = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let result = load_file(path);
        let (shown, counted) = match &result {
            Ok(workflow) => (workflow.warnings.clone(), workflow.warnings.iter().map(|p| p.count()).sum()),
            Err(found) => (found.clone(), found.iter().map(|p| p.count()).sum()),
        };
        printed = shown.iter().map(|p| p.render().len()).sum();
        best = best.min(started.elapsed());
        problems = counted;
    }
    (best, printed, problems)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    println!("afterdesk bench_validate: load + check, best of 3");
    let (small, _, _) = time(&chain(dir.path(), 2_000)?);
    let (large, _, _) = time(&chain(dir.path(), 20_000)?);
    println!("  2,000 stages  {:>8.1} ms", small.as_secs_f64() * 1e3);
    println!(
        " 20,000 stages  {:>8.1} ms   = {:.1} x the time for 10 x the stages",
        large.as_secs_f64() * 1e3,
        large.as_secs_f64() / small.as_secs_f64()
    );
    let path = duplicates(dir.path(), 8_000)?;
    let (took, printed, problems) = time(&path);
    println!(
        "  8,000 duplicate categories ({} KB): {:.1} ms, {problems} problems counted, {printed} bytes printed",
        std::fs::metadata(&path)?.len() / 1024,
        took.as_secs_f64() * 1e3
    );
    Ok(())
}
