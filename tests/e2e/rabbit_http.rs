//! `protocol: http` through the real gRPC server against the real RabbitMQ's management API:
//! unacknowledged messages counted or not, regexes over queues, a rate mode served, and the
//! errors of KEDA's rules. The management API's counts trail the broker by its stats interval
//! (5 s by default), so every expectation is polled with a deadline.

use std::time::Duration;

use lagscale::proto::external_scaler_client::ExternalScalerClient;
use tonic::transport::Channel;

use crate::support::rabbit::{TestQueue, uri};
use crate::support::{TestServer, config, eventually, metrics_request, so};

/// The management API as an inline KEDA `host`, vhost `/`.
const HTTP_HOST: &str = "http://guest:guest@127.0.0.1:15672/%2F";

type Pairs = Vec<(&'static str, String)>;

fn trigger(queue: &str, host: &str, extra: &[(&'static str, &str)]) -> Pairs {
    let mut pairs = vec![
        ("source", "rabbitmq".to_owned()),
        ("host", host.to_owned()),
        ("queueName", queue.to_owned()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    pairs
}

/// GetMetrics' value and IsActive's answer, or the error's code and message.
async fn ask(
    client: &ExternalScalerClient<Channel>,
    pairs: &Pairs,
) -> Result<(f64, bool), (tonic::Code, String)> {
    let mut client = client.clone();
    let metrics = client
        .get_metrics(metrics_request(so("r", pairs), ""))
        .await
        .map_err(|s| (s.code(), s.message().to_owned()))?;
    let active = client
        .is_active(so("r", pairs))
        .await
        .map_err(|s| (s.code(), s.message().to_owned()))?;
    Ok((
        metrics.into_inner().metric_values[0].metric_value_float,
        active.into_inner().result,
    ))
}

/// Polls until the trigger serves `want` (and is active), within 30 s.
async fn served(client: &ExternalScalerClient<Channel>, pairs: &Pairs, want: f64, what: &str) {
    eventually(Duration::from_secs(30), what, || async {
        match ask(client, pairs).await {
            Ok((value, active)) => (value == want && active == (want > 0.0)).then_some(()),
            Err(_) => None,
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rabbit_http_counts_unacknowledged_unless_excluded() {
    let server = TestServer::start(config()).await;
    let client = server.client().await;
    let queue = TestQueue::new("http-unacked").await;
    queue.publish(8).await;
    let (_channel, _consumer) = queue.hold_unacked(3).await;
    eventually(Duration::from_secs(10), "3 messages taken", || async {
        (queue.ready().await == 5).then_some(())
    })
    .await;

    let http = trigger(&queue.name, HTTP_HOST, &[("protocol", "http")]);
    served(&client, &http, 8.0, "ready + unacknowledged = 8 over HTTP").await;
    let auto = trigger(&queue.name, HTTP_HOST, &[]);
    served(&client, &auto, 8.0, "auto is http for an http:// host").await;
    let ready = trigger(&queue.name, HTTP_HOST, &[("excludeUnacknowledged", "true")]);
    served(&client, &ready, 5.0, "messages_ready = 5").await;
    let amqp = trigger(&queue.name, &uri(), &[]);
    assert_eq!(
        ask(&client, &amqp).await.unwrap(),
        (5.0, true),
        "AMQP: ready only"
    );
    // Each answer came through Sources: counted like any broker query.
    assert!(server.queries_sent() >= 4);
    queue.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rabbit_http_regex_sum_max_and_the_one_page_rule() {
    let server = TestServer::start(config()).await;
    let client = server.client().await;
    let a = TestQueue::new("http-regex").await;
    let b = TestQueue::new("http-regex").await;
    a.publish(3).await;
    b.publish(5).await;
    let pattern = format!("^lagscale-test-http-regex-{}-", std::process::id());
    let regex = |extra: &[(&'static str, &str)]| {
        let mut pairs = vec![("useRegex", "true")];
        pairs.extend_from_slice(extra);
        trigger(&pattern, HTTP_HOST, &pairs)
    };
    served(&client, &regex(&[]), 8.0, "the sum over both queues").await;
    served(
        &client,
        &regex(&[("operation", "max")]),
        5.0,
        "the larger queue",
    )
    .await;
    served(&client, &regex(&[("operation", "avg")]), 4.0, "the average").await;

    let (code, message) = ask(&client, &regex(&[("pageSize", "1")]))
        .await
        .unwrap_err();
    assert_eq!(code, tonic::Code::Unavailable, "{message}");
    assert!(
        message.contains("regex matches more queues than can be recovered at once")
            && !message.contains("guest:guest"),
        "{message}"
    );
    a.delete().await;
    b.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rabbit_http_rate_modes_are_served() {
    let server = TestServer::start(config()).await;
    let client = server.client().await;
    let queue = TestQueue::new("http-modes").await;
    // Nothing consumes: d = 0 while m > 0, so KEDA's ETA is activationValue, and active.
    queue.publish(4).await;
    let eta = trigger(
        &queue.name,
        HTTP_HOST,
        &[
            ("mode", "ExpectedQueueConsumptionTime"),
            ("value", "30"),
            ("activationValue", "7"),
        ],
    );
    served(
        &client,
        &eta,
        7.0,
        "ETA = activationValue with nothing delivered",
    )
    .await;
    // Nothing delivered, so no deliver rate: 0 and inactive.
    let deliver = trigger(
        &queue.name,
        HTTP_HOST,
        &[("mode", "DeliverGetRate"), ("value", "5")],
    );
    assert_eq!(ask(&client, &deliver).await.unwrap(), (0.0, false));
    // The publish rate decays to 0 over time: served (≥ 0) and active while m > a.
    let rate = trigger(
        &queue.name,
        HTTP_HOST,
        &[("mode", "MessageRate"), ("value", "5")],
    );
    let (value, active) = ask(&client, &rate).await.unwrap();
    assert!(value >= 0.0 && active, "{value} {active}");
    queue.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rabbit_http_errors_name_key_value_and_expectation() {
    let server = TestServer::start(config()).await;
    let client = server.client().await;
    let cases: [(Pairs, &[&str]); 6] = [
        (
            trigger("q", &uri(), &[("mode", "MessageRate"), ("value", "1")]),
            &["mode: \"MessageRate\"", "protocol: http"],
        ),
        (
            trigger(
                "q",
                HTTP_HOST,
                &[
                    ("mode", "MessageRate"),
                    ("value", "1"),
                    ("transform", "log2"),
                ],
            ),
            &["transform: \"log2\"", "none with mode: MessageRate"],
        ),
        (
            trigger(
                "q",
                &uri(),
                &[("mode", "QueueLength"), ("value", "1"), ("timeout", "2s")],
            ),
            &["timeout", "AMQP protocol doesn't support custom timeouts"],
        ),
        (
            trigger(
                "q",
                HTTP_HOST,
                &[("queueLength", "5"), ("mode", "QueueLength")],
            ),
            &["queueLength is deprecated; use mode and value"],
        ),
        (
            trigger("q", HTTP_HOST, &[("mode", "MessageRate")]),
            &["value: missing", "mode and value together"],
        ),
        (
            trigger("q", HTTP_HOST, &[("password", "hunter2")]),
            &["password: not used", "TriggerAuthentication", "`cluster`"],
        ),
    ];
    for (pairs, words) in cases {
        let (code, message) = ask(&client, &pairs).await.unwrap_err();
        assert_eq!(code, tonic::Code::InvalidArgument, "{message}");
        for word in words {
            assert!(message.contains(word), "{message:?} lacks {word:?}");
        }
        assert!(
            !message.contains("hunter2") && !message.contains("guest:guest"),
            "{message}"
        );
    }
    // A queue the vhost does not have is NotFound, never a zero.
    let missing = trigger("lagscale-test-no-such-queue", HTTP_HOST, &[]);
    let (code, message) = ask(&client, &missing).await.unwrap_err();
    assert_eq!(code, tonic::Code::NotFound, "{message}");
    assert!(!message.contains("guest:guest"), "{message}");
}
