//! The checked, serialisable form of a whole site: what the runtime runs and
//! what nodes compare by hash.

use std::collections::BTreeMap;

use hacmp_grammar::ast::{Expected, NodeSet, Pattern};
use hacmp_stdlib::{FailurePolicy, ValueType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::predicate::CompiledPredicate;
use crate::site::Site;

/// Version of the bundle format.
pub const FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: u32,
    /// SHA-256 of the canonical form of everything below.
    pub hash: String,
    pub site: Site,
    pub rules: Vec<Rule>,
    /// Recovery programs by absolute path.
    pub programs: BTreeMap<String, Program>,
    /// SHA-256 of each file the bundle was built from, by path: the rules
    /// file, the `.rp` files, and the commands they name where readable.
    pub sources: BTreeMap<String, String>,
    /// Who deployed it: over the hash, so not part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::signature::Signature>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub state: i64,
    /// Absolute path of the recovery program (a key of `programs`).
    pub program: String,
    pub recovery_type: i64,
    pub recovery_level: i64,
    /// Priority class: 1 (node joins) … 7 (user-defined events).
    pub priority: u8,
    pub condition: Option<Condition>,
    /// Line of the rule's name in the rules file.
    pub line: u32,
}

/// The Event Management condition of a user-defined event. In a bundle
/// the predicates are their source text, compiled again when the bundle
/// is read: a bundle stays the size of its sources, and holds no code a
/// forger could write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "ConditionText", try_from = "ConditionText")]
pub struct Condition {
    pub variable: String,
    pub value_type: ValueType,
    pub instance: Vec<(String, Pattern)>,
    pub predicate: CompiledPredicate,
    pub rearm: Option<CompiledPredicate>,
}

/// A condition as a bundle holds it.
#[derive(Clone, Serialize, Deserialize)]
struct ConditionText {
    variable: String,
    value_type: ValueType,
    instance: Vec<(String, Pattern)>,
    predicate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rearm: Option<String>,
}

impl From<Condition> for ConditionText {
    fn from(c: Condition) -> ConditionText {
        ConditionText {
            variable: c.variable,
            value_type: c.value_type,
            instance: c.instance,
            predicate: c.predicate.source,
            rearm: c.rearm.map(|r| r.source),
        }
    }
}

impl TryFrom<ConditionText> for Condition {
    type Error = String;

    fn try_from(c: ConditionText) -> Result<Condition, String> {
        let compile = |text: &str| CompiledPredicate::from_source(text, &c.value_type);
        Ok(Condition {
            predicate: compile(&c.predicate)?,
            rearm: c.rearm.as_deref().map(compile).transpose()?,
            variable: c.variable,
            value_type: c.value_type,
            instance: c.instance,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub path: String,
    /// Command groups: each runs in parallel, with a barrier between two
    /// groups and the cbarrier after the last.
    pub groups: Vec<Group>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub commands: Vec<CommandLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandLine {
    pub node_set: NodeSet,
    pub command: Command,
    pub expected: Expected,
    /// Line in the `.rp` file.
    pub line: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// One of the product's event scripts, by name (see `Site::scripts`).
    Script { name: String },
    /// An absolute path and its arguments.
    Exec { argv: Vec<String> },
}

impl Command {
    /// The command as written in the `.rp` file.
    pub fn display(&self) -> String {
        match self {
            Command::Script { name } => name.clone(),
            Command::Exec { argv } => argv.join(" "),
        }
    }
}

impl Rule {
    pub fn policy(&self, site: &Site, script: Option<&str>) -> FailurePolicy {
        site.policy(&self.name, script)
    }
}

#[derive(Serialize)]
struct Canonical<'a> {
    format: u32,
    site: &'a Site,
    rules: &'a [Rule],
    programs: &'a BTreeMap<String, Program>,
    sources: &'a BTreeMap<String, String>,
}

impl Bundle {
    pub fn new(
        site: Site,
        rules: Vec<Rule>,
        programs: BTreeMap<String, Program>,
        sources: BTreeMap<String, String>,
    ) -> Bundle {
        let mut b = Bundle {
            format: FORMAT,
            hash: String::new(),
            site,
            rules,
            programs,
            sources,
            signature: None,
        };
        b.hash = b.compute_hash();
        b
    }

    /// The hash of the canonical form: JSON with ordered maps, no blanks.
    pub fn compute_hash(&self) -> String {
        let c = Canonical {
            format: self.format,
            site: &self.site,
            rules: &self.rules,
            programs: &self.programs,
            sources: &self.sources,
        };
        // Streamed into the hash: no copy of a large bundle's text.
        struct Hashing(Sha256);
        impl std::io::Write for Hashing {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                sha2::Digest::update(&mut self.0, b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut h = Hashing(Sha256::new());
        // Serialising plain data cannot fail, nor can this writer.
        let _ = serde_json::to_writer(&mut h, &c);
        crate::digest::hex(&h.0.finalize())
    }

    /// Whether the stored hash matches the content (a bundle edited by hand
    /// or damaged in transit does not).
    pub fn verify(&self) -> bool {
        self.hash == self.compute_hash()
    }

    /// The rule for an event name and state.
    pub fn rule(&self, name: &str, state: i64) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.name == name && r.state == state)
    }

    /// Files whose content differs between two bundles, or that only one
    /// has, in path order.
    pub fn differing_sources(&self, other: &Bundle) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (path, h) in &self.sources {
            if other.sources.get(path) != Some(h) {
                out.push(path.clone());
            }
        }
        for path in other.sources.keys() {
            if !self.sources.contains_key(path) {
                out.push(path.clone());
            }
        }
        out.sort();
        out
    }
}
