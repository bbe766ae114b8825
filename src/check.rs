//! `lagscale check`: evaluates one trigger once, through the same code path as the server, and
//! prints what KEDA would be told — for debugging a trigger without KEDA.

use std::collections::HashMap;
use std::io::{self, Write};

use std::sync::Arc;

use crate::error::ScalerError;
use crate::replicas::ObjectRef;
use crate::scaler::{ReplicaView, Scaler};
use crate::transform::{round_metric, round_target};

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0} (gRPC code {code:?})", code = .0.code())]
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
    writeln!(out, "query:       {:?}", spec.query)?;
    writeln!(out, "metric name: {}", spec.metric_name)?;
    writeln!(out, "transform:   {:?}", spec.transform)?;
    writeln!(
        out,
        "target:      {target} (targetSizeFloat; targetSize {})",
        round_target(target)
    )?;
    out.flush()?;
    let evaluation = scaler.evaluate(&spec).await?;
    writeln!(out, "lag:         {} messages", evaluation.lag)?;
    out.flush()?;
    let served = scaler.metric(&spec, &evaluation, object).await?;
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
