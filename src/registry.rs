//! The workflow versions the server runs: the current version of each workflow, and every
//! older version a ticket still runs on.
//!
//! Each version loaded from `workflows/` is saved in the store with its scripts, so a ticket
//! keeps its version even after the file changes and the server restarts. Reloading validates
//! the whole folder first: if any file has an error, nothing changes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use crate::store::{Store, StoreError, StoredScript, StoredWorkflow};
use crate::workflow::load::load_source;
use crate::workflow::script::ReadProblem;
use crate::workflow::{Diagnostic, Workflow, load_paths};

/// Why loading workflows failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Some workflow files have errors; nothing was changed.
    #[error("the workflows have {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default)]
struct Versions {
    current: BTreeMap<String, Arc<Workflow>>,
    all: HashMap<(String, String), Arc<Workflow>>,
}

/// Loaded workflow versions.
#[derive(Debug)]
pub struct Registry {
    store: Store,
    folder: PathBuf,
    versions: RwLock<Versions>,
}

impl Registry {
    /// Loads every workflow of `folder` and saves new versions in `store`.
    pub fn load(store: Store, folder: &Path) -> Result<Self, RegistryError> {
        let registry = Self { store, folder: folder.to_path_buf(), versions: RwLock::new(Versions::default()) };
        registry.reload()?;
        Ok(registry)
    }

    /// Loads the folder again. On any error, the running versions stay and the errors are
    /// returned; otherwise the new versions become current (tickets keep theirs).
    pub fn reload(&self) -> Result<Vec<Arc<Workflow>>, RegistryError> {
        let loaded = load_paths(std::slice::from_ref(&self.folder));
        if loaded.has_errors() {
            return Err(RegistryError::Invalid(loaded.problems));
        }
        let now = chrono::Utc::now().to_rfc3339();
        let mut fresh = Vec::new();
        for workflow in loaded.workflows {
            self.store.save_workflow(&stored(&workflow, &now))?;
            fresh.push(Arc::new(workflow));
        }
        let mut versions = self.versions.write().unwrap_or_else(PoisonError::into_inner);
        versions.current.clear();
        for workflow in &fresh {
            versions.current.insert(workflow.id().to_string(), workflow.clone());
            versions.all.insert((workflow.id().to_string(), workflow.version.clone()), workflow.clone());
        }
        Ok(fresh)
    }

    /// The current version of a workflow.
    pub fn current(&self, id: &str) -> Option<Arc<Workflow>> {
        self.versions.read().unwrap_or_else(PoisonError::into_inner).current.get(id).cloned()
    }

    /// Every current workflow, by id.
    pub fn all_current(&self) -> Vec<Arc<Workflow>> {
        self.versions.read().unwrap_or_else(PoisonError::into_inner).current.values().cloned().collect()
    }

    /// A given version: from memory, or rebuilt from its stored copy.
    pub fn version(&self, id: &str, version: &str) -> Result<Option<Arc<Workflow>>, RegistryError> {
        let key = (id.to_string(), version.to_string());
        if let Some(found) = self.versions.read().unwrap_or_else(PoisonError::into_inner).all.get(&key) {
            return Ok(Some(found.clone()));
        }
        let Some(saved) = self.store.workflow(id, version)? else { return Ok(None) };
        let workflow = Arc::new(rebuild(&saved)?);
        self.versions.write().unwrap_or_else(PoisonError::into_inner).all.insert(key, workflow.clone());
        Ok(Some(workflow))
    }

    /// The store versions are saved in.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

fn stored(workflow: &Workflow, now: &str) -> StoredWorkflow {
    StoredWorkflow {
        id: workflow.id().to_string(),
        version: workflow.version.clone(),
        path: workflow.path.clone(),
        source: workflow.source.to_string(),
        scripts: workflow
            .scripts
            .iter()
            .filter_map(|(reference, script)| {
                let path = script.path.clone()?;
                Some((reference.clone(), StoredScript { path, source: script.source.to_string() }))
            })
            .collect(),
        stored_at: now.to_string(),
    }
}

/// Rebuilds a workflow from its stored copy, scripts included.
fn rebuild(saved: &StoredWorkflow) -> Result<Workflow, RegistryError> {
    let read = |_: &Path, reference: &str| {
        saved
            .scripts
            .get(reference)
            .map(|script| (script.path.clone(), Arc::<str>::from(script.source.as_str())))
            .ok_or_else(|| ReadProblem {
                message: format!("script `{reference}` is missing from the stored version"),
                hint: "the stored workflow version is incomplete".to_string(),
            })
    };
    load_source(&saved.path, Arc::from(saved.source.as_str()), &read).map_err(RegistryError::Invalid)
}
