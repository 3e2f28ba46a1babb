//! Children the integrations start (ffmpeg, ffprobe, MCP servers): each in a process group of
//! its own, killed with the server, and killed as a group when it is done with.

use tokio::process::Command;

/// Asks the kernel to SIGKILL the child when the thread that forked it goes, so a server killed
/// mid-analysis or mid-check leaves no ffmpeg or MCP server behind, and lowers its priority to
/// `nice`. Children are started from the runtime's worker threads, which live as long as the
/// runtime. A child's own children are reached through its process group ([`kill_group`]).
#[cfg(target_os = "linux")]
pub(crate) fn die_with_parent(command: &mut Command, nice: u8) {
    let nice = i32::from(nice.min(19));
    let parent = nix::unistd::Pid::from_raw(i32::try_from(std::process::id()).unwrap_or(0));
    // SAFETY: the closure runs in the child between fork and exec and only makes three system
    // calls (setpriority, prctl and getppid), all async-signal-safe; it allocates nothing and
    // takes no lock.
    #[expect(
        unsafe_code,
        reason = "the parent-death signal can only be set in the child, between fork and exec"
    )]
    unsafe {
        command.pre_exec(move || {
            // Raising one's own niceness needs no privilege; a failure leaves it as it was.
            if nice > 0 {
                nix::libc::setpriority(nix::libc::PRIO_PROCESS, 0, nice);
            }
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            // The parent may have died before the signal was armed: then it never comes.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other(
                    "the server exited while the child started",
                ));
            }
            Ok(())
        });
    }
}

pub(crate) fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // ESRCH (already gone) is the harmless case.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    #[cfg(not(unix))]
    let _ = pid;
}
