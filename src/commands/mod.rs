//! The commands beside `serve`: each runs lagscale's own code on the operator's terminal.
//!
//! - [`check`]: `lagscale check`, one trigger evaluated as KEDA would ask for it;
//! - [`demo`]: `lagscale demo`, a mock Kafka cluster with traffic and a live status line;
//! - [`validate`]: `lagscale validate`, KEDA manifests linted (and `--connect` checked);
//! - [`simulate`]: `lagscale simulate`, a policy run against modelled traffic and the HPA.

pub mod check;
pub mod demo;
pub mod simulate;
pub mod validate;
