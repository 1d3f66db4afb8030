//! A real browser for the page tests: Debian's Chromium, headless, driven over WebDriver
//! (chromedriver) with `fantoccini`.
//!
//! [`Browser::start`] starts a chromedriver on a free port of 127.0.0.1 and a Chromium with a
//! fresh profile and no network beyond the pages under test. [`Browser::screenshot`] saves
//! PNGs under `<target>/browser-artifacts/` (kept as the run's artifacts),
//! [`Browser::check_console`] fails on any error the page logged to its console, and
//! [`Browser::check_accessible`] runs axe-core (installed by [`crate::node`]) in the page and
//! fails on serious or critical violations.
//!
//! Chromium and chromedriver come from Debian's `chromium` and `chromium-driver` packages
//! (`.ci/run` installs them). Where they are missing and the tests run as root on Debian,
//! [`ensure_chromium`] installs them with `apt-get` on first use (under a file lock); otherwise
//! the tests fail saying what to install.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use fs2::FileExt as _;
use serde_json::{Value, json};

/// Where Debian puts them.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Longest chromedriver may take to answer its status on a loaded machine.
const DRIVER_START: Duration = Duration::from_secs(60);

/// Chromium and chromedriver: `CHROMIUM` and `CHROMEDRIVER` from the environment, else Debian's.
/// Installs Debian's packages on first use where they are missing and that is possible.
pub fn ensure_chromium() -> &'static (PathBuf, PathBuf) {
    static FOUND: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    match FOUND.get_or_init(find_or_install) {
        Ok(paths) => paths,
        Err(error) => panic!(
            "the browser tests need Chromium and chromedriver (Debian: `apt-get install chromium chromium-driver`): {error}"
        ),
    }
}

fn find_or_install() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from);
    let driver = std::env::var_os("CHROMEDRIVER").map_or_else(|| PathBuf::from(CHROMEDRIVER), PathBuf::from);
    if chromium.exists() && driver.exists() {
        return Ok((chromium, driver));
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !Path::new("/usr/bin/apt-get").exists() {
        return Err(format!("{} or {} is missing", chromium.display(), driver.display()));
    }
    let dir = crate::python::target_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lock = File::create(dir.join("chromium-install.lock")).map_err(|e| e.to_string())?;
    lock.lock_exclusive().map_err(|e| e.to_string())?;
    if chromium.exists() && driver.exists() {
        return Ok((chromium, driver));
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())
    };
    let installed = apt(&["install", "-y", "-qq", "chromium", "chromium-driver"])?;
    if !installed.success() {
        apt(&["update", "-qq"])?;
        let again = apt(&["install", "-y", "-qq", "chromium", "chromium-driver"])?;
        if !again.success() {
            return Err("apt-get install chromium chromium-driver failed".into());
        }
    }
    Ok((chromium, driver))
}

/// Where screenshots go: `<target>/browser-artifacts/`.
pub fn artifacts() -> PathBuf {
    let dir = crate::python::target_dir().join("browser-artifacts");
    std::fs::create_dir_all(&dir).expect("the artifacts folder");
    dir
}

/// A headless Chromium under WebDriver, with its chromedriver; both stop when it is dropped.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// chromedriver's own command for the browser's console log (the W3C protocol has none).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

impl Browser {
    /// A browser with a laptop's window (1280 × 900).
    pub async fn start() -> Browser {
        Self::start_sized(1280, 900).await
    }

    /// A browser with a phone's window (375 × 812).
    pub async fn start_phone() -> Browser {
        Self::start_sized(375, 812).await
    }

    async fn start_sized(width: u32, height: u32) -> Browser {
        let (chromium, driver_path) = ensure_chromium();
        let port = free_port();
        let mut driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()));
        let address = format!("http://127.0.0.1:{port}");
        wait_for_driver(&address, &mut driver).await;
        let profile = tempfile::tempdir().expect("a browser profile folder");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-extensions".into(),
            "--lang=en-US".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities
            .insert("goog:chromeOptions".into(), json!({ "binary": chromium.display().to_string(), "args": args }));
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&address)
            .await
            .unwrap_or_else(|e| panic!("cannot start Chromium through chromedriver: {e}"));
        // The window size of the flag is the outer one; set the viewport's exactly.
        let _ = client.set_window_size(width, height).await;
        Browser { client: Some(client), driver, _profile: profile }
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser is running")
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        self.client().goto(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Waits (up to a minute) until the page's path satisfies `check`; returns the path.
    pub async fn wait_for_path(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let url = self.client().current_url().await.unwrap_or_else(|e| panic!("{what}: current url: {e}"));
            if check(url.path()) {
                return url.path().to_string();
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{what}: still at {url}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses the element `css` names (waiting for it to be there) and waits until the page it
    /// leads to has replaced this one and loaded: for buttons that post a form.
    pub async fn press(&self, css: &str) {
        let client = self.client();
        let old = client.find(fantoccini::Locator::Css("html")).await.unwrap_or_else(|e| panic!("{css}: no page: {e}"));
        let element = client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("pressing {css}: {e}"));
        let started = Instant::now();
        // The old page's root goes stale once the new page replaced it.
        while old.tag_name().await.is_ok() {
            assert!(started.elapsed() < Duration::from_secs(60), "{css}: the page did not change");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while client.execute("return document.readyState", vec![]).await.ok() != Some(json!("complete")) {
            assert!(started.elapsed() < Duration::from_secs(60), "{css}: the new page did not load");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Saves a screenshot of the window as `<target>/browser-artifacts/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client().screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let path = artifacts().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// The console entries logged since the last call: (level, message).
    pub async fn console(&self) -> Vec<(String, String)> {
        let entries = self.client().issue_cmd(BrowserLog).await.unwrap_or_else(|e| panic!("browser log: {e}"));
        entries
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|entry| {
                        let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
                        (text("level"), text("message"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails if the page logged an error (or a failed load: a 404 asset, a refused script) to
    /// its console since the last call. `what` names the page in the message.
    pub async fn check_console(&self, what: &str) {
        let errors: Vec<String> =
            self.console().await.into_iter().filter(|(level, _)| level == "SEVERE").map(|(_, m)| m).collect();
        assert!(errors.is_empty(), "{what}: the browser console shows errors: {errors:#?}");
    }

    /// Every check a page gets: console clean, axe clean, and a screenshot named `name`.
    pub async fn check_page(&self, name: &str) {
        self.check_console(name).await;
        self.check_accessible(name).await;
        self.screenshot(name).await;
    }

    /// Runs axe-core in the page and fails on serious or critical violations, listing them.
    pub async fn check_accessible(&self, what: &str) {
        let client = self.client();
        let loaded = client
            .execute(&format!("{}\n;return typeof axe;", crate::node::axe_source()), vec![])
            .await
            .unwrap_or_else(|e| panic!("{what}: cannot load axe-core: {e}"));
        assert_eq!(loaded, json!("object"), "{what}: axe-core did not load");
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ["violations"] })
              .then(result => done(JSON.stringify(result.violations.map(v => ({
                  id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + (n.failureSummary || ""))
              })))))
              .catch(error => done(JSON.stringify([{ id: "axe-error", impact: "critical", help: String(error), nodes: [] }])));
        "#;
        let answer = client.execute_async(script, vec![]).await.unwrap_or_else(|e| panic!("{what}: axe.run: {e}"));
        let violations: Vec<Value> = serde_json::from_str(answer.as_str().unwrap_or("[]")).unwrap_or_default();
        let serious: Vec<&Value> = violations
            .iter()
            .filter(|v| matches!(v.get("impact").and_then(Value::as_str), Some("serious" | "critical")))
            .collect();
        assert!(serious.is_empty(), "{what}: axe-core finds serious violations: {serious:#?}");
    }

    /// Ends the browser session and stops chromedriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

async fn wait_for_driver(address: &str, driver: &mut Child) {
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if let Ok(response) = client.get(format!("{address}/status")).send().await
            && response.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = driver.try_wait() {
            panic!("chromedriver exited at start: {status}");
        }
        assert!(started.elapsed() < DRIVER_START, "chromedriver did not answer within {DRIVER_START:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
