//! The `rcgi` command: parse the command line, check it, serve until
//! SIGINT or SIGTERM. Exit code 2 for a bad command line, 1 for a
//! failure to serve (such as an address in use), 0 after a clean stop.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use rcgi::cli::{self, Args};

fn main() -> ExitCode {
    rcgi::server::malloc::settle();
    rcgi::cgi::spawn::seal_inherited_fds();
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => return command_line_error(&e),
    };
    if let Some(printed) = cli::docs::requested(&args) {
        return match printed {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rcgi: cannot write to stdout: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match cli::config(args) {
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

/// `--help` and `--version` print as clap writes them; any other error
/// is one line (clap's message, without "error: " and its usage hint),
/// exit code 2.
fn command_line_error(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let message = text.split("\n\n").next().unwrap_or_default();
    let message: Vec<&str> = message.lines().map(str::trim).collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    eprintln!("rcgi: {message} (rcgi --help lists the options)");
    ExitCode::from(2)
}
