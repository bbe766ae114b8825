//! The `externalscaler.ExternalScaler` gRPC service: KEDA's five calls.
//!
//! GetMetricSpec and StreamMetricSpec answer from the metadata alone (no broker I/O), so they
//! work while a broker is down and KEDA's fallback can fire. They answer metadata that does
//! not parse too, with a placeholder spec ([`placeholder_spec`]): KEDA drops a trigger whose
//! GetMetricSpec fails with only the event "got empty metric spec" (`scalers_cache.go`,
//! `GetMetricSpecForScalingForScaler`) and builds the HPA without it (`controllers/keda/hpa.go`,
//! `getScaledObjectMetricSpecs`), while it records GetMetrics and IsActive errors as events with
//! their message (`pkg/scaling/scale_handler.go`, `getScalerState`): so those two carry the
//! parser's InvalidArgument, and `kubectl describe` shows it. GetMetrics and IsActive share one
//! evaluation through the cache.
//!
//! A unary call is answered without waiting when it can be: GetMetricSpec always, IsActive and
//! GetMetrics when the shared answer is fresh (and, for GetMetrics, the metric needs the lag
//! alone), which is most of KEDA's calls. Only a call that waits (`*_later`) is given a future
//! of its own, boxed, with the deadline and the call's span ([`ScalerService::waiting`]): the
//! warm call's future stays a few hundred bytes, where it was 1.5 KB, moved on every call.
//!
//! StreamIsActive pushes only `true`, on each inactive → active
//! edge (a stream opened while there is work pushes it at once): every `true` push restarts
//! KEDA's cooldown, and KEDA 2.17 acts on a pushed `false` with a stale ScaledObject (see
//! [`push_activity`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status};
use tracing::{Instrument, Span};

use crate::error::ScalerError;
use crate::metadata::{MetricName, TriggerError};
use crate::metrics;
use crate::proto::external_scaler_server::ExternalScaler;
use crate::proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};
use crate::replicas::ObjectRef;
use crate::scaler::{Evaluation, Scaler, Served};
use crate::transform::{round_metric, round_target};
use crate::trigger::TriggerSpec;

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The ExternalScaler implementation.
pub struct ScalerService {
    scaler: Arc<Scaler>,
    /// Cancelled on shutdown: every open stream then ends with status OK.
    streams_shutdown: CancellationToken,
}

impl ScalerService {
    pub fn new(scaler: Arc<Scaler>, streams_shutdown: CancellationToken) -> ScalerService {
        ScalerService {
            scaler,
            streams_shutdown,
        }
    }

    /// Runs the part of a unary call about `so` that may wait (on a broker, the API server,
    /// another caller's fetch), in the call's span, within `request_timeout_ms` of when it
    /// `started` (else DeadlineExceeded, so that KEDA's 3 s HPA budget is never spent waiting
    /// on one call). Its callers box it: a warm call, answered without waiting, never carries
    /// its space.
    async fn waiting<T>(
        &self,
        method: &'static str,
        so: &ScaledObjectRef,
        started: Instant,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        let deadline = self.scaler.config().request_timeout();
        let mut call = std::pin::pin!(call.instrument(rpc_span(method, Some(so))));
        // Answered on its first poll (a replica-aware trigger whose replicas are cached), the
        // call is given no timer, which costs a handle on the runtime's clock.
        let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(result) => result,
            Poll::Pending => match tokio::time::timeout_at(started + deadline, call).await {
                Ok(result) => result,
                Err(_) => {
                    let error = ScalerError::RequestTimeout {
                        after_ms: deadline.as_millis(),
                    };
                    Err(served_error(method, so, error))
                }
            },
        }
    }

    /// Finishes a unary call that `started` with what it could do `now`: its answer, or the
    /// `later` part that waits, run by [`ScalerService::waiting`].
    async fn answer<'a, T, F>(
        &self,
        method: &'static str,
        started: Instant,
        now: Result<Now<'a, T>, Status>,
        later: impl FnOnce(Arc<TriggerSpec>, &'a ScaledObjectRef) -> F,
    ) -> Result<Response<T>, Status>
    where
        F: Future<Output = Result<T, Status>>,
    {
        let result = match now {
            Ok(Now::Answered(answer)) => Ok(answer),
            Ok(Now::Wait(spec, so)) => {
                Box::pin(self.waiting(method, so, started, later(spec, so))).await
            }
            Err(status) => Err(status),
        };
        finished(method, started, result)
    }

    fn trigger(
        &self,
        method: &'static str,
        so: &ScaledObjectRef,
    ) -> Result<Arc<TriggerSpec>, Status> {
        self.scaler
            .trigger_of(&so.scaler_metadata)
            .map_err(|e| served_error(method, so, e))
    }

    /// The metric spec of `so`'s trigger; for metadata that does not parse, the placeholder
    /// (the error is logged, and GetMetrics and IsActive return it).
    fn metric_spec(
        &self,
        method: &'static str,
        so: &ScaledObjectRef,
    ) -> Result<GetMetricSpecResponse, Status> {
        match self.scaler.trigger_of(&so.scaler_metadata) {
            Ok(spec) => Ok(metric_spec(&spec)),
            Err(ScalerError::Trigger(error)) => {
                served_error(method, so, error.into());
                Ok(placeholder_spec(so))
            }
            Err(other) => Err(served_error(method, so, other)),
        }
    }

    /// GetMetrics up to what would wait: the metric of `so`'s trigger (`metric_name`, when not
    /// empty, must be the one its GetMetricSpec named) when it needs only a fresh shared answer
    /// ([`Scaler::answer_now`]), for a call that `started` then.
    fn metrics_now<'a>(
        &self,
        so: Option<&'a ScaledObjectRef>,
        metric_name: &str,
        started: Instant,
    ) -> Result<Now<'a, GetMetricsResponse>, Status> {
        let Some(so) = so else {
            return Err(served_error(
                "GetMetrics",
                &ScaledObjectRef::default(),
                TriggerError::Missing {
                    key: "scaledObjectRef",
                    expected: "the ScaledObject reference with its scalerMetadata",
                }
                .into(),
            ));
        };
        let spec = self.trigger("GetMetrics", so)?;
        if !metric_name.is_empty() && !spec.metric_name.matches(metric_name) {
            let error = ScalerError::UnknownMetric {
                requested: metric_name.to_owned(),
                served: spec.metric_name.to_string(),
            };
            return Err(served_error("GetMetrics", so, error));
        }
        match self.scaler.answer_now(&spec, started) {
            Some(answer) => {
                let (evaluation, served) = answer.map_err(|e| served_error("GetMetrics", so, e))?;
                Ok(Now::Answered(metrics_answer(
                    so,
                    &spec,
                    &evaluation,
                    &served,
                )))
            }
            None => Ok(Now::Wait(spec, so)),
        }
    }

    /// GetMetrics for a trigger that waits: on its shared answer, or for the replicas or rates
    /// its metric needs.
    async fn metrics_later(
        &self,
        spec: Arc<TriggerSpec>,
        so: &ScaledObjectRef,
        started: Instant,
    ) -> Result<GetMetricsResponse, Status> {
        let object = spec.strategy.reads_replicas().then(|| ObjectRef {
            namespace: so.namespace.clone(),
            name: so.name.clone(),
        });
        let answer = async {
            let evaluation = self.scaler.evaluate_at(&spec, started).await?;
            let served = (self.scaler)
                .metric(&spec, &evaluation, object.as_ref())
                .await?;
            Ok::<_, ScalerError>((evaluation, served))
        };
        let (evaluation, served) = answer
            .await
            .map_err(|e| served_error("GetMetrics", so, e))?;
        Ok(metrics_answer(so, &spec, &evaluation, &served))
    }

    /// IsActive up to what would wait: whether `so`'s trigger has work, from a fresh shared
    /// answer.
    fn active_now<'a>(
        &self,
        so: &'a ScaledObjectRef,
        started: Instant,
    ) -> Result<Now<'a, IsActiveResponse>, Status> {
        let spec = self.trigger("IsActive", so)?;
        match self.scaler.evaluate_now(&spec, started) {
            Some(evaluation) => evaluation
                .map(|evaluation| Now::Answered(active_answer(&evaluation)))
                .map_err(|e| served_error("IsActive", so, e)),
            None => Ok(Now::Wait(spec, so)),
        }
    }

    /// IsActive for a trigger whose shared answer is not fresh: waits for it.
    async fn active_later(
        &self,
        spec: Arc<TriggerSpec>,
        so: &ScaledObjectRef,
        started: Instant,
    ) -> Result<IsActiveResponse, Status> {
        let evaluation = self.scaler.evaluate_at(&spec, started).await;
        evaluation
            .map(|evaluation| active_answer(&evaluation))
            .map_err(|e| served_error("IsActive", so, e))
    }
}

/// A unary call's answer when it is given without waiting, else what it waits on.
enum Now<'a, T> {
    Answered(T),
    /// The evaluation of this trigger, for this ScaledObject.
    Wait(Arc<TriggerSpec>, &'a ScaledObjectRef),
}

/// Records a unary call's status code and duration, then returns its result.
fn finished<T>(
    method: &'static str,
    started: Instant,
    result: Result<T, Status>,
) -> Result<Response<T>, Status> {
    let code = result.as_ref().err().map_or(Code::Ok, Status::code);
    metrics::grpc_request(method, code, Some(started.elapsed()));
    result.map(Response::new)
}

/// IsActive's answer.
fn active_answer(evaluation: &Evaluation) -> IsActiveResponse {
    IsActiveResponse {
        result: evaluation.active,
    }
}

/// GetMetrics' answer: the one metric served.
fn metrics_answer(
    so: &ScaledObjectRef,
    spec: &TriggerSpec,
    evaluation: &Evaluation,
    served: &Served,
) -> GetMetricsResponse {
    tracing::debug!(
        namespace = %so.namespace,
        name = %so.name,
        lag = evaluation.lag,
        metric = served.metric,
        lookup = ?evaluation.lookup,
        "GetMetrics"
    );
    GetMetricsResponse {
        metric_values: vec![MetricValue {
            metric_name: spec.metric_name.as_str().to_owned(),
            metric_value: round_metric(served.metric),
            metric_value_float: served.metric,
        }],
    }
}

/// What GetMetricSpec answers for metadata that does not parse: a stable name from the
/// metadata (`metricName` when valid, see [`MetricName::for_invalid`]) and a target of 1. The
/// HPA then asks for that metric, and GetMetrics fails with the parser's message: the HPA
/// keeps the replicas (with other metrics it may still scale up on them, never down:
/// `computeReplicasForMetrics` in kubernetes' `pkg/controller/podautoscaler/horizontal.go`),
/// KEDA records the message as an event, and `fallback` counts the failures.
fn placeholder_spec(so: &ScaledObjectRef) -> GetMetricSpecResponse {
    // Only metadata that decoded fails to parse.
    let metadata = so.scaler_metadata.pairs().map(|pairs| pairs.to_map());
    GetMetricSpecResponse {
        metric_specs: vec![MetricSpec {
            metric_name: MetricName::for_invalid(&metadata.unwrap_or_default()).to_string(),
            target_size: 1,
            target_size_float: 1.0,
        }],
    }
}

/// The span every line logged for one call runs in, at DEBUG: at the default level it costs
/// nothing per call (a served error names the method and the ScaledObject itself, see
/// [`served_error`]).
fn rpc_span(method: &'static str, so: Option<&ScaledObjectRef>) -> Span {
    let (namespace, name) = so.map_or(("", ""), |so| (so.namespace.as_str(), so.name.as_str()));
    // `scaled_object`, not `name`: JSON logs already use `name` for the span's own name.
    tracing::debug_span!("rpc", method, namespace, scaled_object = name)
}

/// Opens a stream and records the status code of the opening (streams count themselves open
/// with [`metrics::OpenStream`] while they last).
async fn opened<T>(
    method: &'static str,
    span: Span,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let result = call.instrument(span).await;
    let code = result.as_ref().err().map_or(Code::Ok, Status::code);
    metrics::grpc_request(method, code, None);
    result
}

/// Logs a served error with the ScaledObject it concerns, and turns it into a status.
fn served_error(method: &'static str, so: &ScaledObjectRef, error: ScalerError) -> Status {
    tracing::warn!(
        rpc = method,
        namespace = %so.namespace,
        name = %so.name,
        code = ?error.code(),
        cause = error.detail(),
        "{error}"
    );
    Status::from(error)
}

fn metric_spec(spec: &TriggerSpec) -> GetMetricSpecResponse {
    let target = spec.target();
    GetMetricSpecResponse {
        metric_specs: vec![MetricSpec {
            metric_name: spec.metric_name.as_str().to_owned(),
            target_size: round_target(target),
            target_size_float: target,
        }],
    }
}

#[tonic::async_trait]
impl ExternalScaler for ScalerService {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let started = Instant::now();
        let so = request.into_inner();
        let now = rpc_span("IsActive", Some(&so)).in_scope(|| self.active_now(&so, started));
        let later = |spec, so| self.active_later(spec, so, started);
        self.answer("IsActive", started, now, later).await
    }

    type StreamIsActiveStream = ResponseStream<IsActiveResponse>;

    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        opened(
            "StreamIsActive",
            rpc_span("StreamIsActive", Some(request.get_ref())),
            async move {
                let so = request.into_inner();
                let spec = self.trigger("StreamIsActive", &so)?;
                let (tx, rx) = mpsc::channel(1);
                let open = metrics::OpenStream::new("StreamIsActive");
                tokio::spawn(
                    push_activity(
                        open,
                        self.scaler.clone(),
                        spec,
                        so,
                        tx,
                        self.streams_shutdown.clone(),
                    )
                    .in_current_span(),
                );
                let stream: Self::StreamIsActiveStream = Box::pin(ReceiverStream::new(rx));
                Ok(Response::new(stream))
            },
        )
        .await
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let started = Instant::now();
        let so = request.into_inner();
        let result = rpc_span("GetMetricSpec", Some(&so))
            .in_scope(|| self.metric_spec("GetMetricSpec", &so));
        finished("GetMetricSpec", started, result)
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let so = request.scaled_object_ref.as_ref();
        let now = rpc_span("GetMetrics", so)
            .in_scope(|| self.metrics_now(so, &request.metric_name, started));
        let later = |spec, so| self.metrics_later(spec, so, started);
        self.answer("GetMetrics", started, now, later).await
    }

    type StreamMetricSpecStream = ResponseStream<GetMetricSpecResponse>;

    async fn stream_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        opened(
            "StreamMetricSpec",
            rpc_span("StreamMetricSpec", Some(request.get_ref())),
            async move {
                let so = request.into_inner();
                let spec = self.metric_spec("StreamMetricSpec", &so)?;
                let (tx, rx) = mpsc::channel(1);
                let shutdown = self.streams_shutdown.clone();
                // The spec depends only on the metadata, which cannot change during a stream: send it
                // once and hold the stream open (ending it would make KEDA reconnect at once).
                let open = metrics::OpenStream::new("StreamMetricSpec");
                tokio::spawn(async move {
                    let _open = open;
                    if tx.send(Ok(spec)).await.is_ok() {
                        tokio::select! {
                            _ = shutdown.cancelled() => {}
                            _ = tx.closed() => {}
                        }
                    }
                });
                let stream: Self::StreamMetricSpecStream = Box::pin(ReceiverStream::new(rx));
                Ok(Response::new(stream))
            },
        )
        .await
    }
}

/// Re-evaluates one StreamIsActive trigger every `stream_check_interval` until the client goes
/// away or the server shuts down, and pushes `true` on each inactive → active edge (the first
/// evaluation counts as one when it finds work), never `false`. KEDA's push scaler
/// (`pkg/scalers/external_scaler.go`, `externalPushScaler.Run`) hands every pushed value to
/// `RequestScale`; 2.18+ ignores `false`, but 2.17 acts on it with a stale ScaledObject and can
/// scale to zero early, ignoring other active triggers. The polled IsActive covers the
/// active → inactive direction. Evaluation errors are logged and not pushed: KEDA also polls
/// IsActive, which reports them.
async fn push_activity(
    _open: metrics::OpenStream,
    scaler: Arc<Scaler>,
    spec: Arc<TriggerSpec>,
    so: ScaledObjectRef,
    tx: mpsc::Sender<Result<IsActiveResponse, Status>>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(scaler.config().stream_check_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<bool> = None;
    loop {
        let evaluation = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tx.closed() => break,
            evaluation = async { ticker.tick().await; scaler.evaluate(&spec).await } => evaluation,
        };
        match evaluation {
            Ok(evaluation) => {
                let push = evaluation.active && last != Some(true);
                last = Some(evaluation.active);
                if push {
                    let response = IsActiveResponse {
                        result: evaluation.active,
                    };
                    if tx.send(Ok(response)).await.is_err() {
                        break;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(
                    rpc = "StreamIsActive",
                    namespace = %so.namespace,
                    name = %so.name,
                    code = ?error.code(),
                    "{error}"
                );
            }
        }
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
