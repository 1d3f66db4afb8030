//! `afterdesk simulate` on the bundled workflow and its example scenario prints the right
//! timeline: business-hour deadlines in Tehran, the warning, breach and escalation of a late
//! first response with the emails that would go out, a pause while waiting on the customer,
//! and the summary.

use std::path::Path;
use std::process::Command;

fn simulate(workflow: &str, scenario: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_afterdesk"))
        .args(["simulate", workflow, scenario])
        .current_dir(root)
        .output()
        .expect("run afterdesk simulate");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "simulate failed: {}\n{text}", String::from_utf8_lossy(&output.stderr));
    text
}

fn line_with<'a>(timeline: &'a str, parts: &[&str]) -> &'a str {
    timeline
        .lines()
        .find(|line| parts.iter().all(|p| line.contains(p)))
        .unwrap_or_else(|| panic!("no line with {parts:?} in:\n{timeline}"))
}

#[test]
fn the_bundled_scenario_prints_a_correct_timeline() {
    let timeline = simulate("workflows/after-sales.toml", "examples/scenarios/after-sales.toml");
    assert!(timeline.starts_with("Simulating after-sales"), "{timeline}");
    assert!(timeline.contains("times in Asia/Tehran"));
    line_with(&timeline, &["Mon 2026-11-23 09:00", "AS-1", "opened", "queue repairs"]);
    line_with(&timeline, &["email ticket_received to neda@example.com"]);
    // First response: 2 h, due 11:00; warning at 75 % (10:30) to the responsible support agents.
    line_with(&timeline, &["SLA first response started: 2h", "due Mon 2026-11-23 11:00"]);
    line_with(&timeline, &["Mon 2026-11-23 10:30", "SLA WARNING: first response"]);
    line_with(&timeline, &["email sla_warning to maryam@example.com, omid@example.com"]);
    line_with(&timeline, &["Mon 2026-11-23 11:00", "SLA BREACHED: first response"]);
    line_with(&timeline, &["Mon 2026-11-23 11:00", "ESCALATION level 1: first response"]);
    line_with(&timeline, &["email sla_escalation to leila@example.com, maryam@example.com, omid@example.com"]);
    line_with(&timeline, &["Mon 2026-11-23 11:30", "first response stopped late after 2h 30m"]);
    // Review: 24 office hours from Monday 11:40 (Mon 5h20m, Tue 9h, Wed 9h, Thu 40m).
    line_with(&timeline, &["Mon 2026-11-23 11:40", "Technical review", "started: 24h", "due Thu 2026-11-26 08:40"]);
    // Waiting on the customer pauses the resolution clock overnight.
    line_with(&timeline, &["Mon 2026-11-23 13:00", "SLA resolution paused after 4h"]);
    line_with(&timeline, &["Tue 2026-11-24 09:00", "SLA resolution resumed"]);
    // Entering the survey stage resolves the request.
    line_with(&timeline, &["Wed 2026-11-25 12:10", "resolve: resolution -> survey"]);
    line_with(&timeline, &["Wed 2026-11-25 12:10", "SLA resolution met after 16h 10m"]);
    line_with(&timeline, &["email resolved to leila@example.com, neda@example.com"]);
    // No escalation of the stages that were done in time.
    assert!(!timeline.contains("BREACHED: stage"), "{timeline}");
    let summary = timeline.split("SLA summary").nth(1).expect("a summary");
    assert!(line_with(summary, &["first response"]).contains("missed"));
    assert!(line_with(summary, &["resolution", "of 96h"]).contains("met"));
    assert!(line_with(summary, &["Response and resolution"]).contains("10h of 72h"));
}

#[test]
fn a_bad_scenario_step_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("bad.toml");
    std::fs::write(&scenario, "start = \"2026-11-23T09:00:00Z\"\n[[step]]\nat = \"0m\"\naction = \"fly\"\n")
        .expect("write");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_afterdesk"))
        .args(["simulate", "workflows/after-sales.toml"])
        .arg(&scenario)
        .current_dir(root)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("step 1 (fly): unknown action \"fly\""), "{error}");
}
