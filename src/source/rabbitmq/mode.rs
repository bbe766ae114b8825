//! KEDA's RabbitMQ trigger modes over the management API's answer
//! (`pkg/scalers/rabbitmq_scaler.go`): a regex's queues aggregated by `operation`
//! (`getComposedQueue`), then the mode's metric and activity (`GetMetricsAndActivity`), with
//! m the message count, p the publish rate, d the deliver-get rate and a `activationValue`;
//! every comparison strict:
//!
//! | mode | metric | active |
//! |---|---|---|
//! | `QueueLength` | m | m > a |
//! | `MessageRate` | p | p > a or m > a |
//! | `DeliverGetRate` | d | d > a |
//! | `PublishedToDeliveredRatio` | p/d if p > 0 and d > 0; a if p > 0 and d = 0; else 0 | ratio > a, or p > 0 and d = 0 |
//! | `ExpectedQueueConsumptionTime` | 0 if m = 0; a if d = 0; else (p − d)/d + m/d | eta > a, or d = 0 and m > 0 |
//!
//! ETA is KEDA main's (#8033: an empty queue is 0 and inactive); negative values are served as
//! 0 (v2.20.2). A rate, ratio or time, and its activity, are the reading's
//! [`Lag::decided`]; its `messages` stay the count.

use super::http::QueueInfo;
use crate::source::{Lag, SourceDecision};

/// `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    QueueLength,
    MessageRate,
    DeliverGetRate,
    PublishedToDeliveredRatio,
    ExpectedQueueConsumptionTime,
}

impl Mode {
    pub const EXPECTED: &'static str = "one of: QueueLength, MessageRate, DeliverGetRate, \
        PublishedToDeliveredRatio, ExpectedQueueConsumptionTime (KEDA's, case-sensitive)";

    pub fn parse(value: &str) -> Option<Mode> {
        Some(match value {
            "QueueLength" => Mode::QueueLength,
            "MessageRate" => Mode::MessageRate,
            "DeliverGetRate" => Mode::DeliverGetRate,
            "PublishedToDeliveredRatio" => Mode::PublishedToDeliveredRatio,
            "ExpectedQueueConsumptionTime" => Mode::ExpectedQueueConsumptionTime,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::QueueLength => "QueueLength",
            Mode::MessageRate => "MessageRate",
            Mode::DeliverGetRate => "DeliverGetRate",
            Mode::PublishedToDeliveredRatio => "PublishedToDeliveredRatio",
            Mode::ExpectedQueueConsumptionTime => "ExpectedQueueConsumptionTime",
        }
    }

    /// The unit of its metric, `value` and `activationValue`.
    pub fn unit(self) -> &'static str {
        match self {
            Mode::QueueLength => "messages",
            Mode::MessageRate | Mode::DeliverGetRate => "messages per second",
            Mode::PublishedToDeliveredRatio => "messages published per message delivered",
            Mode::ExpectedQueueConsumptionTime => "seconds",
        }
    }
}

/// `operation`: how a regex's queues combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Sum,
    Avg,
    Max,
}

impl Operation {
    pub const EXPECTED: &'static str = "one of: sum, avg, max";

    pub fn parse(value: &str) -> Option<Operation> {
        match value {
            "sum" => Some(Operation::Sum),
            "avg" => Some(Operation::Avg),
            "max" => Some(Operation::Max),
            _ => None,
        }
    }
}

/// A number read from a trigger key: finite, compared and hashed by its bits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl Eq for Number {}

impl std::hash::Hash for Number {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// How one `protocol: http` trigger reads its value from the queues: its per-trigger keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    pub mode: Mode,
    /// `excludeUnacknowledged`: m is `messages_ready`, not `messages`.
    pub exclude_unacknowledged: bool,
    /// `operation`, for a regex's queues (one queue is itself whatever the operation).
    pub operation: Operation,
    /// `activationValue`, which two modes serve as their metric.
    pub activation: Number,
}

/// The queues' figures, aggregated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub messages: u64,
    pub publish: f64,
    pub deliver_get: f64,
}

impl Rule {
    /// The queues aggregated by `operation`: averaged counts use integer division, as KEDA's.
    pub fn figures(&self, queues: &[QueueInfo]) -> Figures {
        let count = |q: &QueueInfo| match self.exclude_unacknowledged {
            true => q.ready,
            false => q.messages,
        };
        let n = queues.len() as u64;
        match self.operation {
            Operation::Max => Figures {
                messages: queues.iter().map(count).max().unwrap_or(0),
                publish: queues.iter().map(|q| q.publish).fold(0.0, f64::max),
                deliver_get: queues.iter().map(|q| q.deliver_get).fold(0.0, f64::max),
            },
            Operation::Sum | Operation::Avg => {
                let sum = Figures {
                    messages: queues.iter().map(count).sum(),
                    publish: queues.iter().map(|q| q.publish).sum(),
                    deliver_get: queues.iter().map(|q| q.deliver_get).sum(),
                };
                match (self.operation, n) {
                    (Operation::Avg, 1..) => Figures {
                        messages: sum.messages / n,
                        publish: sum.publish / n as f64,
                        deliver_get: sum.deliver_get / n as f64,
                    },
                    _ => sum,
                }
            }
        }
    }

    /// The mode's metric and activity (module docs' table).
    pub fn evaluate(&self, f: Figures) -> (f64, bool) {
        let (m, p, d, a) = (
            f.messages as f64,
            f.publish,
            f.deliver_get,
            self.activation.0,
        );
        let (metric, active) = match self.mode {
            Mode::QueueLength => (m, m > a),
            Mode::MessageRate => (p, p > a || m > a),
            Mode::DeliverGetRate => (d, d > a),
            Mode::PublishedToDeliveredRatio => {
                let ratio = match (p > 0.0, d > 0.0) {
                    (true, true) => p / d,
                    (true, false) => a,
                    (false, _) => 0.0,
                };
                (ratio, ratio > a || (p > 0.0 && d == 0.0))
            }
            Mode::ExpectedQueueConsumptionTime => {
                let eta = if f.messages == 0 {
                    0.0
                } else if d == 0.0 {
                    a
                } else {
                    (p - d) / d + m / d
                };
                (eta, eta > a || (d == 0.0 && f.messages > 0))
            }
        };
        (metric.max(0.0), active)
    }

    /// The trigger's reading: the count (messages), and for every mode but `QueueLength`
    /// (whose count the trigger's transform and `activationValue` read) the mode's own
    /// metric and activity.
    pub fn lag(&self, queues: &[QueueInfo]) -> Lag {
        let figures = self.figures(queues);
        let decided = (self.mode != Mode::QueueLength).then(|| {
            let (metric, active) = self.evaluate(figures);
            SourceDecision { metric, active }
        });
        Lag {
            messages: figures.messages,
            partitions: None,
            activation: figures.messages,
            decided,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(mode: Mode, activation: f64) -> Rule {
        Rule {
            mode,
            exclude_unacknowledged: false,
            operation: Operation::Sum,
            activation: Number(activation),
        }
    }

    fn figures(messages: u64, publish: f64, deliver_get: f64) -> Figures {
        Figures {
            messages,
            publish,
            deliver_get,
        }
    }

    fn queue(name: &str, messages: u64, ready: u64, publish: f64, deliver_get: f64) -> QueueInfo {
        QueueInfo {
            name: name.to_owned(),
            messages,
            ready,
            publish,
            deliver_get,
        }
    }

    #[test]
    fn queue_length_and_rates() {
        let ql = rule(Mode::QueueLength, 5.0);
        assert_eq!(ql.evaluate(figures(5, 9.0, 9.0)), (5.0, false));
        assert_eq!(ql.evaluate(figures(6, 0.0, 0.0)), (6.0, true));
        let rate = rule(Mode::MessageRate, 2.0);
        assert_eq!(rate.evaluate(figures(0, 2.5, 0.0)), (2.5, true));
        assert_eq!(rate.evaluate(figures(0, 2.0, 0.0)), (2.0, false));
        // No publishing, but a backlog above a: active, metric 0.
        assert_eq!(rate.evaluate(figures(3, 0.0, 0.0)), (0.0, true));
        let deliver = rule(Mode::DeliverGetRate, 1.0);
        assert_eq!(deliver.evaluate(figures(100, 5.0, 1.5)), (1.5, true));
        assert_eq!(deliver.evaluate(figures(100, 5.0, 1.0)), (1.0, false));
    }

    #[test]
    fn published_to_delivered_ratio() {
        let ratio = rule(Mode::PublishedToDeliveredRatio, 1.5);
        assert_eq!(ratio.evaluate(figures(0, 4.0, 2.0)), (2.0, true));
        assert_eq!(ratio.evaluate(figures(0, 3.0, 2.0)), (1.5, false));
        // Publishing, nothing delivered: the metric is a, and active.
        assert_eq!(ratio.evaluate(figures(0, 1.0, 0.0)), (1.5, true));
        assert_eq!(ratio.evaluate(figures(9, 0.0, 3.0)), (0.0, false));
    }

    #[test]
    fn expected_queue_consumption_time() {
        let eta = rule(Mode::ExpectedQueueConsumptionTime, 10.0);
        // (p − d)/d + m/d = (3 − 2)/2 + 40/2 = 20.5 s.
        assert_eq!(eta.evaluate(figures(40, 3.0, 2.0)), (20.5, true));
        assert_eq!(eta.evaluate(figures(18, 2.0, 2.0)), (9.0, false));
        // Empty queue (main, #8033): 0 and inactive, even with nothing delivered.
        assert_eq!(eta.evaluate(figures(0, 1.0, 0.0)), (0.0, false));
        // A backlog nobody consumes: the metric is a, and active.
        assert_eq!(eta.evaluate(figures(5, 0.0, 0.0)), (10.0, true));
        // Draining faster than it fills: negative, served as 0.
        assert_eq!(eta.evaluate(figures(1, 0.0, 10.0)), (0.0, false));
    }

    #[test]
    fn operations_over_a_regex() {
        let queues = [queue("a", 8, 5, 1.0, 3.0), queue("b", 3, 2, 2.5, 0.5)];
        let mut r = rule(Mode::QueueLength, 0.0);
        assert_eq!(r.figures(&queues), figures(11, 3.5, 3.5));
        r.operation = Operation::Avg;
        // 11 / 2 = 5 in integers, as KEDA's; rates as floats.
        assert_eq!(r.figures(&queues), figures(5, 1.75, 1.75));
        r.operation = Operation::Max;
        assert_eq!(r.figures(&queues), figures(8, 2.5, 3.0));
        r.exclude_unacknowledged = true;
        assert_eq!(r.figures(&queues).messages, 5);
        r.operation = Operation::Avg;
        assert_eq!(r.figures(&[]), figures(0, 0.0, 0.0));
    }

    #[test]
    fn readings_carry_the_count_and_the_modes_own_decision() {
        let queues = [queue("q", 8, 5, 2.3456, 0.0)];
        let rate = rule(Mode::MessageRate, 0.0);
        let lag = rate.lag(&queues);
        assert_eq!((lag.messages, lag.activation), (8, 8));
        assert_eq!(
            lag.decided,
            Some(SourceDecision {
                metric: 2.3456,
                active: true
            })
        );
        let ql = rule(Mode::QueueLength, 0.0);
        let lag = ql.lag(&queues);
        assert_eq!((lag.messages, lag.activation, lag.decided), (8, 8, None));
    }
}
