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
    /// Log as `pretty` text or `json` lines.
    pub log_format: LogFormat,
    /// Tokens given in configuration (by digest) besides those in the database.
    pub tokens: Vec<ConfigToken>,
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
            log_format: LogFormat::Pretty,
            tokens: Vec::new(),
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
