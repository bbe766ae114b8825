//! Every trigger key lagscale knows, assembled from the keys' owners: the common keys
//! (`metadata::keys`), every source's keys (`source::KEYS`), and the policy and step keys. A
//! key not listed here (nor one of KEDA's own) is an unknown key, and the "did you mean"
//! suggestion is the closest key listed.

use crate::metadata::keys::{self, concat};
use crate::source;

/// The common keys, then every source's.
const BASE: [&str; keys::COMMON.len() + source::KEYS.len()] = concat(keys::COMMON, source::KEYS);

/// The policy keys, then the step keys.
const STRATEGIES: [&str; keys::POLICY.len() + keys::STEP.len()] = concat(keys::POLICY, keys::STEP);

/// Every key lagscale reads, each once.
pub const KNOWN_KEYS: [&str; BASE.len() + STRATEGIES.len()] = concat(BASE, STRATEGIES);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::suggest;

    #[test]
    fn suggestions() {
        let suggest = |unknown| suggest(unknown, &KNOWN_KEYS);
        assert_eq!(suggest("lagTreshold"), Some("lagThreshold"));
        assert_eq!(suggest("queuename"), Some("queueName"));
        assert_eq!(
            suggest("activationLagTreshold"),
            Some("activationLagThreshold")
        );
        assert_eq!(suggest("scaleraddress"), Some("scalerAddress"));
        assert_eq!(suggest("completelyDifferent"), None);
    }

    #[test]
    fn every_key_once() {
        for (i, key) in KNOWN_KEYS.iter().enumerate() {
            assert!(!KNOWN_KEYS[..i].contains(key), "{key} twice");
        }
    }
}
