//! Reading the machine with sysinfo, one sample at a time, on the caller's (dedicated) thread.

use std::collections::BTreeMap;

use serde::Serialize;
use sysinfo::{
    CpuRefreshKind, Disks, MemoryRefreshKind, Networks, ProcessRefreshKind, ProcessesToUpdate,
    RefreshKind, System, UpdateKind,
};

/// Space on one mounted file system.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterfaceRates {
    /// Bytes received per second.
    pub rx_bytes_per_sec: f64,
    /// Bytes sent per second.
    pub tx_bytes_per_sec: f64,
}

/// One process, as the last sample saw it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessInfo {
    /// Its id.
    pub pid: u32,
    /// Its parent's id.
    pub parent: Option<u32>,
    /// Its name.
    pub name: String,
    /// The user it runs as, when known.
    pub user: Option<String>,
    /// Running, sleeping, zombie, …
    pub status: String,
    /// CPU use since the sample before, in percent of one core.
    pub cpu_percent: f64,
    /// Resident memory, in bytes.
    pub memory_bytes: u64,
    /// When it started, in Unix seconds.
    pub started_at: i64,
    /// Its command line, cut to a bound.
    pub command: String,
}

/// How to order a process list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessSort {
    /// Most CPU first.
    Cpu,
    /// Most memory first.
    Memory,
    /// Lowest pid first.
    Pid,
    /// By name, then pid.
    Name,
    /// Newest first.
    Started,
}

impl ProcessSort {
    /// Parses `cpu`, `memory`, `pid`, `name` or `started`.
    pub fn parse(text: &str) -> Option<ProcessSort> {
        Some(match text {
            "cpu" => ProcessSort::Cpu,
            "memory" => ProcessSort::Memory,
            "pid" => ProcessSort::Pid,
            "name" => ProcessSort::Name,
            "started" => ProcessSort::Started,
            _ => return None,
        })
    }
}

/// The processes whose name contains `name` (case-insensitive), ordered, at most `limit`.
pub fn select_processes(
    all: &[ProcessInfo],
    sort: ProcessSort,
    name: Option<&str>,
    limit: usize,
) -> Vec<ProcessInfo> {
    let needle = name.map(str::to_lowercase);
    let mut chosen: Vec<ProcessInfo> = all
        .iter()
        .filter(|p| {
            needle
                .as_deref()
                .is_none_or(|n| p.name.to_lowercase().contains(n))
        })
        .cloned()
        .collect();
    match sort {
        ProcessSort::Cpu => chosen.sort_by(|a, b| {
            b.cpu_percent
                .total_cmp(&a.cpu_percent)
                .then(a.pid.cmp(&b.pid))
        }),
        ProcessSort::Memory => {
            chosen.sort_by(|a, b| b.memory_bytes.cmp(&a.memory_bytes).then(a.pid.cmp(&b.pid)))
        }
        ProcessSort::Pid => chosen.sort_by_key(|p| p.pid),
        ProcessSort::Name => chosen.sort_by(|a, b| a.name.cmp(&b.name).then(a.pid.cmp(&b.pid))),
        ProcessSort::Started => {
            chosen.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.pid.cmp(&b.pid)))
        }
    }
    chosen.truncate(limit);
    chosen
}

/// A metric the history keeps: its name, unit and meaning.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricInfo {
    /// The name queries use.
    pub name: &'static str,
    /// `percent`, `bytes`, `bytes_per_second`, `count` or `load`.
    pub unit: &'static str,
    /// What it measures.
    pub description: &'static str,
}

/// Every metric [`Sample::metrics`] yields, in the same order.
pub const METRICS: &[MetricInfo] = &[
    MetricInfo {
        name: "cpu_usage",
        unit: "percent",
        description: "CPU use over all cores",
    },
    MetricInfo {
        name: "memory_usage",
        unit: "percent",
        description: "memory in use",
    },
    MetricInfo {
        name: "memory_used_bytes",
        unit: "bytes",
        description: "memory in use",
    },
    MetricInfo {
        name: "swap_usage",
        unit: "percent",
        description: "swap in use",
    },
    MetricInfo {
        name: "load_1m",
        unit: "load",
        description: "load average over one minute",
    },
    MetricInfo {
        name: "disk_read_bytes_per_sec",
        unit: "bytes_per_second",
        description: "bytes read from all disks",
    },
    MetricInfo {
        name: "disk_write_bytes_per_sec",
        unit: "bytes_per_second",
        description: "bytes written to all disks",
    },
    MetricInfo {
        name: "net_rx_bytes_per_sec",
        unit: "bytes_per_second",
        description: "bytes received on all interfaces",
    },
    MetricInfo {
        name: "net_tx_bytes_per_sec",
        unit: "bytes_per_second",
        description: "bytes sent on all interfaces",
    },
    MetricInfo {
        name: "process_count",
        unit: "count",
        description: "processes on the machine",
    },
    MetricInfo {
        name: "jarvis_resident_bytes",
        unit: "bytes",
        description: "Jarvis's own resident memory",
    },
];

/// One reading of the machine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The gauges other layers supply (open connections, running tasks …), by metric name.
    pub probes: BTreeMap<&'static str, f64>,
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
    users: sysinfo::Users,
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
            users: sysinfo::Users::new_with_refreshed_list(),
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
        let process_count = self.system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .with_cmd(UpdateKind::OnlyIfNotSet)
                .with_user(UpdateKind::OnlyIfNotSet),
        );
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
            probes: BTreeMap::new(),
        }
    }

    /// The processes as of the last sample (CPU use covers the time since the one before),
    /// command lines cut to `max_cmd` characters.
    pub fn processes(&mut self, max_cmd: usize) -> Vec<ProcessInfo> {
        // The user list changes rarely: read it again only when a process runs as a user it
        // does not know, not on every sample.
        let unknown_user = self.system.processes().values().any(|p| {
            p.user_id()
                .is_some_and(|uid| self.users.get_user_by_id(uid).is_none())
        });
        if unknown_user {
            self.users.refresh();
        }
        let users = &self.users;
        self.system
            .processes()
            .values()
            .map(|p| {
                let args: Vec<String> = p
                    .cmd()
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                let mut cmd = mask_command_line(&args);
                if cmd.chars().count() > max_cmd {
                    cmd = cmd.chars().take(max_cmd).collect::<String>() + "…";
                }
                ProcessInfo {
                    pid: p.pid().as_u32(),
                    parent: p.parent().map(sysinfo::Pid::as_u32),
                    name: p.name().to_string_lossy().into_owned(),
                    user: p
                        .user_id()
                        .and_then(|uid| users.get_user_by_id(uid))
                        .map(|u| u.name().to_owned()),
                    status: p.status().to_string(),
                    cpu_percent: f64::from(p.cpu_usage()),
                    memory_bytes: p.memory(),
                    started_at: i64::try_from(p.start_time()).unwrap_or(i64::MAX),
                    command: cmd,
                }
            })
            .collect()
    }
}

/// Words that make an option or variable name a secret's (`--api-key`, `GITHUB_TOKEN=`).
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "key",
    "auth",
    "credential",
    "bearer",
];

fn names_a_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| name.contains(w))
}

/// A command line joined for display, with what looks like a secret masked: the value of an
/// option or `NAME=value` whose name mentions a token, key, secret, password or auth
/// (`--api-key=…`, `--token …`, `GITHUB_TOKEN=…`), the word after `Bearer`, and URL passwords.
/// Command lines are readable by any local user through `/proc`, but the API may be reached
/// from further away, and its answers end up in logs and screenshots.
pub fn mask_command_line(args: &[String]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(args.len());
    let mut mask_next = false;
    for arg in args {
        if std::mem::take(&mut mask_next) && !arg.starts_with('-') {
            out.push(jarvis_core::MASK.to_owned());
            continue;
        }
        let lower = arg.to_ascii_lowercase();
        let masked = if let Some(at) = lower.find("authorization:") {
            // A header given whole: `Authorization: Bearer sk-…` keeps its scheme word only.
            let value_start = at + "authorization:".len();
            let value = arg[value_start..].trim_start();
            let scheme = value.split_whitespace().next().unwrap_or("");
            if value.len() > scheme.len() {
                format!("{} {scheme} {}", &arg[..value_start], jarvis_core::MASK)
            } else {
                mask_next = true;
                arg.clone()
            }
        } else if let Some((name, _)) = arg.split_once('=')
            && !name.is_empty()
            && !name.contains("://")
            && names_a_secret(name.trim_start_matches('-'))
        {
            format!("{name}={}", jarvis_core::MASK)
        } else {
            if (arg.starts_with('-') && names_a_secret(arg.trim_start_matches('-')))
                || lower == "bearer"
            {
                mask_next = true;
            }
            jarvis_core::mask_url_password(arg)
        };
        out.push(masked);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_command_lines_are_masked() {
        let m = jarvis_core::MASK;
        let cases: &[(&[&str], String)] = &[
            (
                &["node", "server.js", "--port", "80"],
                "node server.js --port 80".into(),
            ),
            (&["app", "--api-key=abc123"], format!("app --api-key={m}")),
            (
                &["app", "--token", "abc123", "--verbose"],
                format!("app --token {m} --verbose"),
            ),
            (
                &["app", "--token", "--verbose"],
                "app --token --verbose".into(),
            ),
            (
                &["env", "GITHUB_TOKEN=ghp_x", "run"],
                format!("env GITHUB_TOKEN={m} run"),
            ),
            (
                &[
                    "curl",
                    "-H",
                    "Authorization: Bearer sk-1",
                    "-H",
                    "authorization:Basic dTpw",
                ],
                format!("curl -H Authorization: Bearer {m} -H authorization: Basic {m}"),
            ),
            (
                &["http", "Authorization:", "tok"],
                format!("http Authorization: {m}"),
            ),
            (&["x", "Bearer", "sk-1"], format!("x Bearer {m}")),
            (
                &["psql", "postgres://u:hunter2@db/x"],
                format!("psql postgres://u:{m}@db/x"),
            ),
            (
                &["app", "--url=https://h/x?a=b"],
                "app --url=https://h/x?a=b".into(),
            ),
            (
                &["ls", "-la", "path=with=equals"],
                "ls -la path=with=equals".into(),
            ),
        ];
        for (args, expected) in cases {
            let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            assert_eq!(&mask_command_line(&args), expected, "{args:?}");
        }
    }

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
        let names: Vec<&str> = s.metrics().iter().map(|(n, _)| *n).collect();
        let described: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(
            names, described,
            "every metric has a unit and a description"
        );
    }

    #[test]
    fn the_process_table_shows_this_process() {
        let mut sampler = Sampler::new();
        sampler.sample(1);
        let all = sampler.processes(64);
        let me = std::process::id();
        let mine = all
            .iter()
            .find(|p| p.pid == me)
            .expect("this process is listed");
        assert!(mine.memory_bytes > 0);
        assert!(mine.started_at > 0);
        assert!(mine.command.chars().count() <= 65, "{}", mine.command);
        assert!(!mine.name.is_empty());
    }

    fn proc(pid: u32, name: &str, cpu: f64, memory_bytes: u64, started_at: i64) -> ProcessInfo {
        ProcessInfo {
            pid,
            parent: None,
            name: name.into(),
            user: None,
            status: "Run".into(),
            cpu_percent: cpu,
            memory_bytes,
            started_at,
            command: name.into(),
        }
    }

    #[test]
    fn process_lists_sort_filter_and_limit() {
        let all = [
            proc(3, "node", 5.0, 300, 10),
            proc(1, "init", 0.0, 100, 1),
            proc(7, "Nodejs", 50.0, 200, 30),
            proc(5, "jarvis", 5.0, 900, 20),
        ];
        let pids = |sort, name, limit| -> Vec<u32> {
            select_processes(&all, sort, name, limit)
                .iter()
                .map(|p| p.pid)
                .collect()
        };
        let cases: &[(ProcessSort, Option<&str>, usize, &[u32])] = &[
            (ProcessSort::Cpu, None, 10, &[7, 3, 5, 1]),
            (ProcessSort::Memory, None, 2, &[5, 3]),
            (ProcessSort::Pid, None, 10, &[1, 3, 5, 7]),
            (ProcessSort::Name, None, 10, &[7, 1, 5, 3]),
            (ProcessSort::Started, None, 10, &[7, 5, 3, 1]),
            (ProcessSort::Pid, Some("NODE"), 10, &[3, 7]),
            (ProcessSort::Pid, Some("nothing"), 10, &[]),
        ];
        for (sort, name, limit, want) in cases {
            assert_eq!(pids(*sort, *name, *limit), *want, "{sort:?} {name:?}");
        }
        assert_eq!(ProcessSort::parse("memory"), Some(ProcessSort::Memory));
        assert_eq!(ProcessSort::parse("ram"), None);
    }
}
