//! The errors lagscale serves, and the one place that chooses their gRPC status codes.

use tonic::{Code, Status};

use crate::metadata::TriggerError;
use crate::replicas::ReplicaError;
use crate::source::SourceError;

/// Anything that can fail a KEDA call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScalerError {
    #[error("invalid trigger metadata: {0}")]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("metricName: {requested:?} is not served by this trigger; expected {served:?}")]
    UnknownMetric { requested: String, served: String },
    #[error("no answer within {after_ms} ms (request_timeout_ms)")]
    RequestTimeout { after_ms: u128 },
    #[error(transparent)]
    Replicas(#[from] ReplicaError),
    #[error(
        "this trigger reads its ScaledObject's replicas, and no ScaledObject was named \
         (KEDA always names it; with lagscale check, pass --scaled-object NAMESPACE/NAME)"
    )]
    NoScaledObject,
    #[error(
        "replicaThroughput: auto cannot size yet: {reason}; set replicaThroughputInitial (used \
         until a rate is learned), or replicaThroughput to a number"
    )]
    ConsumersUnknown {
        reason: &'static str,
        /// The broker cannot say (it will not change), not only not yet.
        lasting: bool,
    },
    /// The scalerMetadata of a request is not a map of strings: found when its pairs are read
    /// (`src/metadata/scaled_object.rs`), answered as [`undecodable`] answers.
    #[error("{0}")]
    Undecodable(#[from] prost::DecodeError),
}

/// The status of a request that is not a valid message of its type: INTERNAL, with prost's
/// description (which names the message and field), as gRPC's status code table asks of a
/// server that cannot parse a request (`doc/statuscodes.md` in grpc/grpc) and as tonic-prost's
/// own codec answers (`from_decode_error`).
pub fn undecodable(error: prost::DecodeError) -> Status {
    ScalerError::Undecodable(error).into()
}

impl ScalerError {
    /// The gRPC code for this error. KEDA treats every code alike, but people and dashboards
    /// read them: bad input is the caller's to fix, a broker problem is not.
    pub fn code(&self) -> Code {
        match self {
            ScalerError::Trigger(_)
            | ScalerError::UnknownMetric { .. }
            | ScalerError::NoScaledObject => Code::InvalidArgument,
            ScalerError::RequestTimeout { .. } => Code::DeadlineExceeded,
            ScalerError::Undecodable(_) => Code::Internal,
            ScalerError::ConsumersUnknown { lasting: true, .. } => Code::FailedPrecondition,
            ScalerError::ConsumersUnknown { lasting: false, .. } => Code::Unavailable,
            ScalerError::Source(source) => match source {
                SourceError::NotFound { .. } => Code::NotFound,
                SourceError::Connection { .. }
                | SourceError::Unavailable { .. }
                | SourceError::Broker { .. } => Code::Unavailable,
                SourceError::AccessRefused { .. } => Code::PermissionDenied,
                SourceError::Timeout { .. } => Code::DeadlineExceeded,
                SourceError::Mismatch { .. } => Code::Internal,
            },
            ScalerError::Replicas(replicas) => match replicas {
                ReplicaError::Forbidden { .. } => Code::PermissionDenied,
                ReplicaError::NotFound { .. } => Code::NotFound,
                ReplicaError::NoAccess { .. } | ReplicaError::Invalid { .. } => {
                    Code::FailedPrecondition
                }
                ReplicaError::Api { .. } => Code::Unavailable,
            },
        }
    }
}

impl ScalerError {
    /// What the operating system said about a failed connection: logged beside the error,
    /// never sent to the caller (see [`SourceError::Connection`]).
    pub fn detail(&self) -> Option<&str> {
        match self {
            ScalerError::Source(source) => source.detail(),
            _ => None,
        }
    }
}

impl From<ScalerError> for Status {
    fn from(error: ScalerError) -> Status {
        Status::new(error.code(), error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let endpoint = "cluster \"main\"".to_owned();
        let table = [
            (
                ScalerError::Trigger(TriggerError::Missing {
                    key: "queueName",
                    expected: "a queue",
                }),
                Code::InvalidArgument,
            ),
            (
                ScalerError::RequestTimeout { after_ms: 2500 },
                Code::DeadlineExceeded,
            ),
            (
                ScalerError::UnknownMetric {
                    requested: "a".into(),
                    served: "b".into(),
                },
                Code::InvalidArgument,
            ),
            (
                SourceError::NotFound {
                    endpoint: endpoint.clone(),
                    what: "queue".into(),
                }
                .into(),
                Code::NotFound,
            ),
            (
                SourceError::Connection {
                    endpoint: endpoint.clone(),
                    failure: crate::source::ConnectionFailure::Connect,
                    detail: "Connection refused (os error 111)".into(),
                }
                .into(),
                Code::Unavailable,
            ),
            (
                SourceError::Unavailable {
                    endpoint: endpoint.clone(),
                    reason: "no coordinator".into(),
                }
                .into(),
                Code::Unavailable,
            ),
            (
                SourceError::AccessRefused {
                    endpoint: endpoint.clone(),
                    reason: "login".into(),
                }
                .into(),
                Code::PermissionDenied,
            ),
            (
                SourceError::Timeout {
                    endpoint,
                    operation: "queue.declare",
                    after_ms: 1000,
                }
                .into(),
                Code::DeadlineExceeded,
            ),
        ];
        for (error, code) in table {
            let status = Status::from(error.clone());
            assert_eq!(status.code(), code, "{error}");
            assert_eq!(status.message(), error.to_string());
            if let Some(detail) = error.detail() {
                assert!(!status.message().contains(detail), "{status:?}");
            }
        }
    }
}
