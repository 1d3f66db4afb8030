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
    /// Named secrets (webhook signing keys): name → value. A name not given here is read from
    /// the environment variable of that name.
    pub secrets: std::collections::BTreeMap<String, String>,
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

/// Retries of deliveries: after a failure the next try waits `first_retry_ms`, then twice as
/// long each time, up to `max_retry_ms`; after `max_attempts` tries the message is dead (and
/// listed by `GET /v1/outbox?state=dead` for someone to look at and retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Tries before giving up.
    pub max_attempts: u32,
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
        // 30 s, 1 min, 2 min, ... capped at 1 h: 12 tries span about 6 hours.
        Self {
            max_attempts: 12,
            first_retry_ms: 30_000,
            max_retry_ms: 3_600_000,
            concurrency: 8,
            webhook_timeout_secs: 10,
        }
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
            script_time_limit_ms: 50,
            log_format: LogFormat::Pretty,
            tokens: Vec::new(),
            mail: MailConfig::default(),
            delivery: DeliveryConfig::default(),
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
        if self.delivery.max_attempts == 0 || self.delivery.concurrency == 0 {
            return Err(ConfigError("delivery.max_attempts and delivery.concurrency must be at least 1".into()));
        }
        if !(1..=10_000).contains(&self.script_time_limit_ms) {
            return Err(ConfigError("script_time_limit_ms must be between 1 and 10000".into()));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError("max_body_bytes must be at least 1024".into()));
        }
        Ok(())
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
    fn a_typo_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("afterdesk.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").expect("write");
        let error = Config::load(Some(&file), &Overrides::default()).expect_err("unknown key");
        assert!(error.to_string().contains("lisen"), "{error}");
    }
}
