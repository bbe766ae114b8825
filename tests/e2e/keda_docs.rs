//! The trigger examples of KEDA's docs (keda-docs, `content/docs/2.21/scalers/apache-kafka.md`
//! and `rabbitmq-queue.md`), moved as "Moving a trigger from KEDA" says: `type: external`,
//! `scalerAddress` and `source` added, and what a TriggerAuthentication gave (`host`, SASL, TLS)
//! moved to a `cluster` profile. Each is served through the real gRPC server with KEDA's
//! semantics, against librdkafka's mock cluster and the real RabbitMQ.
//!
//! Elsewhere: the Kafka examples whose TriggerAuthentication carries SASL, TLS, OAuth, Kerberos
//! or AWS IAM (kafka-3 to kafka-8) are in `keda_docs_auth.rs`, through a TLS and SASL front for
//! the mock cluster; rabbitmq-4 (AMQPS with a CA and a client certificate) is in
//! `rabbit_tls.rs`, against the real RabbitMQ's TLS listener. kafka-1's `tls`/`sasl` are left out
//! here because the mock cluster speaks plaintext.

use std::time::Duration;

use lagscale::config::Config;
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use lagscale::source::ClusterProfile;
use lagscale::source::rabbitmq::management::ManagementUrl;
use lagscale::source::rabbitmq::{AmqpUri, RabbitmqProfile};
use tonic::transport::Channel;

use crate::support::kafka::{Kafka, unique};
use crate::support::rabbit::{TestQueue, management_url, uri};
use crate::support::{TestServer, config, eventually, metrics_request, so};

const ADDRESS: (&str, &str) = ("scalerAddress", "lagscale.keda.svc.cluster.local:6000");

/// GetMetrics' value and IsActive's answer.
async fn ask(client: &ExternalScalerClient<Channel>, pairs: &[(String, String)]) -> (f64, bool) {
    let mut client = client.clone();
    let metrics = client.get_metrics(metrics_request(so("docs", pairs), ""));
    let value = metrics.await.unwrap().into_inner().metric_values[0].metric_value_float;
    let active = client.is_active(so("docs", pairs)).await.unwrap();
    (value, active.into_inner().result)
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// kafka-1 (the full key set, less `tls`/`sasl`) and kafka-2 (no auth), on a 32-partition topic
/// with a lag of 1 on each of partitions 0–31.
#[tokio::test(flavor = "multi_thread")]
async fn the_kafka_examples_are_served_as_keda_serves_them() {
    let kafka = Kafka::start();
    let topic = kafka.topic(32);
    let all: Vec<i32> = (0..32).collect();
    kafka.produce(&topic, &all, 2);
    let group = unique("my-group");
    let commits: Vec<(i32, i64)> = all.iter().map(|p| (*p, 1)).collect();
    kafka.commit(&group, &topic, &commits);
    let server = TestServer::start(config()).await;
    let client = server.client().await;
    let bootstrap = kafka.bootstrap();
    let base = [
        ADDRESS,
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
        ("topic", topic.as_str()),
    ];
    let kafka_1 = [
        ("lagThreshold", "5"),
        ("activationLagThreshold", "3"),
        ("offsetResetPolicy", "latest"),
        ("allowIdleConsumers", "false"),
        ("scaleToZeroOnInvalidOffset", "false"),
        ("excludePersistentLag", "false"),
        ("limitToPartitionsWithLag", "false"),
        ("ensureEvenDistributionOfPartitions", "false"),
        ("version", "1.0.0"),
        ("fullMetadata", "true"),
        ("partitionLimitation", "1,2,10-20,31"),
        ("unsafeSsl", "false"),
    ];
    let pairs = owned(&[&base[..], &kafka_1[..]].concat());
    // 14 partitions counted, lag 1 each: 14, under the cap of 14 × 5; 14 > 3 activates.
    assert_eq!(ask(&client, &pairs).await, (14.0, true));
    let kafka_2 = [("lagThreshold", "50"), ("offsetResetPolicy", "latest")];
    let pairs = owned(&[&base[..], &kafka_2[..]].concat());
    assert_eq!(ask(&client, &pairs).await, (32.0, true));
}

/// The RabbitMQ examples, their `host` moved to the `main` profile (AMQP URI and management
/// API), on a queue of 7 ready messages nobody consumes.
#[tokio::test(flavor = "multi_thread")]
async fn the_rabbitmq_examples_are_served_as_keda_serves_them() {
    let queue = TestQueue::new("docs").await;
    queue.publish(7).await;
    let other = TestQueue::new("docs").await;
    other.publish(3).await;
    let profile = RabbitmqProfile::new(
        AmqpUri::parse(&uri()).unwrap(),
        Some(ManagementUrl::parse(&management_url()).unwrap()),
    );
    let server = TestServer::start(Config {
        clusters: [("main".to_owned(), ClusterProfile::Rabbitmq(profile))].into(),
        ..config()
    })
    .await;
    let client = server.client().await;
    let trigger = |extra: &[(&str, &str)]| {
        let base = [
            ADDRESS,
            ("source", "rabbitmq"),
            ("cluster", "main"),
            ("queueName", queue.name.as_str()),
        ];
        owned(&[&base[..], extra].concat())
    };
    let queue_length = [("mode", "QueueLength"), ("value", "20")];
    // rabbitmq-2 and -3: AMQP, ready messages.
    let amqp = trigger(&[&[("protocol", "amqp")][..], &queue_length[..]].concat());
    assert_eq!(ask(&client, &amqp).await, (7.0, true));
    // The management API's figures trail the broker by its stats interval: poll.
    let served = |pairs: Vec<(String, String)>, want: fn(f64, bool) -> bool, what| {
        let client = client.clone();
        async move {
            eventually(Duration::from_secs(30), what, || async {
                let (value, active) = ask(&client, &pairs).await;
                want(value, active).then_some(())
            })
            .await;
        }
    };
    // rabbitmq-5 and -6a: HTTP, QueueLength (ready + unacknowledged).
    let http = [("protocol", "http")];
    let pairs = trigger(&[&http[..], &queue_length[..]].concat());
    served(pairs, |v, a| v == 7.0 && a, "rabbitmq-5: 7 over HTTP").await;
    // rabbitmq-6b: MessageRate, the publish rate; active while messages wait (m > a).
    let pairs = trigger(&[&http[..], &[("mode", "MessageRate"), ("value", "100")]].concat());
    served(pairs, |v, a| v >= 0.0 && a, "rabbitmq-6b: active").await;
    // rabbitmq-9: DeliverGetRate, 0 on a queue nobody consumes, and inactive.
    let pairs = trigger(&[&http[..], &[("mode", "DeliverGetRate"), ("value", "30")]].concat());
    served(pairs, |v, a| v == 0.0 && !a, "rabbitmq-9: 0, inactive").await;
    // rabbitmq-12: ExpectedQueueConsumptionTime with messages and nothing delivered: KEDA
    // serves activationValue (0) and is active.
    let eta = [("mode", "ExpectedQueueConsumptionTime"), ("value", "20")];
    let pairs = trigger(&[&http[..], &eta[..]].concat());
    served(pairs, |v, a| v == 0.0 && a, "rabbitmq-12: active").await;
    // rabbitmq-10 and -11a: PublishedToDeliveredRatio: published but nothing delivered serves
    // activationValue (0), active while the publish rate is above 0; then 0 and inactive.
    let ratio = [("mode", "PublishedToDeliveredRatio"), ("value", "1.1")];
    let pairs = trigger(&[&http[..], &ratio[..]].concat());
    served(pairs, |v, _| v == 0.0, "rabbitmq-10: 0").await;
    // rabbitmq-7: a regex with `operation: max` (its `^.*incoming$` made to match this test's
    // two queues): the larger of 7 and 3.
    let prefix = queue.name.rsplit_once('-').unwrap().0;
    let regex = format!("^{prefix}-[0-9]+$");
    let mut pairs = trigger(
        &[
            &http[..],
            &queue_length[..],
            &[("useRegex", "true"), ("operation", "max")],
        ]
        .concat(),
    );
    pairs.retain(|(k, _)| k != "queueName");
    pairs.push(("queueName".to_owned(), regex));
    served(pairs, |v, a| v == 7.0 && a, "rabbitmq-7: max 7").await;
    // rabbitmq-8 (Azure workload identity, which lagscale does not do: the profile's basic
    // auth instead) writes `vHostName`, which KEDA's scaler never reads (its key is
    // `vhostName`) and so ignores; lagscale names the typo and the key it meant.
    let mut client = client.clone();
    let mut pairs = trigger(&[&http[..], &queue_length[..]].concat());
    pairs.push(("vHostName".to_owned(), "/".to_owned()));
    let error = client
        .get_metrics(metrics_request(so("docs", &pairs), ""))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(
        error.message().contains("vHostName") && error.message().contains("vhostName"),
        "{}",
        error.message()
    );
    pairs.retain(|(k, _)| k != "vHostName");
    pairs.push(("vhostName".to_owned(), "/".to_owned()));
    served(pairs, |v, a| v == 7.0 && a, "rabbitmq-8: 7 over HTTP").await;
    queue.delete().await;
    other.delete().await;
}

/// rabbitmq-1's `usernameFromEnv` and `passwordFromEnv`, as KEDA forwards them (resolved):
/// they replace the host's user info over AMQP and HTTP; a wrong password is PermissionDenied
/// (AMQP) and never shown.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_from_the_environment_are_used() {
    let queue = TestQueue::new("docs-credentials").await;
    queue.publish(4).await;
    let server = TestServer::start(config()).await;
    let client = server.client().await;
    let trigger = |host: &str, password: &str| {
        owned(&[
            ADDRESS,
            ("source", "rabbitmq"),
            ("hostFromEnv", host),
            ("usernameFromEnv", "guest"),
            ("passwordFromEnv", password),
            ("queueName", queue.name.as_str()),
        ])
    };
    let amqp = trigger("amqp://127.0.0.1:5672/%2f", "guest");
    assert_eq!(ask(&client, &amqp).await, (4.0, true));
    let http = trigger("http://127.0.0.1:15672/%2F", "guest");
    eventually(Duration::from_secs(30), "4 over HTTP", || async {
        (ask(&client, &http).await == (4.0, true)).then_some(())
    })
    .await;
    let wrong = trigger("amqp://127.0.0.1:5672/%2f", "not-the-password");
    let mut c = client.clone();
    let status = c
        .get_metrics(metrics_request(so("docs", &wrong), ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(!status.message().contains("not-the-password"), "{status:?}");
    queue.delete().await;
}
