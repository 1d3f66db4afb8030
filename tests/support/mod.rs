//! Shared test helpers: a real sled store in a temporary folder, the bundled workflows copied
//! next to it, the single writer, and a manual clock.
#![allow(dead_code)]

pub mod python;
pub mod server;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use afterdesk::clock::ManualClock;
use afterdesk::engine::{Actor, Command, CustomerInput, OpenTicket};
use afterdesk::registry::Registry;
use afterdesk::store::{Store, StoreConfig};
use afterdesk::writer::{CommandRequest, OpenRequest, Outcome, WriteError, Writer};
use chrono::{DateTime, Utc};

/// Monday 23 November 2026, 09:00 Tehran time.
pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T05:30:00Z").expect("valid time").to_utc()
}

/// Sam, a customer known since `at` (`vip` or not), for tests that run the engine directly.
pub fn sam(vip: bool, at: DateTime<Utc>) -> afterdesk::engine::Customer {
    afterdesk::engine::Customer {
        id: afterdesk::engine::CustomerId(ulid::Ulid::from_parts(1, 1)),
        name: "Sam".into(),
        email: Some("sam@example.com".into()),
        phone: None,
        external_id: None,
        vip,
        language: None,
        created_at: at,
        updated_at: at,
        satisfaction: Default::default(),
        merged_into: None,
    }
}

/// A copy of the project's workflows and scripts in `dir` (so tests may edit them).
pub fn copy_project_workflows(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["workflows", "scripts"] {
        let to = dir.join(folder);
        std::fs::create_dir_all(&to).expect("create folder");
        for entry in std::fs::read_dir(root.join(folder)).expect("read folder") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, to.join(path.file_name().expect("file name"))).expect("copy");
            }
        }
    }
    dir.join("workflows")
}

/// A running writer over a store in a folder.
pub struct Desk {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub writer: Writer,
    pub clock: ManualClock,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Desk {
    /// Opens the store in `data` and loads the workflows of `workflows`.
    pub fn start(data: &Path, workflows: &Path, clock: ManualClock) -> Self {
        // sled's background threads may hold the previous handle's file lock for a moment
        // after it is dropped; a new process never sees that, a test restarting in-process does.
        let mut attempts = 0;
        let store = loop {
            match Store::open(&StoreConfig::new(data)) {
                Ok(store) => break store,
                Err(error) if attempts < 50 => {
                    attempts += 1;
                    eprintln!("store not free yet ({error}); retrying");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(error) => panic!("open store: {error}"),
            }
        };
        let registry = Arc::new(Registry::load(store.clone(), workflows).expect("load workflows"));
        let (writer, thread) = Writer::start(registry.clone(), Arc::new(clock.clone()));
        Self { store, registry, writer, clock, thread: Some(thread) }
    }

    /// Stops the writer and closes the store.
    pub fn stop(mut self) {
        let Self { writer, thread, .. } = &mut self;
        drop(std::mem::replace(writer, Writer::closed()));
        if let Some(thread) = thread.take() {
            thread.join().expect("writer thread ends");
        }
    }

    pub async fn open(&self, ticket: OpenTicket) -> Result<Outcome, WriteError> {
        self.writer.open(OpenRequest { ticket, actor: Actor::integrator("web-form"), idempotency_key: None }).await
    }

    pub async fn run(&self, ticket: &str, actor: Actor, command: Command) -> Result<Outcome, WriteError> {
        self.writer
            .command(CommandRequest { ticket: ticket.to_string(), command, actor, expected_revision: None })
            .await
    }
}

/// The smallest request the bundled workflow accepts.
pub fn request(subject: &str, email: &str) -> OpenTicket {
    OpenTicket {
        workflow: "after-sales".into(),
        subject: subject.into(),
        customer: CustomerInput {
            name: Some("Customer".into()),
            email: Some(email.into()),
            ..CustomerInput::default()
        },
        ..OpenTicket::default()
    }
}
