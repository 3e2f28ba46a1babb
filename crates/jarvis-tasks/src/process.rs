//! The runner's process: started so that it dies with the server, recorded so that a start
//! after a crash can end whatever of its process group is left.
//!
//! On Linux a runner gets the parent-death signal (SIGKILL) before it executes, so `kill -9` of
//! the server takes the runner with it. The kernel sends that signal when the *thread* that
//! forked the child exits, so every runner is forked by one long-lived spawner thread rather
//! than by whichever runtime thread happened to poll the task. Processes the runner started
//! itself stay in its process group; [`end_orphans`] ends them at the next start, matching
//! each by pid, process group and start time so a process that merely reuses a number is never
//! touched.

use std::io;

use jarvis_store::RunnerProcess;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

type Job = (Command, oneshot::Sender<io::Result<Child>>);

/// Forks runners from one thread that lives as long as the engine.
#[derive(Debug)]
pub(crate) struct Spawner {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Spawner {
    /// Starts the spawner thread; children register with the runtime behind `runtime`.
    pub(crate) fn start(runtime: tokio::runtime::Handle) -> io::Result<Spawner> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("jarvis-runner-spawner".into())
            .spawn(move || {
                // Ends when the engine (every sender) is gone.
                while let Ok((mut command, reply)) = queue.recv() {
                    let _runtime = runtime.enter();
                    let _ = reply.send(command.spawn());
                }
            })?;
        Ok(Spawner { jobs })
    }

    /// Starts `command` as its own process group leader which, on Linux, dies with the server.
    pub(crate) async fn spawn(&self, mut command: Command) -> io::Result<Child> {
        #[cfg(unix)]
        command.process_group(0);
        #[cfg(target_os = "linux")]
        die_with_parent(&mut command);
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((command, reply))
            .map_err(|_| io::Error::other("the runner spawner thread has stopped"))?;
        answer
            .await
            .map_err(|_| io::Error::other("the runner spawner thread has stopped"))?
    }
}

/// Asks the kernel to SIGKILL the child when its parent goes.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    let parent = nix::unistd::Pid::from_raw(i32::try_from(std::process::id()).unwrap_or(0));
    // SAFETY: the closure runs in the child between fork and exec and only makes two system
    // calls (prctl and getppid), both async-signal-safe; it allocates nothing and takes no lock.
    #[expect(
        unsafe_code,
        reason = "the parent-death signal can only be set in the child, between fork and exec"
    )]
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(io::Error::from)?;
            // The parent may have died before the signal was armed: then it never comes.
            if nix::unistd::getppid() != parent {
                return Err(io::Error::other(
                    "the server exited while the runner started",
                ));
            }
            Ok(())
        });
    }
}

/// The record of a runner that has just started: its pid and start time.
pub(crate) fn describe(pid: u32) -> Option<RunnerProcess> {
    let stat = read_stat(pid)?;
    Some(RunnerProcess {
        pid,
        start_ticks: stat.start_ticks,
    })
}

/// What `/proc/<pid>/stat` says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: char,
    ppid: u32,
    pgrp: u32,
    start_ticks: u64,
}

/// Reads `/proc/<pid>/stat`; `None` when the process is gone (or there is no procfs).
fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses a stat line. The command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so the fields are counted after its last `)`.
fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // Field 3 is the state, 4 the parent, 5 the process group, 22 the start time.
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let start_ticks = fields.nth(16)?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        pgrp,
        start_ticks,
    })
}

/// Ends what is left of the process groups of runners recorded for tasks that were running
/// when the server stopped. A leader still alive with its recorded start time has its whole
/// group killed; a leader already gone leaves members of its group that started between it and
/// this server, which are killed one by one. Answers how many groups had something to end.
pub(crate) fn end_orphans(runners: &[(String, RunnerProcess)]) -> usize {
    if runners.is_empty() {
        return 0;
    }
    let this_server = read_stat(std::process::id()).map_or(u64::MAX, |s| s.start_ticks);
    let processes = all_processes();
    let mut ended = 0;
    for (task, runner) in runners {
        // A runner this very process started (an engine restarted in-process, as an embedder
        // or a test may do) has not outlived its server: it is left to the engine that owns it.
        let owned = processes.iter().any(|(pid, stat)| {
            *pid == runner.pid
                && stat.start_ticks == runner.start_ticks
                && stat.ppid == std::process::id()
        });
        if owned {
            continue;
        }
        let members: Vec<u32> = processes
            .iter()
            .filter(|(pid, stat)| {
                let ours = if *pid == runner.pid {
                    stat.start_ticks == runner.start_ticks
                } else {
                    (runner.start_ticks..=this_server).contains(&stat.start_ticks)
                };
                stat.pgrp == runner.pid && stat.state != 'Z' && ours
            })
            .map(|(pid, _)| *pid)
            .collect();
        if members.is_empty() {
            continue;
        }
        ended += 1;
        tracing::warn!(
            task = %task,
            pgid = runner.pid,
            processes = members.len(),
            "a runner outlived the server that started it; ending its process group"
        );
        for pid in members {
            kill(pid);
        }
    }
    ended
}

/// Every process `/proc` lists, with its stat.
fn all_processes() -> Vec<(u32, Stat)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?)))
        .collect()
}

fn kill(pid: u32) {
    #[cfg(unix)]
    if let Ok(raw) = i32::try_from(pid) {
        // ESRCH (gone meanwhile) is harmless.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(raw),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_past_odd_command_names() {
        let line = "4242 (my (odd) runner) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                start_ticks: 987_654,
            })
        );
        assert_eq!(parse_stat("4242 (cut short) S 1"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_its_own_stat() {
        let own = describe(std::process::id()).unwrap();
        assert_eq!(own.pid, std::process::id());
        assert!(own.start_ticks > 0);
        assert!(describe(u32::MAX).is_none());
    }
}
