use std::process::ExitCode;

use clap::Parser;
use hacmp_cli::{bins::LintCli, lint};

fn main() -> ExitCode {
    ExitCode::from(lint::run_cmd(&LintCli::parse().args))
}
