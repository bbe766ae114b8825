//! 10,000 generated trigger maps through the real gRPC server: huge values, long names, NUL
//! bytes, ranges over every partition number, junk keys. No call may panic the server (a
//! handler panic reaches the client as Cancelled or Unknown), no error message may exceed
//! 1 kB, and the process stays under 256 MiB. A test binary of its own, so that the resident
//! memory measured belongs to this test alone. The server denies inline brokers, so the maps
//! open no connection to whatever they name; profile triggers read closed ports on 127.0.0.1.

#[allow(dead_code)]
#[path = "../e2e/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};

use lagscale::config::{Config, InlineEndpoints};
use lagscale::proto::ScaledObjectRef;
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use lagscale::source::ClusterProfile;
use lagscale::source::kafka::KafkaProfile;
use support::{TestServer, config, metrics_request, rss_mib};
use tonic::Code;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const KEYS: &[&str] = &[
    "source",
    "cluster",
    "host",
    "bootstrapServers",
    "queueName",
    "vhostName",
    "consumerGroup",
    "topic",
    "partitionLimitation",
    "lagThreshold",
    "activationLagThreshold",
    "transform",
    "log2Multiplier",
    "metricName",
    "metric",
    "strategy",
    "offsetResetPolicy",
    "lagAggregate",
    "scalerAddress",
    "lagTreshold",
];

fn value(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "x".repeat(100_000),
        1 => "q".repeat(256 + rng.below(300)),
        2 => "0-2147483647".to_owned(),
        3 => "a\0b".to_owned(),
        4 => "2147483647-0,1,2-".to_owned(),
        5 => "amqp://u:p/w@127.0.0.1:1/%2f".to_owned(),
        6 => "127.0.0.1:1".to_owned(),
        7 => ["rabbitmq", "kafka", "main", "events"][rng.below(4)].to_owned(),
        8 => ["log2", "throughput", "step", "none", "max"][rng.below(5)].to_owned(),
        9 => (rng.next() as i64).to_string(),
        10 => "é".repeat(rng.below(5000)),
        _ => format!("{}", rng.below(1000)),
    }
}

fn metadata(rng: &mut Rng) -> HashMap<String, String> {
    // Half the maps start from a valid trigger on a profile, so the evaluation path is reached.
    let base: &[(&str, &str)] = match rng.below(4) {
        0 => &[
            ("source", "rabbitmq"),
            ("cluster", "main"),
            ("queueName", "q"),
        ],
        1 => &[
            ("source", "kafka"),
            ("cluster", "events"),
            ("consumerGroup", "g"),
        ],
        2 => &[("source", "rabbitmq")],
        _ => &[("source", "kafka")],
    };
    let mut map: HashMap<String, String> = base
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for _ in 0..rng.below(4) {
        let key = match rng.below(10) {
            0 => "k".repeat(1 + rng.below(300)),
            _ => KEYS[rng.below(KEYS.len())].to_owned(),
        };
        map.insert(key, value(rng));
    }
    if rng.below(50) == 0 {
        // More keys than any trigger has.
        map.extend((0..100).map(|i| (format!("junk{i}"), "v".to_owned())));
    }
    map
}

fn so(i: usize, metadata: HashMap<String, String>) -> ScaledObjectRef {
    ScaledObjectRef {
        name: format!("fuzz-{i}"),
        namespace: "default".to_owned(),
        scaler_metadata: metadata.into(),
    }
}

/// A status a well-behaved server gives: anything but the codes a panicking handler or a lost
/// connection produce, and a short message.
fn check(status: &tonic::Status, metadata: &HashMap<String, String>) {
    assert!(
        !matches!(
            status.code(),
            Code::Cancelled | Code::Unknown | Code::Internal
        ),
        "{status:?} for {:?}",
        metadata.keys().collect::<Vec<_>>()
    );
    assert!(
        status.message().len() <= 1024,
        "a {}-byte message: {:.200}",
        status.message().len(),
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_generated_maps_neither_crash_nor_bloat_the_server() {
    let clusters = BTreeMap::from([
        (
            "main".to_owned(),
            support::clusters(&[("main", "amqp://guest:guest@127.0.0.1:1/%2f")])
                .remove("main")
                .unwrap(),
        ),
        (
            "events".to_owned(),
            ClusterProfile::Kafka(KafkaProfile::inline("127.0.0.1:1").unwrap()),
        ),
    ]);
    let server = TestServer::start(Config {
        inline_endpoints: InlineEndpoints::Deny,
        broker_connect_timeout_ms: 200,
        broker_query_timeout_ms: 200,
        clusters,
        ..config()
    })
    .await;
    let channel = server.channel().await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut answered, mut refused) = (0, 0);
    for chunk in 0..100 {
        let calls = (0..100).map(|j| {
            let i = chunk * 100 + j;
            let metadata = metadata(&mut rng);
            let mut client = ExternalScalerClient::new(channel.clone());
            async move {
                // Every map gets a spec: a placeholder when it does not parse, so that KEDA
                // keeps the trigger and shows the error GetMetrics returns.
                let spec = client.get_metric_spec(so(i, metadata.clone())).await;
                if let Err(status) = &spec {
                    check(status, &metadata);
                    panic!("GetMetricSpec failed: {status:?}");
                }
                // Triggers that parse are evaluated (their brokers are closed ports); the
                // others are refused with InvalidArgument.
                let request = metrics_request(so(i, metadata.clone()), "");
                match client.get_metrics(request).await {
                    Err(status) if status.code() == Code::InvalidArgument => {
                        check(&status, &metadata);
                        false
                    }
                    Err(status) => {
                        check(&status, &metadata);
                        true
                    }
                    Ok(_) => true,
                }
            }
        });
        for ok in futures_util::future::join_all(calls).await {
            if ok {
                answered += 1;
            } else {
                refused += 1;
            }
        }
    }
    let rss = rss_mib();
    println!("10,000 maps: {answered} parsed and evaluated, {refused} refused; RSS {rss:.1} MiB");
    assert_eq!(answered + refused, 10_000);
    assert!(
        answered > 0 && refused > 0,
        "the generator reaches both paths"
    );
    assert!(rss < 256.0, "RSS {rss:.1} MiB");
    // The server still answers a plain call.
    let mut client = ExternalScalerClient::new(channel);
    let plain = HashMap::from([
        ("source".to_owned(), "kafka".to_owned()),
        ("cluster".to_owned(), "events".to_owned()),
        ("consumerGroup".to_owned(), "g".to_owned()),
    ]);
    client.get_metric_spec(so(0, plain)).await.unwrap();
}
