//! What one policy did, second by second, and its summary: the figures `simulate`'s table and
//! the demo's closed loop report alike ([`Tally`] counts them the same way for both).

/// One point of the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: u64,
    pub arrivals: f64,
    pub lag: f64,
    pub replicas: u32,
}

/// What one policy did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub replica_hours: f64,
    pub peak_lag: f64,
    pub p95_lag: f64,
    pub secs_above_slo: u64,
    /// Seconds from the peak lag until the lag is at most one replica-second of work.
    pub drain_secs: Option<u64>,
    pub replica_changes: u64,
    pub rebalances: u64,
    /// Messages per second one replica processes (to draw the replicas the arrivals need).
    pub per_replica: f64,
    /// Up to about 2,000 points, evenly spaced.
    pub timeline: Vec<Point>,
}

/// Counts an [`Outcome`] one second at a time.
pub struct Tally {
    out: Outcome,
    slo_lag: f64,
    /// Keep one timeline point every this many seconds.
    every: u64,
    lags: Vec<f32>,
    peak_at: usize,
}

impl Tally {
    /// For a run of `duration_secs` of policy `name`, whose replicas each process
    /// `per_replica` messages per second.
    pub fn new(name: &str, duration_secs: u64, slo_lag: f64, per_replica: f64) -> Tally {
        Tally {
            out: Outcome {
                name: name.to_owned(),
                replica_hours: 0.0,
                peak_lag: 0.0,
                p95_lag: 0.0,
                secs_above_slo: 0,
                drain_secs: None,
                replica_changes: 0,
                rebalances: 0,
                per_replica,
                timeline: Vec::new(),
            },
            slo_lag,
            every: (duration_secs / 2000).max(1),
            lags: Vec::with_capacity(duration_secs.min(400 * 86_400) as usize),
            peak_at: 0,
        }
    }

    /// Second `t`: `arrivals` messages arrived, `lag` is the backlog, with `replicas` pods.
    pub fn second(&mut self, t: u64, arrivals: f64, lag: f64, replicas: u32) {
        let out = &mut self.out;
        out.replica_hours += f64::from(replicas) / 3600.0;
        if lag > out.peak_lag {
            out.peak_lag = lag;
            self.peak_at = self.lags.len();
        }
        if lag > self.slo_lag {
            out.secs_above_slo += 1;
        }
        self.lags.push(lag as f32);
        if t.is_multiple_of(self.every) {
            out.timeline.push(Point {
                t,
                arrivals,
                lag,
                replicas,
            });
        }
    }

    /// The summary, with the replica changes and rebalances counted by the caller.
    pub fn finish(mut self, replica_changes: u64, rebalances: u64) -> Outcome {
        let drained = self.out.per_replica as f32;
        self.out.drain_secs = self.lags[self.peak_at.min(self.lags.len())..]
            .iter()
            .position(|&lag| lag <= drained)
            .map(|i| i as u64);
        self.lags.sort_unstable_by(f32::total_cmp);
        self.out.p95_lag = self
            .lags
            .get(((self.lags.len() as f64) * 0.95) as usize)
            .map_or(0.0, |&l| f64::from(l));
        self.out.replica_changes = replica_changes;
        self.out.rebalances = rebalances;
        self.out
    }
}
