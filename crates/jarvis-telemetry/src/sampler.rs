//! Reading the machine with sysinfo, one sample at a time, on the caller's (dedicated) thread.

use std::collections::BTreeMap;

use serde::Serialize;
use sysinfo::{
    CpuRefreshKind, Disks, MemoryRefreshKind, Networks, ProcessesToUpdate, RefreshKind, System,
};

/// Space on one mounted file system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskSpace {
    /// Where it is mounted.
    pub mount: String,
    /// Bytes in all.
    pub total_bytes: u64,
    /// Bytes in use.
    pub used_bytes: u64,
    /// `used / total`, in percent.
    pub used_percent: f64,
}

/// Traffic on one network interface since the previous sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterfaceRates {
    /// Bytes received per second.
    pub rx_bytes_per_sec: f64,
    /// Bytes sent per second.
    pub tx_bytes_per_sec: f64,
}

/// One reading of the machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// When it was taken, in Unix seconds.
    pub at: i64,
    /// CPU use over all cores since the previous sample, in percent (0–100).
    pub cpu_percent: f64,
    /// CPU use per core, in percent.
    pub cpu_per_core: Vec<f64>,
    /// Memory in use, in bytes.
    pub memory_used_bytes: u64,
    /// Memory in all, in bytes.
    pub memory_total_bytes: u64,
    /// Memory in use, in percent.
    pub memory_percent: f64,
    /// Swap in use, in bytes.
    pub swap_used_bytes: u64,
    /// Swap in all, in bytes.
    pub swap_total_bytes: u64,
    /// Swap in use, in percent (0 when there is no swap).
    pub swap_percent: f64,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: [f64; 3],
    /// Space per mount.
    pub disks: Vec<DiskSpace>,
    /// Bytes read from disks per second.
    pub disk_read_bytes_per_sec: f64,
    /// Bytes written to disks per second.
    pub disk_write_bytes_per_sec: f64,
    /// Traffic per interface.
    pub network: BTreeMap<String, InterfaceRates>,
    /// Bytes received per second, all interfaces.
    pub net_rx_bytes_per_sec: f64,
    /// Bytes sent per second, all interfaces.
    pub net_tx_bytes_per_sec: f64,
    /// Processes running.
    pub process_count: usize,
    /// Seconds since the machine started.
    pub uptime_secs: u64,
    /// Jarvis's own resident memory, in bytes.
    pub own_resident_bytes: u64,
}

impl Sample {
    /// The sample as `(metric, value)` pairs for the history: totals, not per-core or
    /// per-interface series, so the history's size does not grow with the machine.
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("cpu_usage", self.cpu_percent),
            ("memory_usage", self.memory_percent),
            ("memory_used_bytes", self.memory_used_bytes as f64),
            ("swap_usage", self.swap_percent),
            ("load_1m", self.load[0]),
            ("disk_read_bytes_per_sec", self.disk_read_bytes_per_sec),
            ("disk_write_bytes_per_sec", self.disk_write_bytes_per_sec),
            ("net_rx_bytes_per_sec", self.net_rx_bytes_per_sec),
            ("net_tx_bytes_per_sec", self.net_tx_bytes_per_sec),
            ("process_count", self.process_count as f64),
            ("jarvis_resident_bytes", self.own_resident_bytes as f64),
        ]
    }
}

/// The machine's state between samples. Every call blocks (it reads `/proc`): keep it on its
/// own thread.
pub struct Sampler {
    system: System,
    disks: Disks,
    networks: Networks,
    last: Option<std::time::Instant>,
    own_pid: Option<sysinfo::Pid>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new()
    }
}

impl Sampler {
    /// A sampler with its first reading taken (rates start from here).
    pub fn new() -> Sampler {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
                .with_memory(MemoryRefreshKind::everything()),
        );
        let mut sampler = Sampler {
            system,
            disks: Disks::new_with_refreshed_list(),
            networks: Networks::new_with_refreshed_list(),
            last: None,
            own_pid: sysinfo::get_current_pid().ok(),
        };
        sampler.last = Some(std::time::Instant::now());
        sampler
    }

    /// Reads the machine now; rates cover the time since the previous call.
    pub fn sample(&mut self, at: i64) -> Sample {
        let now = std::time::Instant::now();
        let elapsed = self
            .last
            .map_or(1.0, |last| now.duration_since(last).as_secs_f64())
            .max(0.001);
        self.last = Some(now);
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let process_count = self.system.refresh_processes(ProcessesToUpdate::All, true);
        let process_count = process_count.max(self.system.processes().len());
        self.disks.refresh(true);
        self.networks.refresh(true);

        let percent = |used: u64, total: u64| {
            if total == 0 {
                0.0
            } else {
                used as f64 * 100.0 / total as f64
            }
        };
        let (mut read, mut written) = (0u64, 0u64);
        let disks = self
            .disks
            .list()
            .iter()
            .map(|d| {
                let usage = d.usage();
                read += usage.read_bytes;
                written += usage.written_bytes;
                let total = d.total_space();
                let used = total.saturating_sub(d.available_space());
                DiskSpace {
                    mount: d.mount_point().to_string_lossy().into_owned(),
                    total_bytes: total,
                    used_bytes: used,
                    used_percent: percent(used, total),
                }
            })
            .collect();
        let mut network = BTreeMap::new();
        let (mut rx, mut tx) = (0.0, 0.0);
        for (name, data) in &self.networks {
            let rates = InterfaceRates {
                rx_bytes_per_sec: data.received() as f64 / elapsed,
                tx_bytes_per_sec: data.transmitted() as f64 / elapsed,
            };
            rx += rates.rx_bytes_per_sec;
            tx += rates.tx_bytes_per_sec;
            network.insert(name.clone(), rates);
        }
        let load = System::load_average();
        let own_resident_bytes = self
            .own_pid
            .and_then(|pid| self.system.process(pid))
            .map_or(0, sysinfo::Process::memory);
        let (used, total) = (self.system.used_memory(), self.system.total_memory());
        let (swap_used, swap_total) = (self.system.used_swap(), self.system.total_swap());
        Sample {
            at,
            cpu_percent: f64::from(self.system.global_cpu_usage()),
            cpu_per_core: self
                .system
                .cpus()
                .iter()
                .map(|c| f64::from(c.cpu_usage()))
                .collect(),
            memory_used_bytes: used,
            memory_total_bytes: total,
            memory_percent: percent(used, total),
            swap_used_bytes: swap_used,
            swap_total_bytes: swap_total,
            swap_percent: percent(swap_used, swap_total),
            load: [load.one, load.five, load.fifteen],
            disks,
            disk_read_bytes_per_sec: read as f64 / elapsed,
            disk_write_bytes_per_sec: written as f64 / elapsed,
            network,
            net_rx_bytes_per_sec: rx,
            net_tx_bytes_per_sec: tx,
            process_count,
            uptime_secs: System::uptime(),
            own_resident_bytes,
        }
    }

    /// The processes as of the last sample.
    pub fn system(&self) -> &System {
        &self.system
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_reads_this_machine() {
        let mut sampler = Sampler::new();
        std::thread::sleep(std::time::Duration::from_millis(250));
        let s = sampler.sample(1);
        assert!(s.memory_total_bytes > 0);
        assert!(s.memory_used_bytes <= s.memory_total_bytes);
        assert!((0.0..=100.0).contains(&s.memory_percent));
        assert!((0.0..=100.0).contains(&s.cpu_percent), "{}", s.cpu_percent);
        assert!(!s.cpu_per_core.is_empty());
        assert!(s.cpu_per_core.iter().all(|c| (0.0..=100.0).contains(c)));
        assert!(
            s.process_count > 1,
            "this test's process and its parent at least"
        );
        assert!(s.own_resident_bytes > 0);
        assert!(s.uptime_secs > 0);
        assert!(s.load.iter().all(|l| l.is_finite() && *l >= 0.0));
        assert!(s.metrics().iter().all(|(_, v)| v.is_finite()));
    }
}
