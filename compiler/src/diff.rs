//! What a new bundle changes from the one a cluster runs: nodes, networks
//! and adapters, resource groups, rules, programs, the files commands run
//! from, and settings. For `hacmp deploy` and `hacmp lint --against`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::ir::Bundle;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

/// One thing that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// node, network, adapters, group, rule, program, file or setting.
    pub what: &'static str,
    pub name: String,
    pub change: Change,
    /// How it changed, for people (empty when added or removed).
    pub detail: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.change {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed => '~',
        };
        write!(f, "{mark} {} {}", self.what, self.name)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Compares two keyed collections: added, removed, and changed with `how`.
fn keyed<K: Ord + Clone, V: PartialEq>(
    out: &mut Vec<Difference>,
    what: &'static str,
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
    name: impl Fn(&K, &V) -> String,
    how: impl Fn(&V, &V) -> String,
) {
    let keys: BTreeSet<&K> = old.keys().chain(new.keys()).collect();
    for k in keys {
        let (change, detail, v) = match (old.get(k), new.get(k)) {
            (None, Some(n)) => (Change::Added, String::new(), n),
            (Some(o), None) => (Change::Removed, String::new(), o),
            (Some(o), Some(n)) if o != n => (Change::Changed, how(o, n), n),
            _ => continue,
        };
        out.push(Difference {
            what,
            name: name(k, v),
            change,
            detail,
        });
    }
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// The top-level fields of two JSON objects that differ, by name.
fn fields<T: Serialize>(o: &T, n: &T) -> String {
    let (o, n) = (json(o), json(n));
    let keys: BTreeSet<&String> = o
        .as_object()
        .into_iter()
        .chain(n.as_object())
        .flat_map(|m| m.keys())
        .collect();
    keys.into_iter()
        .filter(|k| o.get(k.as_str()) != n.get(k.as_str()))
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn diff(old: &Bundle, new: &Bundle) -> Vec<Difference> {
    let mut out = Vec::new();
    let (os, ns) = (&old.site, &new.site);
    let nodes = |b: &Bundle| -> BTreeMap<u32, String> {
        b.site
            .nodes
            .iter()
            .map(|n| (n.number, n.name.clone()))
            .collect()
    };
    keyed(
        &mut out,
        "node",
        &nodes(old),
        &nodes(new),
        |k, v| format!("{k} ({v})"),
        |o, n| format!("renamed {o} → {n}"),
    );
    let node_name = |n: &u32| {
        ns.nodes
            .iter()
            .chain(&os.nodes)
            .find(|x| x.number == *n)
            .map_or(n.to_string(), |x| x.name.clone())
    };
    let nets = |b: &Bundle| -> BTreeMap<String, _> {
        b.site
            .resources
            .networks
            .iter()
            .map(|n| (n.name.clone(), n.clone()))
            .collect()
    };
    keyed(
        &mut out,
        "network",
        &nets(old),
        &nets(new),
        |k, _| k.clone(),
        fields,
    );
    keyed(
        &mut out,
        "adapters",
        &os.resources.adapters,
        &ns.resources.adapters,
        |k, _| format!("of node {}", node_name(k)),
        |o, n| {
            let show = |v: &Vec<crate::resources::Adapter>| {
                v.iter()
                    .map(|a| {
                        format!("{} {:?} on {}", a.interface, a.role, a.network).to_lowercase()
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("{} → {}", show(o), show(n))
        },
    );
    let groups = |b: &Bundle| -> BTreeMap<String, _> {
        b.site
            .resources
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.clone()))
            .collect()
    };
    keyed(
        &mut out,
        "group",
        &groups(old),
        &groups(new),
        |k, _| k.clone(),
        |o, n| {
            let mut parts = Vec::new();
            if o.nodes != n.nodes {
                let list = |v: &[u32]| v.iter().map(&node_name).collect::<Vec<_>>().join(", ");
                parts.push(format!("nodes {} → {}", list(&o.nodes), list(&n.nodes)));
            }
            if o.policy != n.policy {
                parts.push(format!(
                    "policy {} → {}",
                    o.policy.as_str(),
                    n.policy.as_str()
                ));
            }
            if o.resources != n.resources {
                parts.push("resources".to_string());
            }
            let rest = fields(
                &(&o.fallback, &o.startup, &o.after),
                &(&n.fallback, &n.startup, &n.after),
            );
            if o.fallback != n.fallback || o.startup != n.startup || o.after != n.after {
                parts.push(if rest.is_empty() {
                    "fallback, startup or after".into()
                } else {
                    rest
                });
            }
            parts.join("; ")
        },
    );
    let rules = |b: &Bundle| -> BTreeMap<(String, i64), _> {
        b.rules
            .iter()
            .map(|r| ((r.name.clone(), r.state), r.clone()))
            .collect()
    };
    keyed(
        &mut out,
        "rule",
        &rules(old),
        &rules(new),
        |k, _| format!("{} (state {})", k.0, k.1),
        fields,
    );
    keyed(
        &mut out,
        "program",
        &old.programs,
        &new.programs,
        |k, _| k.clone(),
        |_, _| "its lines".into(),
    );
    let files = |b: &Bundle| -> BTreeMap<String, String> {
        b.sources
            .iter()
            .filter(|(p, _)| !b.programs.contains_key(*p))
            .map(|(p, h)| (p.clone(), h.clone()))
            .collect()
    };
    keyed(
        &mut out,
        "file",
        &files(old),
        &files(new),
        |k, _| k.clone(),
        |_, _| "content".into(),
    );
    let settings = |s: &crate::site::Site| -> BTreeMap<&'static str, serde_json::Value> {
        BTreeMap::from([
            ("cluster", json(&s.cluster)),
            ("defaults", json(&s.defaults)),
            ("event scripts", json(&s.scripts)),
            ("rule policies", json(&s.rules)),
            ("catalog", json(&s.catalog)),
        ])
    };
    keyed(
        &mut out,
        "setting",
        &settings(os),
        &settings(ns),
        |k, _| k.to_string(),
        |o, n| {
            let f = fields(o, n);
            if f.is_empty() {
                "its values".into()
            } else {
                f
            }
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::*;

    fn bundle(f: impl FnOnce(&mut crate::site::Site)) -> Bundle {
        let mut site = crate::site::Site::default();
        site.nodes = (1..=3)
            .map(|n| crate::site::Node {
                number: n,
                name: format!("node{n}"),
            })
            .collect();
        site.resources.groups.push(ResourceGroup {
            name: "web".into(),
            policy: Policy::Cascading,
            nodes: vec![1, 2, 3],
            fallback: Fallback::OnRejoin,
            startup: Startup::FirstAvailable,
            after: Vec::new(),
            resources: Vec::new(),
        });
        f(&mut site);
        Bundle::new(site, Vec::new(), BTreeMap::new(), BTreeMap::new())
    }

    #[test]
    fn a_node_added_and_a_group_reordered() {
        let old = bundle(|_| {});
        let new = bundle(|s| {
            s.nodes.push(crate::site::Node {
                number: 4,
                name: "node4".into(),
            });
            s.resources.groups[0].nodes = vec![2, 1, 3, 4];
        });
        let shown: Vec<String> = diff(&old, &new).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            [
                "+ node 4 (node4)",
                "~ group web: nodes node1, node2, node3 → node2, node1, node3, node4"
            ]
        );
        assert!(diff(&old, &old).is_empty());
        let settle = bundle(|s| s.cluster.settle = hacmp_stdlib::Duration::from_millis(7));
        let shown: Vec<String> = diff(&old, &settle).iter().map(|d| d.to_string()).collect();
        assert_eq!(shown, ["~ setting cluster: settle"]);
    }
}
