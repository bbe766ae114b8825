//! Each source owns its trigger keys, as one table per source (`rabbitmq::keys`,
//! `kafka::keys`): per key its name and its row of the README's table for that source, so
//! that the README's text of a key has one owner (tests/e2e/readme.rs checks that the README
//! has each table verbatim). [`KEYS`] names every source's keys, for the reader's unknown-key
//! check and suggestions (`trigger::KNOWN_KEYS` adds the common keys).

use super::{SourceKind, kafka, rabbitmq};
use crate::metadata::keys::concat;

/// One trigger key of a source with its README row: the name, when it is required, its
/// default and what it means (Markdown; empty where the README's cell is empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    pub required: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

impl Key {
    /// Its row of the README's table: ``| `name` | required | default | meaning |``, an empty
    /// cell written `| |`.
    pub fn readme_row(&self) -> String {
        let mut row = format!("| `{}` |", self.name);
        for cell in [self.required, self.default, self.meaning] {
            if cell.is_empty() {
                row.push_str(" |");
            } else {
                row.push(' ');
                row.push_str(cell);
                row.push_str(" |");
            }
        }
        row
    }
}

/// The names of a table's keys, in its order.
pub const fn names<const N: usize>(table: &[Key; N]) -> [&'static str; N] {
    let mut names = [""; N];
    let mut i = 0;
    while i < N {
        names[i] = table[i].name;
        i += 1;
    }
    names
}

/// A source's table as the README's "Trigger metadata" section has it: the header line, the
/// separator, then one row per key; every line ends with a newline.
pub fn readme_table(table: &[Key]) -> String {
    let mut text = String::from("| key | required | default | meaning |\n|---|---|---|---|\n");
    for key in table {
        text.push_str(&key.readme_row());
        text.push('\n');
    }
    text
}

/// Every source's keys, RabbitMQ's then Kafka's, with a name two sources share listed once
/// (KEDA's credential keys, such as `tls` or `password`, exist in both scalers: each source
/// reads, and refuses, its own).
pub const KEYS: [&str; distinct(&SOURCE_KEYS)] = union(&SOURCE_KEYS);

const SOURCE_KEYS: [&str; rabbitmq::keys::NAMES.len() + kafka::keys::NAMES.len()] =
    concat(rabbitmq::keys::NAMES, kafka::keys::NAMES);

/// Whether two names are equal (`==` on `str` is not `const`).
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `names[i]` appears before `i`.
const fn seen_before(names: &[&str], i: usize) -> bool {
    let mut j = 0;
    while j < i {
        if same(names[j], names[i]) {
            return true;
        }
        j += 1;
    }
    false
}

/// How many distinct names `names` holds.
const fn distinct(names: &[&str]) -> usize {
    let (mut count, mut i) = (0, 0);
    while i < names.len() {
        if !seen_before(names, i) {
            count += 1;
        }
        i += 1;
    }
    count
}

/// The distinct names of `names`, in their first order; `N` is [`distinct`]'s count.
const fn union<const N: usize>(names: &[&'static str]) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut n, mut i) = (0, 0);
    while i < names.len() {
        if !seen_before(names, i) {
            out[n] = names[i];
            n += 1;
        }
        i += 1;
    }
    out
}

/// In a manifest an `xFromEnv` key's value is the name of an environment variable, which KEDA
/// resolves and sends under the same key: a value the plain key accepts, standing in for the
/// unknown one when a trigger is checked offline (`lagscale validate`). `None`: the key has no
/// stand-in (the name is then parsed as it is).
pub fn from_env_stand_in(key: &str) -> Option<&'static str> {
    use kafka::keys as k;
    match key {
        k::BOOTSTRAP_SERVERS_FROM_ENV => Some("stand-in:9092"),
        k::CONSUMER_GROUP_FROM_ENV | k::TOPIC_FROM_ENV => Some("stand-in"),
        rabbitmq::keys::HOST_FROM_ENV => Some("amqp://stand-in"),
        rabbitmq::keys::USERNAME_FROM_ENV | rabbitmq::keys::PASSWORD_FROM_ENV => Some("stand-in"),
        _ => None,
    }
}

/// Every source's README tables of its keys (header and rows, as the README has them), with
/// the source.
pub fn readme_tables() -> [(SourceKind, String); 3] {
    [
        (SourceKind::Rabbitmq, rabbitmq::keys::readme_table()),
        (SourceKind::Kafka, kafka::keys::readme_table()),
        (SourceKind::Kafka, kafka::keys::keda_readme_table()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_write_empty_cells_as_the_readme_does() {
        let key = Key {
            name: "k",
            required: "",
            default: "`1`",
            meaning: "m",
        };
        assert_eq!(key.readme_row(), "| `k` | | `1` | m |");
    }

    #[test]
    fn every_source_key_once() {
        for names in [
            &rabbitmq::keys::NAMES[..],
            &kafka::keys::NAMES[..],
            &KEYS[..],
        ] {
            for (i, key) in names.iter().enumerate() {
                assert!(!names[..i].contains(key), "{key} twice");
            }
        }
        // Shared names are kept once, and nothing is lost.
        for key in rabbitmq::keys::NAMES.iter().chain(&kafka::keys::NAMES) {
            assert!(KEYS.contains(key), "{key} lost");
        }
        assert!(KEYS.contains(&"password") && KEYS.len() < SOURCE_KEYS.len());
    }
}
