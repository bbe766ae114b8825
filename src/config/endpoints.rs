//! Who may make lagscale connect where: whether triggers may name brokers inline (`host`,
//! `bootstrapServers`), and, when they may, to which hosts and ports.
//!
//! `inline_endpoints: deny` allows none: lagscale connects only to its connection profiles.
//! `inline_endpoints: allow` with an empty `inline_endpoint_allowlist` allows any (as KEDA's
//! own scalers do); with patterns, every broker a trigger names inline must match one.
//! A pattern is `HOST:PORT`: HOST is a name or address compared without case, `*.SUFFIX`
//! (any name ending in `.SUFFIX`) or `*`; PORT is a number or `*`. Names are matched as the
//! trigger writes them, before DNS: a pattern trusts whoever controls the name's DNS.

use serde::Deserialize;

/// `inline_endpoints`: whether a trigger may make lagscale connect to a broker it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InlineEndpoints {
    /// Any broker a trigger names (KEDA's scalers behave so), or those of the allowlist.
    #[default]
    Allow,
    /// Only the brokers of the connection profiles: a trigger naming one inline is refused
    /// before any connection is made.
    Deny,
}

/// One entry of `inline_endpoint_allowlist`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EndpointPattern {
    host: HostPattern,
    /// `None`: any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: stored as `.example.com`, lowercase.
    Suffix(String),
    /// Lowercase.
    Exact(String),
}

/// What an allowlist entry must look like, for errors.
pub const PATTERN_EXPECTED: &str =
    "HOST:PORT, where HOST is a name, an address, *.SUFFIX or *, and PORT a number or *";

impl TryFrom<String> for EndpointPattern {
    type Error = String;

    fn try_from(raw: String) -> Result<EndpointPattern, String> {
        let invalid = || format!("{raw:?} is not an endpoint pattern; expected {PATTERN_EXPECTED}");
        let (host, port) = raw.rsplit_once(':').ok_or_else(invalid)?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_lowercase();
        let port = match port {
            "*" => None,
            number => Some(number.parse::<u16>().map_err(|_| invalid())?),
        };
        let host = match host.as_str() {
            "" => return Err(invalid()),
            "*" => HostPattern::Any,
            _ => match host.strip_prefix('*') {
                Some(suffix) if suffix.starts_with('.') && suffix.len() > 1 => {
                    HostPattern::Suffix(suffix.to_owned())
                }
                Some(_) => return Err(invalid()),
                None if host.contains('*') => return Err(invalid()),
                None => HostPattern::Exact(host),
            },
        };
        Ok(EndpointPattern { host, port })
    }
}

impl EndpointPattern {
    fn matches(&self, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_lowercase();
        let host_matches = match &self.host {
            HostPattern::Any => true,
            HostPattern::Suffix(suffix) => {
                host.ends_with(suffix.as_str()) && host.len() > suffix.len()
            }
            HostPattern::Exact(exact) => host == *exact,
        };
        host_matches && self.port.is_none_or(|p| p == port)
    }
}

/// The policy of one server, from its config.
#[derive(Debug, Clone, Copy)]
pub struct EndpointPolicy<'a> {
    pub inline: InlineEndpoints,
    pub allowlist: &'a [EndpointPattern],
}

/// Why an inline endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `inline_endpoints: deny`.
    Denied,
    /// This `host:port` matches no allowlist entry.
    NotAllowed(String),
}

impl EndpointPolicy<'_> {
    /// Whether a trigger may connect to `addresses`, the brokers it names inline.
    pub fn check(&self, addresses: &[(String, u16)]) -> Result<(), Refusal> {
        if self.inline == InlineEndpoints::Deny {
            return Err(Refusal::Denied);
        }
        if self.allowlist.is_empty() {
            return Ok(());
        }
        match addresses
            .iter()
            .find(|(host, port)| !self.allowlist.iter().any(|p| p.matches(host, *port)))
        {
            Some((host, port)) => Err(Refusal::NotAllowed(format!("{host}:{port}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(raw: &[&str]) -> Vec<EndpointPattern> {
        raw.iter()
            .map(|p| EndpointPattern::try_from((*p).to_owned()).unwrap())
            .collect()
    }

    fn check(allowlist: &[EndpointPattern], host: &str, port: u16) -> Result<(), Refusal> {
        let policy = EndpointPolicy {
            inline: InlineEndpoints::Allow,
            allowlist,
        };
        policy.check(&[(host.to_owned(), port)])
    }

    #[test]
    fn patterns_match_hosts_and_ports() {
        let list = patterns(&["*.kafka.svc:9092", "Rabbit.Example:*", "10.0.0.7:5672"]);
        let allowed = [
            ("a.kafka.svc", 9092),
            ("b.c.KAFKA.svc", 9092),
            ("rabbit.example", 5671),
            ("10.0.0.7", 5672),
        ];
        for (host, port) in allowed {
            assert_eq!(check(&list, host, port), Ok(()), "{host}:{port}");
        }
        let refused = [
            ("kafka.svc", 9092),
            ("a.kafka.svc", 9093),
            ("evil-kafka.svc", 9092),
            ("rabbit.example.evil", 5672),
            ("10.0.0.7", 22),
            ("127.0.0.1", 5672),
        ];
        for (host, port) in refused {
            assert_eq!(
                check(&list, host, port),
                Err(Refusal::NotAllowed(format!("{host}:{port}"))),
            );
        }
    }

    #[test]
    fn an_empty_allowlist_allows_any_and_deny_allows_none() {
        assert_eq!(check(&[], "anything", 1), Ok(()));
        let list = patterns(&["*:*"]);
        let deny = EndpointPolicy {
            inline: InlineEndpoints::Deny,
            allowlist: &list,
        };
        assert_eq!(deny.check(&[("a".into(), 1)]), Err(Refusal::Denied));
    }

    #[test]
    fn every_broker_of_a_list_must_match() {
        let list = patterns(&["*.kafka.svc:9092"]);
        let policy = EndpointPolicy {
            inline: InlineEndpoints::Allow,
            allowlist: &list,
        };
        let brokers = [
            ("a.kafka.svc".to_owned(), 9092),
            ("10.1.1.1".to_owned(), 9092),
        ];
        assert_eq!(
            policy.check(&brokers),
            Err(Refusal::NotAllowed("10.1.1.1:9092".into()))
        );
    }

    #[test]
    fn bad_patterns_name_the_value_and_the_form() {
        for raw in [
            "kafka.svc",
            "a*.svc:1",
            "*:port",
            ":9092",
            "*kafka.svc:1",
            "*.:1",
            "a:99999",
        ] {
            let error = EndpointPattern::try_from(raw.to_owned()).unwrap_err();
            assert!(error.contains(&format!("{raw:?}")), "{error}");
            assert!(error.contains(PATTERN_EXPECTED), "{error}");
        }
    }
}
