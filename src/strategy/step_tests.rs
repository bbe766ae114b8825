//! Table tests of the step decision, on exact sample counts.

use super::*;

const M: u64 = 1_000_000;

/// 21 samples 30 s apart (a full default window) ending at `now`: `high` at 8M, `low` at
/// 500k, the rest at 3M (between the thresholds).
fn window(now: Instant, high: usize, low: usize) -> Vec<Sample> {
    (0..21)
        .map(|i| Sample {
            at: now - Duration::from_secs(30 * (20 - i as u64)),
            lag: if i < high {
                8 * M
            } else if i < high + low {
                M / 2
            } else {
                3 * M
            },
        })
        .collect()
}

const BOUNDS: Bounds = Bounds { min: 1, max: 6 };

/// What, samples high, samples low, current replicas, seconds since the last change, expected.
type Case = (&'static str, usize, usize, u32, Option<u64>, Decision);

#[test]
fn half_a_default_window_is_eleven_samples() {
    assert_eq!(StepPolicy::default().samples_needed(), 11);
}

#[test]
fn decisions() {
    let policy = StepPolicy::default();
    let now = Instant::now() + Duration::from_secs(3600);
    let table: [Case; 9] = [
        (
            "7 of 21 high (33 %)",
            7,
            0,
            1,
            None,
            Decision::ScaleOut { from: 1, to: 3 },
        ),
        (
            "6 of 21 high (29 %)",
            6,
            0,
            1,
            None,
            Decision::Hold {
                replicas: 1,
                reason: HoldReason::Mixed,
            },
        ),
        (
            "19 of 21 low (90.5 %)",
            0,
            19,
            3,
            None,
            Decision::ScaleIn { from: 3, to: 2 },
        ),
        (
            "18 of 21 low (85.7 %)",
            0,
            18,
            3,
            None,
            Decision::Hold {
                replicas: 3,
                reason: HoldReason::Mixed,
            },
        ),
        (
            "step capped at the maximum",
            21,
            0,
            5,
            None,
            Decision::ScaleOut { from: 5, to: 6 },
        ),
        (
            "at the maximum",
            21,
            0,
            6,
            None,
            Decision::Hold {
                replicas: 6,
                reason: HoldReason::AtMax,
            },
        ),
        (
            "at the minimum",
            0,
            21,
            1,
            None,
            Decision::Hold {
                replicas: 1,
                reason: HoldReason::AtMin,
            },
        ),
        (
            "changed 599 s ago",
            21,
            0,
            1,
            Some(599),
            Decision::Hold {
                replicas: 1,
                reason: HoldReason::MinInterval,
            },
        ),
        // 600 s ago: the samples after the change (20 of them) decide.
        (
            "changed 600 s ago",
            21,
            0,
            1,
            Some(600),
            Decision::ScaleOut { from: 1, to: 3 },
        ),
    ];
    for (what, high, low, current, ago, expected) in table {
        let samples = window(now, high, low);
        let since = ago.map(Duration::from_secs);
        assert_eq!(
            policy.decide(&samples, now, current, since, BOUNDS),
            expected,
            "{what}"
        );
    }
}

#[test]
fn samples_before_the_last_change_or_the_window_do_not_count() {
    let policy = StepPolicy {
        min_scale_action_interval: Duration::ZERO,
        ..StepPolicy::default()
    };
    let now = Instant::now() + Duration::from_secs(3600);
    let samples = window(now, 21, 0);
    // A change 5 minutes ago leaves 10 samples after it: fewer than 11.
    let decision = policy.decide(&samples, now, 1, Some(Duration::from_secs(300)), BOUNDS);
    assert_eq!(
        decision,
        Decision::Hold {
            replicas: 1,
            reason: HoldReason::TooFewSamples
        }
    );
    // Ten minutes later the same samples have left the window.
    let later = now + Duration::from_secs(600);
    let decision = policy.decide(&samples, later, 1, None, BOUNDS);
    assert_eq!(
        decision,
        Decision::Hold {
            replicas: 1,
            reason: HoldReason::TooFewSamples
        }
    );
}

#[test]
fn scale_out_wins_when_both_fractions_are_reached() {
    let policy = StepPolicy {
        trigger_scale_in_fraction: 0.6,
        ..StepPolicy::default()
    };
    let now = Instant::now() + Duration::from_secs(3600);
    // 7 high (33 %), 14 low (67 %): both reached.
    let decision = policy.decide(&window(now, 7, 14), now, 2, None, BOUNDS);
    assert_eq!(decision, Decision::ScaleOut { from: 2, to: 4 });
}

#[test]
fn every_decision_has_a_kind_and_a_reason() {
    let decisions = [
        Decision::ScaleOut { from: 1, to: 3 },
        Decision::ScaleIn { from: 3, to: 2 },
        Decision::Hold {
            replicas: 2,
            reason: HoldReason::Mixed,
        },
    ];
    let kinds: Vec<_> = decisions.iter().map(|d| d.kind()).collect();
    assert_eq!(kinds, ["scale_out", "scale_in", "hold"]);
    assert_eq!(decisions.map(Decision::replicas), [3, 2, 2]);
    assert!(decisions.iter().all(|d| !d.reason().is_empty()));
}

#[test]
fn scale_in_metrics_leave_the_hpa_tolerance_band() {
    // (current, desired, served): the HPA lands on ceil(served) when |1 - served/current| > 0.1.
    let table = [
        (3, 2, 2.0),
        (10, 9, 8.999),
        (11, 10, 9.899),
        (19, 18, 17.099),
        (20, 19, 19.0), // no metric in (18, 19] is below 18: the HPA holds
        (5, 7, 7.0),
        (4, 4, 4.0),
        (0, 1, 1.0),
    ];
    for (current, desired, served) in table {
        let metric = metric_for(current, desired);
        assert!(
            (metric - served).abs() < 1e-9,
            "{current} → {desired}: {metric}"
        );
        let ratio = metric / f64::from(current.max(1));
        if (ratio - 1.0).abs() > HPA_TOLERANCE {
            assert_eq!(metric.ceil() as u32, desired, "{current} → {desired}");
        }
    }
}

#[test]
fn steps_too_small_for_the_tolerance_are_widened() {
    let table = [
        (10, 12, 9),
        (11, 13, 10),
        (19, 21, 18),
        (20, 23, 18),
        (30, 34, 27),
        (3, 4, 2),
        (1, 2, 0),
    ];
    for (current, above, below) in table {
        assert_eq!(smallest_landing_above(current), above, "above {current}");
        assert_eq!(largest_landing_below(current), below, "below {current}");
        // What lands is what metric_for serves and the HPA applies.
        let served = metric_for(current, below);
        if below > 0 {
            assert!(
                served / f64::from(current) < 1.0 - HPA_TOLERANCE && served.ceil() as u32 == below,
                "{current} → {below}: {served}"
            );
        }
        assert!(f64::from(above) / f64::from(current) > 1.0 + HPA_TOLERANCE);
    }
    let policy = StepPolicy::default();
    let now = Instant::now() + Duration::from_secs(3600);
    let wide = Bounds { min: 1, max: 40 };
    let quiet = policy.decide(&window(now, 0, 21), now, 20, None, wide);
    assert_eq!(
        quiet,
        Decision::ScaleIn { from: 20, to: 18 },
        "a step of 1 from 20 would not land"
    );
    let busy = policy.decide(&window(now, 21, 0), now, 20, None, wide);
    assert_eq!(busy, Decision::ScaleOut { from: 20, to: 23 });
}
