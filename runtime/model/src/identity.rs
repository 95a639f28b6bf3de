//! What a node presents when it joins the group.

use serde::{Deserialize, Serialize};

use crate::event::NodeId;

/// What a node presents when it joins: its bundle hash and the hashes of the
/// files it was built from, so a differing node is refused with the names of
/// the files that differ; and what operators' commands are checked against
/// (the cluster, its nodes and the events its rules handle).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub hash: String,
    pub sources: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub cluster: u32,
    #[serde(default)]
    pub nodes: Vec<NodeId>,
    /// (name, state) of every rule.
    #[serde(default)]
    pub events: Vec<(String, i64)>,
    /// The cluster's name, and each node's (for operators).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub node_names: std::collections::BTreeMap<NodeId, String>,
}

impl Identity {
    pub fn of(bundle: &hacmp_compiler::Bundle) -> Identity {
        Identity {
            hash: bundle.hash.clone(),
            sources: bundle.sources.clone(),
            cluster: bundle.site.cluster.id,
            nodes: bundle.site.nodes.iter().map(|n| n.number).collect(),
            events: bundle
                .rules
                .iter()
                .map(|r| (r.name.clone(), r.state))
                .collect(),
            name: bundle.site.cluster.name.clone(),
            node_names: bundle
                .site
                .nodes
                .iter()
                .map(|n| (n.number, n.name.clone()))
                .collect(),
        }
    }

    /// Files whose hashes differ from `other`'s (or that only one has).
    pub fn differing(&self, other: &Identity) -> Vec<String> {
        let mut out: Vec<String> = self
            .sources
            .iter()
            .filter(|(p, h)| other.sources.get(*p) != Some(*h))
            .map(|(p, _)| p.clone())
            .collect();
        out.extend(
            other
                .sources
                .keys()
                .filter(|p| !self.sources.contains_key(*p))
                .cloned(),
        );
        out.sort();
        out.dedup();
        out
    }
}
