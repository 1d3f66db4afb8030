//! The server as a whole: opens the store, loads the workflows, starts the writer, binds the
//! listener, serves until told to stop, then drains and flushes.
//!
//! `Application::build` binds before serving and exposes the port, so tests start the real
//! server on `127.0.0.1:0` and learn where it listens. The SMTP receiver (`[inbound]
//! smtp_listen`) is bound the same way, and [`Application::smtp_address`] says where.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState, Limits};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, InboundConfig};
use crate::inbound::process::Processor;
use crate::jobs::Jobs;
use crate::notify::Delivery;
use crate::registry::{Registry, RegistryError};
use crate::scheduler::Scheduler;
use crate::store::tokens::{TokenRecord, TokenRole};
use crate::store::{Store, StoreConfig, StoreError};
use crate::writer::Writer;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The workflows have errors (each printed with its place).
    #[error(transparent)]
    Workflows(#[from] RegistryError),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A configured token is not valid.
    #[error("configuration: {0}")]
    Config(String),
    /// The delivery worker could not start (mail settings).
    #[error(transparent)]
    Delivery(#[from] crate::notify::worker::WorkerError),
}

/// A server, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    server: crate::config::ServerConfig,
    writer: Writer,
    writer_thread: JoinHandle<()>,
    store: Store,
    scheduler: Scheduler,
    jobs: Jobs,
    delivery: Delivery,
    smtp: Option<SmtpReceiver>,
    inbound: Processor,
    inbound_signal: Arc<Notify>,
    /// The first administrator token, when the database had none (shown once).
    pub initial_admin_token: Option<String>,
}

impl Application {
    /// Opens everything and binds the listener, with the system clock.
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Same, with a given clock (tests move time by hand).
    pub async fn build_with_clock(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        crate::engine::rules::set_run_time(Duration::from_millis(config.script_time_limit_ms));
        let store_config = StoreConfig { path: config.data.clone(), cache_bytes: config.cache_mb * 1024 * 1024 };
        let store = Store::open(&store_config)?;
        let registry = Arc::new(Registry::load(store.clone(), &config.workflows)?);
        // A database from before reports were kept gets its buckets once, from the events.
        match crate::reports::rebuild::ensure(&store, &registry) {
            Ok(Some(buckets)) => tracing::info!(buckets, "report figures built from the events"),
            Ok(None) => {}
            Err(error) => return Err(StartError::Config(format!("cannot build the report figures: {error}"))),
        }
        let initial_admin_token = first_admin_token(&store, &config.data, clock.as_ref(), config.tokens.is_empty())?;
        let mut config_tokens = HashMap::new();
        for token in &config.tokens {
            let digest: [u8; 32] = hex::decode(&token.sha256)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| StartError::Config(format!("token of {} has a bad sha256", token.person)))?;
            let record = TokenRecord::new(hex::encode(&digest[..6]), token.person.clone(), token.role, clock.now());
            config_tokens.insert(digest, record);
        }
        let settings = crate::writer::WriterSettings { phone_region: config.phone_region(), ..Default::default() };
        let (writer, writer_thread) = Writer::start_with(registry.clone(), clock.clone(), settings);
        let scheduler = Scheduler::new(store.clone(), writer.clone(), clock.clone());
        let jobs = Jobs::new(store.clone(), registry.clone(), clock.clone());
        let mut state = AppState {
            writer: writer.clone(),
            store: store.clone(),
            registry: registry.clone(),
            clock: clock.clone(),
            public_url: Arc::from(config.public_url().as_str()),
            config_tokens: Arc::new(config_tokens),
            metrics: api::metrics_handle(),
            survey_secret: Arc::new([0; 32]),
            inbound: Processor::new(
                store.clone(),
                writer.clone(),
                registry.clone(),
                clock.clone(),
                Arc::new(config.inbound.clone()),
                &config.mail.from,
            ),
            inbound_signal: Arc::new(Notify::new()),
            web_secret: Arc::new(store.secret("web")?),
            web_limits: Arc::new(crate::web::limits::WebLimits::default()),
        };
        let limits =
            Limits { max_body_bytes: config.max_body_bytes, timeout: Duration::from_secs(config.request_timeout_secs) };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen { address: config.listen, source })?;
        // Links must point where the server really is (port 0 picks one; 0.0.0.0 is no address).
        if config.public_url.is_none()
            && let Ok(bound) = listener.local_addr()
        {
            let host = if bound.ip().is_unspecified() {
                std::net::SocketAddr::from(([127, 0, 0, 1], bound.port()))
            } else {
                bound
            };
            state.public_url = Arc::from(format!("http://{host}").as_str());
        }
        // The webhook client's TLS uses the same crypto as the mail client's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let delivery = Delivery::new(
            config,
            state.registry.clone(),
            state.clock.clone(),
            writer.outbox_signal(),
            &state.public_url,
        )?;
        state.survey_secret = Arc::new(delivery.survey_secret());
        if config.inbound.smtp_listen.is_some() && config.inbound.routes.is_empty() {
            tracing::warn!("inbound.smtp_listen is set but no [[inbound.routes]]: every recipient is refused (550)");
        }
        let smtp = match config.inbound.smtp_listen {
            Some(address) => Some(SmtpReceiver {
                listener: TcpListener::bind(address).await.map_err(|source| StartError::Listen { address, source })?,
                settings: Arc::new(config.inbound.clone()),
                hostname: smtp_hostname(config),
                clock: state.clock.clone(),
            }),
            None => None,
        };
        let inbound = state.inbound.clone();
        let inbound_signal = state.inbound_signal.clone();
        let router = api::router(state, limits);
        Ok(Self {
            listener,
            router,
            server: config.server.clone(),
            writer,
            writer_thread,
            store,
            scheduler,
            jobs,
            delivery,
            smtp,
            inbound,
            inbound_signal,
            initial_admin_token,
        })
    }

    /// The timer loop, for tests that fire timers by hand with a manual clock.
    pub fn scheduler(&self) -> Scheduler {
        self.scheduler.clone()
    }

    /// The scheduled jobs, for tests that run them by hand with a manual clock.
    pub fn jobs(&self) -> Jobs {
        self.jobs.clone()
    }

    /// The delivery worker, for tests that send by hand with a manual clock.
    pub fn delivery(&self) -> Delivery {
        self.delivery.clone()
    }

    /// Where the SMTP receiver listens, when `[inbound] smtp_listen` is set.
    pub fn smtp_address(&self) -> Option<std::net::SocketAddr> {
        self.smtp.as_ref().and_then(|smtp| smtp.listener.local_addr().ok())
    }

    /// Notified each time a received message is spooled (the inbound processor waits on it).
    pub fn inbound_signal(&self) -> Arc<Notify> {
        self.inbound_signal.clone()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` completes; then finishes requests in flight, lets the writer
    /// answer everything it accepted, and flushes the database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            server,
            writer,
            writer_thread,
            store,
            scheduler,
            jobs,
            delivery,
            smtp,
            inbound,
            inbound_signal,
            ..
        } = self;
        let stop = CancellationToken::new();
        let smtp = smtp.map(|smtp| {
            tokio::spawn(crate::inbound::smtp::serve(
                smtp.listener,
                smtp.settings,
                smtp.hostname,
                store.clone(),
                smtp.clock,
                inbound_signal.clone(),
                stop.clone(),
            ))
        });
        let processor = tokio::spawn(inbound.run(inbound_signal, stop.clone()));
        let timers = tokio::spawn(scheduler.run(stop.clone()));
        let cron = tokio::spawn(jobs.run_loop(stop.clone()));
        let mail = tokio::spawn(delivery.run(stop.clone()));
        let served = crate::serve::serve(listener, router, &server, shutdown).await;
        stop.cancel();
        if timers.await.is_err() || cron.await.is_err() || mail.await.is_err() || processor.await.is_err() {
            tracing::error!("the timer, job, delivery or inbound loop panicked");
        }
        // Sessions in DATA have spooled their message (or given up) before the final flush.
        if let Some(smtp) = smtp
            && smtp.await.is_err()
        {
            tracing::error!("the SMTP receiver panicked");
        }
        // The router (and its writer handles) is gone; dropping ours lets the writer drain.
        drop(writer);
        let joined = tokio::task::spawn_blocking(move || writer_thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::error!("the writer thread did not stop cleanly");
        }
        if let Err(error) = store.flush() {
            tracing::error!(%error, "final flush failed");
        }
        tracing::info!("stopped");
        served
    }
}

/// The SMTP receiver's listener and settings, until it is started.
struct SmtpReceiver {
    listener: TcpListener,
    settings: Arc<InboundConfig>,
    hostname: String,
    clock: Arc<dyn Clock>,
}

/// The name the receiver greets with: `[inbound] hostname`, else the domain of `mail.from`.
fn smtp_hostname(config: &Config) -> String {
    if let Some(hostname) = config.inbound.hostname.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        return hostname.to_string();
    }
    config
        .mail
        .from
        .parse::<lettre::message::Mailbox>()
        .map(|mailbox| mailbox.email.domain().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// On first start (no tokens at all), makes an administrator token, writes it to
/// `DATA/initial-admin-token` (readable by the owner only) and returns it to be shown once.
fn first_admin_token(
    store: &Store,
    data: &Path,
    clock: &dyn Clock,
    no_config_tokens: bool,
) -> Result<Option<String>, StartError> {
    if store.has_tokens()? || !no_config_tokens {
        return Ok(None);
    }
    let (secret, _) = crate::auth::create_token(store, "admin", TokenRole::Admin, None, clock.now())?;
    let file = data.join("initial-admin-token");
    if let Err(error) = write_private(&file, &format!("{secret}\n")) {
        tracing::warn!(%error, file = %file.display(), "could not save the initial admin token");
    }
    Ok(Some(secret))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
