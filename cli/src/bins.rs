//! The command lines of the other binaries (`hacmpd`, `hacmp-lint`,
//! `hacmp-httpd`), here so that `hacmp man` and `hacmp completions` render
//! every binary's page and completions from the one definition each
//! binary parses with.

use std::path::PathBuf;

use clap::Parser;

/// The cluster manager daemon of one node, coordinated through etcd.
#[derive(Parser, Debug)]
#[command(name = "hacmpd", version, after_help = crate::exit::TABLE)]
pub struct HacmpdCli {
    #[command(flatten)]
    pub args: crate::daemon::DaemonArgs,
}

/// Check a site's rules file and recovery programs before deploying them.
#[derive(Parser, Debug)]
#[command(name = "hacmp-lint", version, after_help = crate::exit::TABLE)]
pub struct LintCli {
    #[command(flatten)]
    pub args: crate::lint::LintCmd,
}

/// A small static HTTP server for the HA web example: files of one
/// directory, and `/node` answering which node served it.
#[derive(Parser, Debug)]
#[command(name = "hacmp-httpd", version)]
pub struct HttpdCli {
    /// ADDRESS:PORT to listen on.
    #[arg(long)]
    pub listen: String,
    /// Directory whose files are served.
    #[arg(long)]
    pub dir: PathBuf,
    /// What `/node` answers.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Write the process id here once listening.
    #[arg(long)]
    pub pidfile: Option<PathBuf>,
}

/// Every binary but `hacmp`, with the section of its manual page.
pub fn others() -> Vec<(clap::Command, &'static str)> {
    use clap::CommandFactory;
    vec![
        (HacmpdCli::command(), "8"),
        (LintCli::command(), "1"),
        (HttpdCli::command(), "1"),
    ]
}
