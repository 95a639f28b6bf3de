use std::process::ExitCode;

use clap::Parser;
use hacmp_cli::lint;

/// Check a site's rules file and recovery programs before deploying them.
#[derive(Parser, Debug)]
#[command(name = "hacmp-lint", version, after_help = hacmp_cli::exit::TABLE)]
struct Cli {
    #[command(flatten)]
    args: lint::LintCmd,
}

fn main() -> ExitCode {
    ExitCode::from(lint::run_cmd(&Cli::parse().args))
}
