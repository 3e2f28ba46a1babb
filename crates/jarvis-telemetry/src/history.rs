//! Multi-resolution metric history: tiers of fixed-width buckets, the right one chosen per query.

use std::collections::{BTreeMap, VecDeque};

use jarvis_core::{Code, ErrorCode};
use serde::{Deserialize, Serialize};

/// One resolution: buckets `step_secs` wide, kept for `retention_secs`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The width of a bucket, in seconds.
    pub step_secs: u64,
    /// How far back this tier reaches, in seconds.
    pub retention_secs: u64,
}

impl Tier {
    /// 2 s for an hour, 1 min for two days, 15 min for 90 days.
    pub const DEFAULTS: [Tier; 3] = [
        Tier {
            step_secs: 2,
            retention_secs: 3600,
        },
        Tier {
            step_secs: 60,
            retention_secs: 2 * 86_400,
        },
        Tier {
            step_secs: 900,
            retention_secs: 90 * 86_400,
        },
    ];

    /// How many buckets the tier holds at most.
    pub fn capacity(self) -> usize {
        usize::try_from(self.retention_secs / self.step_secs.max(1)).unwrap_or(usize::MAX)
    }

    fn start_of(self, ts: i64) -> i64 {
        let step = i64::try_from(self.step_secs.max(1)).unwrap_or(i64::MAX);
        ts - ts.rem_euclid(step)
    }
}

/// Why a set of tiers or a query was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistoryError {
    /// No metric of that name has been recorded.
    #[error("no metric named `{name}`; known: {}", known.join(", "))]
    UnknownMetric {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: Vec<String>,
    },
    /// No instance of that name has stored any history.
    #[error("no instance named `{name}` has stored metric history; known: {}", known.join(", "))]
    UnknownInstance {
        /// The name asked for.
        name: String,
        /// The names that have.
        known: Vec<String>,
    },
    /// `from` is not before `to`, or the step is zero.
    #[error("{0}")]
    InvalidRange(String),
    /// The tiers are empty, unordered, or a step does not divide the next.
    #[error("{0}")]
    InvalidTiers(String),
}

impl ErrorCode for HistoryError {
    fn error_code(&self) -> Code {
        match self {
            HistoryError::UnknownMetric { .. } | HistoryError::UnknownInstance { .. } => {
                Code::ResourceNotFound
            }
            HistoryError::InvalidRange(_) => Code::ValidationError,
            HistoryError::InvalidTiers(_) => Code::ConfigInvalid,
        }
    }

    fn error_details(&self) -> Option<serde_json::Value> {
        match self {
            HistoryError::UnknownMetric { name, known } => {
                Some(serde_json::json!({ "metric": name, "known": known }))
            }
            HistoryError::UnknownInstance { name, known } => {
                Some(serde_json::json!({ "instance": name, "known": known }))
            }
            HistoryError::InvalidRange(_) => Some(serde_json::json!({ "parameter": "from" })),
            HistoryError::InvalidTiers(_) => None,
        }
    }
}

/// The aggregate of the samples that fell into one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// The bucket's start, in Unix seconds.
    pub start: i64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// The sum of the samples (the mean is `sum / count`).
    pub sum: f64,
    /// How many samples.
    pub count: u64,
}

impl Bucket {
    fn of(start: i64, value: f64) -> Bucket {
        Bucket {
            start,
            min: value,
            max: value,
            sum: value,
            count: 1,
        }
    }

    /// The mean of the samples.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    fn absorb(&mut self, other: &Bucket) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// One tier's buckets, oldest first, never more than the tier's capacity.
#[derive(Debug, Clone)]
struct Ring {
    tier: Tier,
    buckets: VecDeque<Bucket>,
}

impl Ring {
    fn new(tier: Tier) -> Ring {
        Ring {
            tier,
            buckets: VecDeque::new(),
        }
    }

    /// Merges `incoming` (already aligned to this tier) and drops what fell out of retention.
    fn absorb(&mut self, incoming: Bucket, now: i64) {
        let oldest_kept = self.oldest_kept(now);
        if incoming.start < oldest_kept {
            return;
        }
        match self.buckets.back_mut() {
            Some(last) if last.start == incoming.start => last.absorb(&incoming),
            Some(last) if last.start > incoming.start => {
                // A late sample: rare (clock steps, restores), so a search is fine.
                match self
                    .buckets
                    .binary_search_by_key(&incoming.start, |b| b.start)
                {
                    Ok(i) => self.buckets[i].absorb(&incoming),
                    Err(i) => self.buckets.insert(i, incoming),
                }
            }
            _ => self.buckets.push_back(incoming),
        }
        self.trim(oldest_kept);
    }

    fn oldest_kept(&self, now: i64) -> i64 {
        let retention = i64::try_from(self.tier.retention_secs).unwrap_or(i64::MAX);
        self.tier.start_of(now.saturating_sub(retention)) + step_of(self.tier)
    }

    fn trim(&mut self, oldest_kept: i64) {
        while self.buckets.front().is_some_and(|b| b.start < oldest_kept)
            || self.buckets.len() > self.tier.capacity()
        {
            self.buckets.pop_front();
        }
    }
}

fn step_of(tier: Tier) -> i64 {
    i64::try_from(tier.step_secs.max(1)).unwrap_or(i64::MAX)
}

/// The answer to a history query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The metric.
    pub metric: String,
    /// The width of each point, in seconds (a tier's step, or the step asked for).
    pub step_secs: u64,
    /// The tier the points were read from.
    pub tier: Tier,
    /// The points, oldest first; buckets with no samples are absent.
    pub points: Vec<Bucket>,
}

/// Every metric's history.
#[derive(Debug, Clone)]
pub struct History {
    tiers: Vec<Tier>,
    metrics: BTreeMap<String, Vec<Ring>>,
    max_points: usize,
}

impl History {
    /// An empty history over `tiers` (finest first; each step divides the next, each retention
    /// is longer than the last). Queries without a step answer at most `max_points` points.
    pub fn new(tiers: &[Tier], max_points: usize) -> Result<History, HistoryError> {
        if tiers.is_empty() {
            return Err(HistoryError::InvalidTiers(
                "at least one tier is needed".into(),
            ));
        }
        for tier in tiers {
            if tier.step_secs == 0 || tier.retention_secs < tier.step_secs {
                return Err(HistoryError::InvalidTiers(format!(
                    "a tier of {} s kept for {} s is not possible",
                    tier.step_secs, tier.retention_secs
                )));
            }
        }
        for pair in tiers.windows(2) {
            let (fine, coarse) = (pair[0], pair[1]);
            if coarse.step_secs <= fine.step_secs
                || coarse.step_secs % fine.step_secs != 0
                || coarse.retention_secs <= fine.retention_secs
            {
                return Err(HistoryError::InvalidTiers(format!(
                    "tiers must go from fine to coarse, each step a multiple of the last and each kept longer ({} s/{} s then {} s/{} s)",
                    fine.step_secs, fine.retention_secs, coarse.step_secs, coarse.retention_secs
                )));
            }
        }
        Ok(History {
            tiers: tiers.to_vec(),
            metrics: BTreeMap::new(),
            max_points: max_points.max(1),
        })
    }

    /// The tiers, finest first.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// The metrics recorded so far, sorted.
    pub fn metric_names(&self) -> Vec<String> {
        self.metrics.keys().cloned().collect()
    }

    /// Makes `metric` known before its first sample: queries answer no points instead of
    /// "unknown metric".
    pub fn declare(&mut self, metric: &str) {
        self.rings_mut(metric);
    }

    /// Adds a sample taken at `ts` to every tier. A value that is not finite is refused
    /// (`false`), so one bad reading cannot poison a bucket's sum.
    pub fn record(&mut self, metric: &str, ts: i64, value: f64, now: i64) -> bool {
        if !value.is_finite() {
            return false;
        }
        let rings = self.rings_mut(metric);
        for ring in rings {
            let start = ring.tier.start_of(ts);
            ring.absorb(Bucket::of(start, value), now);
        }
        true
    }

    /// Puts back buckets read from storage into the tier of that step (unknown steps and
    /// misaligned buckets are refused: `false`).
    pub fn restore(&mut self, metric: &str, step_secs: u64, bucket: Bucket, now: i64) -> bool {
        if !(bucket.min.is_finite() && bucket.max.is_finite() && bucket.sum.is_finite())
            || bucket.count == 0
        {
            return false;
        }
        let rings = self.rings_mut(metric);
        match rings.iter_mut().find(|r| r.tier.step_secs == step_secs) {
            Some(ring) if ring.tier.start_of(bucket.start) == bucket.start => {
                ring.absorb(bucket, now);
                true
            }
            _ => false,
        }
    }

    /// The buckets of one tier that start at or after `since`: what a flush writes.
    pub fn buckets_since(&self, metric: &str, step_secs: u64, since: i64) -> Vec<Bucket> {
        self.metrics
            .get(metric)
            .and_then(|rings| rings.iter().find(|r| r.tier.step_secs == step_secs))
            .map(|ring| {
                ring.buckets
                    .iter()
                    .filter(|b| b.start >= since)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The points of `metric` in `[from, to)`.
    ///
    /// The tier is the finest that still reaches back to `from` and, without `step`, answers
    /// in at most `max_points` points; with `step`, the coarsest whose step is no wider than
    /// it, its buckets merged into `step`-wide points.
    pub fn query(
        &self,
        metric: &str,
        from: i64,
        to: i64,
        step: Option<u64>,
        now: i64,
    ) -> Result<Series, HistoryError> {
        if from >= to {
            return Err(HistoryError::InvalidRange(format!(
                "`from` ({from}) must be before `to` ({to})"
            )));
        }
        if step == Some(0) {
            return Err(HistoryError::InvalidRange(
                "`step` must be at least 1 second".into(),
            ));
        }
        let rings = self
            .metrics
            .get(metric)
            .ok_or_else(|| HistoryError::UnknownMetric {
                name: metric.to_owned(),
                known: self.metric_names(),
            })?;
        let index = self.choose(from, to, step, now);
        let ring = &rings[index];
        let tier = ring.tier;
        let step_secs = step.map_or(tier.step_secs, |s| s.max(tier.step_secs));
        let inside = ring
            .buckets
            .iter()
            .filter(|b| b.start >= tier.start_of(from) && b.start < to);
        let points = if step_secs == tier.step_secs {
            inside.copied().collect()
        } else {
            let wide = Tier {
                step_secs,
                retention_secs: tier.retention_secs,
            };
            let mut merged: Vec<Bucket> = Vec::new();
            for b in inside {
                let start = wide.start_of(b.start);
                match merged.last_mut() {
                    Some(last) if last.start == start => last.absorb(b),
                    _ => merged.push(Bucket { start, ..*b }),
                }
            }
            merged
        };
        Ok(Series {
            metric: metric.to_owned(),
            step_secs,
            tier,
            points,
        })
    }

    /// The index of the tier a query reads.
    fn choose(&self, from: i64, to: i64, step: Option<u64>, now: i64) -> usize {
        let span = u64::try_from(to - from).unwrap_or(u64::MAX);
        let reaches = |tier: &Tier| {
            let retention = i64::try_from(tier.retention_secs).unwrap_or(i64::MAX);
            from >= now.saturating_sub(retention)
        };
        match step {
            // The coarsest tier not wider than the step: the fewest buckets to merge.
            Some(step) => self
                .tiers
                .iter()
                .rposition(|t| reaches(t) && t.step_secs <= step)
                .or_else(|| self.tiers.iter().position(reaches)),
            None => self
                .tiers
                .iter()
                .position(|t| reaches(t) && span.div_ceil(t.step_secs) <= self.max_points as u64)
                .or_else(|| self.tiers.iter().position(reaches)),
        }
        .unwrap_or(self.tiers.len() - 1)
    }

    fn rings_mut(&mut self, metric: &str) -> &mut Vec<Ring> {
        let tiers = &self.tiers;
        self.metrics
            .entry(metric.to_owned())
            .or_insert_with(|| tiers.iter().copied().map(Ring::new).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000; // a multiple of 900

    fn history() -> History {
        History::new(&Tier::DEFAULTS, 2000).unwrap()
    }

    #[test]
    fn samples_fold_into_buckets_with_min_max_mean_count() {
        let mut h = history();
        for (offset, value) in [(0, 10.0), (1, 30.0), (2, 20.0), (61, 5.0)] {
            assert!(h.record("cpu", NOW + offset, value, NOW + offset));
        }
        let now = NOW + 61;
        let fine = h.query("cpu", NOW, NOW + 62, Some(2), now).unwrap();
        let got: Vec<(i64, f64, f64, f64, u64)> = fine
            .points
            .iter()
            .map(|b| (b.start - NOW, b.min, b.max, b.mean(), b.count))
            .collect();
        assert_eq!(
            got,
            [
                (0, 10.0, 30.0, 20.0, 2),
                (2, 20.0, 20.0, 20.0, 1),
                (60, 5.0, 5.0, 5.0, 1)
            ]
        );
        let minute = h.query("cpu", NOW, NOW + 120, Some(60), now).unwrap();
        assert_eq!(minute.tier.step_secs, 60);
        assert_eq!(minute.points.len(), 2);
        assert_eq!(minute.points[0].count, 3);
        assert_eq!(minute.points[0].mean(), 20.0);
        assert_eq!(minute.points[0].max, 30.0);
    }

    #[test]
    fn the_tier_is_chosen_by_reach_and_point_budget() {
        let mut h = history();
        h.record("cpu", NOW, 1.0, NOW);
        let hour = 3600;
        let day = 86_400;
        // (range back from now, step asked, expected tier step, expected point width)
        let cases: &[(i64, Option<u64>, u64, u64)] = &[
            (15 * 60, None, 2, 2),
            (hour, None, 2, 2),
            (6 * hour, None, 60, 60),
            (day, None, 60, 60),
            (7 * day, None, 900, 900),
            (30 * day, None, 900, 900),
            (90 * day, None, 900, 900),
            (hour, Some(10), 2, 10),
            (hour, Some(60), 60, 60),
            (hour, Some(1), 2, 2),
            (3 * day, Some(60), 900, 900),
            (200 * day, None, 900, 900),
        ];
        for &(back, step, tier, width) in cases {
            let s = h.query("cpu", NOW - back, NOW, step, NOW).unwrap();
            assert_eq!(
                (s.tier.step_secs, s.step_secs),
                (tier, width),
                "range {back} s, step {step:?}"
            );
        }
    }

    #[test]
    fn merged_points_keep_extremes_and_counts() {
        let mut h = history();
        for i in 0..30 {
            h.record("mem", NOW + i * 2, i as f64, NOW + 60);
        }
        let s = h.query("mem", NOW, NOW + 60, Some(20), NOW + 60).unwrap();
        let got: Vec<(i64, f64, f64, u64)> = s
            .points
            .iter()
            .map(|b| (b.start - NOW, b.min, b.max, b.count))
            .collect();
        assert_eq!(
            got,
            [
                (0, 0.0, 9.0, 10),
                (20, 10.0, 19.0, 10),
                (40, 20.0, 29.0, 10)
            ]
        );
    }

    #[test]
    fn memory_is_bounded_by_the_tiers() {
        let mut h = History::new(
            &[
                Tier {
                    step_secs: 1,
                    retention_secs: 10,
                },
                Tier {
                    step_secs: 5,
                    retention_secs: 30,
                },
            ],
            100,
        )
        .unwrap();
        for t in 0..1000 {
            h.record("x", NOW + t, 1.0, NOW + t);
        }
        let now = NOW + 999;
        assert_eq!(h.buckets_since("x", 1, 0).len(), 10);
        assert_eq!(h.buckets_since("x", 5, 0).len(), 6);
        // Samples older than a tier's reach do not come back.
        h.record("x", NOW, 5.0, now);
        assert!(
            h.buckets_since("x", 5, 0)
                .iter()
                .all(|b| b.start > now - 30)
        );
    }

    #[test]
    fn late_samples_land_in_their_bucket() {
        let mut h = history();
        h.record("net", NOW + 10, 1.0, NOW + 10);
        h.record("net", NOW + 4, 3.0, NOW + 10);
        h.record("net", NOW + 10, 2.0, NOW + 10);
        let s = h.query("net", NOW, NOW + 20, Some(2), NOW + 10).unwrap();
        let got: Vec<(i64, u64)> = s.points.iter().map(|b| (b.start - NOW, b.count)).collect();
        assert_eq!(got, [(4, 1), (10, 2)]);
    }

    #[test]
    fn restored_buckets_answer_queries_and_bad_ones_are_refused() {
        let mut h = history();
        let b = Bucket {
            start: NOW - 900,
            min: 1.0,
            max: 3.0,
            sum: 4.0,
            count: 2,
        };
        assert!(h.restore("cpu", 900, b, NOW));
        assert!(
            !h.restore(
                "cpu",
                900,
                Bucket {
                    start: NOW - 901,
                    ..b
                },
                NOW
            ),
            "misaligned"
        );
        assert!(!h.restore("cpu", 7, b, NOW), "no such tier");
        assert!(
            !h.restore("cpu", 900, Bucket { sum: f64::NAN, ..b }, NOW),
            "not finite"
        );
        assert!(
            !h.restore("cpu", 900, Bucket { count: 0, ..b }, NOW),
            "empty"
        );
        let s = h.query("cpu", NOW - 7 * 86_400, NOW, None, NOW).unwrap();
        assert_eq!(s.points, [b]);
    }

    #[test]
    fn bad_queries_and_values_are_refused() {
        let mut h = history();
        assert!(!h.record("cpu", NOW, f64::NAN, NOW));
        assert!(!h.record("cpu", NOW, f64::INFINITY, NOW));
        h.record("cpu", NOW, 1.0, NOW);
        h.record("mem", NOW, 1.0, NOW);
        assert_eq!(
            h.query("disk", NOW - 10, NOW, None, NOW),
            Err(HistoryError::UnknownMetric {
                name: "disk".into(),
                known: vec!["cpu".into(), "mem".into()]
            })
        );
        assert!(matches!(
            h.query("cpu", NOW, NOW, None, NOW),
            Err(HistoryError::InvalidRange(_))
        ));
        assert!(matches!(
            h.query("cpu", NOW - 1, NOW, Some(0), NOW),
            Err(HistoryError::InvalidRange(_))
        ));
        // Only the finite sample was kept.
        assert_eq!(
            h.query("cpu", NOW - 10, NOW + 2, None, NOW).unwrap().points[0].count,
            1
        );
    }

    #[test]
    fn tier_sets_are_validated() {
        let t = |step_secs, retention_secs| Tier {
            step_secs,
            retention_secs,
        };
        for tiers in [
            vec![],
            vec![t(0, 10)],
            vec![t(10, 5)],
            vec![t(2, 3600), t(3, 7200)],
            vec![t(60, 3600), t(2, 7200)],
            vec![t(2, 3600), t(60, 3600)],
        ] {
            assert!(
                matches!(History::new(&tiers, 10), Err(HistoryError::InvalidTiers(_))),
                "{tiers:?}"
            );
        }
        assert!(History::new(&Tier::DEFAULTS, 10).is_ok());
    }
}
