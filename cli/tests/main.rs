//! The command-line tools' tests, in one binary: the binaries run as an
//! administrator would, real daemons on etcd, namespaces, the status page
//! in a browser.

mod common;
mod harness;

mod actions;
mod cli;
mod cluster;
mod cluster_faults;
mod dare;
mod em;
mod exit_table;
mod hostile;
mod sim;
mod status_page;
mod takeover;
mod topology;
