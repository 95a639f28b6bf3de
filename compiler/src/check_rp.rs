//! Checks of a recovery program and lowering to IR.

use hacmp_grammar::ast::{NodeSet, StatementKind};
use hacmp_grammar::error::{RpError, RpErrorKind};
use hacmp_grammar::ParsedRp;
use hacmp_stdlib::EventScripts;

use crate::check_rules::suggest;
use crate::code::{Code, Severity};
use crate::diagnostic::Diagnostic;
use crate::ir::{Command, CommandLine, Group, Program};
use crate::source::FileId;

/// Characters a shell would interpret and we do not.
const SHELL_CHARS: &[char] = &['|', ';', '&', '>', '<', '$', '`', '*'];

/// A checked program plus, for the file-system checks, where each command
/// came from.
pub struct CheckedRp {
    pub program: Program,
    pub commands: Vec<(Command, hacmp_grammar::span::Span)>,
    pub ok: bool,
}

pub fn check_rp(
    path: &str,
    file: FileId,
    parsed: &ParsedRp,
    scripts: &EventScripts,
) -> (CheckedRp, Vec<Diagnostic>) {
    let mut diags: Vec<Diagnostic> = parsed.errors.iter().map(|e| line_error(file, e)).collect();
    let mut ok = !parsed.errors.iter().any(|e| !e.kind.is_warning());
    let mut groups = vec![Group {
        commands: Vec::new(),
    }];
    let mut commands = Vec::new();
    let stmts = &parsed.file.statements;
    let mut sets = Vec::new();
    for (i, st) in stmts.iter().enumerate() {
        match &st.kind {
            StatementKind::Barrier => {
                let prev_is_command =
                    i > 0 && matches!(stmts[i - 1].kind, StatementKind::Command(_));
                let last = i + 1 == stmts.len();
                let why = if i == 0 {
                    Some("a barrier before any command synchronises nothing")
                } else if !prev_is_command {
                    Some("two barriers in a row: the second synchronises nothing")
                } else if last {
                    Some("a barrier as the last statement: the closing cbarrier already synchronises every node")
                } else {
                    None
                };
                if let Some(why) = why {
                    diags.push(
                        Diagnostic::new(Code::P010, file, st.span, why.to_string())
                            .label("needless barrier")
                            .help("remove this line"),
                    );
                }
                if !groups.last().is_some_and(|g| g.commands.is_empty()) {
                    groups.push(Group {
                        commands: Vec::new(),
                    });
                }
            }
            StatementKind::Command(c) => {
                sets.push(c.node_set.node);
                let command = match c.words.first() {
                    None => {
                        ok = false;
                        diags.push(
                            Diagnostic::new(
                                Code::P006,
                                file,
                                c.command.span,
                                "the command is empty",
                            )
                            .label("nothing between the quotes"),
                        );
                        continue;
                    }
                    Some(first)
                        if first.node.starts_with('/') && crate::fscheck::climbs(&first.node) =>
                    {
                        ok = false;
                        diags.push(
                            Diagnostic::new(
                                Code::F003,
                                file,
                                first.span,
                                format!("command path `{}` has a `..` component", first.node),
                            )
                            .label("climbs out of its directory")
                            .help(
                                "give the path without `..`: commands are named by where they are",
                            ),
                        );
                        continue;
                    }
                    Some(first) if first.node.starts_with('/') => Command::Exec {
                        argv: c.words.iter().map(|w| w.node.clone()).collect(),
                    },
                    Some(first) if first.node.contains('/') => {
                        ok = false;
                        diags.push(
                            Diagnostic::new(Code::P006, file, first.span, format!("`{}` is a relative path", first.node))
                                .label("relative path")
                                .help("give the absolute path: commands run with `/` as working directory"),
                        );
                        continue;
                    }
                    Some(first) => {
                        if scripts.get(&first.node).is_none() {
                            ok = false;
                            diags.push(
                                Diagnostic::new(Code::P006, file, first.span, format!("`{}` is not a known event script", first.node))
                                    .label("unknown event script")
                                    .help(match suggest(&first.node, scripts.names()) {
                                        Some(s) => format!("did you mean `{s}`? Other commands need their absolute path"),
                                        None => "bare names are the product's event scripts (or the site's, in `[event_scripts]`); give other commands with their absolute path".into(),
                                    }),
                            );
                            continue;
                        }
                        if c.words.len() > 1 {
                            diags.push(
                                Diagnostic::new(Code::P006, file, c.words[1].span, format!("arguments after the event script `{}` are ignored", first.node))
                                    .severity(Severity::Warning)
                                    .label("ignored")
                                    .help("event scripts take their arguments from the site's event-script definitions"),
                            );
                        }
                        Command::Script {
                            name: first.node.clone(),
                        }
                    }
                };
                if let Some(i) = c.command.node.find(SHELL_CHARS) {
                    let ch = c.command.node[i..].chars().next().unwrap_or('?');
                    diags.push(
                        Diagnostic::new(
                            Code::P009,
                            file,
                            c.command.span.sub(&c.command.node, i, i + ch.len_utf8()),
                            format!("`{ch}` in the command is passed literally: no shell runs it"),
                        )
                        .label("shell syntax")
                        .help("put shell logic in a script and name the script"),
                    );
                }
                commands.push((command.clone(), c.command.span));
                if let Some(g) = groups.last_mut() {
                    g.commands.push(CommandLine {
                        node_set: c.node_set.node,
                        command,
                        expected: c.expected.node,
                        line: st.span.line,
                    });
                }
            }
        }
    }
    if groups.last().is_some_and(|g| g.commands.is_empty()) {
        groups.pop();
    }
    if sets.is_empty() && ok {
        let end = parsed
            .file
            .statements
            .last()
            .map(|s| s.span)
            .unwrap_or_default();
        diags.push(
            Diagnostic::new(
                Code::P011,
                file,
                end,
                format!("recovery program `{path}` has no command"),
            )
            .label("empty program")
            .help("the event would run nothing"),
        );
    } else if !sets.is_empty()
        && (sets.iter().all(|s| *s == NodeSet::Event) || sets.iter().all(|s| *s == NodeSet::Other))
    {
        let side = if sets[0] == NodeSet::Event {
            "`event`: only the event's node runs anything"
        } else {
            "`other`: the event's node runs nothing"
        };
        let first = stmts
            .iter()
            .find(|s| matches!(s.kind, StatementKind::Command(_)))
            .map(|s| s.span)
            .unwrap_or_default();
        diags.push(
            Diagnostic::new(
                Code::P012,
                file,
                first,
                format!("every command of `{path}` is for {side}"),
            )
            .label("one side only")
            .help("intended for local reactions; check the node sets otherwise"),
        );
    }
    (
        CheckedRp {
            program: Program {
                path: path.to_string(),
                groups,
            },
            commands,
            ok,
        },
        diags,
    )
}

fn line_error(file: FileId, e: &RpError) -> Diagnostic {
    let d = |code, msg: String, label: &str| {
        Diagnostic::new(code, file, e.span, msg).label(label.to_string())
    };
    match &e.kind {
        RpErrorKind::UnknownNodeSet { found, suggestion } => {
            let d = d(
                Code::P001,
                format!("unknown node set `{found}`"),
                "expected `all`, `event` or `other`",
            );
            match suggestion {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => {
                    d.help("a command line starts with its node set: `all`, `event` or `other`")
                }
            }
        }
        RpErrorKind::MissingNodeSet => d(
            Code::P001,
            "the command line has no node set".into(),
            "expected `all`, `event` or `other` before the command",
        )
        .help("write e.g. `all \"/path/cmd\" 0 NULL`"),
        RpErrorKind::CommandNotQuoted { found } => d(
            Code::P002,
            format!("the command `{found}` is not double-quoted"),
            "expected a double-quoted command",
        )
        .help(format!("write `\"{found}\"`")),
        RpErrorKind::UnclosedQuote => d(
            Code::P002,
            "the quote around the command is not closed".into(),
            "no closing `\"` on this line",
        )
        .help("close the quote; quotes inside the command are not supported"),
        RpErrorKind::MissingCommand => d(
            Code::P002,
            "the command is missing".into(),
            "expected a double-quoted command here",
        ),
        RpErrorKind::BadStatus { found } => d(
            Code::P003,
            format!("expected status `{found}` is not `X` or an integer 0–255"),
            "expected `X` or 0–255",
        )
        .help("`X` accepts any exit status"),
        RpErrorKind::MissingStatus => d(
            Code::P003,
            "the expected status is missing".into(),
            "expected `X` or 0–255 here",
        ),
        RpErrorKind::MissingNull => d(
            Code::P004,
            "`NULL` is missing at the end of the command line".into(),
            "expected `NULL` here",
        )
        .help("every command line ends with `NULL`"),
        RpErrorKind::NotNull { found } => d(
            Code::P004,
            format!("expected `NULL`, found `{found}`"),
            "expected `NULL`",
        )
        .help("`NULL` is reserved and written in capitals"),
        RpErrorKind::AfterNull { count } => d(
            Code::P004,
            format!(
                "{count} word{} after `NULL`",
                if *count == 1 { "" } else { "s" }
            ),
            "nothing may follow `NULL`",
        )
        .help("comments go on their own line, starting with `#`"),
        RpErrorKind::BarrierExtra { only_null } => {
            let msg = if *only_null {
                "`NULL` after `barrier` (tolerated)"
            } else {
                "words after `barrier` are ignored"
            };
            d(Code::P005, msg.into(), "ignored").help("a barrier line is the word `barrier` alone")
        }
    }
}
