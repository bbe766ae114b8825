use super::*;

const WINDOW: Duration = Duration::from_secs(60);

/// A partition consumed at `rate` per second with `backlog` waiting (constant).
#[derive(Clone, Copy)]
struct Flow {
    partition: i32,
    rate: f64,
    backlog: i64,
}

fn flow(partition: i32, rate: f64, backlog: i64) -> Flow {
    Flow {
        partition,
        rate,
        backlog,
    }
}

fn members(assignments: &[(&str, Option<&[i32]>)]) -> Consumers {
    Consumers::Members(
        assignments
            .iter()
            .map(|(id, partitions)| Member {
                id: (*id).to_owned(),
                partitions: partitions.map(<[i32]>::to_vec),
            })
            .collect(),
    )
}

/// Samples every 5 s from `from` to `to` seconds after `t0`.
fn samples(
    t0: Instant,
    (from, to): (u64, u64),
    flows: &[Flow],
    consumers: &Consumers,
) -> Vec<WorkSample> {
    (from..=to)
        .step_by(5)
        .map(|secs| {
            let partitions = flows
                .iter()
                .map(|f| {
                    let committed = (f.rate * secs as f64) as i64;
                    PartitionPoint {
                        partition: f.partition,
                        high: committed + f.backlog,
                        committed: Some(committed),
                    }
                })
                .collect();
            Timed {
                at: t0 + Duration::from_secs(secs),
                value: Work {
                    partitions,
                    consumers: Some(consumers.clone()),
                },
            }
        })
        .collect()
}

#[test]
fn busy_members_count_and_idle_ones_do_not() {
    let t0 = Instant::now();
    // a: partitions 0 and 1 with a backlog, 100/s in all; b: partition 2, 100/s with a
    // backlog; c: partition 3, keeping up (30/s, nothing waiting); d: no partition.
    let group = members(&[
        ("a", Some(&[0, 1])),
        ("b", Some(&[2])),
        ("c", Some(&[3])),
        ("d", Some(&[])),
    ]);
    let flows = [
        flow(0, 80.0, 5_000),
        flow(1, 20.0, 0),
        flow(2, 100.0, 5_000),
        flow(3, 30.0, 100),
    ];
    let rate = window_rate(&samples(t0, (0, 60), &flows, &group), WINDOW).unwrap();
    assert_eq!(rate.busy, 2);
    assert!((rate.per_consumer - 100.0).abs() < 0.1, "{rate:?}");
    assert_eq!(group.working(4), 3);

    // A backlog that began 40 s ago, and a rebalance 50 s ago: the busy run since counts.
    let mut onset = samples(t0, (0, 60), &flows, &group);
    for sample in &mut onset[..4] {
        for point in Arc::make_mut(&mut sample.value.partitions) {
            point.high = point.committed.unwrap();
        }
    }
    onset[1].value.consumers = None;
    let rate = window_rate(&onset, WINDOW).unwrap();
    assert_eq!(rate.busy, 2);
}

#[test]
fn windows_that_teach_nothing_say_why() {
    let t0 = Instant::now();
    let two = members(&[("a", Some(&[0])), ("b", Some(&[1]))]);
    let busy = [flow(0, 50.0, 2_000), flow(1, 50.0, 2_000)];
    type Case = (&'static str, Vec<WorkSample>, Skipped);
    let mut rebalanced = samples(t0, (0, 60), &busy, &two);
    rebalanced[8].value.consumers = Some(members(&[("a", Some(&[0, 1]))]));
    let mut unknown = samples(t0, (0, 60), &busy, &two);
    unknown.last_mut().unwrap().value.consumers = None;
    let mut dipped = samples(t0, (0, 60), &busy, &two);
    // One sample, 25 s ago, where both backlogs fell under 10 s of work (500 messages at 50/s).
    for point in Arc::make_mut(&mut dipped[7].value.partitions) {
        point.high = point.committed.unwrap() + 400;
    }
    let cases: Vec<Case> = vec![
        ("no samples", vec![], Skipped::TooShort),
        (
            "under half a window",
            samples(t0, (0, 25), &busy, &two),
            Skipped::TooShort,
        ),
        (
            "a rebalance 20 s ago",
            rebalanced,
            Skipped::ConsumersChanged,
        ),
        ("members unknown", unknown, Skipped::ConsumersUnknown),
        (
            "keeping up",
            samples(t0, (0, 60), &[flow(0, 50.0, 100), flow(1, 50.0, 100)], &two),
            Skipped::Idle,
        ),
        ("the backlog dipped once", dipped, Skipped::Idle),
        (
            "stuck: a backlog, nothing committed",
            samples(
                t0,
                (0, 60),
                &[flow(0, 0.0, 9_000), flow(1, 0.0, 9_000)],
                &two,
            ),
            Skipped::Idle,
        ),
        (
            "a count only: one partition keeps up, so nobody counts",
            samples(
                t0,
                (0, 60),
                &[flow(0, 50.0, 2_000), flow(1, 50.0, 10)],
                &members(&[("a", None), ("b", None)]),
            ),
            Skipped::Idle,
        ),
    ];
    for (what, samples, expected) in cases {
        assert_eq!(window_rate(&samples, WINDOW), Err(expected), "{what}");
    }
}

#[test]
fn counts_only_and_shared_queues() {
    let t0 = Instant::now();
    // Three members known by count only, on two busy partitions: two of them work.
    let count_only = members(&[("a", None), ("b", None), ("c", None)]);
    let flows = [flow(0, 40.0, 1_000), flow(1, 40.0, 1_000)];
    let rate = window_rate(&samples(t0, (0, 60), &flows, &count_only), WINDOW).unwrap();
    assert_eq!((rate.busy, rate.per_consumer), (2, 40.0));
    // A queue with 4 consumers at 25/s each and 3,000 ready.
    let queue = [flow(0, 100.0, 3_000)];
    let rate = window_rate(&samples(t0, (0, 60), &queue, &Consumers::Shared(4)), WINDOW).unwrap();
    assert_eq!((rate.busy, rate.per_consumer), (4, 25.0));
}

/// Feeds one window of a busy pair at `rate` each, every 5 s as the sampler does.
fn feed(learner: &mut Learner, t0: Instant, minute: u64, rate: f64) -> Option<Move> {
    let pair = members(&[("a", Some(&[0])), ("b", Some(&[1]))]);
    let flows = [flow(0, rate, 100_000), flow(1, rate, 100_000)];
    let all = samples(t0, (0, (minute + 1) * 60), &flows, &pair);
    let mut moved = None;
    for end in all.len() - 12..=all.len() {
        moved = moved.or(learner.observe(&all[..end], WINDOW));
    }
    moved
}

#[test]
fn the_estimate_is_the_median_of_busy_windows() {
    let t0 = Instant::now();
    let mut learner = Learner::default();
    assert_eq!(
        feed(&mut learner, t0, 0, 100.0),
        None,
        "one window: still learning"
    );
    assert_eq!(feed(&mut learner, t0, 1, 104.0), None);
    assert_eq!(learner.learned().estimate, None);
    let first = feed(&mut learner, t0, 2, 96.0).unwrap();
    assert_eq!(first.from, None);
    assert!((first.to - 100.0).abs() < 0.5, "{first:?}");
    // One window per rate window, however often it is fed.
    assert_eq!(learner.learned().windows, 3);
    assert_eq!(learner.learned().consumers, Some(2));

    // Noise and one outlier each way: no jump, no report.
    for (minute, rate) in [(3, 300.0), (4, 102.0), (5, 20.0), (6, 98.0)] {
        assert_eq!(
            feed(&mut learner, t0, minute, rate),
            None,
            "minute {minute}"
        );
        let estimate = learner.estimate().unwrap();
        assert!((96.0..=104.0).contains(&estimate), "{estimate}");
    }
}

#[test]
fn a_drop_of_30_percent_is_followed_within_five_windows() {
    let t0 = Instant::now();
    let mut learner = Learner::default();
    for minute in 0..9 {
        feed(&mut learner, t0, minute, 100.0);
    }
    let mut followed = None;
    for k in 0..9 {
        if let Some(moved) = feed(&mut learner, t0, 9 + k, 70.0) {
            followed = Some((k + 1, moved));
            break;
        }
    }
    let (windows, moved) = followed.unwrap();
    assert_eq!(windows, 5);
    assert!((moved.from.unwrap() - 100.0).abs() < 1e-6);
    assert!((moved.to - 70.0).abs() < 0.2, "{moved:?}");
}
