//! The JavaScript tools the browser tests inject into pages (axe-core), installed on first use
//! from the npm registry with the pins of `tests/support/package-lock.json`, so that `cargo test`
//! needs nothing installed by hand but Node.js and npm.
//!
//! `npm ci` runs in `<target>/test-node/` (the cargo target folder, see
//! [`crate::python::target_dir`]); a marker holding the lock file's text, written last, says the
//! install finished and matches the pins; a file lock lets one test process install while the
//! others wait.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use fs2::FileExt as _;

const PACKAGE: &str = include_str!("package.json");
const LOCK: &str = include_str!("package-lock.json");

/// The folder holding `node_modules/` with the pinned tools; installs them on the first call.
/// Panics, saying what is missing, if that fails.
pub fn node_modules() -> &'static PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(install) {
        Ok(dir) => dir,
        Err(error) => panic!("the browser tests need Node.js and npm to install axe-core: {error}"),
    }
}

/// The source of axe-core, to run in a page.
pub fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = node_modules().join("node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    })
}

fn install() -> Result<PathBuf, String> {
    let dir = crate::python::target_dir().join("test-node");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let marker = dir.join("installed");
    let done = || std::fs::read_to_string(&marker).is_ok_and(|text| text == LOCK);
    if done() {
        return Ok(dir);
    }
    let lock = File::create(dir.join("lock")).map_err(|e| format!("lock file: {e}"))?;
    lock.lock_exclusive().map_err(|e| format!("lock: {e}"))?;
    if done() {
        return Ok(dir);
    }
    for (name, text) in [("package.json", PACKAGE), ("package-lock.json", LOCK)] {
        std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("cannot run npm (install Node.js and npm): {e}"))?;
    if !output.status.success() {
        return Err(format!("npm ci failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    std::fs::write(&marker, LOCK).map_err(|e| format!("cannot write the marker: {e}"))?;
    Ok(dir)
}
