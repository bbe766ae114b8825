//! The HPA vectors of scaling-math.md, through the simulator's HPA.

use super::*;

#[test]
fn desired_replicas_vectors() {
    // Value, 50 ready replicas, lag 300,000, acceptable lag 5,000, k = 7: ratio 1.48072 → 75.
    let metric = 7.0 * 300_000f64.log2();
    let target = 7.0 * 5_000f64.log2();
    assert_eq!(desired(MetricType::Value, metric, target, 50, 50), 75);
    // AverageValue, target 5, metric 20 → 4.
    assert_eq!(desired(MetricType::AverageValue, 20.0, 5.0, 1, 1), 4);
    // Value, 3 replicas, metric 20, target 5 → 12.
    assert_eq!(desired(MetricType::Value, 20.0, 5.0, 3, 3), 12);
    // Tolerance: 10 replicas, Value, ratio 1.05 → 10; 1.15 → 12; 0.85 → 9.
    assert_eq!(desired(MetricType::Value, 1.05, 1.0, 10, 10), 10);
    assert_eq!(desired(MetricType::Value, 1.15, 1.0, 10, 10), 12);
    assert_eq!(desired(MetricType::Value, 0.85, 1.0, 10, 10), 9);
    // Value counts ready pods only.
    assert_eq!(desired(MetricType::Value, 2.0, 1.0, 10, 4), 8);
}

#[test]
fn from_1_to_50_with_the_default_behaviour() {
    let mut hpa = Hpa::new(&Behavior::default(), 1, 50);
    let mut current = 1;
    let mut path = vec![current];
    for sync in 1..=6 {
        current = hpa.sync(sync * SYNC_SECS, current, 50);
        path.push(current);
    }
    assert_eq!(path, [1, 5, 10, 20, 40, 50, 50]);
}

#[test]
fn scale_down_waits_for_the_stabilization_window() {
    let mut hpa = Hpa::new(&Behavior::default(), 1, 50);
    let mut current = 10;
    // Ten recommendations of 10, then the metric asks for 2: the 300 s window holds 10.
    for sync in 0..10 {
        current = hpa.sync(sync * SYNC_SECS, current, 10);
    }
    let mut at = Vec::new();
    for sync in 10..40 {
        let next = hpa.sync(sync * SYNC_SECS, current, 2);
        if next != current {
            at.push((sync * SYNC_SECS, next));
        }
        current = next;
    }
    assert_eq!(
        at,
        [(435, 2)],
        "300 s after the last recommendation of 10 (at 135 s)"
    );
}

#[test]
fn policies_limit_the_rate() {
    let behavior: Behavior = serde_yaml::from_str(
        "scaleUp:\n  policies:\n    - {type: Pods, value: 1, periodSeconds: 60}\n\
         scaleDown:\n  stabilizationWindowSeconds: 0\n  selectPolicy: Disabled\n",
    )
    .unwrap();
    let mut hpa = Hpa::new(&behavior, 1, 50);
    let mut current = 1;
    let mut path = Vec::new();
    for sync in 1..=8 {
        current = hpa.sync(sync * SYNC_SECS, current, 10);
        path.push(current);
    }
    // One pod per 60 s.
    assert_eq!(path, [2, 2, 2, 2, 3, 3, 3, 3]);
    assert_eq!(hpa.sync(200, current, 1), current, "scale-down disabled");
}
