//! librdkafka's in-process mock Kafka cluster, for tests and `lagscale demo`: the only
//! `unsafe` code in lagscale. rdkafka's safe API does not wrap the mock cluster's controls
//! (topics, brokers down and up, delays, injected errors, request tracking), so they are
//! called here, each C object owned by a guard that frees it on drop; raw pointers never
//! leave this file. The serving path does not use librdkafka at all (see
//! `source::kafka::wire`).

use std::ffi::CStr;
use std::ffi::CString;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::bindings as rd;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

/// librdkafka's in-process mock Kafka cluster (a real protocol implementation on 127.0.0.1),
/// with request tracking. For tests and `lagscale demo`.
pub struct MockBrokers {
    cluster: *mut rd::rd_kafka_mock_cluster_t,
    // Declared after `cluster`, so dropped after it: the cluster lives inside this client.
    _owner: BaseProducer,
}

// SAFETY: the mock cluster API is thread-safe (it posts operations to the cluster's own thread).
unsafe impl Send for MockBrokers {}
unsafe impl Sync for MockBrokers {}

/// A request the mock cluster received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockRequest {
    pub api_key: i16,
}

/// Kafka protocol API keys, for counting requests.
pub mod api_key {
    pub const LIST_OFFSETS: i16 = 2;
    pub const METADATA: i16 = 3;
    pub const OFFSET_FETCH: i16 = 9;
    pub const FIND_COORDINATOR: i16 = 10;
}

impl MockBrokers {
    /// Starts a cluster of `brokers` brokers; groups rebalance at once (no initial delay).
    pub fn start(brokers: i32) -> Result<MockBrokers, String> {
        // The handle only hosts the cluster; it connects nowhere.
        let owner: BaseProducer = ClientConfig::new()
            .create()
            .map_err(|e| format!("cannot create the mock cluster's client: {e}"))?;
        // SAFETY: the handle is live; a non-null cluster is destroyed in Drop before the handle.
        let cluster =
            unsafe { rd::rd_kafka_mock_cluster_new(owner.client().native_ptr(), brokers) };
        if cluster.is_null() {
            return Err("librdkafka could not start a mock cluster".to_owned());
        }
        // SAFETY: the cluster is live.
        unsafe { rd::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0) };
        Ok(MockBrokers {
            cluster,
            _owner: owner,
        })
    }

    /// The cluster's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        // SAFETY: the cluster is live; the string is owned by it and copied here.
        unsafe { c_string(rd::rd_kafka_mock_cluster_bootstraps(self.cluster)) }
    }

    /// Creates a topic (the mock does not implement CreateTopics).
    pub fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication: i32,
    ) -> Result<(), String> {
        let name =
            CString::new(topic).map_err(|_| format!("topic {topic:?} contains a NUL byte"))?;
        // SAFETY: the cluster is live; `name` outlives the call.
        let err = unsafe {
            rd::rd_kafka_mock_topic_create(self.cluster, name.as_ptr(), partitions, replication)
        };
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(format!(
                "cannot create topic {topic:?}: {}",
                RDKafkaErrorCode::from(err)
            ))
        }
    }

    /// Takes broker `id` (1-based) down (it closes connections and refuses new ones) or up.
    pub fn set_broker_down(&self, id: i32, down: bool) -> Result<(), String> {
        // SAFETY: the cluster is live.
        let err = unsafe {
            if down {
                rd::rd_kafka_mock_broker_set_down(self.cluster, id)
            } else {
                rd::rd_kafka_mock_broker_set_up(self.cluster, id)
            }
        };
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(format!("broker {id}: {}", RDKafkaErrorCode::from(err)))
        }
    }

    /// Makes broker `broker` the leader of a partition: the old leader then answers
    /// ListOffsets for it with NOT_LEADER_OR_FOLLOWER, as after a leader election.
    pub fn set_partition_leader(
        &self,
        topic: &str,
        partition: i32,
        broker: i32,
    ) -> Result<(), String> {
        let name =
            CString::new(topic).map_err(|_| format!("topic {topic:?} contains a NUL byte"))?;
        // SAFETY: the cluster is live; `name` outlives the call.
        let err = unsafe {
            rd::rd_kafka_mock_partition_set_leader(self.cluster, name.as_ptr(), partition, broker)
        };
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(format!(
                "cannot move the leader of {topic:?} partition {partition}: {}",
                RDKafkaErrorCode::from(err)
            ))
        }
    }

    /// Delays every answer of broker `id` by `rtt` (zero: answers at once again).
    pub fn set_broker_rtt(&self, id: i32, rtt: Duration) -> Result<(), String> {
        let rtt_ms = i32::try_from(rtt.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: the cluster is live.
        let err = unsafe { rd::rd_kafka_mock_broker_set_rtt(self.cluster, id, rtt_ms) };
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(format!("broker {id}: {}", RDKafkaErrorCode::from(err)))
        }
    }

    /// The next `count` requests of `api_key` are answered with BROKER_NOT_AVAILABLE, as by a
    /// cluster that has lost its brokers; `count` 0 clears what is left.
    pub fn fail_requests(&self, api_key: i16, count: usize) {
        let errors = vec![rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE; count];
        // SAFETY: the cluster is live; `errors` outlives the call, which copies it.
        unsafe {
            if count == 0 {
                rd::rd_kafka_mock_clear_request_errors(self.cluster, api_key);
            } else {
                rd::rd_kafka_mock_push_request_errors_array(
                    self.cluster,
                    api_key,
                    count,
                    errors.as_ptr(),
                );
            }
        }
    }

    /// Starts recording every request the brokers receive (and forgets earlier ones).
    pub fn start_request_tracking(&self) {
        // SAFETY: the cluster is live.
        unsafe { rd::rd_kafka_mock_start_request_tracking(self.cluster) }
    }

    /// Returns and forgets the requests recorded since the last call.
    pub fn take_requests(&self) -> Vec<MockRequest> {
        let mut count = 0usize;
        // SAFETY: the cluster is live; the returned array and its requests are ours to free,
        // which the guard does.
        unsafe {
            let requests = rd::rd_kafka_mock_get_requests(self.cluster, &mut count);
            let guard = RequestArray(requests, count);
            let taken = if requests.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(requests, count)
                    .iter()
                    .map(|r| MockRequest {
                        api_key: rd::rd_kafka_mock_request_api_key(*r),
                    })
                    .collect()
            };
            drop(guard);
            rd::rd_kafka_mock_clear_requests(self.cluster);
            taken
        }
    }
}

impl Drop for MockBrokers {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_mock_cluster_new, destroyed once, before its handle.
        unsafe { rd::rd_kafka_mock_cluster_destroy(self.cluster) }
    }
}

struct RequestArray(*mut *mut rd::rd_kafka_mock_request_t, usize);

impl Drop for RequestArray {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: returned by rd_kafka_mock_get_requests with this count, freed once.
            unsafe { rd::rd_kafka_mock_request_destroy_array(self.0, self.1) }
        }
    }
}

unsafe fn c_string(s: *const std::ffi::c_char) -> String {
    if s.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    use super::*;

    fn commit(bootstrap: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for &(partition, offset) in offsets {
            tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
                .unwrap();
        }
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
    }

    #[test]
    fn mock_requests_are_counted_and_cleared() {
        let mock = MockBrokers::start(1).unwrap();
        mock.create_topic("t", 1, 1).unwrap();
        mock.start_request_tracking();
        commit(&mock.bootstrap_servers(), "a", "t", &[(0, 1)]);
        let requests = mock.take_requests();
        assert!(
            requests.iter().any(|r| r.api_key == 8),
            "an OffsetCommit: {requests:?}"
        );
        assert!(
            mock.take_requests().is_empty(),
            "taken requests are forgotten"
        );
    }
}
