//! End-to-end tests: the real lagscale server on 127.0.0.1:0, called with a tonic client
//! generated from proto/externalscaler.proto, against the real RabbitMQ on 127.0.0.1:5672
//! (the README's test command makes sure it runs).

mod activity;
mod chart;
mod cli;
mod connections;
mod demo;
mod dockerfile;
mod errors;
mod grpc;
mod image;
mod kafka;
mod kafka_keda;
mod kafka_real;
mod keda_docs;
mod keda_docs_auth;
mod keda_examples;
mod kube_schema;
mod last_scale;
mod limits;
mod metrics;
mod outage;
mod parity;
mod rabbit_http;
mod rabbit_tls;
mod readme;
mod replica_rate;
mod replicas;
mod serve;
mod simulate;
mod support;
mod tansu;
mod throughput;
mod tls;
mod validate;
mod workers;
