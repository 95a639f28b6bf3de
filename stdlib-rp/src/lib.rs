//! The standard library of the cluster manager, embedded as data: the shipped
//! `rules.hacmprd` (the system events: the nine of the original and
//! `TE_RG_MOVE`), a `.rp` program for each, the
//! catalog of resource variables, and the default event-script definitions.

mod catalog;
mod duration;
mod scripts;

pub use catalog::{Catalog, FieldDef, ScalarOrSbs, ScalarType, ValueType, Variable};
pub use duration::Duration;
pub use scripts::{EventScript, EventScripts, FailurePolicy};

/// Where the standard rules file names its programs.
pub const EVENTS_DIR: &str = "/usr/sbin/cluster/events";

/// The standard `rules.hacmprd`: the system events.
pub const RULES: &str = include_str!("../data/rules.hacmprd");

/// The standard recovery programs, by file name.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("node_up.rp", include_str!("../data/programs/node_up.rp")),
    (
        "node_down.rp",
        include_str!("../data/programs/node_down.rp"),
    ),
    (
        "network_up.rp",
        include_str!("../data/programs/network_up.rp"),
    ),
    (
        "network_down.rp",
        include_str!("../data/programs/network_down.rp"),
    ),
    (
        "swap_adapter.rp",
        include_str!("../data/programs/swap_adapter.rp"),
    ),
    (
        "join_standby.rp",
        include_str!("../data/programs/join_standby.rp"),
    ),
    (
        "fail_standby.rp",
        include_str!("../data/programs/fail_standby.rp"),
    ),
    (
        "reconfig_topology.rp",
        include_str!("../data/programs/reconfig_topology.rp"),
    ),
    (
        "reconfig_resource.rp",
        include_str!("../data/programs/reconfig_resource.rp"),
    ),
    ("rg_move.rp", include_str!("../data/programs/rg_move.rp")),
];

/// The system events of the shipped rules file: name, program file, and
/// priority class (1 is highest; user-defined events are class 6).
pub const SYSTEM_EVENTS: &[(&str, &str, u8)] = &[
    ("TE_JOIN_NODE", "node_up.rp", 1),
    ("TE_FAIL_NODE", "node_down.rp", 2),
    ("TE_SWAP_ADAPTER", "swap_adapter.rp", 3),
    ("TE_JOIN_STANDBY", "join_standby.rp", 3),
    ("TE_FAIL_STANDBY", "fail_standby.rp", 3),
    ("TE_JOIN_NETWORK", "network_up.rp", 4),
    ("TE_FAIL_NETWORK", "network_down.rp", 5),
    ("TE_DARE_TOPOLOGY", "reconfig_topology.rp", 6),
    ("TE_DARE_RESOURCE", "reconfig_resource.rp", 6),
    ("TE_RG_MOVE", "rg_move.rp", 6),
];

/// Priority class of user-defined (and unknown) events.
pub const USER_EVENT_CLASS: u8 = 7;

/// Priority class of an event name: lower runs first.
pub fn priority_class(name: &str) -> u8 {
    SYSTEM_EVENTS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(USER_EVENT_CLASS, |(_, _, c)| *c)
}

/// The body of the starter event script that `hacmp init` writes for every
/// product event script.
pub const STARTER_SCRIPT: &str = include_str!("../data/scripts/event_script.sh");

const CATALOG_TOML: &str = include_str!("../data/catalog.toml");
const EVENT_SCRIPTS_TOML: &str = include_str!("../data/event_scripts.toml");

/// The standard catalog of resource variables.
pub fn catalog() -> Catalog {
    // The embedded file is tested to parse; an empty catalog is the
    // no-panic fallback should it ever not.
    Catalog::from_toml(CATALOG_TOML).unwrap_or_default()
}

/// The default definitions of the product's event scripts.
pub fn event_scripts() -> EventScripts {
    EventScripts::from_toml(EVENT_SCRIPTS_TOML).unwrap_or_default()
}

/// The text of a standard program by file name.
pub fn program(file: &str) -> Option<&'static str> {
    PROGRAMS.iter().find(|(n, _)| *n == file).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_parses() {
        Catalog::from_toml(CATALOG_TOML).unwrap();
        let scripts = EventScripts::from_toml(EVENT_SCRIPTS_TOML).unwrap();
        assert!(scripts.get("node_up").is_some());
        assert_eq!(catalog().variables.len(), 6 + 16);
    }

    #[test]
    fn every_system_event_has_a_program_and_a_rule() {
        for (name, file, _) in SYSTEM_EVENTS {
            assert!(program(file).is_some(), "{file}");
            assert!(RULES.contains(&format!("\n{name}\n")), "{name}");
            assert!(RULES.contains(&format!("{EVENTS_DIR}/{file}\n")), "{file}");
        }
    }

    #[test]
    fn every_script_named_by_a_program_has_a_definition() {
        let scripts = event_scripts();
        for (file, text) in PROGRAMS {
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                if let Some(name) = line.split('"').nth(1) {
                    assert!(scripts.get(name).is_some(), "{file}: {name}");
                }
            }
        }
    }

    #[test]
    fn joins_outrank_failures_outrank_user_events() {
        assert!(priority_class("TE_JOIN_NODE") < priority_class("TE_FAIL_NODE"));
        assert!(priority_class("TE_FAIL_NETWORK") < priority_class("TE_DARE_TOPOLOGY"));
        assert!(priority_class("TE_DARE_TOPOLOGY") < priority_class("UE_X"));
    }
}
