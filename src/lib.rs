//! lagscale: a KEDA external scaler that serves consumer lag, raw or as k·log2(lag).
//!
//! How a KEDA call flows through the crate:
//!
//! - [`server`] runs the gRPC server (ExternalScaler, health, reflection);
//! - [`service`] implements KEDA's five calls;
//! - [`trigger`] turns a call's `scalerMetadata` into a validated [`trigger::TriggerSpec`];
//! - [`scaler`] evaluates it: lag through the single-flight [`cache`], then [`transform`];
//! - [`source`] holds the broker clients (RabbitMQ today), one connection per profile;
//! - [`error`] is the one place that chooses gRPC status codes; [`metrics`] names and
//!   records every Prometheus metric;
//! - [`config`] reads lagscale's own config file; [`check`] is `lagscale check`;
//!   [`demo`] is `lagscale demo`; [`validate`] is `lagscale validate`.

#![deny(unsafe_code)] // the one exception: source::kafka::ffi

pub mod cache;
pub mod check;
pub mod config;
pub mod demo;
pub mod error;
pub mod metrics;
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
