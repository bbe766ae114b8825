//! What a query's partitions say about its workload: replicas beyond the partitions of the
//! topic a query reads get none and sit idle (`lagscale validate --connect` warns of them).
//! Only Kafka queries that name a topic have such partitions.

use super::{Observation, SourceQuery};

impl SourceQuery {
    /// The topic whose partitions bound the consumers this query's workload can use: a Kafka
    /// query's `topic`, when it names one; `None` otherwise (a queue, or all of a group's
    /// topics).
    pub fn partitioned_topic(&self) -> Option<&str> {
        match self {
            SourceQuery::Kafka(query) => query.topic.as_deref(),
            SourceQuery::Rabbitmq(_) | SourceQuery::RabbitmqHttp(_) => None,
        }
    }
}

impl Observation {
    /// How many partitions of `topic` this answer shows (the topic of
    /// [`SourceQuery::partitioned_topic`]); `None` for an answer without partitions (a queue).
    pub fn partition_count(&self, topic: &str) -> Option<u64> {
        let Observation::Kafka(snapshot) = self else {
            return None;
        };
        let partitions = snapshot.partitions.iter().filter(|p| p.topic == topic);
        Some(partitions.count() as u64)
    }
}
