//! An AMQP URI that never shows its password: Debug and Display print it redacted.

use std::fmt;

use lapin::uri::AMQPUri;

use crate::redact::redact_uri;

/// `raw` (an `amqp(s)://` or `http(s)://` URI) with its user info replaced by `user` and
/// `password`, both percent-encoded: KEDA's `username` and `password` (here their `FromEnv`
/// forms, which KEDA resolves and forwards) override the host's (`rabbitmq_scaler.go`,
/// `buildAMQPConfig` and `getQueueInfoViaHTTP`). A value without `://` is returned as it is,
/// for the parser to refuse.
pub fn with_credentials(raw: &str, user: &str, password: &str) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let raw = raw.trim();
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host_and_tail = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!(
        "{scheme}://{}:{}@{host_and_tail}",
        utf8_percent_encode(user, NON_ALPHANUMERIC),
        utf8_percent_encode(password, NON_ALPHANUMERIC)
    )
}

/// A valid `amqp://` or `amqps://` URI.
#[derive(Clone)]
pub struct AmqpUri {
    raw: String,
    /// Boxed: lapin's URI is large, and profiles are kept in an enum.
    parsed: Box<AMQPUri>,
}

impl PartialEq for AmqpUri {
    fn eq(&self, other: &AmqpUri) -> bool {
        self.raw == other.raw
    }
}

impl Eq for AmqpUri {}

impl std::hash::Hash for AmqpUri {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl AmqpUri {
    /// Checks the URI. The error is safe to show: it never contains the password.
    pub fn parse(raw: &str) -> Result<AmqpUri, String> {
        let raw = raw.trim();
        if !(raw.starts_with("amqp://") || raw.starts_with("amqps://")) {
            return Err("the scheme must be amqp:// or amqps://".to_owned());
        }
        // The parser's own message may quote a piece of the password (an unencoded `/` ends
        // the authority early, and the rest is read as a port): only the redacted form's
        // message is shown.
        let mut parsed: AMQPUri = match raw.parse() {
            Ok(parsed) => parsed,
            Err(_) => {
                let redacted = redact_uri(raw);
                return Err(match redacted.parse::<AMQPUri>() {
                    Err(about_redacted) => about_redacted,
                    Ok(_) => "the user info cannot be read: percent-encode / ? # @ : and % \
                              in the password"
                        .to_owned(),
                });
            }
        };
        if let Some(host) = ip_host(raw) {
            // lapin's parser reads only DNS names and falls back to localhost for IP addresses.
            parsed.authority.host = host;
        }
        Ok(AmqpUri {
            raw: raw.to_owned(),
            parsed: Box::new(parsed),
        })
    }

    /// Any string redacted as a URI would be (for errors about values that did not parse).
    pub fn redact(raw: &str) -> String {
        redact_uri(raw)
    }

    pub fn redacted(&self) -> String {
        redact_uri(&self.raw)
    }

    /// Whether this is `amqps://`.
    pub fn is_tls(&self) -> bool {
        self.parsed.scheme == lapin::uri::AMQPScheme::AMQPS
    }

    /// Whether the user info has a password (an empty one counts: `user:@host`), as Go's
    /// `url.User.Password` tells it (KEDA's `buildAMQPConfig`).
    pub fn has_password(&self) -> bool {
        let rest = &self.raw[self.raw.find("://").map_or(0, |i| i + 3)..];
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        authority
            .rfind('@')
            .is_some_and(|at| authority[..at].contains(':'))
    }

    /// Authenticate with SASL EXTERNAL: the broker takes the user from the client
    /// certificate (KEDA's `buildAMQPConfig`, with a certificate and no password).
    pub fn authenticate_externally(&mut self) {
        self.parsed.query.auth_mechanism = Some(lapin::uri::SASLMechanism::External);
    }

    /// Whether [`Self::authenticate_externally`] applies (or the URI's `auth_mechanism`
    /// says `external`).
    pub fn authenticates_externally(&self) -> bool {
        self.parsed.query.auth_mechanism == Some(lapin::uri::SASLMechanism::External)
    }

    /// The URI for lapin, with the vhost replaced when `vhost` is given.
    pub fn to_lapin(&self, vhost: Option<&str>) -> AMQPUri {
        let mut uri = AMQPUri::clone(&self.parsed);
        if let Some(vhost) = vhost {
            uri.vhost = vhost.to_owned();
        }
        uri
    }
}

/// The host of a URI when it is an IP address literal (IPv6 without brackets).
fn ip_host(raw: &str) -> Option<String> {
    let rest = &raw[raw.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = &authority[authority.rfind('@').map_or(0, |at| at + 1)..];
    let host = if let Some(inner) = host_port.strip_prefix('[') {
        &inner[..inner.find(']')?]
    } else {
        &host_port[..host_port.rfind(':').unwrap_or(host_port.len())]
    };
    host.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

impl fmt::Debug for AmqpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AmqpUri({})", self.redacted())
    }
}

impl fmt::Display for AmqpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_replace_the_user_info() {
        let with = |raw| with_credentials(raw, "u", "p@ss/w:rd");
        assert_eq!(
            with("amqp://old:gone@broker:5672/%2f"),
            "amqp://u:p%40ss%2Fw%3Ard@broker:5672/%2f"
        );
        assert_eq!(
            with("http://127.0.0.1:15672/vh"),
            "http://u:p%40ss%2Fw%3Ard@127.0.0.1:15672/vh"
        );
        assert_eq!(with("broker:5672"), "broker:5672");
        let uri = AmqpUri::parse(&with("amqp://broker/%2f")).unwrap();
        assert_eq!(uri.to_lapin(None).authority.userinfo.password, "p@ss/w:rd");
    }

    #[test]
    fn debug_and_display_hide_the_password() {
        let uri = AmqpUri::parse("amqp://user:s3cret@broker:5672/%2f").unwrap();
        assert!(!format!("{uri:?}").contains("s3cret"));
        assert!(!format!("{uri}").contains("s3cret"));
        assert_eq!(uri.redacted(), "amqp://user:***@broker:5672/%2f");
    }

    #[test]
    fn bad_uris_are_rejected_without_the_password() {
        for bad in ["http://u:pw@host", "amqp://u:pw@host:notaport", "host:5672"] {
            let err = AmqpUri::parse(bad).unwrap_err();
            assert!(!err.contains("pw@"), "{bad}: {err}");
        }
        // Unencoded characters that end the authority early: no piece of the password shown.
        for bad in [
            "amqp://u:s3c/r3t@host/vh",
            "amqp://u:s3c?r3t@host",
            "amqp://u:s3c#r3t@h:5672",
        ] {
            if let Err(err) = AmqpUri::parse(bad) {
                assert!(!err.contains("s3c") && !err.contains("r3t"), "{bad}: {err}");
            }
        }
    }

    #[test]
    fn lapin_uri_keeps_host_port_and_vhost() {
        let uri = AmqpUri::parse("amqp://guest:guest@127.0.0.1:5673/%2f").unwrap();
        let lapin = uri.to_lapin(None);
        assert_eq!(lapin.authority.host, "127.0.0.1");
        assert_eq!(lapin.authority.port, 5673);
        assert_eq!(lapin.vhost, "/");
        assert_eq!(uri.to_lapin(Some("orders")).vhost, "orders");
        let named = AmqpUri::parse("amqps://rabbit.example:5671/prod").unwrap();
        let lapin = named.to_lapin(None);
        assert_eq!(lapin.authority.host, "rabbit.example");
        assert_eq!(lapin.vhost, "prod");
        assert_eq!(
            AmqpUri::parse("amqp://[::1]:5672")
                .unwrap()
                .to_lapin(None)
                .authority
                .host,
            "::1"
        );
    }
}
