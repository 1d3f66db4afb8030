//! Server settings: defaults that run out of the box, then a TOML file, then `AFTERDESK_*`
//! environment variables, then command-line flags, each overriding the one before.
//!
//! Environment variables name a key in capitals (`AFTERDESK_LISTEN=0.0.0.0:8080`,
//! `AFTERDESK_CACHE_MB=512`); nested keys join with `__`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::store::tokens::TokenRole;

/// Everything the server can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data folder (the embedded database).
    pub data: PathBuf,
    /// Folder of workflow files.
    pub workflows: PathBuf,
    /// Base URL people reach the server at, used in links (default `http://LISTEN`).
    pub public_url: Option<String>,
    /// Database page cache, in MiB.
    pub cache_mb: u64,
    /// Longest a request may take, in seconds.
    pub request_timeout_secs: u64,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Limits on connections (against slow and idle clients).
    #[serde(default)]
    pub server: ServerConfig,
    /// Longest one evaluation of a workflow's Rhai script may run, in milliseconds (1 to
    /// 10,000). Scripts run inside the single writer: this is what a slow rule can hold up
    /// every other command.
    pub script_time_limit_ms: u64,
    /// Log as `pretty` text or `json` lines.
    pub log_format: LogFormat,
    /// Tokens given in configuration (by digest) besides those in the database.
    pub tokens: Vec<ConfigToken>,
    /// The mail server escalations, notifications and surveys go through.
    pub mail: MailConfig,
    /// Retries of mail and webhook delivery.
    pub delivery: DeliveryConfig,
    /// Region (ISO 3166 code, `IR`) phone numbers written without a country code are read in;
    /// none: customers' phone numbers must start with `+` and their country code.
    #[serde(default)]
    pub default_phone_region: Option<String>,
    /// Mail coming in: the built-in SMTP receiver and which addresses open tickets where.
    #[serde(default)]
    pub inbound: InboundConfig,
    /// Named secrets (webhook signing keys): name → value. A name not given here is read from
    /// the environment variable of that name.
    pub secrets: std::collections::BTreeMap<String, String>,
}

/// Limits on connections, so that clients that connect and then send slowly or nothing
/// (slowloris) cannot take the server from everyone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Longest a client may take to send a request's headers, in seconds; also the longest an
    /// HTTP/1 keep-alive connection waits for its next request.
    pub header_read_timeout_secs: u64,
    /// A connection with nothing read or written for this long is closed, in seconds (longer
    /// than `request_timeout_secs`, so no request being answered is cut off).
    pub idle_timeout_secs: u64,
    /// Most connections open at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { header_read_timeout_secs: 10, idle_timeout_secs: 60, max_connections: 1024 }
    }
}

/// The SMTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Host name or address.
    pub host: String,
    /// Port (25, 587 for STARTTLS, 465 for TLS).
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub security: MailSecurity,
    /// User name, when the server wants a login.
    pub username: Option<String>,
    /// Password of that user.
    pub password: Option<String>,
    /// The sender: `Afterdesk <support@example.com>`.
    pub from: String,
    /// The domain of Message-IDs; defaults to the sender's.
    pub message_id_domain: Option<String>,
    /// Longest one SMTP conversation may take, in seconds.
    pub timeout_secs: u64,
    /// Queue mail but send none (the outbox keeps it pending).
    pub disabled: bool,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailSecurity {
    /// Plain SMTP (a relay on the same host or network).
    None,
    /// Upgrade with STARTTLS (required).
    Starttls,
    /// TLS from the start (SMTPS).
    Tls,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 25,
            security: MailSecurity::None,
            username: None,
            password: None,
            from: "Afterdesk <afterdesk@localhost>".into(),
            message_id_domain: None,
            timeout_secs: 30,
            disabled: false,
        }
    }
}

/// Mail coming in. The built-in SMTP receiver is off unless `smtp_listen` is set; the raw
/// message route (`POST /v1/inbound/email`) is always there for integrators. A message is taken
/// only for a recipient some route maps to a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Address the SMTP receiver listens on (`127.0.0.1:2525`); none: no receiver.
    pub smtp_listen: Option<SocketAddr>,
    /// The name the receiver greets with (default: the domain of `mail.from`).
    pub hostname: Option<String>,
    /// Largest message taken, in bytes (larger ones are refused with `552`).
    pub max_message_bytes: usize,
    /// Most SMTP connections open at once (more are told `421` and closed).
    pub max_connections: usize,
    /// Most recipients of one message.
    pub max_recipients: usize,
    /// Longest the receiver waits for a client's next command or data, in seconds.
    pub timeout_secs: u64,
    /// Most messages one sender address may send in an hour; more are deferred (`451`, or
    /// `429` on the raw route), never lost.
    pub per_sender_per_hour: u32,
    /// Which recipient addresses open tickets in which workflow, first match wins.
    pub routes: Vec<InboundRoute>,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            smtp_listen: None,
            hostname: None,
            max_message_bytes: 25 * 1024 * 1024,
            max_connections: 64,
            max_recipients: 50,
            timeout_secs: 60,
            per_sender_per_hour: 120,
            routes: Vec::new(),
        }
    }
}

/// A recipient address (or a whole domain, `@example.com`) and the workflow its mail goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRoute {
    /// `support@example.com`, or `@example.com` for any address of the domain.
    pub address: String,
    /// The workflow new tickets open in.
    pub workflow: String,
    /// Category of the new tickets (one of the workflow's).
    #[serde(default)]
    pub category: Option<String>,
    /// Priority of the new tickets (default: the workflow's default).
    #[serde(default)]
    pub priority: Option<String>,
}

impl InboundRoute {
    /// Whether mail to `recipient` takes this route.
    pub fn takes(&self, recipient: &str) -> bool {
        let recipient = recipient.trim().trim_start_matches('<').trim_end_matches('>').to_lowercase();
        let address = self.address.trim().to_lowercase();
        if address.starts_with('@') { recipient.ends_with(&address) } else { recipient == address }
    }
}

impl InboundConfig {
    /// The route mail to `recipient` takes, if any.
    pub fn route(&self, recipient: &str) -> Option<&InboundRoute> {
        self.routes.iter().find(|route| route.takes(recipient))
    }
}

/// Retries of deliveries: after a failure the next try waits `first_retry_ms`, then twice as
/// long each time, up to `max_retry_ms`; a message that has been failing for `give_up_after`
/// (or has had `max_attempts` tries, if set) is dead, listed by `GET /v1/outbox?state=dead` for
/// someone to look at and retry (`POST /v1/outbox/{id}/retry`, or all at once with
/// `POST /v1/outbox/retry`).
///
/// The defaults keep trying for five days, as mail servers do (Postfix's
/// `maximal_queue_lifetime`, sendmail's `Timeout.queuereturn`): an outage of a weekend loses
/// no mail and needs no one to step in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// How long a message keeps being retried after its first failure (`5d`, `36h`, `90m`).
    #[serde(with = "human_duration")]
    pub give_up_after: std::time::Duration,
    /// Most tries, if there should be a limit besides `give_up_after` (none by default).
    pub max_attempts: Option<u32>,
    /// Wait after the first failure, in milliseconds.
    pub first_retry_ms: u64,
    /// Longest wait between tries, in milliseconds.
    pub max_retry_ms: u64,
    /// Messages sent at the same time.
    pub concurrency: usize,
    /// Longest a webhook receiver may take to answer, in seconds.
    pub webhook_timeout_secs: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        // 30 s, 1 min, 2 min, ... capped at 1 h: about 125 tries over five days.
        Self {
            give_up_after: std::time::Duration::from_secs(5 * 24 * 3600),
            max_attempts: None,
            first_retry_ms: 30_000,
            max_retry_ms: 3_600_000,
            concurrency: 8,
            webhook_timeout_secs: 10,
        }
    }
}

/// A duration written for people: `5d`, `36h`, `1h 30m` (humantime).
mod human_duration {
    use serde::{Deserialize as _, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(duration: &std::time::Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*duration).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<std::time::Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map_err(|error| D::Error::custom(format!("\"{text}\" is not a duration like 5d, 36h or 90m ({error})")))
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object a line.
    Json,
}

/// A token given in configuration: the SHA-256 (hex) of its secret, never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigToken {
    /// Who it belongs to.
    pub person: String,
    /// What it may do.
    pub role: TokenRole,
    /// `sha256sum` of the secret, in hex.
    pub sha256: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("data"),
            workflows: PathBuf::from("workflows"),
            public_url: None,
            cache_mb: 256,
            request_timeout_secs: 30,
            max_body_bytes: 1024 * 1024,
            server: ServerConfig::default(),
            script_time_limit_ms: 50,
            log_format: LogFormat::Pretty,
            tokens: Vec::new(),
            mail: MailConfig::default(),
            delivery: DeliveryConfig::default(),
            default_phone_region: None,
            inbound: InboundConfig::default(),
            secrets: std::collections::BTreeMap::new(),
        }
    }
}

/// Settings given on the command line; they override everything else.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// `--workflows`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflows: Option<PathBuf>,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads the configuration: defaults, `file` (if given; it must exist), environment, flags.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(format!("file {} not found", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            // AFTERDESK_LOG (the log filter) and AFTERDESK_TOKEN (a client's secret) are not settings.
            .merge(Env::prefixed("AFTERDESK_").ignore(&["log", "token"]).split("__"))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for token in &self.tokens {
            let valid = token.sha256.len() == 64 && token.sha256.chars().all(|c| c.is_ascii_hexdigit());
            if !valid {
                return Err(ConfigError(format!(
                    "token of {}: sha256 must be 64 hex digits (the output of `printf %s SECRET | sha256sum`)",
                    token.person
                )));
            }
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError(format!("public_url \"{url}\" must start with http:// or https://")));
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError(format!(
                "mail.from \"{}\" is not an address (write `Name <user@example.com>` or `user@example.com`)",
                self.mail.from
            )));
        }
        if self.delivery.max_attempts == Some(0) || self.delivery.concurrency == 0 {
            return Err(ConfigError("delivery.max_attempts and delivery.concurrency must be at least 1".into()));
        }
        if self.delivery.give_up_after.is_zero() {
            return Err(ConfigError("delivery.give_up_after must be longer than 0 (for example 5d)".into()));
        }
        let server = &self.server;
        if server.header_read_timeout_secs == 0 || server.idle_timeout_secs == 0 || server.max_connections == 0 {
            return Err(ConfigError(
                "server.header_read_timeout_secs, server.idle_timeout_secs and server.max_connections must be at least 1"
                    .into(),
            ));
        }
        if server.idle_timeout_secs <= self.request_timeout_secs {
            return Err(ConfigError(format!(
                "server.idle_timeout_secs ({}) must be longer than request_timeout_secs ({}), or a request being \
                 answered could be cut off",
                server.idle_timeout_secs, self.request_timeout_secs
            )));
        }
        if !(1..=10_000).contains(&self.script_time_limit_ms) {
            return Err(ConfigError("script_time_limit_ms must be between 1 and 10000".into()));
        }
        let inbound = &self.inbound;
        if inbound.max_connections == 0 || inbound.max_recipients == 0 || inbound.timeout_secs == 0 {
            return Err(ConfigError(
                "inbound.max_connections, inbound.max_recipients and inbound.timeout_secs must be at least 1".into(),
            ));
        }
        if inbound.max_message_bytes < 1024 || inbound.per_sender_per_hour == 0 {
            return Err(ConfigError(
                "inbound.max_message_bytes must be at least 1024 and inbound.per_sender_per_hour at least 1".into(),
            ));
        }
        for route in &inbound.routes {
            let address = route.address.trim();
            let valid = if let Some(domain) = address.strip_prefix('@') {
                domain.contains('.') || domain == "localhost"
            } else {
                address.parse::<lettre::Address>().is_ok()
            };
            if !valid {
                return Err(ConfigError(format!(
                    "inbound.routes: \"{address}\" is neither an address (support@example.com) nor a domain (@example.com)"
                )));
            }
        }
        if let Some(region) = &self.default_phone_region {
            region
                .parse::<crate::engine::phone::Region>()
                .map_err(|e| ConfigError(format!("default_phone_region: {e}")))?;
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError("max_body_bytes must be at least 1024".into()));
        }
        Ok(())
    }

    /// The region national phone numbers are read in (checked by [`Config::load`]).
    pub fn phone_region(&self) -> Option<crate::engine::phone::Region> {
        self.default_phone_region.as_deref().and_then(|region| region.parse().ok())
    }

    /// The base URL for links.
    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen)).trim_end_matches('/').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags_override_the_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("afterdesk.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\ncache_mb = 64\n").expect("write");
        let flags = Overrides { data: Some(PathBuf::from("/srv/afterdesk")), ..Overrides::default() };
        let config = Config::load(Some(&file), &flags).expect("valid");
        assert_eq!(config.listen, SocketAddr::from(([0, 0, 0, 0], 9000)));
        assert_eq!(config.cache_mb, 64);
        assert_eq!(config.data, PathBuf::from("/srv/afterdesk"));
        assert_eq!(config.workflows, PathBuf::from("workflows"));
    }

    #[test]
    fn connection_limits_are_read_from_server_and_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("afterdesk.toml");
        std::fs::write(&file, "[server]\nmax_connections = 64\n").expect("write");
        let config = Config::load(Some(&file), &Overrides::default()).expect("valid");
        assert_eq!(config.server.max_connections, 64);
        assert_eq!(config.server.header_read_timeout_secs, 10, "the default");
        std::fs::write(&file, "request_timeout_secs = 90\n").expect("write");
        let error = Config::load(Some(&file), &Overrides::default()).expect_err("idle must outlast a request");
        assert!(error.to_string().contains("server.idle_timeout_secs (60)"), "{error}");
        std::fs::write(&file, "[server]\nmax_connections = 0\n").expect("write");
        let error = Config::load(Some(&file), &Overrides::default()).expect_err("no connections at all");
        assert!(error.to_string().contains("server.max_connections"), "{error}");
    }

    #[test]
    fn give_up_after_is_a_duration_for_people() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("afterdesk.toml");
        assert_eq!(Config::default().delivery.give_up_after, std::time::Duration::from_secs(5 * 86_400));
        std::fs::write(&file, "[delivery]\ngive_up_after = \"36h\"\n").expect("write");
        let config = Config::load(Some(&file), &Overrides::default()).expect("valid");
        assert_eq!(config.delivery.give_up_after, std::time::Duration::from_secs(36 * 3600));
        std::fs::write(&file, "[delivery]\ngive_up_after = \"soon\"\n").expect("write");
        let error = Config::load(Some(&file), &Overrides::default()).expect_err("not a duration");
        assert!(error.to_string().contains("\"soon\" is not a duration"), "{error}");
    }

    #[test]
    fn the_default_phone_region_is_a_region_code() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("afterdesk.toml");
        std::fs::write(&file, "default_phone_region = \"IR\"\n").expect("write");
        let config = Config::load(Some(&file), &Overrides::default()).expect("valid");
        assert_eq!(config.phone_region(), Some("IR".parse().expect("a region")));
        std::fs::write(&file, "default_phone_region = \"Iran\"\n").expect("write");
        let error = Config::load(Some(&file), &Overrides::default()).expect_err("not a code");
        assert!(error.to_string().contains("default_phone_region"), "{error}");
    }

    #[test]
    fn a_typo_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("afterdesk.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").expect("write");
        let error = Config::load(Some(&file), &Overrides::default()).expect_err("unknown key");
        assert!(error.to_string().contains("lisen"), "{error}");
    }
}
