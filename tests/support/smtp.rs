//! A real SMTP server on 127.0.0.1 for tests, and the messages it received.
//!
//! [`SmtpSink::start`] runs `tests/support/smtp_sink.py` (Python 3 with `aiosmtpd`, which
//! `super::python` sets up on first use) on a free port; every message it accepts is stored as a file in a temporary folder, and [`SmtpSink::messages`] /
//! [`SmtpSink::wait_for`] read them back as parsed [`Mail`]s. The sink can be stopped and restarted on the
//! same port (to test outages), made to answer `451` to the first messages, or made to require AUTH.
//!
//! ```ignore
//! let sink = SmtpSink::start();
//! // ... point the mailer at 127.0.0.1:sink.port() and make it send ...
//! let mails = sink.wait_for(1, Duration::from_secs(60)).await;
//! assert_eq!(mails[0].subject, "درخواست شما");
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use mail_parser::{Address, HeaderForm, HeaderName, HeaderValue, MessageParser, PartType};
use tempfile::TempDir;

/// The address the sink listens on.
pub const HOST: &str = "127.0.0.1";
/// How long the sink may take to print `LISTENING <port>`: generous, for a loaded machine (Python
/// and aiosmtpd start in well under a second on an idle one).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to keep trying to bind a fixed port that is still in use (e.g. right after a stop).
const REBIND_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`SmtpSink::wait_for`] looks for new messages.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// The script's exit status when the port is in use.
const EXIT_ADDRESS_IN_USE: i32 = 98;
/// The script's exit status when `aiosmtpd` cannot be imported.
const EXIT_NO_AIOSMTPD: i32 = 3;
const INSTALL_HINT: &str = "the SMTP sink needs Python 3 with aiosmtpd (tests/support/python.rs sets it up)";

/// How to run the sink; `SinkOptions::default()` is what [`SmtpSink::start`] uses.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Answer `451 4.3.0 try again later` to this many messages (their DATA) before accepting any; counted
    /// again from zero after [`SmtpSink::restart`].
    pub fail_first: u32,
    /// Require AUTH PLAIN or LOGIN with this user name and password (over plain TCP).
    pub auth: Option<(String, String)>,
    /// Listen on this port rather than on a free one.
    pub port: Option<u16>,
}

/// A running SMTP sink (a `python3` child process) and the temporary folder its messages go to.
///
/// Dropping it kills the process and deletes the folder.
pub struct SmtpSink {
    options: SinkOptions,
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl SmtpSink {
    /// Starts a sink on a free port of 127.0.0.1, accepting everything.
    ///
    /// Panics (with a hint) if Python 3 is missing or `aiosmtpd` cannot be set up.
    pub fn start() -> SmtpSink {
        SmtpSink::start_with(SinkOptions::default())
    }

    /// Starts a sink with the given options.
    pub fn start_with(options: SinkOptions) -> SmtpSink {
        let dir = tempfile::Builder::new().prefix("smtp-sink-").tempdir().expect("create a temporary folder");
        std::fs::create_dir(dir.path().join("mail")).expect("create the mail folder");
        let mut sink = SmtpSink { port: options.port.unwrap_or(0), options, child: None, dir };
        sink.spawn();
        sink
    }

    /// The port the sink listens on (at [`HOST`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder the messages are stored in (`<counter>-<random>.eml` plus a `.json` envelope each).
    pub fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Whether the sink is running (between a start or restart and a stop).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the sink and waits for it to exit: connections are then refused and the port is free. The
    /// messages received so far stay readable. Does nothing if it is already stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the sink if it runs, then starts it again on the same port with the same options and mail
    /// folder, so earlier messages stay and later ones come after them. Retries for a few seconds while
    /// the port is still in use.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Mail> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.mail_dir())
            .expect("read the mail folder")
            .map(|entry| entry.expect("read a mail folder entry").path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "eml"))
            .filter(|path| !path.file_name().expect("file name").to_string_lossy().starts_with('.'))
            .collect();
        paths.sort();
        paths.iter().map(|path| Mail::load(path)).collect()
    }

    /// Waits until at least `count` messages arrived and returns them all (in arrival order), checking
    /// every 20 ms; panics, listing what did arrive, after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mails) = self.poll(count, timeout, deadline) {
                return mails;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// [`SmtpSink::wait_for`] for code outside an async runtime (it blocks the thread).
    pub fn wait_for_blocking(&self, count: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mails) = self.poll(count, timeout, deadline) {
                return mails;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The messages if there are at least `count`; a panic after the deadline; otherwise `None`.
    fn poll(&self, count: usize, timeout: Duration, deadline: Instant) -> Option<Vec<Mail>> {
        let mails = self.messages();
        if mails.len() >= count {
            return Some(mails);
        }
        if Instant::now() >= deadline {
            let arrived: Vec<String> = mails
                .iter()
                .map(|mail| format!("  {:?} from {} to {:?}", mail.subject, mail.envelope_from, mail.envelope_to))
                .collect();
            panic!(
                "expected at least {count} message(s) at the SMTP sink on port {} within {timeout:?}, got {}:\n{}\n\
                 sink stderr: {}",
                self.port,
                mails.len(),
                arrived.join("\n"),
                self.stderr()
            );
        }
        None
    }

    /// Starts the process on `self.port` (0: a free one, then remembered), retrying while a fixed port is in use.
    fn spawn(&mut self) {
        let deadline = Instant::now() + REBIND_TIMEOUT;
        loop {
            match self.spawn_once() {
                Ok((child, port)) => {
                    assert!(self.port == 0 || self.port == port, "the sink listens on {port}, not on {}", self.port);
                    self.child = Some(child);
                    self.port = port;
                    return;
                }
                Err(AddressInUse) if self.port != 0 && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(AddressInUse) => panic!("the SMTP sink cannot listen on {HOST}:{}: {}", self.port, self.stderr()),
            }
        }
    }

    fn spawn_once(&self) -> Result<(Child, u16), AddressInUse> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let stderr = File::create(self.stderr_path()).expect("create the sink's stderr file");
        let mut command = super::python::python().command();
        command.arg(&script).arg("--dir").arg(self.mail_dir()).args(["--host", HOST]);
        command.args(["--port", &self.port.to_string(), "--fail-first", &self.options.fail_first.to_string()]);
        if let Some((user, password)) = &self.options.auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                panic!("cannot run python3 ({error}); {INSTALL_HINT}")
            }
            Err(error) => panic!("cannot run python3 {}: {error}", script.display()),
        };

        // A thread reads stdout to its end (so the child never blocks on a full pipe) and hands the lines over.
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("LISTENING ") {
                        return Ok((child, port.trim().parse().expect("a port number after LISTENING")));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // stdout closed before LISTENING: the script ended.
                    let status = child.wait().expect("wait for python3");
                    return match status.code() {
                        Some(EXIT_ADDRESS_IN_USE) => Err(AddressInUse),
                        Some(EXIT_NO_AIOSMTPD) => panic!("{INSTALL_HINT}\n{}", self.stderr()),
                        _ => panic!(
                            "the SMTP sink exited ({status}) before listening; {INSTALL_HINT}\n{}",
                            self.stderr()
                        ),
                    };
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the SMTP sink did not print LISTENING within {STARTUP_TIMEOUT:?}; {INSTALL_HINT}\n{}",
                        self.stderr()
                    );
                }
            }
        }
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("sink-stderr.log")
    }

    /// What the sink process wrote to stderr (since it last started).
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The script could not bind its port.
struct AddressInUse;

/// A message the sink received: its envelope, its bytes, and the parts tests usually check.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`).
    pub envelope_from: String,
    /// The envelope recipients (`RCPT TO`), in order.
    pub envelope_to: Vec<String>,
    /// The message exactly as received (after SMTP dot-unstuffing), CRLF line endings included.
    pub raw: Vec<u8>,
    /// The Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// The (first) In-Reply-To message id, without angle brackets.
    pub in_reply_to: Option<String>,
    /// The References message ids, in order, without angle brackets.
    pub references: Vec<String>,
    /// The decoded Subject ("" if there is none).
    pub subject: String,
    /// The (first) From address, without display name ("" if there is none).
    pub from: String,
    /// The To addresses, without display names.
    pub to: Vec<String>,
    /// The first text/plain body part, decoded (transfer encoding and charset); not derived from HTML.
    pub text: Option<String>,
    /// The first text/html body part, decoded; not derived from plain text.
    pub html: Option<String>,
    /// The top-level headers in order, as (name, value): values are unfolded and trimmed; RFC 2047 encoded
    /// words are decoded in Subject, Comments and non-standard (e.g. `X-…`) headers, other values are raw.
    pub headers: Vec<(String, String)>,
}

impl Mail {
    /// The value of the first header called `name` (case-insensitive), as in [`Mail::headers`].
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(header, _)| header.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The values of every header called `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The raw message as text (lossy for invalid UTF-8).
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// Parses a message with its envelope.
    pub fn parse(envelope_from: String, envelope_to: Vec<String>, raw: Vec<u8>) -> Mail {
        let message = MessageParser::default().parse(&raw).expect("the SMTP sink received a parsable message");
        let text = message.text_part(0).and_then(|part| match &part.body {
            PartType::Text(text) => Some(text.to_string()),
            _ => None,
        });
        let html = message.html_part(0).and_then(|part| match &part.body {
            PartType::Html(html) => Some(html.to_string()),
            _ => None,
        });
        let mut seen: Vec<&str> = Vec::new(); // Names of the headers before this one.
        let mut headers = Vec::new();
        for header in message.headers() {
            let name = header.name.as_str();
            let raw_value = raw.get(header.offset_start as usize..header.offset_end as usize).unwrap_or_default();
            let unfolded = String::from_utf8_lossy(raw_value).replace("\r\n", "").replace('\n', "");
            let value = match (&header.name, &header.value) {
                (HeaderName::Subject | HeaderName::Comments, HeaderValue::Text(text)) => text.to_string(),
                // mail-parser keeps non-standard headers raw; parse this one (the nth of its name) as text.
                (HeaderName::Other(_), _) => {
                    let nth = seen.iter().filter(|earlier| earlier.eq_ignore_ascii_case(name)).count();
                    let values = message.header_as(header.name.clone(), HeaderForm::Text);
                    values.get(nth).and_then(|value| value.as_text()).unwrap_or(unfolded.trim()).trim().to_string()
                }
                _ => unfolded.trim().to_string(),
            };
            seen.push(name);
            headers.push((name.to_string(), value));
        }
        Mail {
            message_id: message.message_id().map(str::to_string),
            in_reply_to: message_ids(message.in_reply_to()).into_iter().next(),
            references: message_ids(message.references()),
            subject: message.subject().unwrap_or_default().to_string(),
            from: addresses(message.from()).into_iter().next().unwrap_or_default(),
            to: addresses(message.to()),
            text,
            html,
            headers,
            envelope_from,
            envelope_to,
            raw,
        }
    }

    /// Reads `<name>.eml` and its envelope `<name>.json`.
    fn load(path: &Path) -> Mail {
        let raw = std::fs::read(path).expect("read a received message");
        let envelope_path = path.with_extension("json");
        let envelope = std::fs::read(&envelope_path).expect("read a received message's envelope");
        let envelope: serde_json::Value = serde_json::from_slice(&envelope).expect("a JSON envelope");
        let envelope_from = envelope["mail_from"].as_str().expect("mail_from in the envelope").to_string();
        let envelope_to = envelope["rcpt_tos"]
            .as_array()
            .expect("rcpt_tos in the envelope")
            .iter()
            .map(|to| to.as_str().expect("a recipient").to_string())
            .collect();
        Mail::parse(envelope_from, envelope_to, raw)
    }
}

fn message_ids(value: &HeaderValue) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    }
}

fn addresses(address: Option<&Address>) -> Vec<String> {
    address
        .map(|address| address.iter().filter_map(|addr| addr.address()).map(str::to_string).collect())
        .unwrap_or_default()
}
