//! The catalog of resource variables.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default, rename = "variable")]
    pub variables: Vec<Variable>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    pub name: String,
    /// Where the name comes from (`documented`, `naming`, `site`).
    #[serde(default = "site_origin")]
    pub origin: String,
    pub value: ScalarOrSbs,
    /// Fields of a structured value, in order (`X@0`, `X@1`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDef>,
    /// Instance-vector element names.
    #[serde(default)]
    pub elements: Vec<String>,
    /// How the monitor obtains it (documentation).
    #[serde(default)]
    pub monitor: String,
}

fn site_origin() -> String {
    "site".to_string()
}

/// The `value` key of a catalog entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScalarOrSbs {
    Int,
    Float,
    String,
    Sbs,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ScalarType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScalarType {
    Int,
    Float,
    String,
}

/// The type of a variable's value, as predicates see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Scalar(ScalarType),
    Sbs(Vec<ScalarType>),
}

impl Variable {
    pub fn value_type(&self) -> ValueType {
        match self.value {
            ScalarOrSbs::Int => ValueType::Scalar(ScalarType::Int),
            ScalarOrSbs::Float => ValueType::Scalar(ScalarType::Float),
            ScalarOrSbs::String => ValueType::Scalar(ScalarType::String),
            ScalarOrSbs::Sbs => ValueType::Sbs(self.fields.iter().map(|f| f.ty).collect()),
        }
    }
}

impl Catalog {
    pub fn from_toml(text: &str) -> Result<Catalog, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// Adds or replaces entries (a site's extensions).
    pub fn extend(&mut self, extra: impl IntoIterator<Item = Variable>) {
        for v in extra {
            match self.variables.iter_mut().find(|o| o.name == v.name) {
                Some(old) => *old = v,
                None => self.variables.push(v),
            }
        }
    }
}
