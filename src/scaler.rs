//! The evaluation shared by every RPC and by `lagscale check`: metadata → [`TriggerSpec`] →
//! lag (through the single-flight cache) → metric and activity.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cache::{Lookup, SingleFlight};
use crate::config::Config;
use crate::error::ScalerError;
use crate::metrics;
use crate::source::{Observation, SourceError, SourceQuery, Sources};
use crate::trigger::TriggerSpec;

/// One trigger's answer at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Lag in messages, as read from the broker.
    pub lag: u64,
    /// The metric served for that lag.
    pub metric: f64,
    /// Whether the workload should be active.
    pub active: bool,
    /// Whether the lag came from the cache.
    pub lookup: Lookup,
}

/// Everything needed to answer KEDA: config, broker clients, and the shared cache.
pub struct Scaler {
    config: Config,
    sources: Sources,
    cache: SingleFlight<SourceQuery, Result<Observation, SourceError>>,
}

impl Scaler {
    pub fn new(config: Config) -> Arc<Scaler> {
        Arc::new(Scaler {
            sources: Sources::new(config.broker_timeouts(), config.cache_ttl()),
            cache: SingleFlight::new(config.cache_ttl()),
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Parses a trigger's metadata against this server's connection profiles.
    pub fn trigger(&self, metadata: &HashMap<String, String>) -> Result<TriggerSpec, ScalerError> {
        Ok(TriggerSpec::parse(metadata, &self.config.clusters)?)
    }

    /// Evaluates a parsed trigger; concurrent and recent callers with the same broker query
    /// share one broker round trip.
    pub async fn evaluate(&self, spec: &TriggerSpec) -> Result<Evaluation, ScalerError> {
        let fetch = || async {
            let started = tokio::time::Instant::now();
            let observation = self.sources.observe(&spec.query).await;
            metrics::broker_query(&spec.query, started.elapsed(), observation.as_ref().err());
            observation
        };
        let (observation, lookup) = self.cache.get_or_fetch(&spec.query, fetch).await;
        metrics::cache_lookup(lookup);
        let lag = spec
            .lag_rule
            .lag(&spec.query, &observation?, spec.lag_threshold)?;
        metrics::evaluated(&spec.query, spec.transform, lag, spec.metric(lag));
        Ok(Evaluation {
            lag,
            metric: spec.metric(lag),
            active: spec.is_active(lag),
            lookup,
        })
    }
}
