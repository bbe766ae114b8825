//! `lagscale validate --connect`: a ScaledObject's `maxReplicaCount` against its Kafka topic's
//! partitions. Consumers beyond the partitions get none and sit idle; with `transform: log2`
//! and `metricType: Value` nothing else stops the HPA from adding them. The partition count
//! comes from the brokers the config file names, through the same client the server uses, so
//! it runs only when asked.

use super::Finding;
use crate::source::{SourceQuery, Sources};

/// One Kafka trigger of a ScaledObject, to check once the brokers answer.
#[derive(Debug, Clone)]
pub struct PartitionCheck {
    /// Where the trigger is, as a warning with no message yet.
    pub at: Finding,
    pub query: SourceQuery,
    /// The topic whose partitions are counted ([`SourceQuery::partitioned_topic`]).
    pub topic: String,
    /// `maxReplicaCount` (KEDA's default 100 when unset).
    pub max_replicas: u64,
}

/// Asks the brokers for each topic's partitions; a warning for each ScaledObject that may
/// scale beyond them, and for each topic that could not be read.
pub async fn check(checks: &[PartitionCheck], sources: &Sources) -> Vec<Finding> {
    let mut findings = Vec::new();
    for check in checks {
        let message = match sources.observe(&check.query).await {
            Ok(observation) => {
                let Some(partitions) = observation.partition_count(&check.topic) else {
                    continue;
                };
                if check.max_replicas <= partitions {
                    continue;
                }
                format!(
                    "maxReplicaCount {} is above the {partitions} partitions of topic {:?}: \
                     replicas beyond {partitions} get no partition and sit idle",
                    check.max_replicas, check.topic
                )
            }
            Err(error) => format!(
                "maxReplicaCount not checked against topic {:?}: {error}",
                check.topic
            ),
        };
        findings.push(Finding {
            message,
            ..check.at.clone()
        });
    }
    findings
}
