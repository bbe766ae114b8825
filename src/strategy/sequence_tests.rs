//! The step strategy over hours of virtual time (tokio's paused clock): the real sampler task
//! reads a scripted lag every 30 s, and an HPA stand-in syncs every 15 s, decides with the
//! real policy and applies the decision at once (recording when, as the HPA's
//! lastScaleTime). Druid's defaults; min 1, max 6 replicas.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::sampler::{Probe, Samplers, Timed};
use super::step::{Bounds, Sample, StepPolicy};

const M: u64 = 1_000_000;

/// The lag at `t` seconds: a burst in the first window, a mixed window, a long quiet spell,
/// then sustained high lag.
fn lag_at(t: u64) -> u64 {
    match t {
        0..240 => 8 * M,
        600..1200 if [660, 690, 720].contains(&t) => 8 * M, // 3 high samples: < 30 %
        600..1200 if [780, 810].contains(&t) => M / 2,      // 2 low samples: < 90 %
        240..1200 => 3 * M,
        1200..3000 => M / 2,
        _ => 8 * M,
    }
}

#[tokio::test(start_paused = true)]
async fn druid_sequence_on_the_paused_clock() {
    let policy = StepPolicy::default();
    let bounds = Bounds { min: 1, max: 6 };
    let start = Instant::now();
    let probe: Probe<u64> = Arc::new(move || {
        let at = Instant::now();
        let value = lag_at(at.duration_since(start).as_secs());
        Box::pin(async move { Some(Timed { at, value }) })
    });
    let samplers = Samplers::<&str, u64>::default();
    let (mut current, mut last_scale): (u32, Option<Instant>) = (1, None);
    let mut changes: Vec<(u64, u32, u32)> = Vec::new();
    for tick in 0..=(6000 / 15) {
        tokio::time::sleep_until(start + Duration::from_secs(tick * 15)).await;
        let now = Instant::now();
        let interval = policy.lag_collection_interval;
        let range = policy.lag_collection_range;
        let samples: Vec<Sample> = samplers
            .samples(&"orders", probe.clone(), interval, range)
            .iter()
            .map(Sample::from)
            .collect();
        let since = last_scale.map(|at| now.duration_since(at));
        let desired = policy
            .decide(&samples, now, current, since, bounds)
            .replicas();
        if desired != current {
            changes.push((now.duration_since(start).as_secs(), current, desired));
            current = desired;
            last_scale = Some(now);
        }
    }
    let steps: Vec<(u32, u32)> = changes.iter().map(|&(_, from, to)| (from, to)).collect();
    assert_eq!(
        steps,
        [(1, 3), (3, 2), (2, 1), (1, 3), (3, 5), (5, 6)],
        "changes (second, from, to): {changes:?}"
    );
    let at: Vec<u64> = changes.iter().map(|&(t, _, _)| t).collect();
    // Out in the first window, once half of it is sampled (7 of 11 samples high at 300 s).
    assert!((300..600).contains(&at[0]), "{changes:?}");
    // Nothing in the mixed window; in when 90 % of a window is quiet (18 of the 20 samples
    // taken by 1,725 s, or 19 of 21).
    assert!((1700..1800).contains(&at[1]), "{changes:?}");
    // Never twice within minScaleActionIntervalSecs.
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] >= 600, "{changes:?}");
    }
    // Out again once 30 % of the window after the quiet spell is high (6 of 20, or 7 of 21,
    // from about 3,170 s), then at the maximum: no change for the last 1,500 s.
    assert!((3150..3240).contains(&at[3]), "{changes:?}");
    assert_eq!(current, 6);
    assert!(6000 - at[5] > 1000, "{changes:?}");
}
