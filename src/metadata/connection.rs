//! `cluster:` or an inline address: where a trigger connects, read the same way for every
//! source.

use std::collections::BTreeMap;

use super::{Metadata, TriggerError, keys};

/// Where a trigger connects.
pub enum Connection<'m, 'c, P> {
    /// `cluster: NAME`, naming a profile of the right source in the config file.
    Profile { name: &'m str, profile: &'c P },
    /// An address given inline, with the key that gave it.
    Inline { key: &'static str, value: &'m str },
}

/// What a source needs to read its connection, from connection profiles of type `C` (any
/// source's) holding this source's profiles of type `P`.
pub struct ConnectionKeys<C, P> {
    /// The source's name, as `source:` spells it.
    pub source: &'static str,
    /// The inline address key and its `FromEnv` form (e.g. `host`, `hostFromEnv`); when both
    /// are set the plain key wins, as in KEDA ([`Metadata::with_from_env`]).
    pub inline: (&'static str, &'static str),
    /// What to say when neither is set.
    pub missing: &'static str,
    /// The source's profile inside a connection profile, if it is one of this source.
    pub pick: fn(&C) -> Option<&P>,
    /// The source a connection profile is for, as `source:` spells it (for errors).
    pub source_of: fn(&C) -> &'static str,
}

/// Reads `cluster` or the inline address: exactly one, naming a profile of this source.
pub fn connection<'m, 'c, C, P>(
    md: &mut Metadata<'m>,
    clusters: &'c BTreeMap<String, C>,
    wanted: &ConnectionKeys<C, P>,
) -> Result<Connection<'m, 'c, P>, TriggerError> {
    let cluster = md.optional(keys::CLUSTER);
    let inline = md.with_from_env(wanted.inline.0, wanted.inline.1);
    match (cluster, inline) {
        (Some(_), Some((key, _))) => Err(TriggerError::Conflict {
            key: keys::CLUSTER,
            other: key,
        }),
        (Some(name), None) => {
            let Some(found) = clusters.get(name) else {
                let known: Vec<&str> = clusters.keys().map(String::as_str).collect();
                let known = if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                };
                return Err(TriggerError::invalid(
                    keys::CLUSTER,
                    name,
                    format!("the name of a connection profile in the config file (known: {known})"),
                ));
            };
            match (wanted.pick)(found) {
                Some(profile) => Ok(Connection::Profile { name, profile }),
                None => Err(TriggerError::invalid(
                    keys::CLUSTER,
                    name,
                    format!(
                        "a {} connection profile (this one is {})",
                        wanted.source,
                        (wanted.source_of)(found)
                    ),
                )),
            }
        }
        (None, Some((key, value))) => Ok(Connection::Inline { key, value }),
        (None, None) => Err(TriggerError::Missing {
            key: keys::CLUSTER,
            expected: wanted.missing,
        }),
    }
}
