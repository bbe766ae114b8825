//! `lagscale check`: evaluates one trigger once, through the same code path as the server, and
//! prints what KEDA would be told — for debugging a trigger without KEDA.

use std::collections::HashMap;
use std::io::{self, Write};

use std::sync::Arc;

use crate::error::ScalerError;
use crate::replicas::ObjectRef;
use crate::scaler::{ReplicaView, Scaler};
use crate::source::RateSource;
use crate::strategy::rate::time_lag;
use crate::strategy::replica_rate::{KEPT_WINDOWS, Learned, MIN_WINDOWS};
use crate::strategy::throughput::ReplicaThroughput;
use crate::trigger::Metric;

/// How long `check` watches a `metric: throughput` trigger's offsets (at most its window).
const CHECK_RATE_WATCH: std::time::Duration = std::time::Duration::from_secs(10);
use crate::transform::{round_metric, round_target};

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The operator's own terminal: the cause a gRPC caller is not told is shown too.
    #[error(
        "{0} (gRPC code {code:?}){cause}",
        code = .0.code(),
        cause = .0.detail().map(|d| format!("; cause: {d}")).unwrap_or_default()
    )]
    Scaler(#[from] ScalerError),
    #[error("cannot write the report: {0}")]
    Output(#[from] io::Error),
}

/// Parses `KEY=VALUE` (for `--set`).
pub fn parse_key_value(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!(
            "{arg:?} is not KEY=VALUE (for example queueName=jobs)"
        )),
    }
}

/// Parses `NAMESPACE/NAME` (for `--scaled-object`).
pub fn parse_object(arg: &str) -> Result<ObjectRef, String> {
    match arg.split_once('/') {
        Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => Ok(ObjectRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }),
        _ => Err(format!(
            "{arg:?} is not NAMESPACE/NAME (for example shop/orders-worker)"
        )),
    }
}

/// Prints the metric spec (metadata only), then lag, metric and activity (one broker query),
/// and for replica-aware triggers what `object`'s replicas made of the metric.
pub async fn check(
    scaler: &Arc<Scaler>,
    metadata: &HashMap<String, String>,
    object: Option<&ObjectRef>,
    out: &mut impl Write,
) -> Result<(), CheckError> {
    let spec = scaler.trigger(metadata)?;
    let target = spec.target();
    writeln!(out, "query:       {:?}", spec.query())?;
    writeln!(out, "metric name: {}", spec.metric_name)?;
    writeln!(out, "transform:   {:?}", spec.transform)?;
    writeln!(
        out,
        "target:      {target} (targetSizeFloat; targetSize {})",
        round_target(target)
    )?;
    out.flush()?;
    let mut evaluation = scaler.evaluate(&spec).await?;
    let learns = matches!(&spec.metric, Metric::Throughput(p)
        if matches!(p.replica_throughput, ReplicaThroughput::Auto { .. }));
    // `auto` answers nothing before the consumers are first read: the watch below reads them.
    let first = scaler.metric(&spec, &evaluation, object).await;
    let mut served = match first {
        Err(ScalerError::ConsumersUnknown { lasting: false, .. }) if learns => None,
        first => Some(first?),
    };
    if let Metric::Throughput(policy) = &spec.metric
        && (learns || spec.query().rate_source() == RateSource::SampledOffsets)
    {
        // Kafka rates need offsets read over time: watch for a while, as `serve` does all
        // along. (RabbitMQ's come from its management API at once.)
        let watch = policy.rate_window.min(CHECK_RATE_WATCH);
        writeln!(
            out,
            "measuring:   produce and consume rates for {} s ...",
            watch.as_secs()
        )?;
        out.flush()?;
        tokio::time::sleep(watch).await;
        evaluation = scaler.evaluate(&spec).await?;
        served = Some(scaler.metric(&spec, &evaluation, object).await?);
    }
    let served = match served {
        Some(served) => served,
        None => scaler.metric(&spec, &evaluation, object).await?,
    };
    writeln!(out, "lag:         {} messages", evaluation.lag)?;
    if let Metric::Throughput(policy) = &spec.metric {
        match &served.rates {
            Some(rates) => {
                let burndown = match time_lag(evaluation.lag, rates) {
                    Some(secs) => format!("{secs:.0} s"),
                    None => "never at this rate".to_owned(),
                };
                let consume = rates
                    .consume
                    .map_or("unknown (no commits)".to_owned(), |c| format!("{c:.1}/s"));
                writeln!(
                    out,
                    "rates:       produce {:.1}/s, consume {consume} over {:.0} s; time lag (until \
                     the lag drains): {burndown}",
                    rates.produce,
                    rates.span.as_secs_f64()
                )?;
            }
            None => writeln!(
                out,
                "rates:       none yet: serving lag / drainSeconds ({} s) alone",
                policy.drain.as_secs_f64()
            )?,
        }
        if let (Some(learned), ReplicaThroughput::Auto { initial }) =
            (&served.learned, policy.replica_throughput)
        {
            writeln!(out, "{}", replica_rate_line(learned, initial))?;
        }
    }
    match &served.replicas {
        None => {}
        Some(ReplicaView::PartitionCap {
            state,
            partitions,
            capped,
        }) => writeln!(
            out,
            "replicas:    {} of {} ({partitions} partitions); log2 metric {}capped at the partitions",
            state.current,
            state.target,
            if *capped { "" } else { "not " }
        )?,
        Some(ReplicaView::Step {
            state,
            bounds,
            samples,
            decision,
        }) => writeln!(
            out,
            "replicas:    {} of {} (between {} and {}); {samples} lag samples so far; \
             step decision: {} to {} ({})",
            state.current,
            state.target,
            bounds.min,
            bounds.max,
            decision.kind(),
            decision.replicas(),
            decision.reason()
        )?,
    }
    writeln!(
        out,
        "metric:      {} (metricValueFloat; metricValue {})",
        served.metric,
        round_metric(served.metric)
    )?;
    writeln!(
        out,
        "active:      {} (lag > activationLagThreshold {})",
        evaluation.active, spec.activation_lag_threshold
    )?;
    Ok(())
}

/// What `replicaThroughput: auto` knows, for `check`.
fn replica_rate_line(learned: &Learned, initial: Option<f64>) -> String {
    let why = learned
        .last_skip
        .map(|s| format!("; the last window taught nothing: {}", s.reason()))
        .unwrap_or_default();
    let consumers = learned
        .consumers
        .map_or("unknown".to_owned(), |c| c.to_string());
    match learned.estimate {
        Some(rate) => format!(
            "replica:     {rate:.1} messages/s each, learned from the median of the last {} of \
             {} busy windows; {consumers} consumers{why}",
            learned.windows.min(KEPT_WINDOWS),
            learned.windows
        ),
        None => format!(
            "replica:     learning ({} of {MIN_WINDOWS} busy windows); until then {}; \
             {consumers} consumers{why}",
            learned.windows,
            initial.map_or(
                "the consumers are held, or fewer asked for while they keep up".to_owned(),
                |r| format!("replicaThroughputInitial {r}/s")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_key_value;

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("host=amqp://u:p@h/?x=1").unwrap(),
            ("host".to_owned(), "amqp://u:p@h/?x=1".to_owned())
        );
        assert_eq!(parse_key_value("value=").unwrap().1, "");
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }
}
