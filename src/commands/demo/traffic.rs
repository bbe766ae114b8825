//! The demo's workload on the mock cluster: a producer whose rate goes quiet → burst → decay,
//! and one consumer-group member that processes at a fixed rate and commits as it goes.
//! Both run on their own threads until `stop` is set. Pacing sleeps are the demo's clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message};

/// The producer's rate, in messages per second, `t` into a 60 s cycle: 15 s of burst, 25 s of
/// exponential decay, 20 s quiet.
pub fn produce_rate(t: Duration, quiet: f64, burst: f64) -> f64 {
    let t = t.as_secs_f64() % 60.0;
    if t < 15.0 {
        burst
    } else if t < 40.0 {
        quiet + (burst - quiet) * (-(t - 15.0) / 5.0).exp()
    } else {
        quiet
    }
}

/// Shared counters the status line reads.
#[derive(Default)]
pub struct Counters {
    pub produced: AtomicU64,
    pub consumed: AtomicU64,
}

/// Produces to `topic` at [`produce_rate`] until `stop`.
pub fn spawn_producer(
    bootstrap: String,
    topic: String,
    rates: (f64, f64),
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "5")
        .create()
        .map_err(|e| format!("demo producer: {e}"))?;
    Ok(std::thread::spawn(move || {
        let start = Instant::now();
        let tick = Duration::from_millis(10);
        let mut owed = 0.0;
        while !stop.load(Ordering::Relaxed) {
            owed += produce_rate(start.elapsed(), rates.0, rates.1) * tick.as_secs_f64();
            while owed >= 1.0 {
                let record = BaseRecord::<(), str>::to(&topic).payload("order");
                if producer.send(record).is_ok() {
                    counters.produced.fetch_add(1, Ordering::Relaxed);
                }
                owed -= 1.0;
            }
            producer.poll(Duration::ZERO);
            std::thread::sleep(tick);
        }
        let _ = producer.flush(Duration::from_secs(1));
    }))
}

/// One member of `group` that consumes `topic` at `rate` messages per second and commits what
/// it processed every 500 ms.
pub fn spawn_consumer(
    bootstrap: String,
    topic: String,
    group: String,
    rate: f64,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("enable.auto.offset.store", "false")
        .create()
        .map_err(|e| format!("demo consumer: {e}"))?;
    consumer
        .subscribe(&[&topic])
        .map_err(|e| format!("demo consumer: {e}"))?;
    Ok(std::thread::spawn(move || {
        let per_message = Duration::from_secs_f64(1.0 / rate);
        while !stop.load(Ordering::Relaxed) {
            // Poll errors are transient on the mock (e.g. during the group's join): poll again.
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                std::thread::sleep(per_message); // the work
                let (topic, partition) = (message.topic(), message.partition());
                let _ = consumer.store_offset(topic, partition, message.offset() + 1);
                counters.consumed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_cycles_quiet_burst_decay() {
        let rate = |s: f64| produce_rate(Duration::from_secs_f64(s), 20.0, 400.0);
        assert_eq!(rate(0.0), 400.0);
        assert_eq!(rate(14.9), 400.0);
        assert!(rate(20.0) < 400.0 && rate(20.0) > 20.0);
        assert!(rate(30.0) < rate(20.0));
        assert_eq!(rate(45.0), 20.0);
        assert_eq!(rate(60.0), 400.0);
    }
}
