//! Helpers shared by the runtime's tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hacmp_compiler::{lint, Bundle, LintOptions};
use hacmp_node::exec::sim::{Override, SimExecutor};
use hacmp_node::journal::{EventEntry, Journal, Record, RecordKind};
use hacmp_sim::cluster::Cluster;

pub use hacmp_testkit::repo;

/// Compiles a site file into a bundle, optionally changing the site first.
pub fn bundle_of(site: &Path, edit: impl FnOnce(&mut hacmp_compiler::Site)) -> Bundle {
    let opts = LintOptions {
        site: Some(site.to_path_buf()),
        compiling: true,
        ..LintOptions::new()
    };
    let text = std::fs::read_to_string(site).unwrap();
    let rules: toml::Table = text.parse().unwrap();
    let rules = site
        .parent()
        .unwrap()
        .join(rules["paths"]["rules"].as_str().unwrap());
    let l = lint(&[rules], &opts).unwrap();
    let mut b = l.bundle().unwrap_or_else(|| panic!("{:?}", l.diagnostics));
    edit(&mut b.site);
    Bundle::new(b.site, b.rules, b.programs, b.sources)
}

pub fn rwho_bundle(edit: impl FnOnce(&mut hacmp_compiler::Site)) -> Bundle {
    bundle_of(&repo().join("examples/rwho/site.toml"), edit)
}

/// A simulated cluster on the rwho site, with these overrides.
pub fn sim_cluster(bundle: Bundle, overrides: Vec<Override>) -> Cluster {
    let exec = Arc::new(SimExecutor::new(overrides, Duration::from_millis(100)));
    let mut c = Cluster::new(
        Arc::new(bundle),
        exec,
        Journal::in_memory(),
        None,
        Duration::from_millis(50),
    );
    c.remind_after(Duration::from_secs(3600));
    c
}

pub fn events(j: &Journal) -> Vec<EventEntry> {
    j.events()
}

pub fn names(j: &Journal) -> Vec<(String, u32)> {
    j.events()
        .iter()
        .map(|e| (e.name.clone(), e.location))
        .collect()
}

/// Records of a kind for a command on a node.
pub fn find<'a>(e: &'a EventEntry, node: u32, kind: RecordKind, command: &str) -> Vec<&'a Record> {
    e.records
        .iter()
        .filter(|r| r.node == node && r.kind == kind && r.command.as_deref() == Some(command))
        .collect()
}

pub fn kinds(e: &EventEntry, node: u32, kind: RecordKind) -> Vec<&Record> {
    e.records
        .iter()
        .filter(|r| r.node == node && r.kind == kind)
        .collect()
}

pub use hacmp_testkit::user_name;
