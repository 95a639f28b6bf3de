//! The cluster manager of one node: takes the cluster's next event from the
//! group, runs this node's part of its recovery program (parallel groups,
//! barriers, the cbarrier), applies failure policies, and records what
//! happened. The same code drives simulated and real commands.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use hacmp_compiler::ir::{Command, CommandLine, Rule};
use hacmp_compiler::Bundle;
use hacmp_grammar::ast::NodeSet;
use hacmp_stdlib::{EventScript, FailurePolicy};
use tokio::sync::watch;

use crate::env::{command_env, runs_on, EnvContext};
use crate::event::{EventKind, NodeId, Outcome};
use crate::exec::{CommandResult, CommandSpec, Executor, Status, Tags};
use crate::gs::{
    BarrierOutcome, ClaimedEvent, Decision, FailureReport, GroupServices, GsError, Identity,
    NodeStatus, RunningCommand, SyncPoint, Wake,
};
use crate::journal::{Journal, Record, RecordKind};
use crate::state::ManagerState;

/// Who closes journal records: the group (in one process, once for all
/// nodes) or each manager (one journal per daemon).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalMode {
    Shared,
    Own,
}

/// How a manager is asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Leave through a node-down event in which this node takes part.
    Graceful { takeover: bool },
    /// Stop at once (commands are killed); the others see a failure.
    Now,
}

/// How a manager ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Its own node-down event ran: it left the cluster.
    Left,
    /// Stopped at once.
    Stopped,
}

pub struct ManagerConfig {
    pub node: NodeId,
    pub bundle: Arc<Bundle>,
    /// Staging root under which absolute paths resolve.
    pub root: Option<PathBuf>,
    pub journal: Arc<Journal>,
    pub journal_mode: JournalMode,
    /// First reminder of a wait (barrier or operator); then at each doubling.
    pub remind_after: Duration,
    /// Already a member (adopted by the group): no join, no node-up event.
    pub member: bool,
}

pub struct Manager<G: GroupServices> {
    cfg: ManagerConfig,
    gs: Arc<G>,
    exec: Arc<dyn Executor>,
    running: Mutex<Vec<RunningCommand>>,
    /// Told once the join was answered (accepted or refused).
    joined: Mutex<Option<tokio::sync::oneshot::Sender<Result<(), GsError>>>>,
}

/// What to do after a failure.
enum Flow {
    Go,
    Stop,
}

struct LineOutcome {
    ok: bool,
    result: CommandResult,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl<G: GroupServices> Manager<G> {
    pub fn new(cfg: ManagerConfig, gs: Arc<G>, exec: Arc<dyn Executor>) -> Arc<Self> {
        Arc::new(Manager {
            cfg,
            gs,
            exec,
            running: Mutex::new(Vec::new()),
            joined: Mutex::new(None),
        })
    }

    /// A receiver told when the join is answered.
    pub fn on_joined(&self) -> tokio::sync::oneshot::Receiver<Result<(), GsError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.joined.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }

    pub fn node(&self) -> NodeId {
        self.cfg.node
    }

    fn site(&self) -> &hacmp_compiler::Site {
        &self.cfg.bundle.site
    }

    fn record(&self, ev: &ClaimedEvent, kind: RecordKind, f: impl FnOnce(&mut Record)) {
        let mut r = Record::new(self.cfg.node, kind, self.cfg.journal.now_ms());
        f(&mut r);
        self.cfg.journal.record(ev.seq, r);
    }

    async fn set_state(
        &self,
        state: ManagerState,
        ev: Option<&ClaimedEvent>,
        at: Option<SyncPoint>,
        failure: Option<FailureReport>,
    ) {
        if let Some(ev) = ev {
            self.record(ev, RecordKind::State, |r| {
                r.detail = Some(state.as_str().to_string())
            });
        }
        let status = NodeStatus {
            node: self.cfg.node,
            state,
            seq: ev.map(|e| e.seq),
            event: ev.map(|e| e.event.request.name.clone()),
            at,
            running: self
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            failure,
        };
        if let Err(e) = self.gs.report(status).await {
            tracing::debug!(node = self.cfg.node, "status not reported: {e}");
        }
    }

    /// Runs until the node leaves or is stopped. Errors: refused at join,
    /// expelled, group services gone.
    pub async fn run(
        self: Arc<Self>,
        mut stop: watch::Receiver<Option<Stop>>,
    ) -> Result<Exit, GsError> {
        let node = self.cfg.node;
        self.set_state(ManagerState::Init, None, None, None).await;
        let joined = if self.cfg.member {
            Ok(())
        } else {
            self.gs.join(node, &Identity::of(&self.cfg.bundle)).await
        };
        if let Some(tx) = self.joined.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(joined.clone());
        }
        joined?;
        if !self.cfg.member {
            tracing::info!(node, group = %self.gs.group_name(), "joined; waiting for this node's node-up event");
            self.set_state(ManagerState::Joining, None, None, None)
                .await;
        }
        let mut last = 0;
        let mut leaving = false;
        let mut joined = self.cfg.member;
        loop {
            if joined {
                let queued = self
                    .gs
                    .queue()
                    .await
                    .map(|q| !q.is_empty())
                    .unwrap_or(false);
                let s = if queued {
                    ManagerState::Unstable
                } else {
                    ManagerState::Stable
                };
                self.set_state(s, None, None, None).await;
            }
            let ev = tokio::select! {
                ev = self.gs.next_event(node, last) => ev?,
                changed = stop.changed() => {
                    let request = if changed.is_err() { Some(Stop::Now) } else { *stop.borrow_and_update() };
                    match request {
                        Some(Stop::Now) => {
                            self.set_state(ManagerState::Done, None, None, None).await;
                            return Ok(Exit::Stopped);
                        }
                        Some(Stop::Graceful { takeover }) if !leaving => {
                            leaving = true;
                            tracing::info!(node, takeover, "stopping gracefully: queuing this node's node-down event");
                            if !joined {
                                self.gs.leave(node, takeover).await?;
                                self.set_state(ManagerState::Done, None, None, None).await;
                                return Ok(Exit::Left);
                            }
                            self.gs.leave(node, takeover).await?;
                        }
                        _ => {}
                    }
                    continue;
                }
            };
            last = ev.seq;
            if !ev.membership.contains(&node) {
                continue;
            }
            self.cfg.journal.begin(&ev);
            self.set_state(ManagerState::Voting, Some(&ev), None, None)
                .await;
            tracing::info!(node, seq = ev.seq, event = %ev.event.request.name, location = ev.event.request.location,
                membership = ?ev.membership, "event: {}", ev.why);
            // A stop-now request must interrupt the event too.
            let ran = tokio::select! {
                r = self.run_event(&ev) => Some(r),
                _ = wait_for_stop_now(&mut stop) => None,
            };
            match ran {
                None => {
                    self.set_state(ManagerState::Done, None, None, None).await;
                    return Ok(Exit::Stopped);
                }
                Some(r) => r?,
            }
            self.gs.finish(node, ev.seq).await?;
            if self.cfg.journal_mode == JournalMode::Own {
                let outcome = self.gs.outcome(ev.seq).await.unwrap_or(Outcome::Aborted);
                self.cfg.journal.end(ev.seq, outcome);
            }
            let r = &ev.event.request;
            if r.location == node {
                match r.kind {
                    EventKind::NodeJoin => joined = true,
                    EventKind::NodeStop { .. } => {
                        self.set_state(ManagerState::Done, None, None, None).await;
                        tracing::info!(node, "left the cluster");
                        return Ok(Exit::Left);
                    }
                    _ => {}
                }
            }
        }
    }

    /// This node's part of one event.
    async fn run_event(&self, ev: &ClaimedEvent) -> Result<(), GsError> {
        let r = &ev.event.request;
        let bundle = self.cfg.bundle.clone();
        let Some(rule) = bundle.rule(&r.name, r.state) else {
            tracing::warn!(node = self.cfg.node, event = %r.name, state = r.state, "no rule for this event and state: nothing to run");
            self.record(ev, RecordKind::Stopped, |x| {
                x.detail = Some(format!("no rule for {} state {}", r.name, r.state))
            });
            return Ok(());
        };
        let Some(program) = bundle.programs.get(&rule.program) else {
            tracing::error!(node = self.cfg.node, program = %rule.program, "the bundle has no such program");
            self.record(ev, RecordKind::Stopped, |x| {
                x.detail = Some(format!("no program {}", rule.program))
            });
            return Ok(());
        };
        let groups = &program.groups;
        for (i, group) in groups.iter().enumerate() {
            let g = i as u32 + 1;
            let mine: Vec<&CommandLine> = group
                .commands
                .iter()
                .filter(|c| runs_on(c.node_set, self.cfg.node, ev))
                .collect();
            if !mine.is_empty() {
                self.set_state(ManagerState::RpRunning, Some(ev), None, None)
                    .await;
                let results = join_all(mine.iter().map(|c| self.run_line(ev, g, c))).await;
                for (line, out) in mine.iter().zip(results) {
                    if !out.ok {
                        if let Flow::Stop = self.on_failure(ev, rule, g, line, out).await? {
                            return Ok(());
                        }
                    }
                }
            }
            let at = if i + 1 == groups.len() {
                SyncPoint::Cbarrier
            } else {
                SyncPoint::Barrier(g)
            };
            if !self.sync(ev, at).await? {
                return Ok(());
            }
        }
        if groups.is_empty() {
            self.sync(ev, SyncPoint::Cbarrier).await?;
        }
        Ok(())
    }

    /// Arrives at a barrier and waits; false when the event ended instead.
    async fn sync(&self, ev: &ClaimedEvent, at: SyncPoint) -> Result<bool, GsError> {
        let (state, n) = match at {
            SyncPoint::Barrier(n) => (ManagerState::Barrier, Some(n)),
            SyncPoint::Cbarrier => (ManagerState::Cbarrier, None),
        };
        self.set_state(state, Some(ev), Some(at), None).await;
        self.record(ev, RecordKind::BarrierArrive, |r| {
            r.group = n;
            r.detail = Some(at.to_string());
        });
        let wait = self.gs.barrier(self.cfg.node, ev.seq, at);
        tokio::pin!(wait);
        let mut remind = self.cfg.remind_after;
        let outcome = loop {
            tokio::select! {
                o = &mut wait => break o?,
                _ = tokio::time::sleep(remind) => {
                    remind *= 2;
                    self.log_waiting(ev, at).await;
                }
            }
        };
        match outcome {
            BarrierOutcome::Passed => {
                let kind = if n.is_some() {
                    RecordKind::BarrierDone
                } else {
                    RecordKind::CbarrierDone
                };
                self.record(ev, kind, |r| {
                    r.group = n;
                    r.detail = Some(at.to_string());
                });
                Ok(true)
            }
            BarrierOutcome::Ended(o) => {
                self.record(ev, RecordKind::Stopped, |r| {
                    r.detail = Some(format!("event {} at {at}", o.as_str()))
                });
                Ok(false)
            }
        }
    }

    /// Never a silent wait: says whom this node waits for, and why.
    async fn log_waiting(&self, ev: &ClaimedEvent, at: SyncPoint) {
        let statuses = self.gs.statuses().await.unwrap_or_default();
        let missing: Vec<String> = ev
            .membership
            .iter()
            .filter(|n| **n != self.cfg.node)
            .filter_map(|n| {
                let s = statuses.iter().find(|s| s.node == *n);
                match s {
                    Some(s) if s.at == Some(at) && s.seq == Some(ev.seq) => None,
                    Some(s) => Some(match &s.failure {
                        Some(f) => format!(
                            "node {n} (stopped: `{}` {}, expected {})",
                            f.command, f.actual, f.expected
                        ),
                        None => format!("node {n} ({})", s.state.as_str()),
                    }),
                    None => Some(format!("node {n}")),
                }
            })
            .collect();
        tracing::warn!(node = self.cfg.node, seq = ev.seq, event = %ev.event.request.name,
            "waiting at {at} for {}", if missing.is_empty() { "the group".to_string() } else { missing.join(", ") });
    }

    async fn on_failure(
        &self,
        ev: &ClaimedEvent,
        rule: &Rule,
        g: u32,
        line: &CommandLine,
        out: LineOutcome,
    ) -> Result<Flow, GsError> {
        let script = match &line.command {
            Command::Script { name } => Some(name.as_str()),
            Command::Exec { .. } => None,
        };
        let policy = rule.policy(self.site(), script);
        let next = if (g as usize) < self.program_len(rule) {
            SyncPoint::Barrier(g)
        } else {
            SyncPoint::Cbarrier
        };
        let mut out = out;
        loop {
            let report = FailureReport {
                node: self.cfg.node,
                seq: ev.seq,
                event: ev.event.request.name.clone(),
                group: g,
                command: line.command.display(),
                expected: line.expected.to_string(),
                actual: out.result.status.describe(),
                output_tail: out.result.output_tail.clone(),
                policy: policy.as_str().to_string(),
            };
            self.record(ev, RecordKind::Failure, |r| {
                r.command = Some(report.command.clone());
                r.group = Some(g);
                r.status = Some(out.result.status.journal_code());
                r.detail = Some(format!(
                    "expected {}, got {} (policy {})",
                    report.expected, report.actual, report.policy
                ));
            });
            self.gs.report_failure(report.clone()).await?;
            let others: Vec<String> = ev
                .membership
                .iter()
                .filter(|n| **n != self.cfg.node)
                .map(|n| n.to_string())
                .collect();
            let tail = if report.output_tail.is_empty() {
                "(no output)".to_string()
            } else {
                report.output_tail.join("\n  | ")
            };
            match policy {
                FailurePolicy::Continue => {
                    tracing::warn!(node = self.cfg.node, seq = ev.seq, event = %report.event, command = %report.command,
                        "`{}` {} (expected {}); policy continue: going on as if it had succeeded\n  | {tail}",
                        report.command, report.actual, report.expected);
                    return Ok(Flow::Go);
                }
                FailurePolicy::Abort => {
                    tracing::error!(node = self.cfg.node, seq = ev.seq, event = %report.event, command = %report.command,
                        "`{}` {} (expected {}); policy abort: the event is failed, every node stops at its next barrier\n  | {tail}",
                        report.command, report.actual, report.expected);
                    self.gs.end_event(ev.seq, Outcome::Failed).await?;
                    self.record(ev, RecordKind::Stopped, |r| {
                        r.detail = Some("aborted by policy".into())
                    });
                    return Ok(Flow::Stop);
                }
                FailurePolicy::Wait => {
                    tracing::error!(node = self.cfg.node, seq = ev.seq, event = %report.event, command = %report.command,
                        "`{}` {} (expected {}) in group {g}; policy wait: node {} stops before {next}, nodes {} wait at {next} until an operator resumes (hacmp resume {} --node {} continue|rerun|skip|skip-and-cancel)\n  | {tail}",
                        report.command, report.actual, report.expected, self.cfg.node,
                        if others.is_empty() { "none".to_string() } else { others.join(", ") }, ev.seq, self.cfg.node);
                    self.set_state(
                        ManagerState::RpRunning,
                        Some(ev),
                        None,
                        Some(report.clone()),
                    )
                    .await;
                    let wait = self.gs.wait_decision(self.cfg.node, ev.seq);
                    tokio::pin!(wait);
                    let mut remind = self.cfg.remind_after;
                    let wake = loop {
                        tokio::select! {
                            w = &mut wait => break w?,
                            _ = tokio::time::sleep(remind) => {
                                remind *= 2;
                                tracing::error!(node = self.cfg.node, seq = ev.seq, "still waiting for an operator: `{}` {} (expected {}); nodes {} wait at {next}",
                                    report.command, report.actual, report.expected, others.join(", "));
                            }
                        }
                    };
                    match wake {
                        Wake::Decision(d) => {
                            self.record(ev, RecordKind::Decision, |r| {
                                r.command = Some(report.command.clone());
                                r.detail = Some(d.as_str().to_string());
                            });
                            tracing::info!(
                                node = self.cfg.node,
                                seq = ev.seq,
                                "operator: {}",
                                d.as_str()
                            );
                            match d {
                                Decision::Rerun => {
                                    out = self.run_line(ev, g, line).await;
                                    if out.ok {
                                        self.gs.resolve_failure(self.cfg.node, ev.seq).await?;
                                        self.set_state(
                                            ManagerState::RpRunning,
                                            Some(ev),
                                            None,
                                            None,
                                        )
                                        .await;
                                        return Ok(Flow::Go);
                                    }
                                    continue;
                                }
                                Decision::Continue => {
                                    self.gs.resolve_failure(self.cfg.node, ev.seq).await?;
                                    return Ok(Flow::Go);
                                }
                                Decision::Skip | Decision::SkipAndCancel => {
                                    self.record(ev, RecordKind::Stopped, |r| {
                                        r.detail = Some("skipped by the operator".into())
                                    });
                                    return Ok(Flow::Stop);
                                }
                            }
                        }
                        Wake::Ended(o) => {
                            self.record(ev, RecordKind::Stopped, |r| {
                                r.detail = Some(format!("event {}", o.as_str()))
                            });
                            return Ok(Flow::Stop);
                        }
                    }
                }
            }
        }
    }

    fn program_len(&self, rule: &Rule) -> usize {
        self.cfg
            .bundle
            .programs
            .get(&rule.program)
            .map_or(0, |p| p.groups.len())
    }

    /// One line of the program on this node: an absolute command, or an
    /// event script with its notify, pre, post and recovery commands.
    async fn run_line(&self, ev: &ClaimedEvent, g: u32, line: &CommandLine) -> LineOutcome {
        let site = self.site();
        let membership = crate::env::membership_value(ev);
        let run = Run {
            ev,
            membership: &membership,
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
                    ok: status_ok(line, &result.status),
                    result,
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
                    return LineOutcome { ok: false, result };
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
        let site = self.site();
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
        let mut argv = vec![def.path.clone()];
        argv.extend(def.args.iter().cloned());
        let main = Cmd {
            role: "main",
            argv,
            display: name.to_string(),
            env: Vec::new(),
            timeout,
            warn_after,
            expected: Some(line.expected),
        };
        let mut tries = 0;
        let (ok, result) = loop {
            let result = self.run_cmd(run, main.clone()).await;
            let ok = status_ok(line, &result.status);
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
        LineOutcome { ok, result }
    }

    async fn run_cmd(&self, run: &Run<'_>, cmd: Cmd) -> CommandResult {
        let (ev, g, node_set) = (run.ev, run.group, run.node_set);
        let site = self.site();
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
        let mut argv = cmd.argv;
        if let (Some(root), Some(first)) = (&self.cfg.root, argv.first_mut()) {
            if first.starts_with('/') {
                *first = root
                    .join(first.trim_start_matches('/'))
                    .display()
                    .to_string();
            }
        }
        let cwd = match &self.cfg.root {
            Some(r) if site.defaults.working_dir != "/" => {
                r.join(site.defaults.working_dir.trim_start_matches('/'))
            }
            _ => PathBuf::from(&site.defaults.working_dir),
        };
        let display = cmd.display;
        let spec = CommandSpec {
            argv,
            env,
            cwd,
            timeout: cmd.timeout,
            warn_after: cmd.warn_after,
            kill_grace: site.defaults.kill_grace.0,
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
        let since = unix_ms();
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(RunningCommand {
                command: display.clone(),
                since_ms: since,
            });
        let result = self.exec.run(spec).await;
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|c| !(c.command == display && c.since_ms == since));
        self.record(ev, RecordKind::CommandEnd, |r| {
            r.command = Some(display.clone());
            r.nodeset = Some(node_set.as_str().to_string());
            r.group = Some(g);
            r.role = Some(cmd.role.to_string());
            r.status = Some(result.status.journal_code());
            r.ok = Some(match cmd.expected {
                Some(e) => result.status.code().is_some_and(|c| e.accepts(c)),
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
    expected: Option<hacmp_grammar::ast::Expected>,
}

fn status_ok(line: &CommandLine, status: &Status) -> bool {
    status.code().is_some_and(|c| line.expected.accepts(c))
}

async fn wait_for_stop_now(stop: &mut watch::Receiver<Option<Stop>>) {
    loop {
        if *stop.borrow_and_update() == Some(Stop::Now) {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}
