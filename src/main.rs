//! The `rcgi` command: parse the command line, check it, serve until
//! SIGINT or SIGTERM. Exit code 2 for a bad command line, 1 for a
//! failure to serve (such as an address in use), 0 after a clean stop.

use std::process::ExitCode;

use clap::Parser;
use rcgi::cli::{Args, Config};

fn main() -> ExitCode {
    rcgi::cgi::process::seal_inherited_fds();
    let args = Args::parse();
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("rcgi: {e:#}");
            return ExitCode::from(2);
        }
    };
    match rcgi::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rcgi: {e:#}");
            ExitCode::FAILURE
        }
    }
}
