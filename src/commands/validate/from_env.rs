//! `xFromEnv` keys in a manifest. KEDA sends an external scaler `xFromEnv` under that name
//! with the value of the scale target's environment variable the manifest names (KEDA's
//! `pkg/scalers/external_scaler.go`, `parseExternalScalerMetadata`), so in a manifest the
//! value is a variable's name, never an address: it is checked as a name, then replaced by a
//! value the server's parser accepts for that key ([`crate::source::from_env_stand_in`]), so
//! that the rest of the trigger goes through the same parser as on the server.

use std::collections::HashMap;

use crate::metadata::TriggerError;
use crate::source::from_env_stand_in;
use crate::trigger::KNOWN_KEYS;

const SUFFIX: &str = "FromEnv";

/// What standing in for a trigger's `xFromEnv` values found.
#[derive(Debug, Default)]
pub struct StandIns {
    /// `xFromEnv` values that are not environment variable names.
    pub errors: Vec<TriggerError>,
    /// Some value that the query depends on is only known in the cluster: an `xFromEnv`
    /// stood in, its plain key unset.
    pub unknown: bool,
}

/// Checks every known `xFromEnv` key of `map` (in sorted order) and replaces its value by its
/// stand-in. Unknown keys are left to the parser, which reports them with a suggestion.
pub fn stand_in(map: &mut HashMap<String, String>) -> StandIns {
    let mut found = StandIns::default();
    let mut keys: Vec<&'static str> = KNOWN_KEYS
        .iter()
        .copied()
        .filter(|k| k.ends_with(SUFFIX) && map.get(*k).is_some_and(|v| !v.trim().is_empty()))
        .collect();
    keys.sort_unstable();
    for key in keys {
        let name = map[key].trim().to_owned();
        if !is_env_var_name(&name) {
            found.errors.push(TriggerError::invalid(
                key,
                &name,
                "the name of an environment variable of the scale target's container \
                 (letters, digits, '_', '-', '.'; not starting with a digit): KEDA sends its \
                 value under this key; to give the value itself, use the key without `FromEnv`",
            ));
        }
        let Some(value) = from_env_stand_in(key) else {
            continue;
        };
        map.insert(key.to_owned(), value.to_owned());
        let plain = &key[..key.len() - SUFFIX.len()];
        if map.get(plain).is_none_or(|v| v.trim().is_empty()) {
            found.unknown = true;
        }
    }
    found
}

/// Kubernetes' rule for an environment variable's name (`IsEnvVarName`:
/// `[-._a-zA-Z][-._a-zA-Z0-9]*`), which the usual `[A-Za-z_][A-Za-z0-9_]*` names meet. An
/// address (`kafka:9092`, `amqp://…`) does not.
pub fn is_env_var_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    name.chars()
        .next()
        .is_some_and(|c| allowed(c) && !c.is_ascii_digit())
        && name.chars().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names() {
        for name in ["KAFKA_BROKERS", "_x", "a.b-c", "Topic1"] {
            assert!(is_env_var_name(name), "{name}");
        }
        for name in ["", "1ABC", "kafka:9092", "amqp://h", "a b", "A=B", "é"] {
            assert!(!is_env_var_name(name), "{name}");
        }
    }

    #[test]
    fn names_stand_in_and_addresses_are_errors() {
        let mut map: HashMap<String, String> = [
            ("bootstrapServersFromEnv", "kafka-0:9092"),
            ("consumerGroupFromEnv", "GROUP"),
            ("topic", "orders"),
            ("topicFromEnv", "TOPIC"),
            ("hostFromEnv", " "),
            ("notAKeyFromEnv", "x:1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let found = stand_in(&mut map);
        assert_eq!(found.errors.len(), 1, "{:?}", found.errors);
        let error = found.errors[0].to_string();
        assert!(
            error.starts_with("bootstrapServersFromEnv: \"kafka-0:9092\" is not valid")
                && error.contains("environment variable"),
            "{error}"
        );
        assert!(
            found.unknown,
            "no bootstrapServers: the brokers are unknown"
        );
        assert_eq!(map["bootstrapServersFromEnv"], "stand-in:9092");
        assert_eq!(map["consumerGroupFromEnv"], "stand-in");
        assert_eq!(map["hostFromEnv"], " ", "blank: not set, left alone");
        assert_eq!(map["notAKeyFromEnv"], "x:1", "unknown: for the parser");

        let mut plain: HashMap<String, String> = [("topic", "t"), ("topicFromEnv", "T")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let found = stand_in(&mut plain);
        assert!(found.errors.is_empty() && !found.unknown, "{found:?}");
    }
}
