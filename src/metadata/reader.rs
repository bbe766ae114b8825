//! A reader over KEDA's `scalerMetadata` map that remembers which keys were used, so that
//! whatever is left over can be reported as unknown (with a "did you mean" suggestion).

use std::collections::{BTreeSet, HashMap};

use super::TriggerError;

/// Bounds on one trigger's metadata, checked before anything else reads it, so that no call
/// can make lagscale parse, keep or echo more than this (KEDA's own metadata is far smaller).
pub const MAX_KEYS: usize = 64;
pub const MAX_KEY_BYTES: usize = 128;
pub const MAX_VALUE_BYTES: usize = 4096;
pub const MAX_METADATA_BYTES: usize = 32 * 1024;

/// KEDA's own trigger keys: sent to every external scaler, meaningful only to KEDA, which
/// reads them for its gRPC channel to the scaler (KEDA's `pkg/scalers/external_scaler.go`,
/// struct `externalScalerMetadata`: `scalerAddress`, `enableTLS`, `unsafeSsl`, and `caCert`,
/// `tlsClientCert`, `tlsClientKey` from TriggerAuthentication, which a manifest may still put
/// in metadata; `tlsCertFile` is the older name KEDA removed in v2.17). `unsafeSsl` is also a
/// key of KEDA's Kafka and RabbitMQ scalers; copied into an external trigger it is the gRPC
/// channel's, so it is ignored here too.
const KEDA_KEYS: [&str; 7] = [
    "scalerAddress",
    "enableTLS",
    "unsafeSsl",
    "caCert",
    "tlsClientCert",
    "tlsClientKey",
    "tlsCertFile",
];

/// The trigger metadata being parsed.
pub struct Metadata<'a> {
    map: &'a HashMap<String, String>,
    used: BTreeSet<&'a str>,
}

impl<'a> Metadata<'a> {
    /// Starts reading; fails on the first key (in sorted order) that is neither in `known`
    /// (every key lagscale reads: `trigger::KNOWN_KEYS`) nor one of KEDA's, before any other
    /// check, so that a typo is reported as a typo.
    pub fn new(
        map: &'a HashMap<String, String>,
        known: &[&'static str],
    ) -> Result<Metadata<'a>, TriggerError> {
        check_bounds(map)?;
        let mut unknown: Vec<&String> = map
            .keys()
            .filter(|k| !known.contains(&k.as_str()) && !KEDA_KEYS.contains(&k.as_str()))
            .collect();
        unknown.sort();
        if let Some(key) = unknown.first() {
            return Err(TriggerError::Unknown {
                key: super::quote(key),
                suggestion: suggest(key, known),
            });
        }
        Ok(Metadata {
            map,
            used: BTreeSet::new(),
        })
    }

    /// The trimmed value of `key`; a missing or blank value is `None`.
    pub fn optional(&mut self, key: &'static str) -> Option<&'a str> {
        let (k, v) = self.map.get_key_value(key)?;
        self.used.insert(k.as_str());
        let v = v.trim();
        (!v.is_empty()).then_some(v)
    }

    /// Like [`Metadata::optional`], but the key must be there.
    pub fn required(
        &mut self,
        key: &'static str,
        expected: &'static str,
    ) -> Result<&'a str, TriggerError> {
        self.optional(key)
            .ok_or(TriggerError::Missing { key, expected })
    }

    /// The value of whichever of two names for one setting is set, with the name used.
    /// Setting both is an error, so that it is never unclear which one won.
    pub fn either(
        &mut self,
        key: &'static str,
        alias: &'static str,
    ) -> Result<Option<(&'static str, &'a str)>, TriggerError> {
        match (self.optional(key), self.optional(alias)) {
            (Some(_), Some(_)) => Err(TriggerError::Conflict { key, other: alias }),
            (Some(v), None) => Ok(Some((key, v))),
            (None, Some(v)) => Ok(Some((alias, v))),
            (None, None) => Ok(None),
        }
    }

    /// A key and its `FromEnv` form (`topic`, `topicFromEnv`), as KEDA reads them (main and
    /// v2.20+, `pkg/scalers/scalersconfig/typed_config.go`, `configParamValue`: the trigger's
    /// own value first, then the environment variable `xFromEnv` names; KEDA sends an external
    /// scaler `xFromEnv` under that name with the variable's value): the plain key wins when
    /// both are set, and the other is then used, not an error. The value with the key it came
    /// from.
    pub fn with_from_env(
        &mut self,
        key: &'static str,
        from_env: &'static str,
    ) -> Option<(&'static str, &'a str)> {
        let plain = self.optional(key);
        let resolved = self.optional(from_env);
        match (plain, resolved) {
            (Some(v), _) => Some((key, v)),
            (None, Some(v)) => Some((from_env, v)),
            (None, None) => None,
        }
    }

    /// A boolean key, false when absent; accepts what Go's strconv.ParseBool accepts, as KEDA
    /// does.
    pub fn boolean(&mut self, key: &'static str) -> Result<bool, TriggerError> {
        Ok(self.flag(key)?.unwrap_or(false))
    }

    /// A boolean key, `None` when absent.
    pub fn flag(&mut self, key: &'static str) -> Result<Option<bool>, TriggerError> {
        match self.optional(key) {
            None => Ok(None),
            Some("true" | "True" | "TRUE" | "t" | "T" | "1") => Ok(Some(true)),
            Some("false" | "False" | "FALSE" | "f" | "F" | "0") => Ok(Some(false)),
            Some(other) => Err(TriggerError::invalid(key, other, "true or false")),
        }
    }

    /// Fails on the first known key (in sorted order) that the parsers did not use: a key of
    /// another source, say. `context` says why it is not used ("with source: rabbitmq").
    pub fn finish(self, context: &str) -> Result<(), TriggerError> {
        let mut left: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !self.used.contains(k.as_str()) && !KEDA_KEYS.contains(&k.as_str()))
            .collect();
        left.sort();
        match left.first() {
            None => Ok(()),
            Some(key) => Err(TriggerError::NotApplicable {
                key: (*key).clone(),
                context: context.to_owned(),
            }),
        }
    }
}

/// The map's size against [`MAX_KEYS`], [`MAX_KEY_BYTES`], [`MAX_VALUE_BYTES`] and
/// [`MAX_METADATA_BYTES`]; the first bound exceeded is the error (keys in sorted order).
fn check_bounds(map: &HashMap<String, String>) -> Result<(), TriggerError> {
    let too_large =
        |what: String, size: String, limit: String| TriggerError::TooLarge { what, size, limit };
    if map.len() > MAX_KEYS {
        return Err(too_large(
            "scalerMetadata".to_owned(),
            format!("{} keys", map.len()),
            format!("{MAX_KEYS} keys"),
        ));
    }
    let mut pairs: Vec<(&String, &String)> = map.iter().collect();
    pairs.sort();
    for (key, value) in &pairs {
        if key.len() > MAX_KEY_BYTES {
            return Err(too_large(
                format!("the key {}", super::quote(key)),
                format!("{} bytes", key.len()),
                format!("{MAX_KEY_BYTES} bytes"),
            ));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(too_large(
                format!("the value of {key}"),
                format!("{} bytes", value.len()),
                format!("{MAX_VALUE_BYTES} bytes"),
            ));
        }
    }
    let total: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_METADATA_BYTES {
        return Err(too_large(
            "scalerMetadata".to_owned(),
            format!("{total} bytes of keys and values"),
            format!("{MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The key closest to a misspelt one, among `known` and KEDA's own, if any is close enough to
/// be a likely typo.
pub fn suggest(unknown: &str, known: &[&'static str]) -> Option<&'static str> {
    let lower = unknown.to_lowercase();
    let best = known
        .iter()
        .chain(KEDA_KEYS.iter())
        .map(|&known| (edit_distance(&lower, &known.to_lowercase()), known))
        .min()?;
    let (distance, known) = best;
    let allowed = (known.len() / 3).clamp(1, 3);
    (distance <= allowed).then_some(known)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// A finite number that satisfies `ok`.
pub fn number(
    key: &'static str,
    value: &str,
    expected: &'static str,
    ok: impl Fn(f64) -> bool,
) -> Result<f64, TriggerError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && ok(*n))
        .ok_or_else(|| TriggerError::invalid(key, value, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("lagtreshold", "lagthreshold"), 1);
    }

    #[test]
    fn the_plain_key_wins_over_its_from_env_form() {
        let pairs = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Pairs, Option<(&str, &str)>); 5] = [
            (
                &[("topic", "a"), ("topicFromEnv", "b")],
                Some(("topic", "a")),
            ),
            (&[("topicFromEnv", "b")], Some(("topicFromEnv", "b"))),
            (
                &[("topic", " "), ("topicFromEnv", "b")],
                Some(("topicFromEnv", "b")),
            ),
            (&[("topic", "a")], Some(("topic", "a"))),
            (&[], None),
        ];
        for (given, expected) in cases {
            let map = pairs(given);
            let mut md = Metadata::new(&map, &["topic", "topicFromEnv"]).unwrap();
            assert_eq!(
                md.with_from_env("topic", "topicFromEnv"),
                expected,
                "{given:?}"
            );
            assert!(md.finish("here").is_ok(), "both are used: {given:?}");
        }
    }

    #[test]
    fn keda_external_scaler_keys_are_ignored() {
        let map: HashMap<String, String> = KEDA_KEYS
            .iter()
            .map(|k| ((*k).to_owned(), "x".to_owned()))
            .collect();
        let md = Metadata::new(&map, &[]).unwrap();
        assert!(md.finish("here").is_ok());
    }

    #[test]
    fn blank_values_are_absent_but_known() {
        let map = HashMap::from([("queueName".to_owned(), "  ".to_owned())]);
        let mut md = Metadata::new(&map, &["queueName"]).unwrap();
        assert_eq!(md.optional("queueName"), None);
        assert!(md.finish("here").is_ok());
    }
}
