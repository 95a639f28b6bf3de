use std::process::ExitCode;

use clap::Parser;
use hacmp_cli::daemon;

/// The cluster manager daemon of one node, coordinated through etcd.
#[derive(Parser, Debug)]
#[command(name = "hacmpd", version, after_help = hacmp_cli::exit::TABLE)]
struct Cli {
    #[command(flatten)]
    args: daemon::DaemonArgs,
}

fn main() -> ExitCode {
    if let Err(e) = hacmp_cli::config::apply() {
        eprintln!("hacmpd: {e}");
        return ExitCode::from(hacmp_cli::exit::USAGE);
    }
    ExitCode::from(daemon::run(&Cli::parse().args))
}
