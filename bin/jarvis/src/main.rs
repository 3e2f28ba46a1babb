//! `jarvis`: the command-line entry point. Reads the process environment and flags, loads
//! settings, installs logging, and runs one command.

mod analyze;
mod cli;
mod costs;
mod doctor;
mod knowledge;
mod mcp;
mod settings;
mod telemetry;
mod trim;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            // Logging may not be installed yet (a configuration error), so say it plainly.
            #[expect(clippy::print_stderr, reason = "the last word of a failed command")]
            {
                eprintln!("error: {err:#}");
            }
            ExitCode::from(2)
        }
    }
}
