use std::process::ExitCode;

use clap::Parser;
use hacmp_cli::{bins::HacmpdCli, daemon};

fn main() -> ExitCode {
    if let Err(e) = hacmp_cli::config::apply() {
        eprintln!("hacmpd: {e}");
        return ExitCode::from(hacmp_cli::exit::USAGE);
    }
    ExitCode::from(daemon::run(&HacmpdCli::parse().args))
}
