//! The Prometheus text exposition format (version 0.0.4), written by hand: a few dozen lines
//! against a format that has not changed in years, instead of a client library and its
//! global registry.
//!
//! [`Exposition`] writes families (`# HELP`, `# TYPE`, then samples) with label values escaped;
//! [`Histogram`] counts durations into fixed bounds with plain integers, so each owner (a
//! worker thread) observes without sharing memory, and merges for exposition.

use std::fmt::Write as _;
use std::time::Duration;

use crate::sampler::Sample;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets on restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted into buckets.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines. Its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Exposition {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        self
    }

    /// A family of one unlabelled sample: `# HELP`, `# TYPE` and `name value`.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Exposition {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// One sample line: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Exposition {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
        self
    }

    /// A histogram's samples (`_bucket` per bound and `+Inf`, `_sum`, `_count`) under `labels`.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        snapshot: &HistogramSnapshot,
    ) -> &mut Exposition {
        let mut cumulative = 0u64;
        for (bound, count) in snapshot.bounds.iter().zip(&snapshot.counts) {
            cumulative += count;
            let le = format_value(*bound);
            let _ = write!(self.out, "{name}_bucket");
            write_labels(&mut self.out, labels, Some(&le));
            let _ = writeln!(self.out, " {cumulative}");
        }
        let _ = write!(self.out, "{name}_bucket");
        write_labels(&mut self.out, labels, Some("+Inf"));
        let _ = writeln!(self.out, " {}", snapshot.count);
        let _ = write!(self.out, "{name}_sum");
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_value(&mut self.out, snapshot.sum);
        self.out.push('\n');
        let _ = write!(self.out, "{name}_count");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", snapshot.count);
        self
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (name, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        // Rust's `Display` never uses an exponent and round-trips, both valid here.
        value.to_string()
    }
}

fn write_value(out: &mut String, value: f64) {
    out.push_str(&format_value(value));
}

/// Request latency bounds, in seconds: 0.5 ms to 10 s.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram of durations with fixed bounds (in seconds), in plain integers: one owner
/// observes (a worker thread, say), and histograms of the same bounds merge for exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bound (not cumulative), then one for above the last bound.
    counts: Vec<u64>,
    sum_nanos: u64,
}

/// A histogram's counts at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The upper bounds, in seconds.
    pub bounds: &'static [f64],
    /// Observations per bound (not cumulative; those above the last bound are only in `count`).
    pub counts: Vec<u64>,
    /// The sum of all observations, in seconds.
    pub sum: f64,
    /// How many observations.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending, in seconds).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum_nanos: 0,
        }
    }

    /// Counts one observation.
    pub fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let index = self.bounds.partition_point(|&bound| bound < secs);
        self.counts[index] += 1;
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
    }

    /// Adds `other`'s observations (same bounds; others are ignored, and logged).
    pub fn merge(&mut self, other: &Histogram) {
        if self.bounds != other.bounds {
            tracing::error!("histograms with different bounds cannot merge; one was left out");
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum_nanos = self.sum_nanos.saturating_add(other.sum_nanos);
    }

    /// The counts now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let within = &self.counts[..self.bounds.len()];
        HistogramSnapshot {
            bounds: self.bounds,
            // The total is summed from the buckets so `+Inf` always equals `_count`.
            count: self.counts.iter().sum(),
            counts: within.to_vec(),
            sum: self.sum_nanos as f64 / 1e9,
        }
    }
}

/// The machine's gauges from one sample: CPU (total and per core), memory, swap, load, disks,
/// network, processes, uptime and Jarvis's own resident memory.
pub fn system_gauges(e: &mut Exposition, s: &Sample) {
    let simple: [(&str, &str, f64); 10] = [
        (
            "jarvis_system_cpu_usage_percent",
            "CPU use over all cores, percent",
            s.cpu_percent,
        ),
        (
            "jarvis_system_memory_used_bytes",
            "Memory in use",
            s.memory_used_bytes as f64,
        ),
        (
            "jarvis_system_memory_total_bytes",
            "Memory in all",
            s.memory_total_bytes as f64,
        ),
        (
            "jarvis_system_swap_used_bytes",
            "Swap in use",
            s.swap_used_bytes as f64,
        ),
        (
            "jarvis_system_swap_total_bytes",
            "Swap in all",
            s.swap_total_bytes as f64,
        ),
        (
            "jarvis_system_disk_read_bytes_per_second",
            "Bytes read from all disks per second",
            s.disk_read_bytes_per_sec,
        ),
        (
            "jarvis_system_disk_write_bytes_per_second",
            "Bytes written to all disks per second",
            s.disk_write_bytes_per_sec,
        ),
        (
            "jarvis_system_processes",
            "Processes on the machine",
            s.process_count as f64,
        ),
        (
            "jarvis_system_uptime_seconds",
            "Seconds since the machine started",
            s.uptime_secs as f64,
        ),
        (
            "jarvis_process_resident_memory_bytes",
            "Jarvis's own resident memory",
            s.own_resident_bytes as f64,
        ),
    ];
    for (name, help, value) in simple {
        e.single(name, Kind::Gauge, help, value);
    }
    e.family(
        "jarvis_system_cpu_core_usage_percent",
        Kind::Gauge,
        "CPU use per core, percent",
    );
    for (i, value) in s.cpu_per_core.iter().enumerate() {
        e.sample(
            "jarvis_system_cpu_core_usage_percent",
            &[("core", &i.to_string())],
            *value,
        );
    }
    e.family(
        "jarvis_system_load_average",
        Kind::Gauge,
        "Load average over 1, 5 and 15 minutes",
    );
    for (window, value) in ["1m", "5m", "15m"].iter().zip(s.load) {
        e.sample("jarvis_system_load_average", &[("window", window)], value);
    }
    e.family(
        "jarvis_system_disk_used_bytes",
        Kind::Gauge,
        "Bytes in use per mounted file system",
    );
    for d in &s.disks {
        e.sample(
            "jarvis_system_disk_used_bytes",
            &[("mount", &d.mount)],
            d.used_bytes as f64,
        );
    }
    e.family(
        "jarvis_system_disk_total_bytes",
        Kind::Gauge,
        "Bytes in all per mounted file system",
    );
    for d in &s.disks {
        e.sample(
            "jarvis_system_disk_total_bytes",
            &[("mount", &d.mount)],
            d.total_bytes as f64,
        );
    }
    e.family(
        "jarvis_system_network_receive_bytes_per_second",
        Kind::Gauge,
        "Bytes received per second, per interface",
    );
    for (interface, rates) in &s.network {
        e.sample(
            "jarvis_system_network_receive_bytes_per_second",
            &[("interface", interface)],
            rates.rx_bytes_per_sec,
        );
    }
    e.family(
        "jarvis_system_network_transmit_bytes_per_second",
        Kind::Gauge,
        "Bytes sent per second, per interface",
    );
    for (interface, rates) in &s.network {
        e.sample(
            "jarvis_system_network_transmit_bytes_per_second",
            &[("interface", interface)],
            rates.tx_bytes_per_sec,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaping() {
        let mut e = Exposition::new();
        e.single("jarvis_up", Kind::Gauge, "whether \\ it runs\nat all", 1.0)
            .sample(
                "jarvis_up",
                &[("path", "C:\\x \"y\"\nz"), ("b", "")],
                f64::INFINITY,
            )
            .sample("jarvis_up", &[("k", "v")], 0.25)
            .sample("jarvis_up", &[], f64::NAN);
        assert_eq!(
            e.finish(),
            "# HELP jarvis_up whether \\\\ it runs\\nat all\n\
             # TYPE jarvis_up gauge\n\
             jarvis_up 1\n\
             jarvis_up{path=\"C:\\\\x \\\"y\\\"\\nz\",b=\"\"} +Inf\n\
             jarvis_up{k=\"v\"} 0.25\n\
             jarvis_up NaN\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_the_count() {
        static BOUNDS: &[f64] = &[0.001, 0.01, 0.1];
        let mut h = Histogram::new(BOUNDS);
        // (observation in µs, bucket index it falls in; 3 = above every bound)
        let cases = [
            (500, 0),
            (1000, 0), // a bound is inclusive (`le`)
            (1001, 1),
            (10_000, 1),
            (50_000, 2),
            (2_000_000, 3),
        ];
        for (micros, _) in cases {
            h.observe(Duration::from_micros(micros));
        }
        let snap = h.snapshot();
        let mut expected = [0u64; 3];
        for (_, index) in cases {
            if index < 3 {
                expected[index] += 1;
            }
        }
        assert_eq!(snap.counts, expected);
        assert_eq!(snap.count, 6);
        assert!((snap.sum - 2.062501).abs() < 1e-9, "{}", snap.sum);
        // Merging adds bucket by bucket; other bounds are refused.
        let mut twice = h.clone();
        twice.merge(&h);
        assert_eq!(twice.snapshot().counts, [4, 4, 2]);
        assert_eq!(twice.snapshot().count, 12);
        let mut other = Histogram::new(LATENCY_BOUNDS);
        other.merge(&h);
        assert_eq!(other.snapshot().count, 0);
        let mut e = Exposition::new();
        e.family("lat_seconds", Kind::Histogram, "latency")
            .histogram("lat_seconds", &[("route", "/a")], &snap);
        let text = e.finish();
        assert!(text.contains("lat_seconds_bucket{route=\"/a\",le=\"0.001\"} 2\n"));
        assert!(text.contains("lat_seconds_bucket{route=\"/a\",le=\"0.01\"} 4\n"));
        assert!(text.contains("lat_seconds_bucket{route=\"/a\",le=\"0.1\"} 5\n"));
        assert!(text.contains("lat_seconds_bucket{route=\"/a\",le=\"+Inf\"} 6\n"));
        assert!(text.contains("lat_seconds_count{route=\"/a\"} 6\n"));
        assert!(text.contains("lat_seconds_sum{route=\"/a\"} 2.062501\n"));
    }
}
