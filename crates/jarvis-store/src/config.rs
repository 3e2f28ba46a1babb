//! The `[store]` settings, and opening the store they name.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{PostgresStore, Result, SqliteStore, Store};

/// A database address that may carry a password: shown (in `Debug`, `Display`, serialized
/// settings, messages) with the password masked; [`DatabaseUrl::expose`] yields it whole.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps an address.
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The address in clear. Call only to connect.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The address with its password masked.
    pub fn shown(&self) -> String {
        hide_password(&self.0)
    }

    /// Whether it names PostgreSQL (`postgres://` or `postgresql://`).
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.shown())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.shown())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(DatabaseUrl)
    }
}

/// `postgres://user:password@host/db` → `postgres://user:********@host/db`; anything else as
/// it is.
pub(crate) fn hide_password(url: &str) -> String {
    jarvis_core::mask_url_password(url)
}

/// The `[store]` section: where tasks, executions, costs and history are kept, and how
/// instances sharing it find one another.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/database` for a database several instances share;
    /// empty (the default) for SQLite in the data folder (`jarvis.db`), for one instance.
    pub url: Option<DatabaseUrl>,
    /// The most connections to PostgreSQL this instance keeps.
    pub pool_size: usize,
    /// This instance's name in the store, its metric history and the logs: 1 to 64 letters,
    /// digits, `.`, `_` or `-` (default: the host name).
    pub instance_name: Option<String>,
    /// How often this instance tells the others it is alive, in seconds.
    pub heartbeat_secs: u64,
    /// How long an instance may stay silent before the others end its running tasks as
    /// interrupted, in seconds (at least three heartbeats).
    pub dead_after_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            pool_size: 8,
            instance_name: None,
            heartbeat_secs: 5,
            dead_after_secs: 30,
        }
    }
}

impl StoreConfig {
    /// Checks the settings; the message names the one that is wrong.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if let Some(url) = &self.url
            && !url.expose().is_empty()
            && !url.is_postgres()
        {
            return Err(format!(
                "invalid configuration `store.url`: `{url}` is not a PostgreSQL address \
                 (postgres://user:password@host:port/database); leave it empty for SQLite"
            ));
        }
        if let Some(name) = &self.instance_name
            && !valid_instance_name(name)
        {
            return Err(format!(
                "invalid configuration `store.instance_name`: `{name}` is not 1 to 64 letters, \
                 digits, `.`, `_` or `-`"
            ));
        }
        if self.pool_size == 0 || self.pool_size > 1000 {
            return Err("invalid configuration `store.pool_size`: expected 1 to 1000".into());
        }
        if self.heartbeat_secs == 0 || self.heartbeat_secs > 3600 {
            return Err("invalid configuration `store.heartbeat_secs`: expected 1 to 3600".into());
        }
        if self.dead_after_secs < self.heartbeat_secs.saturating_mul(3) {
            return Err(format!(
                "invalid configuration `store.dead_after_secs`: {} is less than three heartbeats \
                 ({} s); a busy instance would be taken for dead",
                self.dead_after_secs,
                self.heartbeat_secs * 3
            ));
        }
        Ok(())
    }

    /// The PostgreSQL address, when one is set.
    pub fn postgres(&self) -> Option<&DatabaseUrl> {
        self.url.as_ref().filter(|u| !u.expose().is_empty())
    }
}

/// Whether `name` can name an instance: 1 to 64 letters, digits, `.`, `_` or `-` (a host name
/// fits).
pub fn valid_instance_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Opens the store `config` names: PostgreSQL at `store.url`, else SQLite at
/// `<data_dir>/jarvis.db`. Blocking.
pub fn open(config: &StoreConfig, data_dir: &Path) -> Result<Arc<dyn Store>> {
    Ok(match config.postgres() {
        Some(url) => Arc::new(PostgresStore::open(url.expose(), config.pool_size)?),
        None => Arc::new(SqliteStore::open(data_dir.join("jarvis.db"))?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_are_short_words_a_host_name_fits() {
        for good in [
            "a",
            "jarvis-a",
            "web-1.example.org",
            "node_7",
            &"x".repeat(64),
        ] {
            assert!(valid_instance_name(good), "{good}");
        }
        for bad in ["", "two words", "a/b", "é", &"x".repeat(65)] {
            assert!(!valid_instance_name(bad), "{bad}");
        }
    }

    #[test]
    fn passwords_are_masked_wherever_the_address_is_shown() {
        let url =
            DatabaseUrl::new("postgres://jarvis:p@ss:w0rd@db.internal:5432/jarvis?sslmode=disable");
        for shown in [
            url.to_string(),
            format!("{url:?}"),
            serde_json::to_string(&url).unwrap_or_default(),
        ] {
            assert!(!shown.contains("w0rd"), "{shown}");
            assert!(shown.contains("db.internal:5432/jarvis"), "{shown}");
        }
        assert_eq!(
            url.expose(),
            "postgres://jarvis:p@ss:w0rd@db.internal:5432/jarvis?sslmode=disable"
        );
        assert_eq!(
            hide_password("postgres://jarvis@h/db"),
            "postgres://jarvis@h/db"
        );
        assert_eq!(
            hide_password("postgres://h/db?user=a@b"),
            "postgres://h/db?user=a@b"
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(StoreConfig::default().validate().is_ok());
        let bad = |f: fn(&mut StoreConfig)| {
            let mut c = StoreConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(
            bad(|c| c.url = Some(DatabaseUrl::new("mysql://x:secret@h/db"))).contains("store.url")
        );
        assert!(
            !bad(|c| c.url = Some(DatabaseUrl::new("mysql://x:secret@h/db"))).contains("secret")
        );
        assert!(bad(|c| c.pool_size = 0).contains("store.pool_size"));
        assert!(bad(|c| c.dead_after_secs = 10).contains("store.dead_after_secs"));
        let empty = StoreConfig {
            url: Some(DatabaseUrl::new("")),
            ..StoreConfig::default()
        };
        assert!(empty.validate().is_ok() && empty.postgres().is_none());
    }
}
