//! Storage: sled, and only sled. Nothing outside this module touches the database.
//!
//! Trees and key encodings are in [`keys`]; the indexes a ticket appears in, in [`indexes`];
//! writing a batch of commands' changes in one transaction and one flush, in [`commit`]; reads
//! and listing, in [`query`]. The store holds no business rules: it writes what the engine
//! decided and reads it back.

pub mod blobs;
pub mod commit;
mod customers;
pub mod inbound;
pub mod indexes;
pub mod keys;
pub mod outbox;
pub mod people;
pub mod query;
pub mod reports;
pub mod sessions;
pub mod timers;
pub mod tokens;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::TicketId;

pub use commit::Batch;
pub use query::{ListFilter, Page};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (I/O, corruption).
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record could not be decoded.
    #[error("stored record {what} cannot be read: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
    /// The data folder could not be prepared.
    #[error("cannot use data folder {path}: {reason}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A workflow version as stored, so tickets on it keep running after the file changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredWorkflow {
    /// Workflow id.
    pub id: String,
    /// Version (content hash).
    pub version: String,
    /// File it was loaded from.
    pub path: PathBuf,
    /// The file's text.
    pub source: String,
    /// The scripts it used: reference → (path, text).
    pub scripts: BTreeMap<String, StoredScript>,
    /// When it was first stored (RFC 3339).
    pub stored_at: String,
}

/// A script as stored with its workflow version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredScript {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its text.
    pub source: String,
}

/// Settings of the embedded database.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Data folder.
    pub path: PathBuf,
    /// Page cache size in bytes (sled's default of 1 GiB is too much for small machines).
    pub cache_bytes: u64,
}

impl StoreConfig {
    /// Defaults for a data folder: a 256 MiB cache.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self { path: path.as_ref().to_path_buf(), cache_bytes: 256 * 1024 * 1024 }
    }
}

/// The database and its trees.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    events: sled::Tree,
    tickets: sled::Tree,
    numbers: sled::Tree,
    customers: sled::Tree,
    customer_keys: sled::Tree,
    customer_events: sled::Tree,
    index: sled::Tree,
    workflows: sled::Tree,
    meta: sled::Tree,
    idempotency: sled::Tree,
    tokens: sled::Tree,
    timers: sled::Tree,
    outbox: sled::Tree,
    outbox_queue: sled::Tree,
    outbox_index: sled::Tree,
    blobs: sled::Tree,
    inbound: sled::Tree,
    inbound_queue: sled::Tree,
    reports: sled::Tree,
    sessions: sled::Tree,
    sign_ins: sled::Tree,
}

impl Store {
    /// Opens (or creates) the database in `config.path`.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&config.path)
            .map_err(|e| StoreError::Folder { path: config.path.clone(), reason: e.to_string() })?;
        let db = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Self::on(db)
    }

    /// A database that lives only as long as this handle (in a temporary folder sled removes
    /// when it is dropped): `simulate` runs the server's writer on one.
    pub fn open_temporary() -> Result<Self, StoreError> {
        Self::on(sled::Config::new().temporary(true).cache_capacity(64 * 1024 * 1024).open()?)
    }

    fn on(db: sled::Db) -> Result<Self, StoreError> {
        let store = Self {
            events: db.open_tree("events")?,
            tickets: db.open_tree("tickets")?,
            numbers: db.open_tree("numbers")?,
            customers: db.open_tree("customers")?,
            customer_keys: db.open_tree("customer_keys")?,
            customer_events: db.open_tree("customer_events")?,
            index: db.open_tree("index")?,
            workflows: db.open_tree("workflows")?,
            meta: db.open_tree("meta")?,
            idempotency: db.open_tree("idempotency")?,
            tokens: db.open_tree("tokens")?,
            timers: db.open_tree("due_timers")?,
            outbox: db.open_tree("outbox")?,
            outbox_queue: db.open_tree("outbox_queue")?,
            outbox_index: db.open_tree("outbox_index")?,
            blobs: db.open_tree("blobs")?,
            inbound: db.open_tree("inbound")?,
            inbound_queue: db.open_tree("inbound_queue")?,
            reports: db.open_tree("reports")?,
            sessions: db.open_tree("sessions")?,
            sign_ins: db.open_tree("sign_ins")?,
            db,
        };
        timers::migrate(&store.db, &store.timers)?;
        Ok(store)
    }

    /// Writes everything still in memory to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Stores a workflow version unless it is stored already; returns whether it was new.
    pub fn save_workflow(&self, workflow: &StoredWorkflow) -> Result<bool, StoreError> {
        let key = keys::workflow(&workflow.id, &workflow.version);
        if self.workflows.contains_key(&key)? {
            return Ok(false);
        }
        self.workflows.insert(key, encode(workflow)?)?;
        self.db.flush()?;
        Ok(true)
    }

    /// A stored workflow version.
    pub fn workflow(&self, id: &str, version: &str) -> Result<Option<StoredWorkflow>, StoreError> {
        self.workflows.get(keys::workflow(id, version))?.map(|bytes| decode(&bytes, "workflow version")).transpose()
    }

    /// Every stored version of a workflow, oldest first.
    pub fn workflow_versions(&self, id: &str) -> Result<Vec<StoredWorkflow>, StoreError> {
        let mut versions: Vec<StoredWorkflow> = self
            .workflows
            .scan_prefix(keys::workflow_prefix(id))
            .values()
            .map(|bytes| decode(&bytes?, "workflow version"))
            .collect::<Result<_, _>>()?;
        versions.sort_by(|a, b| a.stored_at.cmp(&b.stored_at));
        Ok(versions)
    }

    /// The ticket an idempotency key opened, with the digest of the request that used it.
    pub fn idempotent(&self, key: &[u8]) -> Result<Option<(TicketId, Vec<u8>)>, StoreError> {
        Ok(self.idempotency.get(key)?.and_then(|bytes| {
            let id = keys::ulid_from(bytes.get(..16)?)?;
            Some((TicketId(id), bytes[16..].to_vec()))
        }))
    }

    /// When a scheduled job last ran.
    pub fn job_last_run(&self, workflow: &str, job: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Ok(self
            .meta
            .get(keys::job(workflow, job))?
            .and_then(|bytes| bytes.as_ref().try_into().ok().map(i64::from_be_bytes))
            .and_then(chrono::DateTime::from_timestamp_millis))
    }

    /// A random secret kept in the database under `name` (made on first use): it signs survey
    /// links, so they stay valid across restarts and nothing needs configuring.
    pub fn secret(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let key = format!("secret/{name}");
        let fresh: [u8; 32] = rand::random();
        let stored = match self.meta.compare_and_swap(key.as_bytes(), None as Option<&[u8]>, Some(&fresh[..]))? {
            Ok(()) => {
                self.db.flush()?;
                fresh.to_vec()
            }
            Err(existing) => existing.current.map(|v| v.to_vec()).unwrap_or_default(),
        };
        stored
            .try_into()
            .map_err(|_| StoreError::Corrupt { what: format!("secret {name}"), reason: "not 32 bytes".into() })
    }

    /// The last ticket number given out in a workflow.
    pub fn sequence(&self, workflow: &str) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(keys::sequence(workflow))?
            .and_then(|bytes| bytes.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }
}

/// Serializes a record.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map_err(|e| StoreError::Corrupt { what: std::any::type_name::<T>().to_string(), reason: e.to_string() })
}

/// Deserializes a record.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { what: what.to_string(), reason: e.to_string() })
}
