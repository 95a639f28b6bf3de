//! The command-line front ends. Each subcommand is a module with an `Args`
//! struct and a `run` function returning the exit status.

pub mod actions;
pub mod bins;
pub mod bundle;
pub mod compile;
pub mod config;
pub mod daemon;
pub mod deploy;
pub mod em;
pub mod explain;
pub mod faults;
pub mod history;
pub mod html;
pub mod http;
pub mod init;
pub mod kept;
pub mod key;
pub mod lint;
pub mod located;
pub mod markup;
pub mod nodes;
pub mod ops;
pub mod run;
pub mod serve;
pub mod sim;
pub mod svg;
pub mod systemd;
pub mod timeline;
pub mod trace;

/// Exit statuses shared by every command.
pub mod exit {
    /// Nothing wrong.
    pub const OK: u8 = 0;
    /// The input has errors (or warnings under `--deny-warnings`).
    pub const FINDINGS: u8 = 1;
    /// Usage or I/O problem.
    pub const USAGE: u8 = 2;

    /// The table every command's `--help` ends with.
    pub const TABLE: &str = "Exit status (every command):
  0  nothing wrong
  1  the input has errors (or warnings with --deny-warnings), a rule test failed,
     a simulation did not settle, an operator command was refused
  2  usage or I/O: bad arguments, a file that cannot be read or written,
     etcd that cannot be reached
  3  hacmpd only: this node lost the group for good (restart it)";
}

/// Whether to colour output going to a terminal (`is_terminal`): never
/// when `NO_COLOR` is set (https://no-color.org), for every command alike.
pub fn colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes to standard output; a pipe closed early (`hacmp sim … | head`)
/// ends the output quietly instead of a panic. Whether it was written.
pub fn print_out(text: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}
