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
    /// Look after the outbox (while the server is stopped; a running server has `/v1/outbox`).
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Reports (while the server is stopped; a running server keeps them up to date).
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
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
enum ReportsCommand {
    /// Recompute every report figure from the events and store it in place of the kept ones;
    /// says whether they differed.
    Rebuild {
        /// Data folder (the database).
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Folder of workflow files (versions not stored yet are stored first).
        #[arg(long, default_value = "workflows")]
        workflows: PathBuf,
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
        /// When it stops working: a time (`2027-01-31T00:00:00Z`) or a duration from now
        /// (`90d`, `12h`) [default: never].
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Revoke a token at once (a running server has `DELETE /v1/tokens/{id}`).
    Revoke {
        /// Data folder of the server.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The token's id, as `token list` shows it.
        id: String,
    },
    /// List the tokens: id, person, role, created, expires, last used, revoked.
    List {
        /// Data folder of the server.
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

/// An expiry given on the command line: an RFC 3339 time, or a duration from now.
fn parse_expiry(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.to_utc());
    }
    let duration = humantime::parse_duration(text)
        .map_err(|_| format!("\"{text}\" is neither a time like 2027-01-31T00:00:00Z nor a duration like 90d"))?;
    let duration = chrono::Duration::from_std(duration).map_err(|e| e.to_string())?;
    chrono::Utc::now().checked_add_signed(duration).ok_or_else(|| format!("\"{text}\" is too far ahead"))
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Queue dead letters again (after an outage): all of them, or those of a ticket or since a time.
    Retry {
        /// Data folder of the server.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Only messages about this ticket (id or number).
        #[arg(long)]
        ticket: Option<String>,
        /// Only messages queued at or after this time (RFC 3339, e.g. 2026-11-23T09:00:00Z).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
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
        Command::Token { command: TokenCommand::Create { data, person, role, expires } } => {
            create_token(&data, &person, role, expires)
        }
        Command::Token { command: TokenCommand::Revoke { data, id } } => revoke_token(&data, &id),
        Command::Token { command: TokenCommand::List { data } } => list_tokens(&data),
        Command::Outbox { command: OutboxCommand::Retry { data, ticket, since } } => {
            retry_dead(&data, ticket.as_deref(), since)
        }
        Command::Reports { command: ReportsCommand::Rebuild { data, workflows } } => rebuild_reports(&data, &workflows),
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

fn rebuild_reports(data: &std::path::Path, workflows: &std::path::Path) -> ExitCode {
    let store = match Store::open(&StoreConfig::new(data)) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("afterdesk: cannot open the database in {}: {error}", data.display());
            eprintln!("(is the server running? stop it first)");
            return ExitCode::FAILURE;
        }
    };
    let registry = match afterdesk::registry::Registry::load(store.clone(), workflows) {
        Ok(registry) => registry,
        Err(error) => {
            eprintln!("afterdesk: {error}");
            return ExitCode::FAILURE;
        }
    };
    match afterdesk::reports::rebuild::rebuild(&store, &registry) {
        Ok((buckets, differed)) => {
            let how =
                if differed { "they differed from the kept ones, which are replaced" } else { "the same as kept" };
            println!("{buckets} report bucket(s) recomputed from the events: {how}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("afterdesk: {error}");
            ExitCode::FAILURE
        }
    }
}

fn retry_dead(data: &std::path::Path, ticket: Option<&str>, since: Option<chrono::DateTime<chrono::Utc>>) -> ExitCode {
    let store = match Store::open(&StoreConfig::new(data)) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("afterdesk: cannot open the database in {}: {error}", data.display());
            eprintln!("(is the server running? stop it, or use POST /v1/outbox/retry with an admin token)");
            return ExitCode::FAILURE;
        }
    };
    let ticket = match ticket.map(|text| (text, store.resolve(text))) {
        None => None,
        Some((_, Ok(Some(id)))) => Some(id),
        Some((text, Ok(None))) => {
            eprintln!("afterdesk: no ticket {text}");
            return ExitCode::FAILURE;
        }
        Some((_, Err(error))) => {
            eprintln!("afterdesk: {error}");
            return ExitCode::FAILURE;
        }
    };
    let filter = afterdesk::store::outbox::OutboxFilter { ticket, since, ..Default::default() };
    match store.retry_dead(&filter, chrono::Utc::now()).and_then(|requeued| store.flush().map(|()| requeued)) {
        Ok(requeued) => {
            println!("{requeued} dead letter(s) queued again; they are sent when the server runs");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("afterdesk: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the database for a `token` command, or says why not.
fn open_store(data: &std::path::Path) -> Option<Store> {
    match Store::open(&StoreConfig::new(data)) {
        Ok(store) => Some(store),
        Err(error) => {
            eprintln!("afterdesk: cannot open the database in {}: {error}", data.display());
            eprintln!("(is the server running? stop it, or use the /v1/tokens API with an admin token)");
            None
        }
    }
}

fn create_token(
    data: &std::path::Path,
    person: &str,
    role: TokenRole,
    expires: Option<chrono::DateTime<chrono::Utc>>,
) -> ExitCode {
    let now = chrono::Utc::now();
    if expires.is_some_and(|at| at <= now) {
        eprintln!("afterdesk: --expires must be in the future");
        return ExitCode::FAILURE;
    }
    let Some(store) = open_store(data) else { return ExitCode::FAILURE };
    match afterdesk::auth::create_token(&store, person, role, expires, now) {
        Ok((secret, record)) => {
            println!("{secret}");
            let until =
                record.expires_at.map_or("never expires".to_string(), |at| format!("expires {}", at.to_rfc3339()));
            eprintln!("token {} for {} ({:?}, {until}); it is shown only now", record.id, record.person, record.role);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("afterdesk: {error}");
            ExitCode::FAILURE
        }
    }
}

fn revoke_token(data: &std::path::Path, id: &str) -> ExitCode {
    let Some(store) = open_store(data) else { return ExitCode::FAILURE };
    let by = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    match afterdesk::auth::revoke(&store, &std::collections::HashMap::new(), id, &by, chrono::Utc::now()) {
        Ok(record) => {
            let at = record.revoked_at.map(|at| at.to_rfc3339()).unwrap_or_default();
            println!("token {} of {} ({:?}) is revoked (since {at})", record.id, record.person, record.role);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("afterdesk: {error}");
            ExitCode::FAILURE
        }
    }
}

fn list_tokens(data: &std::path::Path) -> ExitCode {
    let Some(store) = open_store(data) else { return ExitCode::FAILURE };
    let tokens = match store.tokens() {
        Ok(tokens) => tokens,
        Err(error) => {
            eprintln!("afterdesk: {error}");
            return ExitCode::FAILURE;
        }
    };
    let time = |at: Option<chrono::DateTime<chrono::Utc>>| at.map_or("-".to_string(), |at| at.to_rfc3339());
    println!("id\tperson\trole\tcreated\texpires\tlast used\trevoked");
    for t in tokens {
        println!(
            "{}\t{}\t{:?}\t{}\t{}\t{}\t{}",
            t.id,
            t.person,
            t.role,
            t.created_at.to_rfc3339(),
            time(t.expires_at),
            time(t.last_used_at),
            time(t.revoked_at)
        );
    }
    ExitCode::SUCCESS
}
