//! Errors of the TOML files the commands read besides the site
//! (scenarios, rule tests, the operator configuration), located as
//! `file:line:column: message` like every other diagnostic.

use std::path::Path;

/// `file:line:column: message` of a TOML error in `text` (column in
/// characters, as editors count).
pub fn toml(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map_or(0, |r| r.start.min(text.len()));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let hint = hacmp_compiler::site::did_you_mean(e.message())
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    format!(
        "{}:{line}:{col}: {}{hint}",
        path.display(),
        e.message().trim_end()
    )
}
