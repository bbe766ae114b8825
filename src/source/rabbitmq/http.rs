//! `protocol: http`: a queue's counts and rates from RabbitMQ's management API, as KEDA's
//! RabbitMQ scaler reads them (`pkg/scalers/rabbitmq_scaler.go`, `getQueueInfoViaHTTP`):
//! `GET /api/queues/{vhost}/{queue}`, or with `useRegex` one page of
//! `GET /api/queues/{vhost}?page=1&use_regex=true&pagination=false&name={regex}&page_size={n}`,
//! which is an error when the matches fill more than that one page (`page_count > 1`), as in
//! KEDA. Each queue gives `messages` (ready + unacknowledged), `messages_ready`, and
//! `message_stats.publish_details.rate` and `deliver_get_details.rate` (0 when the queue has
//! no `message_stats` yet). The vhost of an inline `http(s)://user:pass@host:15672/vhost`
//! host is its last path segment (`getVhostAndPathFromURL`; see [`ManagementUrl::split_vhost`]).

use std::time::Duration;

use super::management::{Management, ManagementUrl};
use super::tls::RabbitTls;
use crate::metadata::MetricName;
use crate::source::SourceError;

/// One queue (or one regex's queues) to read from a management API: the cache key of
/// `protocol: http`, so it holds exactly what is asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpQuery {
    /// The profile's name, or `None` for an inline `host`.
    pub cluster: Option<String>,
    /// The API's base URL (with any path prefix) and credentials; Debug prints it redacted.
    pub url: ManagementUrl,
    /// The vhost, decoded (`/` by default).
    pub vhost: String,
    /// The queue, or with `useRegex` the regex its name must match.
    pub queue: String,
    /// `useRegex`: the `pageSize` of the one page of matching queues asked for.
    pub regex_page_size: Option<u64>,
    /// `timeout`: for this query's requests, instead of the query timeout.
    pub timeout: Option<Duration>,
    /// TLS for an `https://` URL (the profile's, or the system default).
    pub tls: RabbitTls,
}

impl HttpQuery {
    /// How logs and errors name its endpoint: the profile name, or the redacted URL.
    pub fn label(&self) -> String {
        match &self.cluster {
            Some(name) => format!("cluster {name:?}"),
            None => self.url.redacted(),
        }
    }

    /// `rabbitmq-[CLUSTER-][VHOST-]QUEUE`, the vhost left out when it is `/`.
    pub fn default_metric_name(&self) -> MetricName {
        let mut parts = vec!["rabbitmq"];
        parts.extend(self.cluster.as_deref());
        if self.vhost != "/" {
            parts.push(&self.vhost);
        }
        parts.push(&self.queue);
        MetricName::derive(&parts)
    }
}

/// What the management API says of one queue (KEDA's `queueInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    pub name: String,
    /// Ready + unacknowledged.
    pub messages: u64,
    pub ready: u64,
    /// Messages published per second.
    pub publish: f64,
    /// Messages delivered or fetched per second.
    pub deliver_get: f64,
}

/// One queue's JSON (an element of `items`, or `/api/queues/{vhost}/{queue}`'s answer).
pub fn parse_queue(json: &serde_json::Value) -> QueueInfo {
    let count = |name: &str| json[name].as_u64().unwrap_or(0);
    let rate = |name: &str| {
        json["message_stats"][format!("{name}_details")]["rate"]
            .as_f64()
            .unwrap_or(0.0)
    };
    QueueInfo {
        name: json["name"].as_str().unwrap_or_default().to_owned(),
        messages: count("messages"),
        ready: count("messages_ready"),
        publish: rate("publish"),
        deliver_get: rate("deliver_get"),
    }
}

/// A regex query's page: its queues, or KEDA's error when they need more than one page.
pub fn parse_page(json: &serde_json::Value, page_size: u64) -> Result<Vec<QueueInfo>, String> {
    let pages = json["page_count"].as_u64().unwrap_or(0);
    if pages > 1 {
        return Err(format!(
            "regex matches more queues than can be recovered at once ({pages} pages of \
             pageSize {page_size}; raise pageSize or narrow queueName)"
        ));
    }
    let items = json["items"]
        .as_array()
        .ok_or("the answer has no `items` list")?;
    Ok(items.iter().map(parse_queue).collect())
}

impl Management {
    /// The queue, or the queues matching the regex, of `query`.
    pub async fn queue_status(&self, query: &HttpQuery) -> Result<Vec<QueueInfo>, SourceError> {
        let url = &query.url;
        let what = || format!("queue {:?} in vhost {:?}", query.queue, query.vhost);
        match query.regex_page_size {
            None => {
                let target = url.queue_status_url(&query.vhost, &query.queue);
                let json = self
                    .get_json(url, &query.tls, target, query.timeout, what)
                    .await?;
                Ok(vec![parse_queue(&json)])
            }
            Some(page_size) => {
                let target = url.regex_url(&query.vhost, &query.queue, page_size);
                let what = || format!("vhost {:?}", query.vhost);
                let json = self
                    .get_json(url, &query.tls, target, query.timeout, what)
                    .await?;
                parse_page(&json, page_size).map_err(|reason| SourceError::Broker {
                    endpoint: format!("management API {}", url.redacted()),
                    operation: "GET /api/queues?use_regex=true",
                    reason,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn vhost_is_the_last_path_segment() {
        let cases = [
            (
                "http://u:p@h:15672/",
                "http://h:15672/api/queues/%2F/q",
                None,
            ),
            ("http://h:15672", "http://h:15672/api/queues/%2F/q", None),
            (
                "http://h:15672/myvh",
                "http://h:15672/api/queues/myvh/q",
                Some("myvh"),
            ),
            (
                "http://h/prefix/vh",
                "http://h/prefix/api/queues/vh/q",
                Some("vh"),
            ),
            ("https://h/%2F", "https://h/api/queues/%2F/q", Some("/")),
        ];
        for (host, want, vhost) in cases {
            let (url, got) = ManagementUrl::parse(host).unwrap().split_vhost();
            assert_eq!(got.as_deref(), vhost, "{host}");
            let vhost = got.unwrap_or_else(|| "/".to_owned());
            assert_eq!(url.queue_status_url(&vhost, "q"), want, "{host}");
        }
        let (url, _) = ManagementUrl::parse("http://u:s3cret@h:15672/vh")
            .unwrap()
            .split_vhost();
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(
            url.regex_url("/", "^jobs-.*$", 1),
            "http://h:15672/api/queues/%2F?page=1&use_regex=true&pagination=false\
             &name=%5Ejobs-.%2A%24&page_size=1"
        );
    }

    #[test]
    fn authorities() {
        let authority = |raw| ManagementUrl::parse(raw).unwrap().authority();
        assert_eq!(authority("http://u:p@h:15672/v"), ("h".to_owned(), 15672));
        assert_eq!(
            authority("https://rabbit.example"),
            ("rabbit.example".to_owned(), 443)
        );
        assert_eq!(authority("http://[::1]:15672"), ("::1".to_owned(), 15672));
        assert_eq!(authority("http://[::1]/"), ("::1".to_owned(), 80));
    }

    #[test]
    fn queue_fields() {
        let busy = json!({"name": "jobs", "messages": 8, "messages_ready": 5,
            "messages_unacknowledged": 3, "message_stats": {
            "publish_details": {"rate": 2.5}, "deliver_get_details": {"rate": 1.25}}});
        assert_eq!(
            parse_queue(&busy),
            QueueInfo {
                name: "jobs".to_owned(),
                messages: 8,
                ready: 5,
                publish: 2.5,
                deliver_get: 1.25
            }
        );
        let fresh = parse_queue(&json!({"name": "new", "messages": 0}));
        assert_eq!(
            (fresh.ready, fresh.publish, fresh.deliver_get),
            (0, 0.0, 0.0)
        );
    }

    #[test]
    fn regex_pages() {
        let one = json!({"page_count": 1, "items": [{"name": "a", "messages": 1},
            {"name": "b", "messages": 2}]});
        assert_eq!(parse_page(&one, 100).unwrap().len(), 2);
        let none = json!({"page_count": 0, "items": []});
        assert!(parse_page(&none, 100).unwrap().is_empty());
        let two = json!({"page_count": 2, "items": [{"name": "a"}]});
        let error = parse_page(&two, 1).unwrap_err();
        assert!(
            error.contains("regex matches more queues than can be recovered at once"),
            "{error}"
        );
    }
}
