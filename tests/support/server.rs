//! The real server binary as a child process, for tests that kill it with SIGKILL.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};

/// A running server process; killed (SIGKILL) when dropped.
pub struct Server {
    /// The process.
    pub child: Arc<Mutex<Child>>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its stderr.
    pub log: PathBuf,
}

impl Server {
    /// Starts `afterdesk serve` on `data` with the bundled workflows.
    pub fn start(data: &Path, log: PathBuf) -> Self {
        Self::start_with(data, log, &[])
    }

    /// Same, with these `AFTERDESK_*` settings.
    pub fn start_with(data: &Path, log: PathBuf, env: &[(&str, String)]) -> Self {
        // Bind port 0 to find a free port, then free it for the server.
        let port = TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("address").port();
        let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
        let mut command = Command::new(env!("CARGO_BIN_EXE_afterdesk"));
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data")
            .arg(data)
            .arg("--workflows")
            .arg(&workflows)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("create the server log"));
        // The server reads its configuration from AFTERDESK_* variables: none of the caller's.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AFTERDESK_") {
                command.env_remove(name);
            }
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let child = Arc::new(Mutex::new(command.spawn().expect("start afterdesk serve")));
        Self { child, base: format!("http://127.0.0.1:{port}"), log }
    }

    /// Polls /healthz until the server answers (for up to a minute: a loaded machine is slow).
    pub async fn wait_healthy(&mut self, client: &Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.lock().expect("lock").try_wait().expect("poll the server") {
                panic!("the server exited with {status}: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            if let Ok(response) = client.get(format!("{}/healthz", self.base)).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            assert!(Instant::now() < deadline, "no healthy server within 60 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            drop(child.kill());
            drop(child.wait());
        }
    }
}
