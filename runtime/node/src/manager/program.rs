//! One event's recovery program on this node: its groups in order, the
//! lines of each group whose node set includes this node run at once, a
//! barrier after each group and the cbarrier at the end, and the failure
//! policies (`wait` for an operator, `abort`, `continue`) when a command's
//! status is not the expected one.

use futures::future::join_all;
use hacmp_compiler::ir::{Command, CommandLine, Rule};
use hacmp_stdlib::FailurePolicy;

use super::command::LineOutcome;
use super::Manager;
use crate::env::runs_on;
use crate::journal::RecordKind;
use hacmp_gs::{BarrierOutcome, Decision, FailureReport, GroupServices, GsError, SyncPoint, Wake};
use hacmp_model::event::Outcome;
use hacmp_model::manager_state::ManagerState;
use hacmp_model::ClaimedEvent;

/// What to do after a failure.
enum Flow {
    Go,
    Stop,
}

impl<G: GroupServices> Manager<G> {
    /// This node's part of one event.
    pub(super) async fn run_event(&self, ev: &ClaimedEvent) -> Result<(), GsError> {
        let r = &ev.event.request;
        let bundle = self.bundle();
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
        let wait = self.gs.barrier(ev.seq, at);
        tokio::pin!(wait);
        let mut remind = self.cfg.remind_after;
        let outcome = loop {
            tokio::select! {
                biased;
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
            BarrierOutcome::Ended(e) => {
                self.record_end(ev, &e, &format!("at {at}"));
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
        // A deploy that cannot be prepared everywhere is abandoned, never
        // half applied: nobody switches.
        let dare_prepare = matches!(
            ev.event.request.kind,
            hacmp_model::event::EventKind::Dare { .. }
        ) && script == Some("reconfig_topology_start");
        let policy = if dare_prepare {
            FailurePolicy::Abort
        } else {
            rule.policy(&self.bundle().site, script)
        };
        let next = if (g as usize) < self.program_len(rule) {
            SyncPoint::Barrier(g)
        } else {
            SyncPoint::Cbarrier
        };
        let mut out = out;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let report = FailureReport {
                node: self.cfg.node,
                seq: ev.seq,
                event: ev.event.request.name.clone(),
                group: g,
                command: line.command.display(),
                expected: out.expected.to_string(),
                actual: out.result.status.describe(),
                output_tail: out.result.output_tail.clone(),
                policy: policy.as_str().to_string(),
                attempt,
            };
            // Under `continue` the event goes on and completes: the
            // failure is in the journal, not reported to the group. Else
            // it is reported first: whoever sees the journal record can
            // resume at once.
            let failure = |note: &str| {
                self.record(ev, RecordKind::Failure, |r| {
                    r.command = Some(report.command.clone());
                    r.group = Some(g);
                    r.status = Some(out.result.status.journal_code());
                    r.detail = Some(format!(
                        "expected {}, got {} (policy {}){note}",
                        report.expected, report.actual, report.policy
                    ));
                })
            };
            if policy != FailurePolicy::Continue {
                // A node out of the group cannot report: its journal still
                // says what failed.
                if let Err(e) = self.gs.report_failure(report.clone()).await {
                    failure(&format!("; not reported to the group: {e}"));
                    return Err(e);
                }
            }
            failure("");
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
                    let wait = self.gs.wait_decision(ev.seq, attempt);
                    tokio::pin!(wait);
                    let mut remind = self.cfg.remind_after;
                    let wake = loop {
                        tokio::select! {
                            biased;
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
                                        self.gs.resolve_failure(ev.seq).await?;
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
                                    self.gs.resolve_failure(ev.seq).await?;
                                    return Ok(Flow::Go);
                                }
                                // Skips end the event for everyone: they
                                // come as `Wake::Ended`.
                                Decision::Skip | Decision::SkipAndCancel => {
                                    return Ok(Flow::Stop);
                                }
                            }
                        }
                        Wake::Ended(e) => {
                            self.record_end(ev, &e, "while waiting for an operator");
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
}
