//! Random metadata maps through the parser: never a panic; either an error that names a key,
//! or a spec whose target and metrics are finite and non-negative.

use std::collections::{BTreeMap, HashMap};

use super::{KNOWN_KEYS, TriggerSpec, keys};
use crate::source::ClusterProfile;
use crate::source::kafka::KafkaProfile;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const VALUES: &[&str] = &[
    "",
    " ",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "1e308",
    "1e309",
    "-0",
    "NaN",
    "inf",
    "-inf",
    "0.5",
    "99999999999999999999999",
    "18446744073709551616",
    "true",
    "false",
    "True",
    "x",
    "log2",
    "none",
    "max",
    "sum",
    "latest",
    "earliest",
    "rabbitmq",
    "kafka",
    "main",
    "events",
    "0-3",
    "3-0",
    "1,2,,3",
    "a-b",
    "9-",
    "ünïcødé",
    "名前",
    "🚀",
    "a/b",
    "%2f",
    ".",
    "..",
    "amqp://u:p@127.0.0.1:5672/%2f",
    "amqps://h",
    "amqp://",
    "http://h",
    "127.0.0.1:9092",
    "k:1,k:2",
    ":9092",
    "host:",
    "\u{0}",
    "\n",
    "\t\t",
];

fn random_map(rng: &mut Rng) -> HashMap<String, String> {
    let mut map = HashMap::new();
    // Half start from a valid trigger, so that mutations reach the deeper checks.
    let base: &[(&str, &str)] = match rng.below(4) {
        0 => &[
            ("source", "rabbitmq"),
            ("host", "amqp://127.0.0.1"),
            ("queueName", "q"),
        ],
        1 => &[
            ("source", "kafka"),
            ("cluster", "events"),
            ("consumerGroup", "g"),
            ("topic", "t"),
        ],
        _ => &[],
    };
    map.extend(base.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    if base.is_empty() && rng.below(10) > 0 {
        map.insert(
            keys::SOURCE.to_owned(),
            rng.pick(&["rabbitmq", "kafka", "nats", ""]).to_owned(),
        );
    }
    for _ in 0..rng.below(if base.is_empty() { 10 } else { 3 }) {
        let key = match rng.below(10) {
            0 => rng.pick(VALUES).to_owned(), // junk keys
            1 => format!("{}x", rng.pick(&KNOWN_KEYS)),
            _ => rng.pick(&KNOWN_KEYS).to_owned(),
        };
        let value = if rng.below(8) == 0 {
            rng.pick(VALUES).repeat(1 + rng.below(50))
        } else {
            rng.pick(VALUES).to_owned()
        };
        map.insert(key, value);
    }
    map
}

#[test]
fn ten_thousand_random_maps_never_panic() {
    let clusters = BTreeMap::from([(
        "events".to_owned(),
        ClusterProfile::Kafka(KafkaProfile::inline("k:9092").unwrap()),
    )]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut valid = 0;
    for _ in 0..10_000 {
        let map = random_map(&mut rng);
        match TriggerSpec::parse(&map, &clusters) {
            Ok(spec) => {
                valid += 1;
                let target = spec.target();
                assert!(
                    target.is_finite() && target > 0.0,
                    "{map:?} → target {target}"
                );
                for lag in [0, 1, 7, u64::MAX] {
                    let metric = spec.metric(lag);
                    assert!(
                        metric.is_finite() && metric >= 0.0,
                        "{map:?} → metric {metric}"
                    );
                }
                assert!(!spec.metric_name.as_str().is_empty());
            }
            Err(error) => {
                let text = error.to_string();
                assert!(!text.is_empty(), "{map:?}");
            }
        }
    }
    assert!(
        valid > 500,
        "too few random maps were valid triggers ({valid}) to exercise the spec"
    );
}
