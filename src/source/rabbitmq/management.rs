//! RabbitMQ's management HTTP API, for what AMQP does not tell: a queue's publish and consume
//! rates (`metric: throughput`). One GET per query and refresh:
//! `/api/queues/{vhost}/{queue}?msg_rates_age={window}&msg_rates_incr={step}`, whose
//! `message_stats.publish_details.avg_rate` is the publish rate averaged over the window (the
//! management plugin's own samples), and `ack_details` (or `deliver_get_details`) the consume
//! rate. A queue nobody published to yet has no `message_stats`: its rates are 0.
//!
//! The URL comes from the connection profile (`management_url`, with user and password like the
//! AMQP URI); it is printed only as `user:***@host`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tokio_rustls::rustls::ClientConfig;

use super::tls::RabbitTls;
use crate::redact::redact_uri;
use crate::source::{ConnectionFailure, SourceError};

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `http(s)://[user[:password]@]host[:port][/base-path]`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ManagementUrl {
    raw: String,
    /// Scheme, authority without user info, and base path: where `/api/...` is appended.
    base: String,
    /// `Basic ...` when the URL has a user.
    authorization: Option<String>,
}

impl std::fmt::Debug for ManagementUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ManagementUrl({})", self.redacted())
    }
}

impl ManagementUrl {
    pub fn parse(raw: &str) -> Result<ManagementUrl, String> {
        let raw = raw.trim();
        let (scheme, rest) = raw
            .split_once("://")
            .filter(|(s, _)| matches!(*s, "http" | "https"))
            .ok_or("the scheme must be http:// or https://")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (user_info, host) = match authority.rsplit_once('@') {
            Some((user_info, host)) => (Some(user_info), host),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err("the host is missing".to_owned());
        }
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| "the user info is not valid percent-encoded UTF-8".to_owned())
        };
        let authorization = match user_info {
            None => None,
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                let pair = format!("{}:{}", decode(user)?, decode(password)?);
                use base64::Engine;
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
        };
        Ok(ManagementUrl {
            raw: raw.to_owned(),
            base: format!("{scheme}://{host}{}", path.trim_end_matches('/')),
            authorization,
        })
    }

    /// Whether requests go over TLS (`https://`).
    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_uri(&self.raw)
    }

    /// KEDA's reading of an inline `host` (`getVhostAndPathFromURL`): the last path segment
    /// is the vhost (percent-decoded; `None` when empty), the segments before it a path
    /// prefix kept in the returned URL.
    pub fn split_vhost(&self) -> (ManagementUrl, Option<String>) {
        let path_start = self.base.find("://").map_or(0, |i| i + 3);
        let path_start = self.base[path_start..]
            .find('/')
            .map_or(self.base.len(), |i| path_start + i);
        let (prefix, vhost) = match self.base[path_start..].rfind('/') {
            Some(slash) => self.base.split_at(path_start + slash),
            None => (self.base.as_str(), ""),
        };
        let vhost = percent_decode_str(vhost.trim_start_matches('/')).decode_utf8_lossy();
        let url = ManagementUrl {
            base: prefix.to_owned(),
            ..self.clone()
        };
        (url, (!vhost.is_empty()).then(|| vhost.into_owned()))
    }

    /// The host and port requests go to (80 or 443 unless the URL names one).
    pub fn authority(&self) -> (String, u16) {
        let (scheme, rest) = self.base.split_once("://").unwrap_or(("http", &self.base));
        let host_port = &rest[..rest.find('/').unwrap_or(rest.len())];
        let default = if scheme == "https" { 443 } else { 80 };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, port.parse().unwrap_or(default)),
            _ => (host_port, default),
        };
        (host.trim_matches(['[', ']']).to_owned(), port)
    }

    /// `/api/queues/{vhost}/{queue}` (`getQueueInfoViaHTTP`, without a regex).
    pub(super) fn queue_status_url(&self, vhost: &str, queue: &str) -> String {
        format!(
            "{}/api/queues/{}/{}",
            self.base,
            utf8_percent_encode(vhost, SEGMENT),
            utf8_percent_encode(queue, SEGMENT)
        )
    }

    /// The queues of `vhost` whose names match `pattern`, one page of `page_size`, as KEDA
    /// asks for them with `useRegex`.
    pub(super) fn regex_url(&self, vhost: &str, pattern: &str, page_size: u64) -> String {
        format!(
            "{}/api/queues/{}?page=1&use_regex=true&pagination=false&name={}&page_size={page_size}",
            self.base,
            utf8_percent_encode(vhost, SEGMENT),
            utf8_percent_encode(pattern, SEGMENT)
        )
    }

    fn queue_url(&self, vhost: &str, queue: &str, window: Duration) -> String {
        let age = window.as_secs().max(1);
        let step = (age / 12).max(1);
        format!(
            "{}/api/queues/{}/{}?msg_rates_age={age}&msg_rates_incr={step}",
            self.base,
            utf8_percent_encode(vhost, SEGMENT),
            utf8_percent_encode(queue, SEGMENT)
        )
    }
}

/// A queue's rates, in messages per second, and what `replicaThroughput: auto` learns from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueRates {
    pub publish: f64,
    /// Acknowledged (or, without acks, delivered) messages per second.
    pub consume: Option<f64>,
    /// Messages acknowledged (or delivered) since the queue's statistics began.
    pub consumed: Option<u64>,
    /// Messages ready for delivery.
    pub ready: Option<u64>,
    /// Consumers subscribed to the queue.
    pub consumers: Option<u32>,
}

/// Reads the rates out of `/api/queues/{vhost}/{queue}`'s JSON.
pub fn parse_rates(json: &serde_json::Value) -> QueueRates {
    let stats = &json["message_stats"];
    let rate = |name: &str| {
        let details = &stats[format!("{name}_details")];
        details["avg_rate"].as_f64().or(details["rate"].as_f64())
    };
    let count = |name: &str| stats[name].as_u64();
    QueueRates {
        publish: rate("publish").unwrap_or(0.0),
        consume: rate("ack")
            .or(rate("deliver_get"))
            .or(stats.is_null().then_some(0.0)),
        consumed: count("ack")
            .or(count("deliver_get"))
            .or(stats.is_null().then_some(0)),
        ready: json["messages_ready"].as_u64(),
        consumers: json["consumers"].as_u64().map(|c| c as u32),
    }
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The HTTP(S) clients for management APIs: one per TLS setup (profiles with the same `tls`
/// share one, and so do all without), each keeping its connections alive.
pub struct Management {
    clients: Mutex<HashMap<RabbitTls, HttpClient>>,
    timeout: Duration,
}

impl Management {
    pub fn new(timeout: Duration) -> Management {
        Management {
            clients: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    /// The client for `tls`, made on first use.
    fn client(&self, tls: &RabbitTls) -> HttpClient {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let client = clients.entry(tls.clone()).or_insert_with(|| {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(ClientConfig::clone(&tls.config()))
                .https_or_http()
                .enable_http1()
                .build();
            Client::builder(TokioExecutor::new()).build(connector)
        });
        client.clone()
    }

    /// The rates of `queue` in `vhost` over `window`.
    pub async fn queue_rates(
        &self,
        url: &ManagementUrl,
        tls: &RabbitTls,
        vhost: &str,
        queue: &str,
        window: Duration,
    ) -> Result<QueueRates, SourceError> {
        let what = || format!("queue {queue:?} in vhost {vhost:?}");
        let json = self
            .get_json(url, tls, url.queue_url(vhost, queue, window), None, what)
            .await?;
        Ok(parse_rates(&json))
    }

    /// GETs `target` (a URL under `url`) and reads its JSON, within `timeout` (default: the
    /// query timeout). `what` names the thing a 404 did not find.
    pub(super) async fn get_json(
        &self,
        url: &ManagementUrl,
        tls: &RabbitTls,
        target: String,
        timeout: Option<Duration>,
        what: impl FnOnce() -> String,
    ) -> Result<serde_json::Value, SourceError> {
        let limit = timeout.unwrap_or(self.timeout);
        let endpoint = format!("management API {}", url.redacted());
        let mut request = hyper::Request::get(target);
        if let Some(authorization) = &url.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| SourceError::Broker {
                endpoint: endpoint.clone(),
                operation: "building a request",
                reason: e.to_string(),
            })?;
        let timeout = |operation| SourceError::Timeout {
            endpoint: endpoint.clone(),
            operation,
            after_ms: limit.as_millis(),
        };
        let response = tokio::time::timeout(limit, self.client(tls).request(request))
            .await
            .map_err(|_| timeout("GET /api/queues"))?
            .map_err(|e| SourceError::Connection {
                endpoint: endpoint.clone(),
                failure: ConnectionFailure::Connect,
                detail: e.to_string(),
            })?;
        let status = response.status();
        let body = tokio::time::timeout(limit, response.into_body().collect())
            .await
            .map_err(|_| timeout("reading /api/queues"))?
            .map_err(|e| SourceError::Connection {
                endpoint: endpoint.clone(),
                failure: ConnectionFailure::Lost,
                detail: e.to_string(),
            })?
            .to_bytes();
        match status.as_u16() {
            200 => serde_json::from_slice(&body).map_err(|e| SourceError::Broker {
                endpoint: endpoint.clone(),
                operation: "reading /api/queues",
                reason: format!("not JSON: {e}"),
            }),
            401 | 403 => Err(SourceError::AccessRefused {
                endpoint,
                reason: format!("HTTP {status} (the user needs the `monitoring` tag)"),
            }),
            404 => Err(SourceError::NotFound {
                endpoint,
                what: what(),
            }),
            _ => Err(SourceError::Broker {
                endpoint,
                operation: "GET /api/queues",
                reason: format!("HTTP {status}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn urls() {
        let url = ManagementUrl::parse("http://mon:s3cr%40t@rabbit:15672/").unwrap();
        assert_eq!(
            url.queue_url("/", "jobs 1", Duration::from_secs(60)),
            "http://rabbit:15672/api/queues/%2F/jobs%201?msg_rates_age=60&msg_rates_incr=5"
        );
        assert_eq!(url.authorization.as_deref(), Some("Basic bW9uOnMzY3JAdA=="));
        assert_eq!(
            format!("{url:?}"),
            "ManagementUrl(http://mon:***@rabbit:15672/)"
        );
        let prefixed = ManagementUrl::parse("https://rabbit.example/rabbitmq").unwrap();
        assert!(
            prefixed
                .queue_url("v", "q", Duration::from_secs(2))
                .starts_with("https://rabbit.example/rabbitmq/api/queues/v/q?")
        );
        assert_eq!(prefixed.authorization, None);
        assert!(
            ManagementUrl::parse("amqp://h")
                .unwrap_err()
                .contains("http:// or https://")
        );
        assert!(
            ManagementUrl::parse("http://u:p@")
                .unwrap_err()
                .contains("host")
        );
    }

    #[test]
    fn rates() {
        let busy = json!({"messages_ready": 5, "consumers": 3, "message_stats": {
            "publish_details": {"rate": 12.0, "avg_rate": 10.5},
            "ack": 1200, "ack_details": {"rate": 8.0}}});
        assert_eq!(
            parse_rates(&busy),
            QueueRates {
                publish: 10.5,
                consume: Some(8.0),
                consumed: Some(1200),
                ready: Some(5),
                consumers: Some(3),
            }
        );
        let no_acks = json!({"message_stats": {"publish_details": {"rate": 3.0},
            "deliver_get_details": {"rate": 2.0}}});
        assert_eq!(
            parse_rates(&no_acks),
            QueueRates {
                publish: 3.0,
                consume: Some(2.0),
                consumed: None,
                ready: None,
                consumers: None,
            }
        );
        let idle = json!({"messages_ready": 0});
        assert_eq!(
            parse_rates(&idle),
            QueueRates {
                publish: 0.0,
                consume: Some(0.0),
                consumed: Some(0),
                ready: Some(0),
                consumers: None,
            }
        );
    }
}
