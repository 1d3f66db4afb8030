//! The `afterdesk` command: parses the command line and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use afterdesk::workflow::{self, Loaded};

/// Afterdesk: after-sales customer service run as a workflow engine.
#[derive(Debug, Parser)]
#[command(name = "afterdesk", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server on the workflows of a folder.
    Serve {
        /// Folder of workflow files.
        #[arg(long, default_value = "workflows")]
        workflows: PathBuf,
    },
    /// Check workflow files and folders; exit 0 when valid, 1 with every problem otherwise.
    Validate {
        /// Workflow files or folders of them (default: workflows).
        paths: Vec<PathBuf>,
        /// Output for people, or JSON for tools.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print a workflow's stages and transitions as a Mermaid state diagram.
    Diagram {
        /// The workflow file.
        workflow_file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { workflows } => serve(workflows),
        Command::Validate { paths, format } => {
            let paths = if paths.is_empty() { vec![PathBuf::from("workflows")] } else { paths };
            validate(&workflow::load_paths(&paths), format)
        }
        Command::Diagram { workflow_file } => match workflow::load_file(&workflow_file) {
            Ok(loaded) => {
                print!("{}", workflow::diagram::mermaid(&loaded.definition));
                ExitCode::SUCCESS
            }
            Err(problems) => {
                for problem in &problems {
                    eprint!("{}", problem.render());
                }
                ExitCode::FAILURE
            }
        },
    }
}

fn validate(loaded: &Loaded, format: Format) -> ExitCode {
    let errors = loaded.problems.iter().filter(|p| p.is_error()).count();
    let warnings = loaded.problems.len() - errors;
    match format {
        Format::Json => {
            let workflows: Vec<_> = loaded
                .workflows
                .iter()
                .map(|w| {
                    serde_json::json!({
                        "id": w.id(),
                        "version": w.version,
                        "file": w.path,
                        "stages": w.definition.stages.len(),
                    })
                })
                .collect();
            let report = serde_json::json!({
                "valid": errors == 0,
                "errors": errors,
                "warnings": warnings,
                "workflows": workflows,
                "problems": loaded.problems,
            });
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        }
        Format::Human => {
            for problem in &loaded.problems {
                print!("{}", problem.render());
            }
            for w in &loaded.workflows {
                println!(
                    "ok: {} ({}, version {}, {} stages)",
                    w.path.display(),
                    w.id(),
                    w.version,
                    w.definition.stages.len()
                );
            }
            println!("{errors} error(s), {warnings} warning(s)");
        }
    }
    if errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn serve(workflows: PathBuf) -> ExitCode {
    let loaded = workflow::load_paths(&[workflows]);
    if loaded.has_errors() {
        for problem in &loaded.problems {
            eprint!("{}", problem.render());
        }
        eprintln!("afterdesk: not starting: the workflows have errors");
        return ExitCode::FAILURE;
    }
    for w in &loaded.workflows {
        println!("loaded workflow {} version {} from {}", w.id(), w.version, w.path.display());
    }
    println!("afterdesk: workflows are valid; the HTTP API is not built yet, so there is nothing to serve");
    ExitCode::SUCCESS
}
