use std::process::ExitCode;

use clap::Parser;
use hacmp_cli::{bins::HacmpdCli, daemon};

fn main() -> ExitCode {
    // The daemon's warden is this binary too (hacmp_linux::warden).
    if std::env::args_os().nth(1).as_deref() == Some(hacmp_linux::warden::ARG.as_ref()) {
        return ExitCode::from(hacmp_linux::warden::run());
    }
    if let Err(e) = hacmp_cli::config::apply() {
        eprintln!("hacmpd: {e}");
        return ExitCode::from(hacmp_cli::exit::USAGE);
    }
    ExitCode::from(daemon::run(&HacmpdCli::parse().args))
}
