//! lagscale's own Kafka client: the few requests consumer-group lag needs, spoken natively
//! over tokio (no librdkafka on the serving path).
//!
//! - [`security`]: a profile's `properties` → TLS and SASL settings, validated once.
//! - [`sasl`]: the SASL exchanges (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER).
//! - [`oauth`]: OAUTHBEARER tokens (static, unsecured JWT, or the client-credentials flow).

pub mod oauth;
pub mod sasl;
pub mod security;

mod batch;
mod cluster;
mod connection;
mod decode;
mod groups;
mod offsets;

pub use cluster::{Cluster, METADATA_MAX_AGE};
pub use connection::{MAX_FRAME_BYTES, WireError};
pub use groups::GroupFetch;
pub use offsets::{Offsets, Watermark};
pub use security::Security;

#[cfg(test)]
mod fault_tests;
