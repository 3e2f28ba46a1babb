//! The cost of watching: how long one sample (machine + process table) and one history update
//! take, and what that is as a share of one core at the default 2 s interval.
//!
//! `cargo xtask bench` runs it with `--bench`; as a test (no `--bench`) it takes a few samples.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

use std::time::{Duration, Instant};

use jarvis_telemetry::{History, Sampler, Tier};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds: u32 = if full { 200 } else { 5 };
    let mut sampler = Sampler::new();
    let mut history = History::new(&Tier::DEFAULTS, 2000).unwrap();
    let mut took = Vec::new();
    let mut processes = 0;
    for i in 0..rounds {
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        let now = 1_800_000_000 + i64::from(i) * 2;
        let sample = sampler.sample(now);
        processes = sampler.processes(512).len();
        for (metric, value) in sample.metrics() {
            history.record(metric, now, value, now);
        }
        took.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    let mean = took.iter().sum::<f64>() / took.len() as f64;
    let p99 = took[((took.len() - 1) as f64 * 0.99).round() as usize];
    println!(
        "telemetry_sample: {rounds} samples of this machine ({processes} processes), each with the history update"
    );
    println!(
        "  per sample        mean {mean:.2} ms, p50 {:.2} ms, p99 {p99:.2} ms",
        took[took.len() / 2]
    );
    println!(
        "  share of one core at a 2 s interval: {:.3} %",
        mean / 2000.0 * 100.0
    );

    // A history filled to every tier's reach: its memory is bounded by the tiers alone.
    let mut full_history = History::new(&Tier::DEFAULTS, 2000).unwrap();
    let metrics = sample_metric_names(&mut sampler);
    let span: i64 = if full { 90 * 86_400 } else { 3600 };
    let end = 1_800_000_000;
    let filled = Instant::now();
    let mut t = end - span;
    while t < end {
        for metric in &metrics {
            full_history.record(metric, t, 1.0, t);
        }
        t += if full { 60 } else { 2 };
    }
    let fill_ms = filled.elapsed().as_secs_f64() * 1000.0;
    let buckets: usize = metrics
        .iter()
        .flat_map(|m| Tier::DEFAULTS.iter().map(move |tier| (m, tier.step_secs)))
        .map(|(m, step)| full_history.buckets_since(m, step, 0).len())
        .sum();
    let bytes = buckets * size_of::<jarvis_telemetry::Bucket>();
    println!(
        "history: {} metrics over {} days → {buckets} buckets, {:.1} MB of bucket data (filled in {fill_ms:.0} ms)",
        metrics.len(),
        span / 86_400,
        bytes as f64 / 1_048_576.0
    );
    let queried = Instant::now();
    let series = full_history
        .query("cpu_usage", end - 7 * 86_400, end, None, end)
        .unwrap();
    println!(
        "  7-day query: {} points of {} s in {:.3} ms",
        series.points.len(),
        series.step_secs,
        queried.elapsed().as_secs_f64() * 1000.0
    );
}

fn sample_metric_names(sampler: &mut Sampler) -> Vec<String> {
    sampler
        .sample(0)
        .metrics()
        .iter()
        .map(|(m, _)| (*m).to_owned())
        .collect()
}
