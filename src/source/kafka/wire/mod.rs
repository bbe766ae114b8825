//! lagscale's own Kafka client: the few requests consumer-group lag needs (ApiVersions,
//! Metadata, FindCoordinator, OffsetFetch, ListOffsets, DescribeGroups, and SASL), spoken natively over tokio.
//! No librdkafka on the serving path: no C code, no threads of its own, nothing a broker can
//! send that aborts the process. (librdkafka's admin client aborted it when a broker went away
//! during a committed-offsets request: confluentinc/librdkafka#4605.)
//!
//! - `cluster`: the brokers, one connection per broker with reconnect backoff, topic metadata,
//!   and [`Cluster::call`], through which every request goes (counted, timed, bounded);
//! - `connection`: one socket, its ApiVersions and SASL handshakes, pipelined requests;
//! - `decode`: the answers, read with every length checked against the bytes received
//!   (requests are encoded with the `kafka-protocol` crate);
//! - `groups`: coordinators (FindCoordinator) and committed offsets (OffsetFetch), batched
//!   across groups by `batch` where the broker allows it;
//! - `offsets`: watermarks (ListOffsets), one request per leader broker;
//! - `members`: a group's members and their partitions (DescribeGroups), for
//!   `replicaThroughput: auto`;
//! - [`security`]: a profile's `properties` → TLS (`tls`) and SASL settings, validated once;
//! - [`sasl`]: the SASL exchanges (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER);
//! - [`oauth`]: OAUTHBEARER tokens (static, unsecured JWT, or the client-credentials flow).

pub mod oauth;
pub mod sasl;
pub mod security;
mod tls;

mod batch;
mod cluster;
mod connection;
mod decode;
mod groups;
mod members;
mod offsets;

pub use cluster::{Cluster, METADATA_MAX_AGE};
pub use connection::{MAX_FRAME_BYTES, WireError};
pub use groups::GroupFetch;
pub use members::GroupMembers;
pub use offsets::{Offsets, Watermark};
pub use security::Security;

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod decode_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod handshake_tests;
