//! A Kafka profile's `properties` (librdkafka's names, as strings) → how to reach its brokers:
//! [`Security`] holds the client id, the TLS client config and the SASL settings, all validated
//! once, when the profile is loaded. Files named by properties (CA, certificate, key) are read
//! then too, so a broken path fails at start-up and not at the first connection.
//!
//! Unknown keys are errors whose `expected` lists the keys we support: a typo (or a librdkafka
//! tuning knob our client does not have, such as `socket.timeout.ms`) is never silently ignored.
//! Settings that the chosen `security.protocol` or mechanism does not use are errors too.
//! Secret values are shown as `***` in errors (the same rule as `config.rs` uses for Debug).

use std::collections::BTreeMap;

use super::oauth::{self, ClientCredentials, TokenSource, UnsecuredJwt};
use super::sasl::{SCRAM_SHA_256, SCRAM_SHA_512, Sasl};
pub use super::tls::Tls;
use super::tls::{SystemRoots, system_roots};
use crate::source::tls::{Verifier, client_config};

/// Every key [`Security::from_properties`] accepts.
const SUPPORTED: &str = "client.id security.protocol ssl.ca.location ssl.ca.pem \
    ssl.certificate.location ssl.certificate.pem ssl.key.location ssl.key.pem \
    enable.ssl.certificate.verification ssl.endpoint.identification.algorithm sasl.mechanism \
    sasl.mechanisms sasl.username sasl.password sasl.oauthbearer.method sasl.oauthbearer.token \
    sasl.oauthbearer.config sasl.oauthbearer.client.id sasl.oauthbearer.client.secret \
    sasl.oauthbearer.token.endpoint.url sasl.oauthbearer.scope sasl.oauthbearer.extensions";
/// The client-credentials keys.
const OIDC_KEYS: [&str; 4] = [
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.oauthbearer.scope",
];
const MECHANISMS: &str = "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER";

/// How to reach a cluster's brokers, from a profile's `properties`.
#[derive(Debug, Clone)]
pub struct Security {
    /// `client.id` (default "lagscale"), sent in every request header.
    pub client_id: String,
    /// Some for security.protocol SSL / SASL_SSL.
    pub tls: Option<Tls>,
    /// Some for SASL_PLAINTEXT / SASL_SSL.
    pub sasl: Option<Sasl>,
}

/// `properties.KEY: VALUE is not valid; expected EXPECTED` (VALUE shown as *** for secret keys).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("properties.{key}: {value} is not valid; expected {expected}")]
pub struct PropertyError {
    pub key: String,
    pub value: String,
    pub expected: String,
}

/// [`crate::redact::is_secret_name`], plus the two OAUTHBEARER keys that hold a token (or what
/// makes one) without saying so in their name.
fn is_secret(key: &str) -> bool {
    crate::redact::is_secret_name(key)
        || matches!(key, "sasl.oauthbearer.token" | "sasl.oauthbearer.config")
}

/// The properties, with error constructors that show values the way [`PropertyError`] must.
pub(super) struct Props<'a>(&'a BTreeMap<String, String>);

impl<'a> Props<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).map(String::as_str)
    }

    pub(super) fn invalid(&self, key: &str, expected: impl Into<String>) -> PropertyError {
        let value = match self.get(key) {
            None => "(not set)".to_owned(),
            Some("") => "(empty)".to_owned(),
            Some(_) if is_secret(key) => "***".to_owned(),
            // Inline PEM is long: its start is enough to recognise it. Escaped so that the
            // error stays one log line.
            Some(v) if v.chars().count() > 80 => {
                let start: String = v.chars().take(60).collect();
                format!("{}... ({} characters)", start.escape_debug(), v.len())
            }
            Some(v) => v.escape_debug().to_string(),
        };
        let (key, expected) = (key.to_owned(), expected.into());
        PropertyError {
            key,
            value,
            expected,
        }
    }

    /// A value that must be set and not empty.
    pub(super) fn required(&self, key: &str, expected: &str) -> Result<&'a str, PropertyError> {
        let value = self.get(key).filter(|v| !v.is_empty());
        value.ok_or_else(|| self.invalid(key, expected))
    }

    /// Err for the first set key that `unused` says the chosen settings do not use.
    pub(super) fn unused(
        &self,
        unused: impl Fn(&str) -> bool,
        expected: &str,
    ) -> Result<(), PropertyError> {
        match self.0.keys().find(|k| unused(k)) {
            Some(key) => Err(self.invalid(key, expected)),
            None => Ok(()),
        }
    }

    /// A lower-case choice, `default` when the key is not set.
    pub(super) fn choice(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).trim().to_ascii_lowercase()
    }

    /// The contents of the file `key` names, if it is set; read now.
    pub(super) fn file(&self, key: &str) -> Result<Option<Vec<u8>>, PropertyError> {
        let Some(path) = self.get(key) else {
            return Ok(None);
        };
        let bytes = std::fs::read(path);
        let bytes = bytes.map_err(|e| self.invalid(key, format!("a readable PEM file ({e})")))?;
        Ok(Some(bytes))
    }

    /// PEM bytes from `location` (a file) or `pem` (inline), and which key gave them.
    pub(super) fn pem(&self, location: &'static str, pem: &'static str) -> PemResult {
        if self.get(location).is_some() && self.get(pem).is_some() {
            return Err(self.invalid(pem, format!("only one of {location} and {pem}")));
        }
        match (self.file(location)?, self.get(pem)) {
            (Some(bytes), _) => Ok(Some((location, bytes))),
            (None, Some(text)) => Ok(Some((pem, text.as_bytes().to_vec()))),
            (None, None) => Ok(None),
        }
    }
}

pub(super) type PemResult = Result<Option<(&'static str, Vec<u8>)>, PropertyError>;

impl Security {
    /// Validates every property; reads the files they name (CA, cert, key) now.
    pub fn from_properties(map: &BTreeMap<String, String>) -> Result<Security, PropertyError> {
        Security::build(map, system_roots)
    }

    fn build(
        map: &BTreeMap<String, String>,
        roots: SystemRoots,
    ) -> Result<Security, PropertyError> {
        let p = Props(map);
        p.unused(
            |k| k == "ssl.key.password",
            "no ssl.key.password: encrypted private keys are not supported; decrypt the key \
             (openssl pkey -in key.pem -out plain.pem) and name that in ssl.key.location",
        )?;
        let supported = SUPPORTED.split_whitespace().collect::<Vec<_>>();
        let list = format!("one of the supported keys: {}", supported.join(", "));
        p.unused(|k| !supported.contains(&k), &list)?;
        let protocol = p.choice("security.protocol", "plaintext");
        let (tls, sasl) = match protocol.as_str() {
            "plaintext" => (false, false),
            "ssl" => (true, false),
            "sasl_plaintext" => (false, true),
            "sasl_ssl" => (true, true),
            _ => {
                let expected = "plaintext, ssl, sasl_plaintext or sasl_ssl";
                return Err(p.invalid("security.protocol", expected));
            }
        };
        let tls = match tls {
            true => Some(Tls::from_props(&p, roots)?),
            false => {
                let expected = format!(
                    "security.protocol ssl or sasl_ssl for TLS settings (it is {protocol})"
                );
                p.unused(
                    |k| k.starts_with("ssl.") || k.starts_with("enable.ssl."),
                    &expected,
                )?;
                None
            }
        };
        let sasl = match sasl {
            true => Some(sasl_from_props(&p, &protocol, roots)?),
            false => {
                let expected = format!(
                    "security.protocol sasl_plaintext or sasl_ssl for SASL settings (it is {protocol})"
                );
                p.unused(|k| k.starts_with("sasl."), &expected)?;
                None
            }
        };
        let client_id = p.get("client.id").unwrap_or("lagscale").to_owned();
        // The request header's client_id is a Kafka STRING: an i16 length.
        if client_id.len() > i16::MAX as usize {
            return Err(p.invalid("client.id", "at most 32767 bytes"));
        }
        Ok(Security {
            client_id,
            tls,
            sasl,
        })
    }
}

fn sasl_from_props(p: &Props, protocol: &str, roots: SystemRoots) -> Result<Sasl, PropertyError> {
    let (key, mechanism) = match (p.get("sasl.mechanism"), p.get("sasl.mechanisms")) {
        (Some(one), Some(other)) if !one.trim().eq_ignore_ascii_case(other.trim()) => {
            let expected = format!(
                "the same mechanism as sasl.mechanism ({one}), or only one of the two keys"
            );
            return Err(p.invalid("sasl.mechanisms", expected));
        }
        (Some(one), _) => ("sasl.mechanism", one),
        (None, Some(other)) => ("sasl.mechanisms", other),
        (None, None) => {
            let expected = format!("{MECHANISMS} (security.protocol {protocol} needs one)");
            return Err(p.invalid("sasl.mechanism", expected));
        }
    };
    let mechanism = mechanism.trim().to_ascii_uppercase();
    let scram = match mechanism.as_str() {
        "PLAIN" => None,
        "SCRAM-SHA-256" => Some(&SCRAM_SHA_256),
        "SCRAM-SHA-512" => Some(&SCRAM_SHA_512),
        "OAUTHBEARER" => {
            let expected = "sasl.mechanism PLAIN or SCRAM-* for a user and password (OAUTHBEARER uses a token)";
            p.unused(|k| k == "sasl.username" || k == "sasl.password", expected)?;
            return oauthbearer(p, roots);
        }
        "GSSAPI" => {
            let expected = format!("{MECHANISMS}; Kerberos (GSSAPI) is not supported");
            return Err(p.invalid(key, expected));
        }
        _ => return Err(p.invalid(key, MECHANISMS)),
    };
    let expected =
        format!("sasl.mechanism OAUTHBEARER for OAUTHBEARER settings (it is {mechanism})");
    p.unused(|k| k.starts_with("sasl.oauthbearer."), &expected)?;
    let needed = format!("a user name (sasl.mechanism {mechanism} needs one)");
    let user = p.required("sasl.username", &needed)?;
    let needed = format!("a password (sasl.mechanism {mechanism} needs one)");
    let password = p.required("sasl.password", &needed)?;
    // NUL separates PLAIN's fields; SCRAM forbids it too (RFC 5802 §5.1).
    for (key, value) in [("sasl.username", user), ("sasl.password", password)] {
        if value.contains('\0') {
            return Err(p.invalid(key, "a value without NUL characters"));
        }
    }
    Ok(match scram {
        None => Sasl::plain(user, password),
        Some(hash) => Sasl::scram(hash, user, password),
    })
}

fn oauthbearer(p: &Props, roots: SystemRoots) -> Result<Sasl, PropertyError> {
    let key = "sasl.oauthbearer.extensions";
    let extensions = p
        .get(key)
        .map(oauth::parse_extensions)
        .unwrap_or(Ok(Vec::new()));
    let mut extensions = extensions.map_err(|e| p.invalid(key, e))?;
    let (token, config) = ("sasl.oauthbearer.token", "sasl.oauthbearer.config");
    let tokens = match p.choice("sasl.oauthbearer.method", "default").as_str() {
        "default" => {
            let expected =
                "sasl.oauthbearer.method oidc for client-credentials settings (it is default)";
            p.unused(|k| OIDC_KEYS.contains(&k), expected)?;
            match (p.get(token), p.get(config)) {
                (Some(_), Some(_)) => {
                    return Err(p.invalid(config, format!("only one of {token} and {config}")));
                }
                (Some(value), None) => {
                    TokenSource::fixed(value).map_err(|e| p.invalid(token, e))?
                }
                (None, Some(value)) => {
                    let (jwt, more) =
                        UnsecuredJwt::parse(value).map_err(|e| p.invalid(config, e))?;
                    extensions.extend(more);
                    TokenSource::unsecured(jwt)
                }
                (None, None) => {
                    let expected = format!(
                        "a token (or {config} for an unsecured JWT, or \
                                            sasl.oauthbearer.method oidc to fetch tokens)"
                    );
                    return Err(p.invalid(token, expected));
                }
            }
        }
        "oidc" => {
            let expected = "sasl.oauthbearer.method default for a static token or an unsecured JWT (it is oidc)";
            p.unused(|k| k == token || k == config, expected)?;
            let [id_key, secret_key, url_key, scope_key] = OIDC_KEYS;
            let needs = "(sasl.oauthbearer.method oidc needs it)";
            let id = p.required(id_key, &format!("the OAuth client id {needs}"))?;
            if id.contains(':') {
                let expected =
                    "a client id without `:` (HTTP Basic authentication cannot carry it)";
                return Err(p.invalid(id_key, expected));
            }
            let secret = p.required(secret_key, &format!("the OAuth client secret {needs}"))?;
            let expected = format!("the token endpoint's http:// or https:// URL {needs}");
            let url = p.required(url_key, &expected)?;
            // Only an https endpoint needs the system roots; loading them costs file reads.
            let https = url
                .trim()
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
            let roots = if https {
                roots()
            } else {
                Err("plain http".to_owned())
            };
            let tls = client_config(Verifier::new(Some(roots), true), None)
                .map_err(|e| p.invalid(url_key, format!("a URL we can reach with TLS ({e})")))?;
            let flow = ClientCredentials::new(url, id, secret, p.get(scope_key), tls);
            TokenSource::client_credentials(flow.map_err(|e| p.invalid(url_key, e))?)
        }
        _ => {
            let expected = "default (sasl.oauthbearer.token or sasl.oauthbearer.config) or oidc (the client-credentials flow)";
            return Err(p.invalid("sasl.oauthbearer.method", expected));
        }
    };
    Ok(Sasl::oauthbearer(tokens, extensions))
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tls_tests;
