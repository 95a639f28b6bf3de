//! The module graph of a crate, read from its sources: which of its
//! top-level modules name which (`crate::m`, `crate::{m, ..}`, and
//! `super::m` from a top-level module). The workspace keeps it free of
//! cycles (the test below): a module that needs another's types should
//! not be needed by it, or the two are one thing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the other top-level modules it names.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Code without its comments (line comments only: block comments are not
/// used in the workspace).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn idents_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(list) = rest.strip_prefix('{') {
            let end = list.find('}').unwrap_or(list.len());
            out.extend(
                list[..end]
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty()),
            );
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push(&rest[..end]);
        }
    }
    out
}

/// The graph of the crate whose sources are under `src`.
pub fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut by_module: BTreeMap<String, Vec<(PathBuf, bool)>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap_or(&f);
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
            continue;
        }
        // `super::` names the crate root from `m.rs` and `m/mod.rs`.
        let top_level = parts.len() == 1 || (parts.len() == 2 && parts[1] == "mod");
        by_module
            .entry(parts[0].clone())
            .or_default()
            .push((f.clone(), top_level));
    }
    let names: BTreeSet<String> = by_module.keys().cloned().collect();
    let mut g = Graph::new();
    for (m, files) in &by_module {
        let deps = g.entry(m.clone()).or_default();
        for (f, top_level) in files {
            let text = code(&std::fs::read_to_string(f).unwrap_or_default());
            let mut named = idents_after(&text, "crate::");
            if *top_level {
                named.extend(idents_after(&text, "super::"));
            }
            for n in named {
                if n != m && names.contains(n) {
                    deps.insert(n.to_string());
                }
            }
        }
    }
    g
}

/// The cycles of `g`: its strongly connected components of more than one
/// module (Tarjan).
pub fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        for u in w.g.get(v).into_iter().flatten() {
            let u = u.as_str();
            if !w.index.contains_key(u) {
                visit(w, u);
                let l = w.low[v].min(w.low[u]);
                w.low.insert(v, l);
            } else if w.stack.contains(&u) {
                let l = w.low[v].min(w.index[u]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut c = Vec::new();
            while let Some(u) = w.stack.pop() {
                c.push(u.to_string());
                if u == v {
                    break;
                }
            }
            if c.len() > 1 {
                c.sort();
                w.found.push(c);
            }
        }
    }
    let mut w = Walk {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in g.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_crate_of_the_workspace_has_a_module_cycle() {
        let root = crate::repo();
        let mut crates: Vec<PathBuf> = ["grammar", "compiler", "stdlib-rp", "cli", "oracles"]
            .iter()
            .map(|c| root.join(c).join("src"))
            .collect();
        let runtime = std::fs::read_dir(root.join("runtime")).expect("runtime/");
        crates.extend(runtime.flatten().map(|e| e.path().join("src")));
        let mut found = Vec::new();
        for src in &crates {
            assert!(src.is_dir(), "{} is not a crate's sources", src.display());
            for c in cycles(&graph(src)) {
                found.push(format!("{}: {}", src.display(), c.join(" ↔ ")));
            }
        }
        assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
    }

    #[test]
    fn a_cycle_is_found_and_a_chain_is_not() {
        let g = |edges: &[(&str, &str)]| {
            let mut g = Graph::new();
            for (a, b) in edges {
                g.entry(a.to_string()).or_default().insert(b.to_string());
                g.entry(b.to_string()).or_default();
            }
            g
        };
        assert_eq!(
            cycles(&g(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
            [["a", "b", "c"]]
        );
        assert!(cycles(&g(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
    }

    #[test]
    fn names_are_read_from_paths_lists_and_not_from_comments() {
        let t = code("use crate::{alpha, beta::X};\nlet x = crate::gamma::f(); // crate::delta\nmy_crate::zeta");
        assert_eq!(idents_after(&t, "crate::"), ["alpha", "beta", "X", "gamma"]);
    }
}
