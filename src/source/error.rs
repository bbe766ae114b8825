//! How a broker query fails: [`SourceError`], with the words a caller sees, and a bounded
//! kind for metrics. Which gRPC code each maps to is decided in `crate::error`, not here.

/// How a connection to a broker failed, in the words a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionFailure {
    /// It could not be opened: refused, reset, a TLS or protocol handshake that failed.
    Connect,
    /// It was not open within the connect timeout.
    ConnectTimeout { after_ms: u128 },
    /// It was open, and broke.
    Lost,
}

impl std::fmt::Display for ConnectionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionFailure::Connect => f.write_str("the connection could not be opened"),
            ConnectionFailure::ConnectTimeout { after_ms } => {
                write!(f, "connect timed out after {after_ms} ms")
            }
            ConnectionFailure::Lost => f.write_str("the connection was lost"),
        }
    }
}

impl SourceError {
    /// What the operating system or the handshake said about a connection failure: for the
    /// log, never for the caller.
    pub fn detail(&self) -> Option<&str> {
        match self {
            SourceError::Connection { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// A short, bounded name for the kind of failure (a metrics label).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::NotFound { .. } => "not_found",
            SourceError::Connection { .. } | SourceError::Unavailable { .. } => "unreachable",
            SourceError::AccessRefused { .. } => "access_refused",
            SourceError::Timeout { .. } => "timeout",
            SourceError::Broker { .. } => "broker",
            SourceError::Mismatch { .. } => "internal",
        }
    }
}

/// A broker query that failed. Clone, because one failed evaluation answers every caller that
/// was waiting on it. Messages name the endpoint with its password redacted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("{what} not found on {endpoint}")]
    NotFound { endpoint: String, what: String },
    /// No connection to the broker, or it was lost. What the operating system said (refused,
    /// reset, a TLS or protocol failure) is `detail`, which goes to the log only: a caller
    /// must not learn from the answer whether something listens at an address it named.
    #[error("cannot reach the broker {endpoint}: {failure} (the cause is in lagscale's log)")]
    Connection {
        endpoint: String,
        failure: ConnectionFailure,
        detail: String,
    },
    /// The broker answered, and cannot serve the query now (no coordinator, no leader).
    #[error("{endpoint} is unavailable: {reason}")]
    Unavailable { endpoint: String, reason: String },
    #[error("{endpoint} refused access: {reason}")]
    AccessRefused { endpoint: String, reason: String },
    #[error("{endpoint} did not answer {operation} within {after_ms} ms")]
    Timeout {
        endpoint: String,
        operation: &'static str,
        after_ms: u128,
    },
    #[error("{endpoint} failed {operation}: {reason}")]
    Broker {
        endpoint: String,
        operation: &'static str,
        reason: String,
    },
    /// lagscale read a trigger's lag from the answer to another source's query: a bug in
    /// lagscale, never the broker's doing.
    #[error("internal error: a {query} trigger was given a {answer} answer")]
    Mismatch {
        query: &'static str,
        answer: &'static str,
    },
}
