//! Names checked across files, once every file is read: the site file's
//! `[rules.X]` and `[event_scripts.X]` against the rules and programs (S002),
//! and a misspelt standard event whose real name has no rule (R014 as an
//! error: the cluster would never run anything for it).

use std::collections::BTreeSet;

use hacmp_grammar::span::Span;

use super::Linter;
use crate::code::{Code, Severity};
use crate::diagnostic::Diagnostic;
use crate::ir::Command;

impl Linter<'_> {
    pub(super) fn cross_check(&mut self) {
        self.standard_events_misspelt();
        if self.names.is_empty() {
            // No rules file read: nothing to compare the site with.
            return;
        }
        self.site_names();
    }

    /// `TE_JION_NODE` beside no `TE_JOIN_NODE` rule: an error.
    fn standard_events_misspelt(&mut self) {
        let standard = || hacmp_stdlib::SYSTEM_EVENTS.iter().map(|(n, _, _)| *n);
        for d in &mut self.lint.diagnostics {
            if d.code != Code::R014
                || !d
                    .message
                    .ends_with("is not a system event: it is never raised")
            {
                continue;
            }
            let Some(name) = d.message.split('`').nth(1) else {
                continue;
            };
            let Some(meant) = crate::suggest(name, standard()) else {
                continue;
            };
            if self.names.contains(meant) {
                continue;
            }
            d.severity = Severity::Error;
            d.message = format!(
                "`{name}` is not a system event, and the standard event `{meant}` has no rule: the cluster would run nothing for it"
            );
            d.help = Some(format!("did you mean `{meant}`?"));
        }
    }

    /// `[rules.X]` for a rule the rules do not have; `[event_scripts.X]`
    /// that is not standard and that no program uses.
    fn site_names(&mut self) {
        let Some(file) = self.site_file else { return };
        let site = &self.lint.site;
        let text = self.lint.sources.get(file).text.clone();
        let locate = |table: &str, key: &str| -> Span {
            let needle = format!("{table}.{key}");
            let start = text.find(&needle).map_or(0, |i| i + table.len() + 1);
            let f = self.lint.sources.get(file);
            let (line, col) = f.line_col(start);
            Span {
                start,
                end: start + key.len(),
                line,
                col,
            }
        };
        let mut found = Vec::new();
        for name in site.rules.keys() {
            if self.names.contains(name) {
                continue;
            }
            let mut d = Diagnostic::new(
                Code::S002,
                file,
                locate("rules", name),
                format!("`[rules.{name}]` names no rule of the rules file: its policy applies to nothing"),
            )
            .label("no such rule");
            d.help = crate::suggest(name, self.names.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"));
            found.push(d);
        }
        // Scripts the programs use (only known when they were read).
        if self.opts.fs_checks && !self.lint.programs.is_empty() {
            let used: BTreeSet<&str> = self
                .lint
                .programs
                .values()
                .flat_map(|p| p.groups.iter())
                .flat_map(|g| g.commands.iter())
                .filter_map(|c| match &c.command {
                    Command::Script { name } => Some(name.as_str()),
                    Command::Exec { .. } => None,
                })
                .collect();
            let standard = hacmp_stdlib::event_scripts();
            for name in site.scripts.0.keys() {
                if used.contains(name.as_str()) || standard.get(name).is_some() {
                    continue;
                }
                let mut d = Diagnostic::new(
                    Code::S002,
                    file,
                    locate("event_scripts", name),
                    format!("event script `{name}` is used by no program"),
                )
                .severity(Severity::Warning)
                .label("never run");
                d.help = crate::suggest(
                    name,
                    standard
                        .0
                        .keys()
                        .map(String::as_str)
                        .chain(used.iter().copied()),
                )
                .map(|s| format!("did you mean `{s}`?"));
                found.push(d);
            }
        }
        self.lint.diagnostics.extend(found);
    }
}
