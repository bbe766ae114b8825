//! Durations as KEDA's typed config reads them (`pkg/scalers/scalersconfig/typed_config.go`,
//! `setConfigValueHelper`), for the RabbitMQ `timeout` key.

use std::time::Duration;

/// What KEDA's typed config takes for a `time.Duration` (`setConfigValueHelper`): a bare whole
/// number of milliseconds, or Go's `time.ParseDuration` syntax (`1.5s`, `1m30s`, `250ms`);
/// never negative.
pub fn go_duration(value: &str) -> Option<Duration> {
    if let Ok(ms) = value.parse::<u64>() {
        return Some(Duration::from_millis(ms));
    }
    let mut rest = value.strip_prefix('+').unwrap_or(value);
    if rest.is_empty() || rest.starts_with('-') {
        return None;
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_and_bare_milliseconds() {
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(go_duration("1500"), ms(1500));
        assert_eq!(go_duration("0"), ms(0));
        assert_eq!(go_duration("2s"), ms(2000));
        assert_eq!(go_duration("1.5s"), ms(1500));
        assert_eq!(go_duration("250ms"), ms(250));
        assert_eq!(go_duration("1m30s"), ms(90_000));
        assert_eq!(go_duration("1h"), ms(3_600_000));
        for bad in ["-1", "-2s", "s", "1.5", "10x", "", "2 s"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }
}
