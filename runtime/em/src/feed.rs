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

/// The longest line of a feed; a longer one is reported and skipped.
pub const MAX_LINE: usize = 1 << 20;
/// The most read from a feed in one poll (the rest waits for the next).
const MAX_POLL: u64 = 16 << 20;

/// Reads the lines appended to a feed file since the last call, in time
/// linear in what it reads and memory bounded by `MAX_LINE`.
pub struct FeedReader {
    path: PathBuf,
    offset: u64,
    line: usize,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Skipping the rest of a line longer than `MAX_LINE`.
    skipping: bool,
    /// A refusal said once (the feed is not a regular file).
    told: bool,
}

impl FeedReader {
    /// Starts at the end of what the file holds now (old lines were for
    /// earlier runs), or at the start when `from_start`.
    pub fn open(path: &Path, from_start: bool) -> FeedReader {
        let mut r = FeedReader {
            path: path.to_path_buf(),
            offset: 0,
            line: 0,
            partial: Vec::new(),
            skipping: false,
            told: false,
        };
        if !from_start {
            if let Ok((f, meta)) = hacmp_compiler::input::open(path, FEED) {
                r.offset = meta.len();
                r.line = count_lines(f, meta.len());
            }
        }
        r
    }

    /// New complete lines: observations, and errors for the bad ones.
    pub fn poll(&mut self, catalog: &Catalog) -> (Vec<Observation>, Vec<FeedError>) {
        let (mut obs, mut errs) = (Vec::new(), Vec::new());
        let file = self.path.display().to_string();
        let (mut f, meta) = match hacmp_compiler::input::open(&self.path, FEED) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (obs, errs),
            Err(e) => {
                if !self.told {
                    self.told = true;
                    errs.push(FeedError {
                        file,
                        line: 0,
                        column: 0,
                        message: format!("cannot read the feed: {e}"),
                    });
                }
                return (obs, errs);
            }
        };
        self.told = false;
        if meta.len() < self.offset {
            // Truncated or replaced: start over.
            self.offset = 0;
            self.line = 0;
            self.partial.clear();
            self.skipping = false;
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return (obs, errs);
        }
        let mut buf = Vec::new();
        if (&mut f).take(MAX_POLL).read_to_end(&mut buf).is_err() {
            return (obs, errs);
        }
        self.offset += buf.len() as u64;
        let mut start = 0;
        for (i, b) in buf.iter().enumerate() {
            if *b != b'\n' {
                continue;
            }
            self.line += 1;
            let skipped = std::mem::take(&mut self.skipping);
            let line = if self.partial.is_empty() {
                &buf[start..i]
            } else {
                self.partial.extend_from_slice(&buf[start..i]);
                &self.partial[..]
            };
            start = i + 1;
            if skipped || line.len() > MAX_LINE {
                errs.push(FeedError {
                    file: file.clone(),
                    line: self.line,
                    column: 1,
                    message: format!("the line is longer than {MAX_LINE} bytes: skipped"),
                });
            } else {
                let text = String::from_utf8_lossy(line);
                let text = text.trim();
                if !text.is_empty() {
                    match parse_line(text, catalog, &file, self.line) {
                        Ok(o) => obs.push(o),
                        Err(e) => errs.push(e),
                    }
                }
            }
            self.partial.clear();
        }
        // What is left is the start of a line still being written.
        if !self.skipping {
            self.partial.extend_from_slice(&buf[start..]);
            if self.partial.len() > MAX_LINE {
                self.partial = Vec::new();
                self.skipping = true;
            }
        }
        (obs, errs)
    }
}

/// A feed, read as it grows: a regular file (whatever its size; only new
/// lines are read, `MAX_POLL` at a time).
pub const FEED: hacmp_compiler::input::Limit = hacmp_compiler::input::Limit {
    bytes: u64::MAX,
    what: "a feed",
};

/// How many lines the first `len` bytes of a file hold, read in pieces.
fn count_lines(mut f: std::fs::File, len: u64) -> usize {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut n, mut left) = (0, len);
    while left > 0 {
        let Ok(k) = f.read(&mut buf) else { break };
        if k == 0 {
            break;
        }
        let k = k.min(left as usize);
        n += buf[..k].iter().filter(|b| **b == b'\n').count();
        left -= k as u64;
    }
    n
}

/// One observation as a feed line (without the line feed): what
/// [`parse_line`] reads back.
pub fn line(obs: &Observation) -> String {
    let value = match obs.value.as_slice() {
        [one] => serde_json::to_value(one),
        many => serde_json::to_value(many),
    }
    .unwrap_or(Value::Null);
    serde_json::json!({
        "variable": obs.variable,
        "instance": super::instance_string(&obs.instance),
        "value": value,
    })
    .to_string()
}

/// Appends one observation to a feed file (what `hacmp observe` does).
pub fn append(path: &Path, obs: &Observation) -> std::io::Result<()> {
    use std::io::Write;
    let line = line(obs);
    use std::os::unix::fs::OpenOptionsExt;
    // Never a FIFO or a device: it would block, or send the line elsewhere.
    if let Ok(m) = std::fs::metadata(path) {
        hacmp_compiler::input::check(&m, FEED)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    hacmp_compiler::input::check(&f.metadata()?, FEED)?;
    // One write of one line: appends from several writers do not interleave.
    f.write_all(format!("{line}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LINE: &str =
        r#"{"variable": "IBM.PSSP.pm.User_state1", "instance": "NodeNum=2", "value": "READY"}"#;

    #[test]
    fn lines_split_across_polls_and_overlong_lines_are_handled() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("feed.jsonl");
        let catalog = hacmp_stdlib::catalog();
        let mut f = std::fs::File::create(&p).unwrap();
        let mut r = FeedReader::open(&p, true);
        let (half, rest) = LINE.split_at(20);
        write!(f, "{LINE}\n{half}").unwrap();
        let (o, e) = r.poll(&catalog);
        assert_eq!((o.len(), e.len()), (1, 0));
        writeln!(f, "{rest}").unwrap();
        let (o, e) = r.poll(&catalog);
        assert_eq!((o.len(), e.len()), (1, 0), "{e:?}");
        // A line over the limit, written in two parts, then a good one.
        f.write_all(&vec![b'x'; MAX_LINE + 10]).unwrap();
        assert_eq!(r.poll(&catalog), (vec![], vec![]));
        write!(f, "yyy\n{LINE}\n").unwrap();
        let (o, e) = r.poll(&catalog);
        assert_eq!(o.len(), 1);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 3);
        assert!(e[0].message.contains("longer than"));
    }

    #[test]
    fn a_feed_that_is_not_a_regular_file_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("feed");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let catalog = hacmp_stdlib::catalog();
        let mut r = FeedReader::open(&p, false);
        let (_, e) = r.poll(&catalog);
        assert!(e[0].message.contains("FIFO"), "{e:?}");
        assert!(r.poll(&catalog).1.is_empty(), "said once");
    }
}
