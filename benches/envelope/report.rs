//! The envelope's numbers per load level, and how the bench prints them: each level in
//! full, then the table BENCHMARKS.md shows.

use std::collections::BTreeMap;

use crate::REFRESHES;
use crate::server::ProcStats;

/// Broker work between two scrapes of the server's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Work {
    pub kafka_requests: f64,
    pub kafka_by_api: BTreeMap<String, f64>,
    pub kafka_queries: f64,
    pub rabbitmq_queries: f64,
    pub misses: f64,
}

impl Work {
    pub fn requests(&self) -> f64 {
        self.kafka_requests + self.rabbitmq_queries
    }
}

/// One load level's numbers.
pub struct Level {
    pub percent: usize,
    pub clusters: usize,
    pub groups: usize,
    pub triggers: usize,
    pub streams: usize,
    pub queues: usize,
    /// Listening, nothing asked yet.
    pub idle: ProcStats,
    /// After the first refresh (triggers parsed, broker clients connected), no streams.
    pub warm: ProcStats,
    /// Streams open as well, before the measured refreshes.
    pub streaming: ProcStats,
    /// At the end: streams open, after all the refreshes.
    pub stats: ProcStats,
    /// The server's RSS after each measured refresh (the first asks one trigger per group).
    pub rss_after: Vec<f64>,
    /// The server's threads by name, at the end.
    pub thread_names: BTreeMap<String, usize>,
    pub cold_ms: f64,
    pub one: Work,
    pub all: Vec<Work>,
    pub times_ms: Vec<f64>,
    pub cpu_ms: Vec<f64>,
    /// This process's CPU time (gRPC client and mock clusters) per refresh.
    pub client_cpu_ms: Vec<f64>,
}

impl Level {
    pub fn slowest_ms(&self) -> f64 {
        self.times_ms.iter().copied().fold(0.0, f64::max)
    }
    pub fn median_ms(&self) -> f64 {
        median(&self.times_ms)
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

pub fn print_level(l: &Level) {
    let ms = |v: &[f64]| {
        v.iter()
            .map(|t| format!("{t:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{:>3} %: {} triggers on {} groups of {} clusters, {} queues, {} streams",
        l.percent, l.triggers, l.groups, l.clusters, l.queues, l.streams
    );
    let when = [
        ("idle", l.idle),
        ("after the first refresh", l.warm),
        ("streams open", l.streaming),
        ("after the refreshes", l.stats),
    ];
    for (when, s) in when {
        println!(
            "       {when:>23}: RSS {:.1} MiB (peak {:.1}), {} threads, {} fds",
            s.rss_mib, s.peak_rss_mib, s.threads, s.fds
        );
    }
    println!("       threads by name: {:?}", l.thread_names);
    let rss: Vec<String> = l.rss_after.iter().map(|r| format!("{r:.1}")).collect();
    println!(
        "       RSS after each measured refresh: {} MiB",
        rss.join(", ")
    );
    println!(
        "       first (cold) refresh {:.0} ms; full refreshes {} ms wall, server CPU {} ms, client CPU {} ms",
        l.cold_ms,
        ms(&l.times_ms),
        ms(&l.cpu_ms),
        ms(&l.client_cpu_ms)
    );
    for (what, w) in
        std::iter::once(("one per group", &l.one)).chain(l.all.iter().map(|w| ("all", w)))
    {
        println!(
            "       {what:>13}: Kafka {} {:?} ({} group queries), RabbitMQ {}, cache misses {}",
            w.kafka_requests, w.kafka_by_api, w.kafka_queries, w.rabbitmq_queries, w.misses
        );
    }
}

pub fn print_table(levels: &[Level]) {
    println!();
    println!(
        "| load | clusters | groups | triggers | streams | queues | RSS MiB: idle · after first refresh · streams open · after refreshes (peak) | threads | fds | broker requests per refresh: 1 trigger per group · all triggers | of which RabbitMQ | cache misses: 1 · all | full refresh ms: slowest · median of {REFRESHES} | CPU ms per refresh: server · client |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for l in levels {
        let all = |f: &dyn Fn(&Work) -> f64| {
            let (lo, hi) = l
                .all
                .iter()
                .map(f)
                .fold((f64::MAX, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
            if lo == hi {
                format!("{lo}")
            } else {
                format!("{lo}–{hi}")
            }
        };
        println!(
            "| {} % | {} | {} | {} | {} | {} | {:.1} · {:.1} · {:.1} · {:.1} ({:.1}) | {} | {} | {} · {} | {} · {} | {} · {} | {:.0} · {:.0} | {:.0} · {:.0} |",
            l.percent,
            l.clusters,
            l.groups,
            l.triggers,
            l.streams,
            l.queues,
            l.idle.rss_mib,
            l.warm.rss_mib,
            l.streaming.rss_mib,
            l.stats.rss_mib,
            l.stats.peak_rss_mib,
            l.stats.threads,
            l.stats.fds,
            l.one.requests(),
            all(&Work::requests),
            l.one.rabbitmq_queries,
            all(&|w| w.rabbitmq_queries),
            l.one.misses,
            all(&|w| w.misses),
            l.slowest_ms(),
            l.median_ms(),
            median(&l.cpu_ms),
            median(&l.client_cpu_ms)
        );
    }
}
