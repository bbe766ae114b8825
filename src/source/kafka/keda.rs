//! The keys of KEDA's Kafka scaler that lagscale does not honour ([`keys::KEDA_TABLE`]): its
//! client's settings, accepted and ignored, and its TLS and SASL settings and credentials,
//! which cannot work in an external trigger. KEDA reads those from TriggerAuthentication and
//! never forwards it to an external scaler (KEDA's `pkg/scalers/external_scaler.go`,
//! `parseExternalScalerMetadata` copies trigger metadata only), so lagscale takes them from a
//! connection profile of its config file instead. A value that asks for nothing (`tls:
//! disable`, `sasl: none`, KEDA's defaults) is accepted; any other is an error that names the
//! key, the value (a secret's only by its size) and what to do.

use super::keys::{self, Accepts, KedaKey};
use super::profile::KafkaProfile;
use crate::metadata::{Metadata, TriggerError, quote};

/// Where the profile's properties are described, for every refusal.
const SEE: &str = "see the README section \"Config file\"";

/// Checks every key of [`keys::KEDA_TABLE`] that the trigger sets, in the table's order.
/// `profile`: the Kafka connection profile the trigger names with `cluster`, if any; a `tls`
/// or `sasl` that agrees with it is accepted (a trigger copied from KEDA, its credentials
/// moved from the TriggerAuthentication to that profile).
pub fn check(
    md: &mut Metadata<'_>,
    profile: Option<(&str, &KafkaProfile)>,
) -> Result<(), TriggerError> {
    for key in &keys::KEDA_TABLE {
        match key.name {
            // KEDA's own external-scaler key too: the reader ignores it, and so does this.
            "unsafeSsl" => continue,
            "fullMetadata" => {
                md.boolean(key.name)?;
                continue;
            }
            _ => {}
        }
        let Some(value) = md.optional(key.name) else {
            continue;
        };
        if let Some((name, profile)) = profile
            && let Some(agrees) = agrees_with(key.name, value, profile)
        {
            if agrees {
                continue;
            }
            return Err(disagreement(key, value, name, profile));
        }
        match key.accepts {
            Accepts::Ignored if key.name == "version" => check_version(key.name, value)?,
            Accepts::Ignored => {}
            Accepts::Only(values) if values.contains(&value) => {}
            Accepts::Only(values) => return Err(refusal(key, value, Some(values[0]))),
            Accepts::Nothing => return Err(refusal(key, value, None)),
        }
    }
    Ok(())
}

/// Whether KEDA's `tls` or `sasl` value says what the profile does; `None` for other keys.
fn agrees_with(key: &str, value: &str, profile: &KafkaProfile) -> Option<bool> {
    let protocol = profile
        .property("security.protocol")
        .unwrap_or("plaintext")
        .to_ascii_lowercase();
    let tls = protocol == "ssl" || protocol == "sasl_ssl";
    let sasl = protocol.starts_with("sasl_");
    let mechanism = profile
        .property("sasl.mechanism")
        .or_else(|| profile.property("sasl.mechanisms"))
        .unwrap_or("")
        .to_ascii_uppercase();
    match key {
        "tls" => Some(match value {
            "enable" => tls,
            "disable" => !tls,
            _ => false,
        }),
        "sasl" => Some(match value {
            "none" => !sasl,
            "plaintext" => sasl && mechanism == "PLAIN",
            "scram_sha256" => sasl && mechanism == "SCRAM-SHA-256",
            "scram_sha512" => sasl && mechanism == "SCRAM-SHA-512",
            "oauthbearer" => sasl && mechanism == "OAUTHBEARER",
            _ => false,
        }),
        _ => None,
    }
}

/// The refusal of a `tls` or `sasl` that does not agree with the named profile, with what the
/// profile has (never its secrets).
fn disagreement(key: &KedaKey, value: &str, name: &str, profile: &KafkaProfile) -> TriggerError {
    let accepted = match key.accepts {
        Accepts::Only(values) => Some(values[0]),
        _ => None,
    };
    let mut error = refusal(key, value, accepted);
    if let TriggerError::Invalid { expected, .. } = &mut error {
        let property = |p| profile.property(p).unwrap_or("unset");
        let mechanism = profile
            .property("sasl.mechanism")
            .or_else(|| profile.property("sasl.mechanisms"))
            .unwrap_or("unset");
        expected.push_str(&format!(
            " (or a value that agrees with the profile `{name}`: security.protocol: {}, \
             sasl.mechanism: {mechanism})",
            property("security.protocol"),
        ));
    }
    error
}

fn refusal(key: &KedaKey, value: &str, accepted: Option<&str>) -> TriggerError {
    let expected = match accepted {
        Some(accepted) => format!("`{accepted}` or no `{}`", key.name),
        None => format!("no `{}`", key.name),
    };
    TriggerError::Invalid {
        key: key.name,
        value: if key.secret {
            format!("a value (not shown, {} bytes)", value.len())
        } else {
            quote(value)
        },
        expected: format!(
            "{expected}: {}, and `cluster: NAME` here; {SEE}",
            key.advice()
        ),
    }
}

/// `version` as Sarama's `ParseKafkaVersion` reads it (KEDA: `error parsing kafka version`):
/// `0.a.b.c` or `a.b.c`, numbers only.
fn check_version(key: &'static str, value: &str) -> Result<(), TriggerError> {
    let parts: Vec<&str> = value.split('.').collect();
    let numbers = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let count = if value.starts_with('0') { 4 } else { 3 };
    if numbers && parts.len() == count {
        Ok(())
    } else {
        Err(TriggerError::invalid(
            key,
            value,
            "a Kafka version such as 2.8.1 or 0.10.2.0 (ignored: lagscale's client agrees versions with the broker)",
        ))
    }
}
