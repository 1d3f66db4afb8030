//! The `afterdesk` command: parses the command line and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};

use afterdesk::app::{Application, shutdown_signal};
use afterdesk::config::{Config, LogFormat, Overrides};
use afterdesk::store::tokens::TokenRole;
use afterdesk::store::{Store, StoreConfig};
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
    /// Start the server: the REST API on the workflows of a folder, with an embedded database.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Data folder (the database) [default: ./data].
        #[arg(long)]
        data: Option<PathBuf>,
        /// Folder of workflow files [default: ./workflows].
        #[arg(long)]
        workflows: Option<PathBuf>,
        /// Configuration file (TOML); `AFTERDESK_*` environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Manage API tokens (while the server is stopped; a running server has `POST /v1/tokens`).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check workflow files and folders; exit 0 when valid, 1 with every problem otherwise.
    Validate {
        /// Workflow files or folders of them (default: workflows).
        paths: Vec<PathBuf>,
        /// Output for people, or JSON for tools.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run a scenario (timed actions) on a workflow with a simulated clock, and print the
    /// timeline: events, SLA warnings, breaches, escalations and the emails that would be sent.
    Simulate {
        /// The workflow file.
        workflow_file: PathBuf,
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
    /// Print a workflow's stages and transitions as a Mermaid state diagram.
    Diagram {
        /// The workflow file.
        workflow_file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a token and print it (it is shown only this once).
    Create {
        /// Data folder of the server.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The person (email) or system the token is for.
        #[arg(long)]
        person: String,
        /// admin, agent or integrator.
        #[arg(long)]
        role: TokenRole,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { listen, data, workflows, config } => serve(config, Overrides { listen, data, workflows }),
        Command::Token { command: TokenCommand::Create { data, person, role } } => create_token(&data, &person, role),
        Command::Validate { paths, format } => {
            let paths = if paths.is_empty() { vec![PathBuf::from("workflows")] } else { paths };
            validate(&workflow::load_paths(&paths), format)
        }
        Command::Simulate { workflow_file, scenario } => simulate(&workflow_file, &scenario),
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
    // A summary line stands for the problems it left out.
    let errors: usize = loaded.problems.iter().filter(|p| p.is_error()).map(|p| p.count()).sum();
    let warnings: usize = loaded.problems.iter().filter(|p| !p.is_error()).map(|p| p.count()).sum();
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

fn simulate(workflow_file: &std::path::Path, scenario: &std::path::Path) -> ExitCode {
    let workflow = match workflow::load_file(workflow_file) {
        Ok(workflow) => workflow,
        Err(problems) => {
            for problem in &problems {
                eprint!("{}", problem.render());
            }
            return ExitCode::FAILURE;
        }
    };
    let result = afterdesk::simulate::read_scenario(scenario)
        .and_then(|scenario| afterdesk::simulate::simulate(&workflow, &scenario));
    match result {
        Ok(timeline) => {
            print!("{timeline}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("afterdesk: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AFTERDESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    // Colours only on a terminal: log files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

fn serve(file: Option<PathBuf>, overrides: Overrides) -> ExitCode {
    let config = match Config::load(file.as_deref(), &overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("afterdesk: {error}");
            return ExitCode::FAILURE;
        }
    };
    init_logs(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("afterdesk: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let app = match Application::build(&config).await {
            Ok(app) => app,
            Err(afterdesk::app::StartError::Workflows(afterdesk::registry::RegistryError::Invalid(problems))) => {
                for problem in &problems {
                    eprint!("{}", problem.render());
                }
                eprintln!("afterdesk: not starting: the workflows in {} have errors", config.workflows.display());
                return ExitCode::FAILURE;
            }
            Err(error) => {
                eprintln!("afterdesk: not starting: {error}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(token) = &app.initial_admin_token {
            println!("First start: an administrator token was created. It is shown only now");
            println!("(and saved in {}):", config.data.join("initial-admin-token").display());
            println!();
            println!("    {token}");
            println!();
        }
        let url = config.public_url();
        tracing::info!(%url, data = %config.data.display(), workflows = %config.workflows.display(), "afterdesk listening; API docs at {url}/docs");
        println!("afterdesk listening on {url} (API docs: {url}/docs)");
        match app.run_until(shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("afterdesk: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

fn create_token(data: &std::path::Path, person: &str, role: TokenRole) -> ExitCode {
    let store = match Store::open(&StoreConfig::new(data)) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("afterdesk: cannot open the database in {}: {error}", data.display());
            eprintln!("(is the server running? stop it, or use POST /v1/tokens with an admin token)");
            return ExitCode::FAILURE;
        }
    };
    match afterdesk::auth::create_token(&store, person, role, chrono::Utc::now()) {
        Ok((secret, record)) => {
            println!("{secret}");
            eprintln!("token {} for {} ({:?}); it is shown only now", record.id, record.person, record.role);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("afterdesk: {error}");
            ExitCode::FAILURE
        }
    }
}
