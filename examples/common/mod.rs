//! What both example workers need: settings from the environment with clear errors, and the
//! signal Kubernetes sends to stop a pod.

use std::time::Duration;

/// `name`'s value, or `default` when it is not set.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `name`'s value, trimmed; an error naming it when it is not set or blank.
pub fn required(name: &str, expected: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        _ => Err(format!("{name}: not set; expected {expected}")),
    }
}

/// `name`'s value as a number >= 0.
pub fn number(name: &str, default: &str, expected: &str) -> Result<f64, String> {
    let value = env_or(name, default);
    match value.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("{name}: {value:?} is not {expected}")),
    }
}

/// `IDLE_EXIT_SECS`: `None` (never exit) for 0.
pub fn idle_exit(default: &str) -> Result<Option<Duration>, String> {
    let secs = number("IDLE_EXIT_SECS", default, "a number of seconds >= 0")?;
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// `WORK_MS`: simulated work per message.
pub fn work() -> Result<Duration, String> {
    let ms = number("WORK_MS", "0", "a number of milliseconds >= 0")?;
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// Stands in for real processing: waits `work`.
pub async fn process(_payload: &[u8], work: Duration) {
    if !work.is_zero() {
        tokio::time::sleep(work).await;
    }
}

/// Resolves on SIGTERM (what Kubernetes sends before it stops a pod) or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Waits for the next item, giving up (`None`) after `idle` when one is set.
pub async fn next_within<T>(idle: Option<Duration>, next: impl Future<Output = T>) -> Option<T> {
    match idle {
        Some(idle) => tokio::time::timeout(idle, next).await.ok(),
        None => Some(next.await),
    }
}

/// Prints the outcome and exits 1 on an error.
pub fn finish(worker: &str, result: Result<u64, String>) {
    match result {
        Ok(processed) => println!("processed {processed} messages; exiting"),
        Err(e) => {
            eprintln!("{worker}: {e}");
            std::process::exit(1);
        }
    }
}
