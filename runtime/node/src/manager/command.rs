//! One line of a recovery program on this node: an absolute command, or an
//! event script with its notify, pre, post and recovery commands (the
//! script model), and the commands themselves, with the exact environment,
//! the staging root, and the journal records around them.

use std::path::PathBuf;
use std::time::Duration;

use hacmp_compiler::ir::{Command, CommandLine};
use hacmp_grammar::ast::{Expected, NodeSet};
use hacmp_stdlib::EventScript;

use super::Manager;
use crate::env::{command_env, EnvContext};
use crate::exec::{CommandResult, CommandSpec, Status, Tags};
use crate::journal::RecordKind;
use crate::resources::ScriptStep;
use hacmp_gs::GroupServices;
use hacmp_model::ClaimedEvent;

/// What a standard script does in place of its command.
#[derive(Clone, Copy, Debug)]
pub(super) enum Builtin {
    Resources(ScriptStep),
    Dare(super::dare::DareStep),
}

/// How one line ended.
pub(super) struct LineOutcome {
    pub ok: bool,
    pub result: CommandResult,
    /// The status the line was held to: the program's, or 0 for a
    /// built-in resource step.
    pub expected: Expected,
}

impl<G: GroupServices> Manager<G> {
    /// One line of the program on this node: an absolute command, or an
    /// event script with its notify, pre, post and recovery commands.
    pub(super) async fn run_line(
        &self,
        ev: &ClaimedEvent,
        g: u32,
        line: &CommandLine,
    ) -> LineOutcome {
        let bundle = self.bundle();
        let site = &bundle.site;
        let membership = crate::env::membership_value(ev);
        let run = Run {
            ev,
            membership,
            group: g,
            node_set: line.node_set,
        };
        match &line.command {
            Command::Exec { argv } => {
                let cmd = Cmd {
                    role: "main",
                    argv: argv.clone(),
                    display: line.command.display(),
                    env: Vec::new(),
                    timeout: site.defaults.timeout.map(|d| d.0),
                    warn_after: site.defaults.warn_after.0,
                    expected: Some(line.expected),
                };
                let result = self.run_cmd(&run, cmd).await;
                LineOutcome {
                    ok: accepts(line.expected, &result.status),
                    result,
                    expected: line.expected,
                }
            }
            Command::Script { name } => {
                let Some(def) = site.scripts.get(name).cloned() else {
                    let result = CommandResult {
                        status: Status::SpawnFailed {
                            error: format!("no definition for event script `{name}`"),
                        },
                        output_tail: Vec::new(),
                    };
                    return LineOutcome {
                        ok: false,
                        result,
                        expected: line.expected,
                    };
                };
                self.run_script(&run, line, name, &def).await
            }
        }
    }

    async fn run_script(
        &self,
        run: &Run<'_>,
        line: &CommandLine,
        name: &str,
        def: &EventScript,
    ) -> LineOutcome {
        let bundle = self.bundle();
        let site = &bundle.site;
        let timeout = def.timeout.or(site.defaults.timeout).map(|d| d.0);
        let warn_after = def.warn_after.unwrap_or(site.defaults.warn_after).0;
        // A notify, pre, post or recovery command: written like a `.rp`
        // command, told which script and phase it serves.
        let aux = |role: &'static str, command: &str, phase: &str, extra: Vec<(String, String)>| {
            let mut env = vec![
                ("HACMP_SCRIPT".to_string(), name.to_string()),
                ("HACMP_SCRIPT_PHASE".to_string(), phase.to_string()),
            ];
            env.extend(extra);
            Cmd {
                role,
                argv: command.split_whitespace().map(str::to_string).collect(),
                display: command.to_string(),
                env,
                timeout,
                warn_after,
                expected: None,
            }
        };
        if let Some(n) = &def.notify {
            self.run_cmd(run, aux("notify", n, "start", Vec::new()))
                .await;
        }
        if let Some(p) = &def.pre {
            let r = self.run_cmd(run, aux("pre", p, "pre", Vec::new())).await;
            if r.status.code() != Some(0) {
                tracing::warn!(
                    node = self.cfg.node,
                    script = name,
                    "pre-event command `{p}` {}",
                    r.status.describe()
                );
            }
        }
        let builtin = self.builtin_step(run.ev, name, def);
        // A built-in resource step is held to 0 whatever the line says:
        // `X` ignores what a site's script returns, but a takeover (or a
        // release) that fails is an event failure that an operator must
        // see (redbook A.1.1, 4.1), never a note in a step nobody checks.
        let expected = match builtin {
            Some(Builtin::Resources(_)) => Expected::Status(0),
            _ => line.expected,
        };
        let mut argv = vec![def.path.clone()];
        argv.extend(def.args.iter().cloned());
        let main = Cmd {
            role: "main",
            argv,
            display: name.to_string(),
            env: Vec::new(),
            timeout,
            warn_after,
            expected: Some(expected),
        };
        let mut tries = 0;
        let (ok, result) = loop {
            let result = match builtin {
                Some(step) => self.run_step(run, step).await,
                None => self.run_cmd(run, main.clone()).await,
            };
            let ok = accepts(expected, &result.status);
            if ok || tries >= def.retry {
                break (ok, result);
            }
            let Some(rec) = &def.recovery else {
                break (ok, result);
            };
            tries += 1;
            tracing::warn!(
                node = self.cfg.node,
                script = name,
                "`{name}` {}: running the recovery command `{rec}` (try {tries} of {})",
                result.status.describe(),
                def.retry
            );
            let r = self
                .run_cmd(run, aux("recovery", rec, "recovery", Vec::new()))
                .await;
            if r.status.code() != Some(0) {
                tracing::warn!(
                    node = self.cfg.node,
                    script = name,
                    "recovery command `{rec}` {}: not retrying",
                    r.status.describe()
                );
                break (ok, result);
            }
        };
        if let Some(p) = &def.post {
            let r = self.run_cmd(run, aux("post", p, "post", Vec::new())).await;
            if r.status.code() != Some(0) {
                tracing::warn!(
                    node = self.cfg.node,
                    script = name,
                    "post-event command `{p}` {}",
                    r.status.describe()
                );
            }
        }
        if let Some(n) = &def.notify {
            let told = vec![
                (
                    "HACMP_SCRIPT_RESULT".to_string(),
                    if ok { "success" } else { "failure" }.to_string(),
                ),
                (
                    "HACMP_SCRIPT_STATUS".to_string(),
                    result.status.journal_code().to_string(),
                ),
            ];
            self.run_cmd(run, aux("notify", n, "end", told)).await;
        }
        LineOutcome {
            ok,
            result,
            expected,
        }
    }

    /// The built-in step a standard script takes instead of its command,
    /// when the site keeps the script's standard path (a site that gives
    /// its own path does the work itself): the DARE switch, and with
    /// resource groups their release and acquire.
    fn builtin_step(&self, ev: &ClaimedEvent, name: &str, def: &EventScript) -> Option<Builtin> {
        let bundle = self.bundle();
        let site = &bundle.site;
        let standard = format!("{}/{name}", site.events_dir.trim_end_matches('/'));
        if def.path != standard {
            return None;
        }
        if let Some(d) = super::dare::step(name, ev) {
            return Some(Builtin::Dare(d));
        }
        if site.resources.is_empty() {
            return None;
        }
        crate::resources::step(name, ev, self.cfg.node).map(Builtin::Resources)
    }

    /// A built-in step, journaled like a command: exit 0 when it did what
    /// it had to, 1 otherwise (for the expected-status check).
    async fn run_step(&self, run: &Run<'_>, step: Builtin) -> CommandResult {
        let (ev, g, node_set) = (run.ev, run.group, run.node_set);
        let display = match step {
            Builtin::Resources(s) => format!("resources {}", s.as_str()),
            Builtin::Dare(d) => format!("bundle {}", d.as_str()),
        };
        self.record(ev, RecordKind::CommandStart, |r| {
            r.command = Some(display.clone());
            r.nodeset = Some(node_set.as_str().to_string());
            r.group = Some(g);
            r.role = Some("main".into());
        });
        let running = self.running_start(&display);
        self.publish();
        let node = self.cfg.node;
        let report = |group: &str, res: Option<&str>, what: &str| {
            tracing::info!(
                node,
                seq = ev.seq,
                group,
                resource = res.unwrap_or(""),
                "{what}"
            );
            self.record(ev, RecordKind::Resource, |r| {
                r.command = Some(match res {
                    Some(x) => format!("{group}/{x}"),
                    None => group.to_string(),
                });
                r.detail = Some(what.to_string());
            });
            self.publish();
        };
        let outcome = match (step, &ev.placement) {
            (Builtin::Dare(d), _) => self.dare_step(ev, d, &report).await,
            (Builtin::Resources(step), Some(p)) => self
                .resources
                .step(&self.bundle().site, step, &p.after, &report)
                .await
                .map(|_| None),
            (Builtin::Resources(_), None) => Ok(None),
        };
        drop(running);
        let status = Status::Exited {
            code: i32::from(outcome.is_err()),
        };
        self.record(ev, RecordKind::CommandEnd, |r| {
            r.command = Some(display.clone());
            r.nodeset = Some(node_set.as_str().to_string());
            r.group = Some(g);
            r.role = Some("main".into());
            r.status = Some(status.journal_code());
            r.ok = Some(outcome.is_ok());
            r.detail = match &outcome {
                Ok(did) => did.clone(),
                Err(e) => Some(e.clone()),
            };
        });
        self.publish();
        CommandResult {
            status,
            output_tail: outcome.err().into_iter().collect(),
        }
    }

    async fn run_cmd(&self, run: &Run<'_>, cmd: Cmd) -> CommandResult {
        let (ev, g, node_set) = (run.ev, run.group, run.node_set);
        let bundle = self.bundle();
        let site = &bundle.site;
        let root = self.cfg.root.as_ref().map(|r| r.display().to_string());
        let ctx = EnvContext {
            event: ev,
            membership: run.membership,
            node: self.cfg.node,
            verbose_logging: &site.defaults.verbose_logging,
            root: root.as_deref(),
        };
        let mut env = command_env(&ctx, node_set);
        env.extend(cmd.env);
        let argv = cmd.argv;
        // The site's path: it runs under the staging root (never outside
        // it), and only with the content the bundle was built from.
        let program = argv.first().cloned().unwrap_or_default();
        env.push(("HACMP_COMMAND".to_string(), program.clone()));
        let hash = bundle.sources.get(&program).cloned();
        let cwd = match &self.cfg.root {
            Some(r) if site.defaults.working_dir != "/" => {
                r.join(site.defaults.working_dir.trim_start_matches('/'))
            }
            _ => PathBuf::from(&site.defaults.working_dir),
        };
        let display = hacmp_compiler::render::visible(&cmd.display).into_owned();
        let spec = CommandSpec {
            argv,
            root: self.cfg.root.clone(),
            hash,
            env,
            cwd,
            timeout: cmd.timeout,
            warn_after: cmd.warn_after,
            kill_grace: site.defaults.kill_grace.0,
            leave_running: false,
            tags: Tags {
                node: self.cfg.node,
                seq: ev.seq,
                event: ev.event.request.name.clone(),
                location: ev.event.request.location,
                command: display.clone(),
                role: cmd.role,
            },
        };
        self.record(ev, RecordKind::CommandStart, |r| {
            r.command = Some(display.clone());
            r.nodeset = Some(node_set.as_str().to_string());
            r.group = Some(g);
            r.role = Some(cmd.role.to_string());
        });
        let running = self.running_start(&display);
        self.publish();
        let (pid_tx, mut pid_rx) = tokio::sync::oneshot::channel::<u32>();
        let on_start = Box::new(move |pid: u32| {
            let _ = pid_tx.send(pid);
        });
        let exec = self.exec.clone();
        let run = exec.run(spec, on_start);
        tokio::pin!(run);
        let mut told = false;
        // The pid is shown as soon as the process started.
        let result = loop {
            tokio::select! {
                biased;
                r = &mut run => break r,
                pid = &mut pid_rx, if !told => {
                    told = true;
                    if let Ok(pid) = pid {
                        running.pid(pid);
                        self.publish();
                    }
                }
            }
        };
        drop(running);
        self.record(ev, RecordKind::CommandEnd, |r| {
            r.command = Some(display.clone());
            r.nodeset = Some(node_set.as_str().to_string());
            r.group = Some(g);
            r.role = Some(cmd.role.to_string());
            r.status = Some(result.status.journal_code());
            r.ok = Some(match cmd.expected {
                Some(e) => accepts(e, &result.status),
                None => result.status.code() == Some(0),
            });
            if !matches!(result.status, Status::Exited { .. }) {
                r.detail = Some(result.status.describe());
            }
        });
        result
    }
}

/// Where a command runs: its event, group and node set.
struct Run<'a> {
    ev: &'a ClaimedEvent,
    /// `HACMP_MEMBERSHIP` of the event.
    membership: &'a str,
    group: u32,
    node_set: NodeSet,
}

/// One command to run.
#[derive(Clone)]
struct Cmd {
    role: &'static str,
    argv: Vec<String>,
    display: String,
    /// Added to the environment of the spec.
    env: Vec<(String, String)>,
    timeout: Option<Duration>,
    warn_after: Duration,
    /// The expected status (none for notify, pre, post, recovery: 0).
    expected: Option<Expected>,
}

/// Whether a status is the expected one (a process that did not exit has
/// no status to accept).
fn accepts(expected: Expected, status: &Status) -> bool {
    status.code().is_some_and(|c| expected.accepts(c))
}
