//! Arrival rates: built-in shapes or a trace, with seeded multiplicative noise.

use std::f64::consts::TAU;
use std::path::Path;

use serde::Deserialize;

/// Messages per second arriving, as a function of time.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "shape", rename_all = "lowercase", deny_unknown_fields)]
pub enum Arrivals {
    /// A daily cycle: `low` at t = 0, `high` half a period later (a cosine).
    Diurnal {
        low: f64,
        high: f64,
        #[serde(default = "day")]
        period_secs: f64,
        #[serde(default)]
        noise: f64,
    },
    /// `low`, and `high` from `at_secs` for `length_secs`.
    Spike {
        low: f64,
        high: f64,
        at_secs: f64,
        length_secs: f64,
        #[serde(default)]
        noise: f64,
    },
    /// A staircase: `low`, then `steps` equal steps up to `high`, each level held alike over
    /// half a period, and the same way down over the other half; repeats.
    Steps {
        low: f64,
        high: f64,
        #[serde(default = "four")]
        steps: u32,
        #[serde(default = "day")]
        period_secs: f64,
        #[serde(default)]
        noise: f64,
    },
    /// A linear ramp from `low` to `high` over a period, then back to `low` at once; repeats.
    Sawtooth {
        low: f64,
        high: f64,
        #[serde(default = "day")]
        period_secs: f64,
        #[serde(default)]
        noise: f64,
    },
    /// `messages` at once every `every_secs`, from `at_secs` (0), nothing in between: the
    /// batches a ScaledJob's one-shot workers are started for.
    Bursts {
        messages: f64,
        every_secs: f64,
        #[serde(default)]
        at_secs: f64,
        #[serde(default)]
        noise: f64,
    },
    /// A CSV file of `time_secs,messages_per_sec` lines (a header line is allowed), linear
    /// between points, the last rate after the end. Relative to the simulation file.
    Trace {
        file: String,
        #[serde(default)]
        noise: f64,
        #[serde(skip)]
        points: Vec<(f64, f64)>,
    },
}

fn day() -> f64 {
    86_400.0
}

fn four() -> u32 {
    4
}

impl Arrivals {
    /// The rate at `t` seconds, before noise.
    pub fn rate(&self, t: f64) -> f64 {
        match self {
            Arrivals::Diurnal {
                low,
                high,
                period_secs,
                ..
            } => low + (high - low) * (1.0 - (TAU * t / period_secs).cos()) / 2.0,
            Arrivals::Spike {
                low,
                high,
                at_secs,
                length_secs,
                ..
            } => {
                if t >= *at_secs && t < at_secs + length_secs {
                    *high
                } else {
                    *low
                }
            }
            Arrivals::Steps {
                low,
                high,
                steps,
                period_secs,
                ..
            } => {
                let half = period_secs / 2.0;
                let phase = t % period_secs;
                let up = if phase < half {
                    phase
                } else {
                    period_secs - phase
                };
                let levels = f64::from(*steps) + 1.0;
                let level = ((up / half) * levels).floor().min(f64::from(*steps));
                low + (high - low) * level / f64::from(*steps)
            }
            Arrivals::Sawtooth {
                low,
                high,
                period_secs,
                ..
            } => low + (high - low) * (t % period_secs) / period_secs,
            Arrivals::Bursts {
                messages,
                every_secs,
                at_secs,
                ..
            } => {
                let since = t - at_secs;
                if since >= 0.0 && since % every_secs < 1.0 {
                    *messages
                } else {
                    0.0
                }
            }
            Arrivals::Trace { points, .. } => interpolate(points, t),
        }
    }

    /// The relative standard deviation of the noise.
    pub fn noise(&self) -> f64 {
        match self {
            Arrivals::Diurnal { noise, .. }
            | Arrivals::Spike { noise, .. }
            | Arrivals::Steps { noise, .. }
            | Arrivals::Sawtooth { noise, .. }
            | Arrivals::Bursts { noise, .. }
            | Arrivals::Trace { noise, .. } => *noise,
        }
    }

    /// Reads a trace's file, relative to `base`.
    pub fn load_trace(&mut self, base: &Path) -> Result<(), String> {
        if let Arrivals::Trace { file, points, .. } = self {
            let path = base.join(&*file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("arrivals.file: cannot read {}: {e}", path.display()))?;
            *points = parse_trace(&text).map_err(|e| format!("arrivals.file {file}: {e}"))?;
        }
        Ok(())
    }

    pub fn check(&self) -> Result<(), String> {
        let rates_ok = |low: f64, high: f64| {
            (low.is_finite() && high.is_finite() && low >= 0.0 && high >= low)
                .then_some(())
                .ok_or(format!(
                    "arrivals: low {low} and high {high} must be rates with 0 <= low <= high"
                ))
        };
        match self {
            Arrivals::Diurnal {
                low,
                high,
                period_secs,
                ..
            }
            | Arrivals::Steps {
                low,
                high,
                period_secs,
                ..
            }
            | Arrivals::Sawtooth {
                low,
                high,
                period_secs,
                ..
            } => {
                rates_ok(*low, *high)?;
                if period_secs.is_nan() || *period_secs < 1.0 {
                    return Err(format!("arrivals.period_secs: {period_secs} is not >= 1"));
                }
            }
            Arrivals::Spike { low, high, .. } => rates_ok(*low, *high)?,
            Arrivals::Bursts {
                messages,
                every_secs,
                ..
            } => {
                rates_ok(0.0, *messages)?;
                if every_secs.is_nan() || *every_secs < 1.0 {
                    return Err(format!("arrivals.every_secs: {every_secs} is not >= 1"));
                }
            }
            Arrivals::Trace { .. } => {}
        }
        if let Arrivals::Steps { steps: 0, .. } = self {
            return Err("arrivals.steps: 0; expected at least 1".to_owned());
        }
        let noise = self.noise();
        if !(0.0..=1.0).contains(&noise) {
            return Err(format!("arrivals.noise: {noise} is not between 0 and 1"));
        }
        Ok(())
    }
}

fn interpolate(points: &[(f64, f64)], t: f64) -> f64 {
    match points.iter().position(|&(at, _)| at > t) {
        None => points.last().map_or(0.0, |p| p.1),
        Some(0) => points[0].1,
        Some(i) => {
            let ((t0, r0), (t1, r1)) = (points[i - 1], points[i]);
            r0 + (r1 - r0) * (t - t0) / (t1 - t0)
        }
    }
}

/// `time_secs,messages_per_sec` lines, times increasing, rates >= 0.
pub fn parse_trace(text: &str) -> Result<Vec<(f64, f64)>, String> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = line.split_once(',').and_then(|(t, r)| {
            Some((t.trim().parse::<f64>().ok()?, r.trim().parse::<f64>().ok()?))
        });
        let Some((t, rate)) = parsed else {
            if points.is_empty() && number == 0 {
                continue; // a header
            }
            return Err(format!(
                "line {}: {line:?} is not time_secs,messages_per_sec",
                number + 1
            ));
        };
        if !(rate >= 0.0 && rate.is_finite()) || points.last().is_some_and(|p| p.0 >= t) {
            return Err(format!(
                "line {}: {line:?}: times must increase and rates be >= 0",
                number + 1
            ));
        }
        points.push((t, rate));
    }
    if points.is_empty() {
        return Err("no points".to_owned());
    }
    Ok(points)
}

/// A small seeded generator (SplitMix64): the same seed gives the same noise everywhere.
pub struct Noise {
    state: u64,
    relative: f64,
}

impl Noise {
    pub fn new(seed: u64, relative: f64) -> Noise {
        Noise {
            state: seed,
            relative,
        }
    }

    fn next_unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `rate` with noise: × (1 + relative × n), n about normal (sum of 12 uniforms − 6),
    /// never below 0.
    pub fn apply(&mut self, rate: f64) -> f64 {
        if self.relative == 0.0 {
            return rate;
        }
        let n: f64 = (0..12).map(|_| self.next_unit()).sum::<f64>() - 6.0;
        (rate * (1.0 + self.relative * n)).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let d = Arrivals::Diurnal {
            low: 100.0,
            high: 1000.0,
            period_secs: 86_400.0,
            noise: 0.0,
        };
        assert_eq!(d.rate(0.0), 100.0);
        assert!((d.rate(43_200.0) - 1000.0).abs() < 1e-9);
        let s = Arrivals::Steps {
            low: 0.0,
            high: 400.0,
            steps: 4,
            period_secs: 800.0,
            noise: 0.0,
        };
        let levels: Vec<f64> = [0.0, 80.0, 160.0, 240.0, 399.0, 500.0, 799.0]
            .iter()
            .map(|&t| s.rate(t))
            .collect();
        assert_eq!(levels, [0.0, 100.0, 200.0, 300.0, 400.0, 300.0, 0.0]);
        let w = Arrivals::Sawtooth {
            low: 0.0,
            high: 10.0,
            period_secs: 10.0,
            noise: 0.0,
        };
        assert_eq!((w.rate(5.0), w.rate(10.0)), (5.0, 0.0));
        let b = Arrivals::Bursts {
            messages: 500.0,
            every_secs: 600.0,
            at_secs: 60.0,
            noise: 0.0,
        };
        let rates: Vec<f64> = [0.0, 60.0, 61.0, 659.0, 660.0, 1260.0]
            .iter()
            .map(|&t| b.rate(t))
            .collect();
        assert_eq!(rates, [0.0, 500.0, 0.0, 0.0, 500.0, 500.0]);
        let p = Arrivals::Spike {
            low: 1.0,
            high: 9.0,
            at_secs: 10.0,
            length_secs: 5.0,
            noise: 0.0,
        };
        assert_eq!((p.rate(9.9), p.rate(10.0), p.rate(15.0)), (1.0, 9.0, 1.0));
    }

    #[test]
    fn traces() {
        let points =
            parse_trace("time_secs,messages_per_sec\n0,10\n10, 30\n# note\n20,0\n").unwrap();
        let trace = Arrivals::Trace {
            file: String::new(),
            noise: 0.0,
            points,
        };
        assert_eq!(
            (trace.rate(5.0), trace.rate(15.0), trace.rate(99.0)),
            (20.0, 15.0, 0.0)
        );
        assert!(parse_trace("0,1\n0,2\n").unwrap_err().contains("line 2"));
        assert!(parse_trace("0,1\nx,2\n").unwrap_err().contains("line 2"));
        assert!(parse_trace("").is_err());
    }

    #[test]
    fn noise_is_seeded_and_centred() {
        let draw = |seed| {
            let mut n = Noise::new(seed, 0.15);
            (0..10_000).map(|_| n.apply(100.0)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let mean = draw(7).iter().sum::<f64>() / 10_000.0;
        assert!((mean - 100.0).abs() < 1.0, "{mean}");
    }
}
