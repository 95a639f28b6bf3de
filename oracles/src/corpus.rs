//! The seed corpus: the repository's own example and reference files, by
//! the oracle that reads them.

use std::path::{Path, PathBuf};

/// Which oracle a file feeds, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Rules,
    Program,
    Toml,
}

impl Kind {
    pub fn of(path: &Path) -> Option<Kind> {
        match path.extension()?.to_str()? {
            "hacmprd" => Some(Kind::Rules),
            "rp" => Some(Kind::Program),
            "toml" => Some(Kind::Toml),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Rules => "rules",
            Kind::Program => "program",
            Kind::Toml => "toml",
        }
    }
}

/// The workspace's top directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every seed file under `tests/` and `examples/`, sorted.
pub fn files() -> Vec<(Kind, PathBuf)> {
    let top = workspace();
    let mut out = Vec::new();
    for dir in ["tests", "examples"] {
        walk(&top.join(dir), &mut out);
    }
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<(Kind, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        let p = e.path();
        if t.is_dir() {
            walk(&p, out);
        } else if t.is_file() {
            if let Some(k) = Kind::of(&p) {
                out.push((k, p));
            }
        }
    }
}

/// Seeds for the predicate oracle: each predicate and rearm predicate of
/// the rules seeds, once per value type, with bytes for observations.
pub fn predicates() -> Vec<Vec<u8>> {
    let mut texts: Vec<String> = Vec::new();
    for (kind, path) in files() {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if kind != Kind::Rules {
            continue;
        }
        let opts = hacmp_compiler::LintOptions::default();
        let l = hacmp_compiler::lint_texts(&[("rules.hacmprd", &bytes)], &opts);
        for c in l.rules.iter().filter_map(|r| r.condition.as_ref()) {
            texts.push(c.predicate.source.clone());
            texts.extend(c.rearm.as_ref().map(|r| r.source.clone()));
        }
    }
    texts.sort();
    texts.dedup();
    let mut out = Vec::new();
    for t in texts {
        for kind in 0u8..4 {
            let mut seed = vec![kind];
            seed.extend_from_slice(t.as_bytes());
            seed.push(b'\n');
            seed.extend_from_slice(&[3, 7, 0, 1, 2, 4, 5, 6, 9, 8, 1, 1, 0, 0, 2, 2]);
            out.push(seed);
        }
    }
    out
}

/// Seeds for the feed oracle.
pub const FEED: &[&str] = &[
    r#"{"variable":"IBM.PSSP.aixos.FS.%totused","instance":"NodeNum=1;Mount=/tmp","value":95}"#,
    r#"{"variable":"IBM.PSSP.Prog.xpcount","instance":"NodeNum=2;ProgName=rwhod;UserName=root","value":[0,1,"rwhod"]}"#,
    r#"{"variable":"IBM.PSSP.aixos.Mem.Virt.pgspgin","instance":{"NodeNum":"3"},"value":1.5e3}"#,
    r#"{"variable":"nope","instance":"","value":null}"#,
    "not json\n\n{}",
];
