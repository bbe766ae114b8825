//! lagscale: a KEDA external scaler that serves consumer lag (RabbitMQ queue depth, Kafka
//! consumer-group lag), raw, as k·log2(lag), as throughput, or through a step strategy.
//!
//! A map of the crate, every module once, in the order a KEDA call meets them:
//!
//! - [`server`] runs the gRPC server (ExternalScaler, health, reflection, graceful shutdown,
//!   closing idle broker clients); [`codec`] decodes its requests; [`service`] implements
//!   KEDA's five calls; [`error`] is the one place that chooses gRPC status codes;
//! - [`metadata`] reads a call's `scalerMetadata` map (bounds, the keys common to every
//!   source, trigger errors, the `cluster` / inline choice, metric names; a leaf), and
//!   [`trigger`] turns it into a validated [`trigger::TriggerSpec`] (kept by metadata in
//!   [`trigger::memo`]; every known key, for the unknown-key check, in
//!   [`trigger::KNOWN_KEYS`]);
//! - [`scaler`] evaluates it: the lag from the broker's shared answer, then the inputs the
//!   policy function [`trigger::TriggerSpec::decide`] needs (replica counts from Kubernetes,
//!   [`replicas`]; lag samples and rates), built of [`transform`] and [`strategy`];
//! - [`source`] owns the brokers and all their I/O ([`source::Sources`], which counts and
//!   times every request and shares each answer through [`single_flight`] for the TTL): the
//!   closed set of sources, each one folder with its trigger keys and their README rows,
//!   connection profile and secrets, clients (RabbitMQ over AMQP and its management API;
//!   Kafka through lagscale's own protocol client, `source::kafka::wire`), lag arithmetic
//!   and rates; backoff, idle closing, and what `validate` and `simulate` ask of a source
//!   (partitions, a modelled answer);
//! - [`config`] reads lagscale's own config file and its endpoint policy; [`metrics`] names
//!   and records every Prometheus metric; [`telemetry`] sets up logs; [`redact`] keeps
//!   passwords out of URIs;
//! - [`commands`] holds `check`, `demo`, `validate` and `simulate`; the demo's
//!   [`mock_kafka`] (re-exported here) is librdkafka's in-process mock cluster for the demo
//!   and the tests, and the crate's only `unsafe` code; [`compression`] is the demo's
//!   scenario clock (the identity everywhere else); [`proto`] is KEDA's protocol, generated.

#![deny(unsafe_code)] // the one exception: commands::demo::mock_kafka

pub mod codec;
pub mod commands;
pub mod compression;
pub mod config;
pub mod error;
pub mod metadata;
pub mod metrics;
pub mod redact;
pub mod replicas;
pub mod scaler;
pub mod server;
pub mod service;
pub mod single_flight;
pub mod source;
pub mod strategy;
pub mod telemetry;
pub mod transform;
pub mod trigger;

/// librdkafka's mock cluster, at its old path for the tests and benches.
pub use commands::demo::mock_kafka;

/// Code generated from `proto/externalscaler.proto` (KEDA's protocol), server and client;
/// `ScaledObjectRef` is written by hand (`metadata::scaled_object`).
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("externalscaler");

    pub use crate::metadata::scaled_object::{ScaledObjectRef, ScalerMetadata};

    /// The encoded descriptors of the protocol, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("externalscaler_descriptor");
}
