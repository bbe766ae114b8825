//! lagscale's own Kafka client: the few requests consumer-group lag needs, spoken natively
//! over tokio (no librdkafka on the serving path).
//!
//! - [`security`]: a profile's `properties` → TLS and SASL settings, validated once.
//! - [`sasl`]: the SASL exchanges (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER).
//! - [`oauth`]: OAUTHBEARER tokens (static, unsecured JWT, or the client-credentials flow).

pub mod oauth;
pub mod sasl;
pub mod security;
