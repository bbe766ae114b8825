//! tansu (crates.io `tansu`, an independent Kafka-compatible broker written in Rust) as a child
//! process on 127.0.0.1, for tests that need a broker other than librdkafka's mock cluster.
//! `scripts/ensure-tansu.sh` finds or builds the binary; the test command exports its path as
//! `LAGSCALE_TANSU`. Tests skip themselves when it is unset.
//!
//! The broker keeps its data in SQLite (`--storage-engine sqlite://tansu.db`, in a directory
//! of its own under `CARGO_TARGET_TMPDIR`, removed on drop), so [`Tansu::restart`] brings back
//! the same topics, records and committed offsets. Of tansu 0.6.0's other engines, `memory://`
//! (feature dynostore) forgets everything on a restart and gets the high watermark wrong for a
//! batch of several records (25 in one batch → high watermark 1; SQLite counts 25); `s3://`
//! and `slatedb://` need S3; `postgres://` a PostgreSQL; there is no `file://` engine. A first
//! start takes ≈ 0.3 s (SQLite schema), a restart ≈ 0.05 s.
//!
//! Seeding helpers use rdkafka (librdkafka): [`Tansu::create_topic`] (tansu does not
//! auto-create topics), [`Tansu::produce`] (one record per batch, whatever the engine),
//! [`Tansu::commit`]; read back with [`Tansu::watermarks`] and [`Tansu::committed`] (a commit
//! is visible to OffsetFetch at once). [`Tansu::request`] sends one raw Kafka request
//! (kafka-protocol) for what rdkafka does not show.
//!
//! What tansu 0.6.0 advertises in ApiVersions (asked at v0, v3 and v4: the same answer; every
//! min is 0). It advertises the whole range of the message schemas it bundles — 35 APIs,
//! SaslHandshake and SaslAuthenticate even without `--authentication`:
//!
//! | API              | key | max | behaviour seen                                          |
//! |------------------|-----|-----|---------------------------------------------------------|
//! | ListOffsets      |  2  |  9  | see quirks                                              |
//! | Metadata         |  3  | 12  | one broker, node id 111, also the controller            |
//! | OffsetFetch      |  9  |  9  | v8+ batches groups: one answer per group, in order      |
//! | FindCoordinator  | 10  |  6  | v4+ batches keys: one coordinator (itself) per key      |
//! | SaslHandshake    | 17  |  1  |                                                         |
//! | ApiVersions      | 18  |  4  |                                                         |
//! | SaslAuthenticate | 36  |  2  |                                                         |
//!
//! Also: Produce 11, Fetch 17, OffsetCommit 9, CreateTopics 7, ListGroups 5, DescribeGroups 5.
//!
//! Quirks (tansu 0.6.0):
//! - OffsetFetch v1–v7 with `topics` null ("all partitions") gets a malformed response (cut
//!   short, or a -1 array length at v7) that kafka-protocol cannot decode. v8–v9 with null
//!   topics works: the group's committed partitions; an unknown group answers no topics, error 0.
//! - OffsetFetch of a partition without a commit, or of an unknown topic: offset -1, error 0.
//! - ListOffsets of an unknown topic or partition answers offset 0 with error 0 (Kafka:
//!   UNKNOWN_TOPIC_OR_PARTITION); latest (-1) and earliest (-2) work; max-timestamp (-3, v7+)
//!   closes the connection without a response.
//! - Metadata of an unknown topic: error 3 (UNKNOWN_TOPIC_OR_PARTITION), as in Kafka.
//! - A commit beyond the high watermark is accepted.
//! - DescribeGroups: with `sqlite://` every existing group fails (the stored group is read back
//!   as a JSON string; the connection is closed), an unknown one is error 69
//!   (GROUP_ID_NOT_FOUND; Kafka answers `Dead`); with `memory://` the members come back
//!   without their assignments, and a group being joined reads `Unknown`.
//!
//! `tests/e2e/tansu.rs` checks the table's versions and both batched forms.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, OffsetFetchRequest, OffsetFetchResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// How long the broker may take to accept connections after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a seeding or read-back call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A tansu broker listening on 127.0.0.1; killed when dropped.
pub struct Tansu {
    binary: PathBuf,
    port: u16,
    /// The broker's working directory: its SQLite file and its log (`tansu.log`).
    dir: PathBuf,
    /// `--storage-engine`.
    storage: String,
    child: Option<Child>,
}

impl Tansu {
    /// Starts the binary named by `LAGSCALE_TANSU` on a free port, with empty storage, and
    /// waits until the port accepts connections.
    pub fn start() -> Result<Tansu, String> {
        Tansu::start_with("sqlite://tansu.db")
    }

    /// [`Tansu::start`] with another `--storage-engine`. `memory://tansu/` answers
    /// DescribeGroups for a group that exists; SQLite's engine reads the stored group back as
    /// a JSON string, fails, and closes the connection (tansu 0.6.0, `lite.rs`
    /// `describe_groups`).
    pub fn start_with(storage: &str) -> Result<Tansu, String> {
        let binary = std::env::var_os("LAGSCALE_TANSU")
            .map(PathBuf::from)
            .ok_or("LAGSCALE_TANSU is not set (scripts/ensure-tansu.sh prints the binary)")?;
        // A free port: the kernel picks one, we release it and tansu binds it. Another
        // process could take it in between; on loopback in a test run that is unlikely.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("tansu: no free port on 127.0.0.1: {e}"))?
            .port();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("tansu-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("tansu: {}: {e}", dir.display()))?;
        let mut tansu = Tansu {
            binary,
            port,
            dir,
            storage: storage.to_owned(),
            child: None,
        };
        tansu.spawn()?;
        Ok(tansu)
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers` or `bootstrapServers`.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on (and advertises), on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILLs the broker (no clean shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill is SIGKILL to the child's PID on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the broker if it runs and starts it again on the same port with the same
    /// storage: topics, records and committed offsets survive (SQLite file).
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log_path = self.dir.join("tansu.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("tansu: {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("tansu: {}: {e}", log_path.display()))?;
        let mut command = Command::new(&self.binary);
        command
            .arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            // Relative to the working directory: tansu joins even an absolute path to it.
            .args(["--storage-engine", &self.storage])
            .arg("--silent")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // tansu reads these from the environment too; keep a developer's settings out.
        for key in [
            "CLUSTER_ID",
            "SCHEMA_REGISTRY",
            "DATA_LAKE",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ] {
            command.env_remove(key);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("tansu: cannot run {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        self.wait_until_accepting()
            .inspect_err(|_| self.kill())
            .map_err(|e| format!("{e}\n--- {}:\n{}", log_path.display(), tail(&log_path)))
    }

    fn wait_until_accepting(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "tansu exited before accepting connections: {status}"
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "tansu: {addr} not accepting after {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Creates `name` with `partitions` partitions (CreateTopics) and waits until the
    /// broker's metadata lists all of them. tansu does not auto-create topics.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create().unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(CALL_TIMEOUT));
        let created = admin.create_topics([&topic], &options).await.unwrap();
        assert!(
            created.iter().all(Result::is_ok),
            "CreateTopics {name}: {created:?}"
        );
        let consumer: BaseConsumer = self.client_config().create().unwrap();
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let listed = consumer
                .fetch_metadata(Some(name), Duration::from_secs(1))
                .ok()
                .and_then(|m| {
                    let t = m.topics().iter().find(|t| t.name() == name)?;
                    t.error().is_none().then(|| t.partitions().len())
                });
            if listed == Some(partitions as usize) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} not in metadata: {listed:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Appends `count` records to `topic`/`partition`, one record per batch
    /// (`batch.num.messages=1`; the batches are pipelined and flushed once: a flush per record
    /// costs ≈ 100 ms with rdkafka's BaseProducer), and fails the test if any is not
    /// acknowledged. Blocks the calling thread.
    pub fn produce(&self, topic: &str, partition: i32, count: usize) {
        let producer: BaseProducer<Deliveries> = self
            .client_config()
            .set("linger.ms", "0")
            .set("batch.num.messages", "1")
            .create_with_context(Deliveries::default())
            .unwrap();
        for i in 0..count {
            let payload = format!("record {i}");
            let mut record = BaseRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(&payload);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => panic!("produce to {topic}/{partition}: {e}"),
                }
            }
        }
        producer.flush(CALL_TIMEOUT).unwrap();
        let failed = producer.context().failed.lock().unwrap();
        assert!(
            failed.is_empty(),
            "produce to {topic}/{partition}: {failed:?}"
        );
    }

    /// Commits `offsets` (`(partition, offset)`) for `group` on `topic`: a consumer with
    /// `group.id` and no subscription, so no join or rebalance. Blocks the calling thread.
    pub fn commit(&self, group: &str, topic: &str, offsets: &[(i32, i64)]) {
        let consumer = self.group_consumer(group);
        let mut tpl = TopicPartitionList::new();
        for &(partition, offset) in offsets {
            tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
                .unwrap();
        }
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
    }

    /// `(low, high)` watermarks of `topic`/`partition` (ListOffsets).
    pub fn watermarks(&self, topic: &str, partition: i32) -> (i64, i64) {
        let consumer: BaseConsumer = self.client_config().create().unwrap();
        consumer
            .fetch_watermarks(topic, partition, CALL_TIMEOUT)
            .unwrap()
    }

    /// `group`'s committed offset on each of `partitions` of `topic` (OffsetFetch), in the
    /// order given; `Offset::Invalid` where the group has committed nothing.
    pub fn committed(&self, group: &str, topic: &str, partitions: &[i32]) -> Vec<Offset> {
        let consumer = self.group_consumer(group);
        let mut tpl = TopicPartitionList::new();
        for &partition in partitions {
            tpl.add_partition(topic, partition);
        }
        let committed = consumer.committed_offsets(tpl, CALL_TIMEOUT).unwrap();
        partitions
            .iter()
            .map(|&p| committed.find_partition(topic, p).unwrap().offset())
            .collect()
    }

    /// Sends one request at `version` on a new connection and decodes the response.
    pub fn request<R: Exchange>(&self, version: i16, request: &R) -> Result<R::Response, String> {
        let key = R::KEY;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(1)
            .with_client_id(Some(StrBytes::from_static_str("lagscale-tests")));
        let mut frame = BytesMut::new();
        let encoded = header
            .encode(&mut frame, key.request_header_version(version))
            .and_then(|()| request.encode(&mut frame, version));
        encoded.map_err(|e| format!("{key:?} v{version}: cannot encode: {e}"))?;
        let io = |e: std::io::Error| format!("{key:?} v{version}: {e}");
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(io)?;
        stream.set_read_timeout(Some(CALL_TIMEOUT)).map_err(io)?;
        stream
            .write_all(&(frame.len() as i32).to_be_bytes())
            .map_err(io)?;
        stream.write_all(&frame).map_err(io)?;
        let mut size = [0u8; 4];
        stream.read_exact(&mut size).map_err(io)?;
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        stream.read_exact(&mut body).map_err(io)?;
        let mut body = bytes::Bytes::from(body);
        ResponseHeader::decode(&mut body, key.response_header_version(version))
            .and_then(|_| R::Response::decode(&mut body, version))
            .and_then(|response| match body.remaining() {
                0 => Ok(response),
                n => Err(anyhow::anyhow!("{n} bytes left over")),
            })
            .map_err(|e| format!("{key:?} v{version}: cannot decode the response: {e}"))
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap_servers());
        config
    }

    fn group_consumer(&self, group: &str) -> BaseConsumer {
        self.client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap()
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A request [`Tansu::request`] can send, with its key and response. (kafka-protocol's own
/// `Request` trait needs its `broker` feature, which lagscale does not build.)
pub trait Exchange: Encodable {
    const KEY: ApiKey;
    type Response: Decodable;
}

macro_rules! exchange {
    ($($request:ident => $response:ident, $key:ident;)*) => {$(
        impl Exchange for $request {
            const KEY: ApiKey = ApiKey::$key;
            type Response = $response;
        }
    )*};
}

exchange! {
    ApiVersionsRequest => ApiVersionsResponse, ApiVersions;
    MetadataRequest => MetadataResponse, Metadata;
    FindCoordinatorRequest => FindCoordinatorResponse, FindCoordinator;
    OffsetFetchRequest => OffsetFetchResponse, OffsetFetch;
    ListOffsetsRequest => ListOffsetsResponse, ListOffsets;
}

/// A producer context that keeps delivery failures (BaseProducer's default drops them).
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.lock().unwrap().push(error.to_string());
        }
    }
}

/// The last lines of the broker's log, for a start-up failure message.
fn tail(path: &Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
