//! Event Management: observations of resource variables, compiled
//! predicates with rearm predicates armed per rule and instance, and the
//! resource monitor that observes this machine.

pub mod agent;
pub mod engine;
pub mod feed;
pub mod monitor;
pub mod series;
pub mod testfile;

use std::collections::BTreeMap;

use hacmp_compiler::predicate::Scalar;
use serde::{Deserialize, Serialize};

/// A concrete instance: element name → value (no wildcards).
pub type Instance = BTreeMap<String, String>;

/// Formats an instance vector in the original's notation.
pub fn instance_string(i: &Instance) -> String {
    // NodeNum first, as the documentation writes it; then by name.
    let mut parts: Vec<String> = Vec::new();
    if let Some(n) = i.get("NodeNum") {
        parts.push(format!("NodeNum={n}"));
    }
    parts.extend(
        i.iter()
            .filter(|(k, _)| *k != "NodeNum")
            .map(|(k, v)| format!("{k}={v}")),
    );
    parts.join(";")
}

/// Parses `name=value;...` (concrete values only).
pub fn parse_instance(s: &str) -> Result<Instance, String> {
    let mut out = Instance::new();
    for part in s.split(';').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not `name=value`"))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(format!("`{part}` is not `name=value`"));
        }
        if v == "*" {
            return Err(format!(
                "`{part}`: an observed instance has concrete values, not `*`"
            ));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("element `{k}` is given twice"));
        }
    }
    Ok(out)
}

/// One observation of one instance of a variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub variable: String,
    pub instance: Instance,
    /// One value for a plain variable, one per field for a structured one.
    pub value: Vec<Scalar>,
}

/// The value as commands see it in `EVVALUE`: fields joined by `;`.
pub fn value_string(v: &[Scalar]) -> String {
    v.iter()
        .map(|s| match s {
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => format!("{f}"),
            Scalar::Str(s) => s.clone(),
        })
        .collect::<Vec<_>>()
        .join(";")
}
