//! lagscale: a KEDA external scaler that serves consumer lag, raw or as k·log2(lag).
//!
//! How a KEDA call flows through the crate:
//!
//! - [`server`] runs the gRPC server (ExternalScaler, health, reflection);
//! - [`service`] implements KEDA's five calls;
//! - [`metadata`] reads a call's `scalerMetadata` map (bounds, keys, errors; a leaf module),
//!   and [`trigger`] turns it into a validated [`trigger::TriggerSpec`];
//! - [`scaler`] evaluates it: lag through the single-flight [`cache`], then [`transform`];
//! - [`source`] holds the broker clients (RabbitMQ over AMQP and its management API; Kafka
//!   through lagscale's own protocol client, `source::kafka::wire`), one per profile;
//! - [`spec_cache`] keeps parsed triggers by metadata; [`strategy`] decides what replica-aware
//!   and throughput triggers serve; [`replicas`] reads replica counts from Kubernetes;
//! - [`error`] is the one place that chooses gRPC status codes; [`metrics`] names and
//!   records every Prometheus metric;
//! - [`config`] reads lagscale's own config file; [`check`] is `lagscale check`;
//!   [`demo`] is `lagscale demo`; [`validate`] is `lagscale validate`; [`simulate`] is
//!   `lagscale simulate`; [`server`] and [`telemetry`] set up serving, logs and tracing;
//!   [`redact`] keeps passwords out of URIs;
//! - [`mock_kafka`] is librdkafka's in-process mock cluster for the demo and the tests, and the
//!   crate's only `unsafe` code.

#![deny(unsafe_code)] // the one exception: mock_kafka

pub mod cache;
pub mod check;
pub mod config;
pub mod demo;
pub mod error;
pub mod metadata;
pub mod metrics;
#[allow(unsafe_code)]
pub mod mock_kafka;
pub mod redact;
pub mod replicas;
pub mod scaler;
pub mod server;
pub mod service;
pub mod simulate;
pub mod source;
pub mod spec_cache;
pub mod strategy;
pub mod telemetry;
pub mod transform;
pub mod trigger;
pub mod validate;

/// Code generated from `proto/externalscaler.proto` (KEDA's protocol), server and client.
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("externalscaler");

    /// The encoded descriptors of the protocol, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("externalscaler_descriptor");
}
