//! The Python the tests run (the SMTP sink, the OpenAPI validator), set up on first use, so that
//! `cargo test` needs nothing installed by hand but Python 3.
//!
//! [`python`] uses, in this order:
//! 1. the environment made earlier under the cargo target folder (`<target>/test-python/`), if
//!    its marker says it holds exactly the pins of `tests/support/requirements.txt` and it still
//!    imports them;
//! 2. the system's `python3`, if it already imports every module the tests need;
//! 3. otherwise it makes that environment: `python3 -m venv`, then `pip install -r
//!    requirements.txt` into it; where `venv` is missing (Debian without `python3-venv`),
//!    `pip install --target` into a folder that is then put on `PYTHONPATH`.
//!
//! Test binaries may run at the same time (nextest) and the tests of one binary run on threads: a
//! file lock (`<target>/test-python/lock`) lets one process set up while the others wait, a
//! marker written last says the setup finished, and a `OnceLock` makes each process look once.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use fs2::FileExt as _;

/// The pins, one requirement a line (comments allowed).
const REQUIREMENTS: &str = include_str!("requirements.txt");
/// What the tests import.
const MODULES: &str = "import aiosmtpd, openapi_spec_validator";
/// The interpreter the environment is made from.
const SYSTEM: &str = "python3";

/// A Python interpreter that has the tests' modules.
#[derive(Debug, Clone)]
pub struct Python {
    program: PathBuf,
    /// A folder of packages to put on `PYTHONPATH` (the `pip install --target` fallback).
    packages: Option<PathBuf>,
}

impl Python {
    /// A command running this interpreter (add the script and its arguments).
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        if let Some(packages) = &self.packages {
            let mut paths = vec![packages.clone()];
            paths.extend(std::env::var_os("PYTHONPATH").iter().flat_map(std::env::split_paths));
            command.env("PYTHONPATH", std::env::join_paths(paths).expect("a PYTHONPATH"));
        }
        command
    }

    fn has_modules(&self) -> bool {
        self.command()
            .args(["-c", MODULES])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

/// The interpreter to run the tests' Python tools with; sets it up on the first call (which may
/// take a minute and needs PyPI). Panics, saying what to install, if that fails.
pub fn python() -> &'static Python {
    static PYTHON: OnceLock<Result<Python, String>> = OnceLock::new();
    match PYTHON.get_or_init(|| find(&target_dir().join("test-python"))) {
        Ok(python) => python,
        Err(error) => panic!("the tests need Python 3 with {REQUIREMENTS_SUMMARY}: {error}"),
    }
}

const REQUIREMENTS_SUMMARY: &str = "aiosmtpd and openapi-spec-validator (tests/support/requirements.txt)";

/// The cargo target folder: `CARGO_TARGET_DIR` if set, else the folder above this test binary
/// (`<target>/debug/deps/api-1234`, or `<target>/<triple>/debug/deps/...`) that holds cargo's
/// `CACHEDIR.TAG`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        // A relative one is relative to where cargo was started: the package folder, where tests run.
        return Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let tagged = exe.ancestors().skip(1).find(|dir| dir.join("CACHEDIR.TAG").is_file());
    tagged
        .or_else(|| exe.ancestors().nth(3))
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), Path::to_path_buf)
}

/// Finds or makes the interpreter, with `root` as the environment's folder.
fn find(root: &Path) -> Result<Python, String> {
    if let Some(python) = ready(root) {
        return Ok(python);
    }
    let system = Python { program: SYSTEM.into(), packages: None };
    if system.has_modules() {
        return Ok(system);
    }
    std::fs::create_dir_all(root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let lock_path = root.join("lock");
    let lock = File::create(&lock_path).map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.lock_exclusive().map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    // Another process may have set it up while this one waited for the lock.
    let found = match ready(root) {
        Some(python) => Ok(python),
        None => install(root),
    };
    // Closing the file releases the lock too; unlock first so waiters go on at once.
    drop(fs2::FileExt::unlock(&lock));
    found
}

/// The marker's path; it holds the kind of setup (`venv` or `target`), a newline, and the pins.
fn marker(root: &Path) -> PathBuf {
    root.join("ready")
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) { venv.join("Scripts").join("python.exe") } else { venv.join("bin").join("python") }
}

/// The environment set up earlier, if it is complete, has today's pins and still works.
fn ready(root: &Path) -> Option<Python> {
    let text = std::fs::read_to_string(marker(root)).ok()?;
    let (kind, pins) = text.split_once('\n')?;
    if pins != REQUIREMENTS {
        return None;
    }
    let python = match kind {
        "venv" => Python { program: venv_python(&root.join("venv")), packages: None },
        "target" => Python { program: SYSTEM.into(), packages: Some(root.join("packages")) },
        _ => return None,
    };
    python.has_modules().then_some(python)
}

/// Makes the environment anew (the caller holds the lock).
fn install(root: &Path) -> Result<Python, String> {
    eprintln!("setting up the tests' Python tools in {} (once; needs PyPI)", root.display());
    let venv = root.join("venv");
    let packages = root.join("packages");
    for folder in [&venv, &packages] {
        if folder.exists() {
            std::fs::remove_dir_all(folder).map_err(|e| format!("cannot remove {}: {e}", folder.display()))?;
        }
    }
    let _ = std::fs::remove_file(marker(root));
    let requirements = root.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS).map_err(|e| format!("cannot write {}: {e}", requirements.display()))?;
    let pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"];

    let made = run(Command::new(SYSTEM).args(["-m", "venv"]).arg(&venv));
    let (python, kind) = match made {
        Ok(()) => {
            let python = Python { program: venv_python(&venv), packages: None };
            run(python.command().args(pip).arg("-r").arg(&requirements))?;
            (python, "venv")
        }
        Err(no_venv) => {
            // Debian and Ubuntu ship `venv` separately (python3-venv); pip alone will do.
            let _ = std::fs::remove_dir_all(&venv);
            run(Command::new(SYSTEM).args(pip).arg("--target").arg(&packages).arg("-r").arg(&requirements)).map_err(
                |no_pip| {
                    format!(
                        "`{SYSTEM} -m venv` failed ({no_venv}) and so did `pip install --target` ({no_pip}); \
                         install python3-venv (or python3-pip), or {REQUIREMENTS_SUMMARY} yourself"
                    )
                },
            )?;
            (Python { program: SYSTEM.into(), packages: Some(packages) }, "target")
        }
    };
    if !python.has_modules() {
        return Err(format!("the modules were installed in {} but do not import", root.display()));
    }
    // Written last, and whole (rename): a marker means a finished setup.
    let partial = root.join("ready.partial");
    std::fs::write(&partial, format!("{kind}\n{REQUIREMENTS}"))
        .and_then(|()| std::fs::rename(&partial, marker(root)))
        .map_err(|e| format!("cannot write {}: {e}", marker(root).display()))?;
    eprintln!("the tests' Python tools are ready ({kind} in {})", root.display());
    Ok(python)
}

/// Runs `command`, its output kept for the error.
fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let output = command.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{shown} exited with {}:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
