//! The only `unsafe` code in lagscale: two librdkafka C APIs that rdkafka's safe API does not
//! wrap.
//!
//! - [`list_group_offsets`]: `rd_kafka_ListConsumerGroupOffsets`, the committed offsets of ANY
//!   consumer group from one client (the safe `committed_offsets` reads only the client's own
//!   `group.id`, which would need one client per group).
//! - [`MockBrokers`]: librdkafka's in-process mock cluster with request tracking, so tests and
//!   `lagscale demo` can count the requests a refresh really sends.
//!
//! Every C object is owned by a guard that frees it on drop; raw pointers never leave this file.

use std::ffi::{CStr, CString, c_void};
use std::ptr;
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::client::Client;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, TopicPartitionList};

/// How long past its own timeout librdkafka may take to report a request as timed out.
const ANSWER_GRACE: Duration = Duration::from_secs(30);

/// One partition of a group-offsets answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    /// The committed offset; negative (−1001) when the group committed nothing here.
    pub offset: i64,
    /// A per-partition error, if the broker reported one.
    pub error: Option<RDKafkaErrorCode>,
}

/// Why one group's offsets could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOffsetsError {
    /// No answer within the timeout.
    Timeout,
    /// librdkafka or the broker reported an error.
    Kafka {
        code: RDKafkaErrorCode,
        message: String,
    },
}

/// The committed offsets of each group (`partitions` `None`: every partition the group
/// committed, on brokers that support it), asked all at once from one client: one OffsetFetch
/// per group. Blocks up to `timeout`; call it from a blocking thread.
pub fn list_group_offsets<C: ClientContext>(
    client: &Client<C>,
    groups: &[(String, Option<&TopicPartitionList>)],
    timeout: Duration,
) -> Vec<Result<Vec<CommittedOffset>, GroupOffsetsError>> {
    let rk = client.native_ptr();
    let mut results: Vec<Option<Result<Vec<CommittedOffset>, GroupOffsetsError>>> =
        groups.iter().map(|_| None).collect();
    // SAFETY: `rk` is a live client handle for the whole call (borrowed from `client`).
    let queue = unsafe { Queue::new(rk) };
    let mut options = Vec::with_capacity(groups.len());
    for (index, (group, partitions)) in groups.iter().enumerate() {
        let Ok(group) = CString::new(group.as_str()) else {
            results[index] = Some(Err(GroupOffsetsError::Kafka {
                code: RDKafkaErrorCode::InvalidArgument,
                message: "group name contains a NUL byte".to_owned(),
            }));
            continue;
        };
        // SAFETY: `rk` is live; the options live until after the queue is drained, and the
        // opaque is an index, never dereferenced.
        let opts = unsafe { AdminOptions::new(rk, timeout, index) };
        let partitions_ptr = partitions.map_or(ptr::null(), |tpl| tpl.ptr() as *const _);
        // SAFETY: `group` and `partitions_ptr` are valid for the call; librdkafka copies the
        // request, which the guard then frees.
        unsafe {
            let request = Request(rd::rd_kafka_ListConsumerGroupOffsets_new(
                group.as_ptr(),
                partitions_ptr,
            ));
            let mut one = request.0;
            rd::rd_kafka_ListConsumerGroupOffsets(rk, &mut one, 1, opts.0, queue.0);
        }
        options.push(opts);
    }

    // librdkafka answers every request, with a timeout error at worst, after `timeout`. Wait
    // for every answer before freeing the queue: freeing it under a request still in flight
    // trips an assertion inside librdkafka (seen with the brokers down). The cap only guards
    // against a librdkafka that never answers; callers keep their own, shorter deadline.
    let deadline = Instant::now() + timeout + ANSWER_GRACE;
    while results.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // SAFETY: the queue is live; a non-null event is owned by the guard.
        let Some(event) = (unsafe { Event::poll(&queue, left) }) else {
            continue;
        };
        // SAFETY: the event is live for the borrow.
        if let Some((index, result)) = unsafe { event.group_offsets() }
            && let Some(slot) = results.get_mut(index)
        {
            *slot = Some(result);
        }
    }
    drop(options);
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(GroupOffsetsError::Timeout)))
        .collect()
}

struct Queue(*mut rd::rd_kafka_queue_t);

impl Queue {
    unsafe fn new(rk: *mut rd::rd_kafka_t) -> Queue {
        Queue(unsafe { rd::rd_kafka_queue_new(rk) })
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_queue_new, destroyed once.
        unsafe { rd::rd_kafka_queue_destroy(self.0) }
    }
}

struct AdminOptions(*mut rd::rd_kafka_AdminOptions_t);

impl AdminOptions {
    unsafe fn new(rk: *mut rd::rd_kafka_t, timeout: Duration, opaque: usize) -> AdminOptions {
        let options = unsafe {
            rd::rd_kafka_AdminOptions_new(
                rk,
                rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            )
        };
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut errstr = [0 as std::ffi::c_char; 256];
        unsafe {
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options,
                timeout_ms,
                errstr.as_mut_ptr(),
                errstr.len(),
            );
            rd::rd_kafka_AdminOptions_set_opaque(options, opaque as *mut c_void);
        }
        AdminOptions(options)
    }
}

impl Drop for AdminOptions {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_AdminOptions_new, destroyed once.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.0) }
    }
}

struct Request(*mut rd::rd_kafka_ListConsumerGroupOffsets_t);

impl Drop for Request {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_ListConsumerGroupOffsets_new, destroyed once.
        unsafe { rd::rd_kafka_ListConsumerGroupOffsets_destroy(self.0) }
    }
}

struct Event(*mut rd::rd_kafka_event_t);

impl Event {
    unsafe fn poll(queue: &Queue, timeout: Duration) -> Option<Event> {
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let event = unsafe { rd::rd_kafka_queue_poll(queue.0, timeout_ms) };
        (!event.is_null()).then_some(Event(event))
    }

    /// The request index (opaque) and the group's offsets, for a ListConsumerGroupOffsets result.
    unsafe fn group_offsets(
        &self,
    ) -> Option<(usize, Result<Vec<CommittedOffset>, GroupOffsetsError>)> {
        unsafe {
            if rd::rd_kafka_event_type(self.0) != rd::RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT
            {
                return None;
            }
            let index = rd::rd_kafka_event_opaque(self.0) as usize;
            let error = rd::rd_kafka_event_error(self.0);
            if error != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                let message = c_string(rd::rd_kafka_event_error_string(self.0));
                return Some((
                    index,
                    Err(GroupOffsetsError::Kafka {
                        code: error.into(),
                        message,
                    }),
                ));
            }
            let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(self.0);
            let mut count = 0usize;
            let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
            if groups.is_null() || count == 0 {
                return Some((index, Ok(Vec::new())));
            }
            let group = *groups;
            let group_error = rd::rd_kafka_group_result_error(group);
            if !group_error.is_null() {
                let code = rd::rd_kafka_error_code(group_error).into();
                let message = c_string(rd::rd_kafka_error_string(group_error));
                return Some((index, Err(GroupOffsetsError::Kafka { code, message })));
            }
            Some((
                index,
                Ok(partitions(rd::rd_kafka_group_result_partitions(group))),
            ))
        }
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: returned by rd_kafka_queue_poll, destroyed once.
        unsafe { rd::rd_kafka_event_destroy(self.0) }
    }
}

/// Copies a C partition list (owned by the event) into Rust values.
unsafe fn partitions(list: *const rd::rd_kafka_topic_partition_list_t) -> Vec<CommittedOffset> {
    if list.is_null() {
        return Vec::new();
    }
    let list = unsafe { &*list };
    let count = usize::try_from(list.cnt).unwrap_or(0);
    if list.elems.is_null() || count == 0 {
        return Vec::new();
    }
    let elems = unsafe { std::slice::from_raw_parts(list.elems, count) };
    elems
        .iter()
        .map(|e| CommittedOffset {
            topic: unsafe { c_string(e.topic) },
            partition: e.partition,
            offset: e.offset,
            error: (e.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
                .then(|| e.err.into()),
        })
        .collect()
}

unsafe fn c_string(s: *const std::ffi::c_char) -> String {
    if s.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
    }
}

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

#[cfg(test)]
mod tests {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    use super::*;

    fn client(bootstrap: &str) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .unwrap()
    }

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
    fn offsets_of_several_groups_from_one_client() {
        let mock = MockBrokers::start(1).unwrap();
        mock.create_topic("t", 2, 1).unwrap();
        commit(&mock.bootstrap_servers(), "a", "t", &[(0, 3), (1, 4)]);
        commit(&mock.bootstrap_servers(), "b", "t", &[(0, 9)]);
        let reader = client(&mock.bootstrap_servers());
        let mut both = TopicPartitionList::new();
        both.add_partition("t", 0);
        both.add_partition("t", 1);
        let groups = [
            ("a".to_owned(), Some(&both)),
            ("b".to_owned(), Some(&both)),
            ("never-committed".to_owned(), Some(&both)),
        ];
        let results = list_group_offsets(reader.client(), &groups, Duration::from_secs(10));
        let offsets: Vec<Vec<i64>> = results
            .into_iter()
            .map(|r| r.unwrap().iter().map(|c| c.offset).collect())
            .collect();
        // No commit reads as a negative offset (librdkafka's "invalid", −1001).
        assert_eq!(offsets[0], [3, 4]);
        assert_eq!(offsets[1][0], 9);
        assert!(offsets[1][1] < 0);
        assert!(offsets[2].iter().all(|o| *o < 0));
    }

    #[test]
    fn unreachable_brokers_time_out() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let reader = client(&closed.to_string());
        let results = list_group_offsets(
            reader.client(),
            &[("g".to_owned(), None)],
            Duration::from_millis(300),
        );
        assert_eq!(results.len(), 1);
        assert!(results[0].is_err(), "{results:?}");
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
