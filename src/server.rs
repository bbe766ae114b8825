//! The gRPC server: ExternalScaler, gRPC health, and server reflection (v1 and v1alpha, so
//! that grpcurl and older reflection clients can list, describe and call with no proto file).
//!
//! Graceful shutdown: when the `shutdown` future completes, health turns NOT_SERVING, every
//! open stream ends with status OK (KEDA then reconnects at once instead of backing off), and
//! the server stops accepting while in-flight calls finish.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::TlsConfig;
use crate::proto::external_scaler_server::ExternalScalerServer;
use crate::scaler::Scaler;
use crate::service::ScalerService;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("tls.{field}: cannot read {path}: {error}")]
    TlsFile {
        field: &'static str,
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

/// The server's TLS settings from the config's PEM files. tonic offers ALPN `h2`, which KEDA's
/// grpc-go requires of a TLS server.
fn tls(config: &TlsConfig) -> Result<ServerTlsConfig, ServeError> {
    let read = |field: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|error| ServeError::TlsFile {
            field,
            path: path.to_owned(),
            error,
        })
    };
    let identity = Identity::from_pem(
        read("cert_file", &config.cert_file)?,
        read("key_file", &config.key_file)?,
    );
    let mut tls = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &config.client_ca_file {
        tls = tls.client_ca_root(Certificate::from_pem(read("client_ca_file", ca)?));
    }
    Ok(tls)
}

/// Serves gRPC on `listener` (and Prometheus metrics on `metrics`, if given) until `shutdown`
/// completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    scaler: Arc<Scaler>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    // The recorder must exist before the first call records anything.
    crate::metrics::handle();
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ExternalScalerServer<ScalerService>>()
        .await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let tls_config = scaler.config().tls.clone();
    let limits = Limits {
        max_concurrent_requests: scaler.config().max_concurrent_requests,
        shutdown_timeout: scaler.config().shutdown_timeout(),
    };
    let streams_shutdown = CancellationToken::new();
    if let Some(metrics) = metrics {
        let stopped = streams_shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(metrics, stopped).await {
                tracing::error!("the metrics endpoint stopped: {e}");
            }
        });
    }
    let closing_idle = {
        let scaler = scaler.clone();
        tokio::spawn(async move { scaler.sources().close_idle_forever().await })
    };
    let scaler_service = ScalerService::new(scaler, streams_shutdown.clone());

    let stopping = streams_shutdown.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: health NOT_SERVING, ending open streams");
        health
            .set_not_serving::<ExternalScalerServer<ScalerService>>()
            .await;
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        streams_shutdown.cancel();
    };

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving gRPC");
    }
    let mut builder = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(limits.max_concurrent_requests)
        .load_shed(true);
    if let Some(config) = &tls_config {
        builder = builder.tls_config(tls(config)?)?;
    }
    let serving = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(ExternalScalerServer::new(scaler_service))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);
    // Once shutdown has begun, in-flight calls get `shutdown_timeout_ms` to finish.
    let overdue = async {
        stopping.cancelled().await;
        tokio::time::sleep(limits.shutdown_timeout).await;
    };
    let served = tokio::select! {
        served = serving => served,
        () = overdue => {
            tracing::warn!(
                "calls still in flight after {} ms (shutdown_timeout_ms); stopping anyway",
                limits.shutdown_timeout.as_millis()
            );
            Ok(())
        }
    };
    closing_idle.abort();
    served?;
    Ok(())
}

/// The server's limits, from the config.
struct Limits {
    max_concurrent_requests: usize,
    shutdown_timeout: std::time::Duration,
}
