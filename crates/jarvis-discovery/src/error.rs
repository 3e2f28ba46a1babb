//! The discovery crate's error type.

use jarvis_core::{Code, ErrorCode};

/// What can stop discovery as a whole. Problems with single files are diagnostics, not errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; `key` names the setting.
    #[error("invalid configuration `{key}`: {message}")]
    Config {
        /// The dotted key, e.g. `discovery.projects[0]`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The file watcher could not be started.
    #[error("cannot watch for file changes: {0}")]
    Watch(#[from] notify::Error),
    /// A thread could not be spawned.
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// No resource answers to a key, or several do
    /// ([`CatalogSnapshot::find`](crate::CatalogSnapshot::find)).
    #[error(transparent)]
    Lookup(#[from] crate::LookupFailure),
}

impl ErrorCode for Error {
    fn error_code(&self) -> Code {
        match self {
            Error::Config { .. } => Code::ConfigInvalid,
            Error::Watch(_) | Error::Thread { .. } => Code::InternalError,
            Error::Lookup(failure) => failure.code,
        }
    }

    fn error_details(&self) -> Option<serde_json::Value> {
        match self {
            Error::Lookup(failure) => Some(failure.details.clone()),
            _ => None,
        }
    }
}

/// Discovery's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
