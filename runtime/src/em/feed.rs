//! The external feed: JSON lines that let any outside metric drive rules,
//! and what `hacmp observe` writes. One observation per line:
//!
//! ```json
//! {"variable": "IBM.PSSP.pm.User_state1", "instance": "NodeNum=2", "value": "READY"}
//! {"variable": "Site.App.queue_len", "instance": {"NodeNum": "1", "Queue": "in"}, "value": 42}
//! ```
//!
//! A bad line gets a located error and is skipped; it never stops the feed.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use hacmp_compiler::predicate::Scalar;
use hacmp_stdlib::{Catalog, ScalarType, ValueType};
use serde_json::Value;

use super::{parse_instance, Instance, Observation};

/// A line of the feed that could not be used.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for FeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

fn scalar(t: ScalarType, v: &Value) -> Result<Scalar, String> {
    match (t, v) {
        (ScalarType::Int, Value::Number(n)) => n
            .as_i64()
            .map(Scalar::Int)
            .ok_or_else(|| format!("{n} is not an integer")),
        (ScalarType::Float, Value::Number(n)) => n
            .as_f64()
            .map(Scalar::Float)
            .ok_or_else(|| format!("{n} is not a number")),
        (ScalarType::String, Value::String(s)) => Ok(Scalar::Str(s.clone())),
        (t, v) => Err(format!(
            "expected {}, found {v}",
            match t {
                ScalarType::Int => "an integer",
                ScalarType::Float => "a number",
                ScalarType::String => "a string",
            }
        )),
    }
}

/// Turns a JSON value into an observation record of type `t`.
pub fn value_of(t: &ValueType, v: &Value) -> Result<Vec<Scalar>, String> {
    match (t, v) {
        (ValueType::Scalar(s), v) => Ok(vec![scalar(*s, v)?]),
        (ValueType::Sbs(fields), Value::Array(items)) => {
            if items.len() != fields.len() {
                return Err(format!(
                    "the value has {} fields, the variable has {}",
                    items.len(),
                    fields.len()
                ));
            }
            fields
                .iter()
                .zip(items)
                .map(|(f, x)| scalar(*f, x))
                .collect()
        }
        (ValueType::Sbs(fields), v) if fields.len() == 1 => Ok(vec![scalar(fields[0], v)?]),
        (ValueType::Sbs(fields), _) => Err(format!(
            "a structured value: give an array of {} fields",
            fields.len()
        )),
    }
}

fn instance_of(v: &Value) -> Result<Instance, String> {
    match v {
        Value::String(s) => parse_instance(s),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                _ => Err(format!("element `{k}` must be a string")),
            })
            .collect(),
        _ => Err("`instance` is `name=value;...` or an object".into()),
    }
}

/// Parses one line. `line` is its 1-based number in `file`.
pub fn parse_line(
    text: &str,
    catalog: &Catalog,
    file: &str,
    line: usize,
) -> Result<Observation, FeedError> {
    let err = |column: usize, message: String| FeedError {
        file: file.to_string(),
        line,
        column,
        message,
    };
    let v: Value =
        serde_json::from_str(text).map_err(|e| err(e.column().max(1), format!("not JSON: {e}")))?;
    let col_of = |key: &str| text.find(&format!("\"{key}\"")).map_or(1, |i| i + 1);
    let obj = v
        .as_object()
        .ok_or_else(|| err(1, "a line is one JSON object".into()))?;
    let variable = obj
        .get("variable")
        .and_then(Value::as_str)
        .ok_or_else(|| err(1, "missing `variable`".into()))?;
    let var = catalog.get(variable).ok_or_else(|| {
        err(
            col_of("variable"),
            format!("`{variable}` is not in the catalog"),
        )
    })?;
    let instance = instance_of(obj.get("instance").unwrap_or(&Value::Null))
        .map_err(|e| err(col_of("instance"), e))?;
    if let Some(bad) = instance.keys().find(|k| !var.elements.contains(k)) {
        return Err(err(
            col_of("instance"),
            format!("`{bad}` is not an element of `{variable}`"),
        ));
    }
    if !instance.contains_key("NodeNum") {
        return Err(err(
            col_of("instance"),
            "the instance needs its `NodeNum`".into(),
        ));
    }
    let value = obj
        .get("value")
        .ok_or_else(|| err(1, "missing `value`".into()))?;
    let value = value_of(&var.value_type(), value).map_err(|e| err(col_of("value"), e))?;
    Ok(Observation {
        variable: variable.to_string(),
        instance,
        value,
    })
}

/// Reads the lines appended to a feed file since the last call.
pub struct FeedReader {
    path: PathBuf,
    offset: u64,
    line: usize,
    partial: String,
}

impl FeedReader {
    /// Starts at the end of what the file holds now (old lines were for
    /// earlier runs), or at the start when `from_start`.
    pub fn open(path: &Path, from_start: bool) -> FeedReader {
        let (offset, line) = if from_start {
            (0, 0)
        } else {
            let text = std::fs::read(path).unwrap_or_default();
            (
                text.len() as u64,
                text.iter().filter(|b| **b == b'\n').count(),
            )
        };
        FeedReader {
            path: path.to_path_buf(),
            offset,
            line,
            partial: String::new(),
        }
    }

    /// New complete lines: observations, and errors for the bad ones.
    pub fn poll(&mut self, catalog: &Catalog) -> (Vec<Observation>, Vec<FeedError>) {
        let (mut obs, mut errs) = (Vec::new(), Vec::new());
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return (obs, errs);
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Truncated or replaced: start over.
            self.offset = 0;
            self.line = 0;
            self.partial.clear();
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return (obs, errs);
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return (obs, errs);
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            self.line += 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match parse_line(line, catalog, &self.path.display().to_string(), self.line) {
                Ok(o) => obs.push(o),
                Err(e) => errs.push(e),
            }
        }
        (obs, errs)
    }
}

/// Appends one observation to a feed file (what `hacmp observe` does).
pub fn append(path: &Path, obs: &Observation) -> std::io::Result<()> {
    use std::io::Write;
    let value = match obs.value.as_slice() {
        [one] => serde_json::to_value(one),
        many => serde_json::to_value(many),
    }
    .unwrap_or(Value::Null);
    let line = serde_json::json!({
        "variable": obs.variable,
        "instance": super::instance_string(&obs.instance),
        "value": value,
    });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write of one line: appends from several writers do not interleave.
    f.write_all(format!("{line}\n").as_bytes())
}
