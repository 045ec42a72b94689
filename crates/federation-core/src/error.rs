//! The one error enum of `oxidex-core`, shared by every storage backend and connector.

use std::fmt;

use crate::storage::RecordKind;

/// A boxed error from a lower layer (a database driver, an HTTP client, ...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the vocabulary layer.
///
/// Storage errors carry the record kind and key so the message says what was touched; keys of
/// codes and tokens are hashes, so they are safe to log. Variants are grouped by [`ErrorKind`],
/// which is what callers should match on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No record of that kind has that key (Dex `storage.ErrNotFound`).
    #[error("{kind} {key:?} not found")]
    NotFound {
        /// Which record family was searched.
        kind: RecordKind,
        /// The key that was looked up.
        key: String,
    },
    /// A record of that kind already has that key (Dex `storage.ErrAlreadyExists`).
    #[error("{kind} {key:?} already exists")]
    AlreadyExists {
        /// Which record family.
        kind: RecordKind,
        /// The key that is taken.
        key: String,
    },
    /// A compare-and-swap lost: the record changed since it was read. Read it again and retry,
    /// or give up; nothing was written.
    #[error("{kind} {key:?} was changed concurrently; nothing was written")]
    Conflict {
        /// Which record family.
        kind: RecordKind,
        /// The contested key.
        key: String,
    },
    /// The record comes from the configuration file and cannot be changed through storage
    /// (Dex `storage/static.go`).
    #[error("{kind} {key:?} is defined in the configuration file and is read-only")]
    ReadOnly {
        /// Which record family.
        kind: RecordKind,
        /// The static record's key.
        key: String,
    },
    /// A key that no backend may store (empty, too long, or with control characters).
    #[error("invalid {kind} key: {reason}")]
    InvalidKey {
        /// Which record family.
        kind: RecordKind,
        /// Why the key was refused.
        reason: &'static str,
    },
    /// A stored value could not be decoded: the database holds something this version of
    /// oxidex did not write.
    #[error("stored {kind} {key:?} cannot be decoded: {message}")]
    Corrupt {
        /// Which record family.
        kind: RecordKind,
        /// The record's key.
        key: String,
        /// What the decoder said.
        message: String,
    },
    /// The storage backend failed (I/O, connection, schema). The message names the backend
    /// and, where there is one, the file or address.
    #[error("{backend} storage: {message}")]
    Backend {
        /// Backend name, e.g. `sqlite3`.
        backend: &'static str,
        /// What failed, for an operator.
        message: String,
        /// The driver's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// No connector factory is registered under that type name.
    #[error("unknown connector type {type_name:?} (known types: {known})")]
    UnknownConnectorType {
        /// The type name from the configuration or storage.
        type_name: String,
        /// Comma-separated list of the registered types.
        known: String,
    },
    /// A connector's configuration is invalid.
    #[error("connector {connector_id:?}: invalid configuration: {message}")]
    ConnectorConfig {
        /// The connector's id.
        connector_id: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// An upstream identity provider failed or refused.
    #[error("connector {connector_id:?}: {message}")]
    Connector {
        /// The connector's id.
        connector_id: String,
        /// What failed, for an operator; not shown to end users.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The upstream could not be reached or answered with a server error (connection refused,
    /// timeout, HTTP 5xx): the same request may succeed later, so clients are told to retry
    /// (503) rather than that their grant is dead.
    #[error("connector {connector_id:?}: upstream unavailable: {message}")]
    UpstreamUnavailable {
        /// The connector's id.
        connector_id: String,
        /// What failed, for an operator.
        message: String,
    },
    /// The upstream vouched for the user, but a rule of the connector refuses the login (not
    /// in a required group, an unverified e-mail address, a domain not allowed). Shown to the
    /// user as `user_message` with HTTP 403 (Dex `UserNotInRequiredGroupsError`); `reason` is
    /// for the operator's log.
    #[error("connector {connector_id:?}: login refused: {reason}")]
    LoginRefused {
        /// The connector's id.
        connector_id: String,
        /// Which rule refused, for an operator (boxed to keep [`Error`] small).
        reason: Box<str>,
        /// What the user is told, without internal detail.
        user_message: &'static str,
    },
    /// Signing or key handling failed.
    #[error("signing: {message}")]
    Signing {
        /// What failed.
        message: String,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

/// The classes of [`Error`] that callers branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::AlreadyExists`].
    AlreadyExists,
    /// [`Error::Conflict`].
    Conflict,
    /// [`Error::ReadOnly`].
    ReadOnly,
    /// Input that can never be stored or used ([`Error::InvalidKey`]).
    Invalid,
    /// Storage failed or returned undecodable data ([`Error::Backend`], [`Error::Corrupt`]).
    Backend,
    /// Connector registry, configuration or upstream failures.
    Connector,
    /// Signing and key failures.
    Signing,
    /// Randomness failures.
    Random,
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::ReadOnly { .. } => ErrorKind::ReadOnly,
            Error::InvalidKey { .. } => ErrorKind::Invalid,
            Error::Backend { .. } | Error::Corrupt { .. } => ErrorKind::Backend,
            Error::UnknownConnectorType { .. }
            | Error::ConnectorConfig { .. }
            | Error::Connector { .. }
            | Error::UpstreamUnavailable { .. }
            | Error::LoginRefused { .. } => ErrorKind::Connector,
            Error::Signing { .. } => ErrorKind::Signing,
            Error::Random(_) => ErrorKind::Random,
        }
    }

    /// Whether the failure is temporary (storage or an upstream down): the request may succeed
    /// if retried, so HTTP answers 503 with `Retry-After`.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            Error::Backend { .. } | Error::UpstreamUnavailable { .. }
        )
    }

    /// [`Error::UpstreamUnavailable`] for connector `connector_id`.
    pub fn upstream_unavailable(connector_id: &str, message: impl Into<String>) -> Self {
        Error::UpstreamUnavailable {
            connector_id: connector_id.to_owned(),
            message: message.into(),
        }
    }

    /// [`Error::NotFound`] for `key`.
    pub fn not_found(kind: RecordKind, key: &str) -> Self {
        Error::NotFound {
            kind,
            key: key.to_owned(),
        }
    }

    /// [`Error::AlreadyExists`] for `key`.
    pub fn already_exists(kind: RecordKind, key: &str) -> Self {
        Error::AlreadyExists {
            kind,
            key: key.to_owned(),
        }
    }

    /// [`Error::Conflict`] for `key`.
    pub fn conflict(kind: RecordKind, key: &str) -> Self {
        Error::Conflict {
            kind,
            key: key.to_owned(),
        }
    }

    /// A backend error with the driver's error attached.
    pub fn backend(
        backend: &'static str,
        message: impl fmt::Display,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Backend {
            backend,
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    /// `true` for [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// `true` for [`ErrorKind::Conflict`].
    pub fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }
}
