//! What a daemon counts for Prometheus: events by name and outcome, event,
//! command and barrier-wait durations (histograms), from each event as it
//! ends; the gauges (members, queue, state, resource groups) are read when
//! scraped. Written in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::journal::{EventEntry, RecordKind};

/// Upper bounds of the duration buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            let n = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Counts {
    events: BTreeMap<(String, String), u64>,
    event_seconds: BTreeMap<String, Histogram>,
    command_seconds: Histogram,
    barrier_seconds: Histogram,
}

/// What one daemon counted.
#[derive(Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

/// The gauges of a scrape.
pub struct Gauges {
    pub members: usize,
    pub queued: usize,
    pub state: &'static str,
    /// (group, state) of this node's resource groups not offline.
    pub groups: Vec<(String, &'static str)>,
    /// (rule, instance) pairs of Event Management armed and disarmed.
    pub armed: (usize, usize),
    /// The last monitor sample's duration in seconds, and how many samples.
    pub sample: (f64, u64),
    /// Store requests, failed ones, and their total time in seconds.
    pub store: (u64, u64, f64),
}

/// A label value, escaped as the format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts one ended event.
    pub fn event_ended(&self, e: &EventEntry) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = e.outcome.map_or("unknown", |o| o.as_str());
        *c.events
            .entry((e.name.clone(), outcome.to_string()))
            .or_default() += 1;
        let times: Vec<u64> = e.records.iter().map(|r| r.t_ms).collect();
        if let (Some(a), Some(b)) = (times.iter().min(), times.iter().max()) {
            c.event_seconds
                .entry(e.name.clone())
                .or_default()
                .observe((b - a) as f64 / 1000.0);
        }
        let mut started: BTreeMap<(u32, Option<String>, Option<String>), u64> = BTreeMap::new();
        let mut arrived: BTreeMap<(u32, Option<String>), u64> = BTreeMap::new();
        for r in &e.records {
            match r.kind {
                RecordKind::CommandStart => {
                    started.insert((r.node, r.command.clone(), r.role.clone()), r.t_ms);
                }
                RecordKind::CommandEnd => {
                    if let Some(t) = started.remove(&(r.node, r.command.clone(), r.role.clone())) {
                        c.command_seconds
                            .observe(r.t_ms.saturating_sub(t) as f64 / 1000.0);
                    }
                }
                RecordKind::BarrierArrive => {
                    arrived.insert((r.node, r.detail.clone()), r.t_ms);
                }
                RecordKind::BarrierDone | RecordKind::CbarrierDone => {
                    let key = (r.node, r.detail.clone().or_else(|| Some("cbarrier".into())));
                    if let Some(t) = arrived
                        .remove(&key)
                        .or_else(|| arrived.remove(&(r.node, r.detail.clone())))
                    {
                        c.barrier_seconds
                            .observe(r.t_ms.saturating_sub(t) as f64 / 1000.0);
                    }
                }
                _ => {}
            }
        }
    }

    /// The text exposition of everything counted, with `g`'s gauges.
    pub fn render(&self, g: &Gauges) -> String {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP hacmp_events_total Events that ended on this node, by name and outcome.\n",
        );
        out.push_str("# TYPE hacmp_events_total counter\n");
        for ((name, outcome), n) in &c.events {
            let _ = writeln!(
                out,
                "hacmp_events_total{{event=\"{}\",outcome=\"{}\"}} {n}",
                label(name),
                label(outcome)
            );
        }
        out.push_str("# HELP hacmp_event_duration_seconds How long events ran on this node.\n");
        out.push_str("# TYPE hacmp_event_duration_seconds histogram\n");
        for (name, h) in &c.event_seconds {
            h.write(
                &mut out,
                "hacmp_event_duration_seconds",
                &format!("event=\"{}\"", label(name)),
            );
        }
        out.push_str("# HELP hacmp_command_duration_seconds How long commands ran on this node.\n");
        out.push_str("# TYPE hacmp_command_duration_seconds histogram\n");
        c.command_seconds
            .write(&mut out, "hacmp_command_duration_seconds", "");
        out.push_str("# HELP hacmp_barrier_wait_seconds How long this node waited at barriers.\n");
        out.push_str("# TYPE hacmp_barrier_wait_seconds histogram\n");
        c.barrier_seconds
            .write(&mut out, "hacmp_barrier_wait_seconds", "");
        out.push_str("# HELP hacmp_members Members of the group, as this node sees it.\n");
        out.push_str("# TYPE hacmp_members gauge\n");
        let _ = writeln!(out, "hacmp_members {}", g.members);
        out.push_str("# HELP hacmp_queued_events Events queued and not yet run.\n");
        out.push_str("# TYPE hacmp_queued_events gauge\n");
        let _ = writeln!(out, "hacmp_queued_events {}", g.queued);
        out.push_str("# HELP hacmp_node_state The state of this node's cluster manager (1 for the current one).\n");
        out.push_str("# TYPE hacmp_node_state gauge\n");
        let _ = writeln!(out, "hacmp_node_state{{state=\"{}\"}} 1", label(g.state));
        out.push_str(
            "# HELP hacmp_em_rule_instances Event Management (rule, instance) pairs, by arming.\n",
        );
        out.push_str("# TYPE hacmp_em_rule_instances gauge\n");
        let _ = writeln!(
            out,
            "hacmp_em_rule_instances{{armed=\"true\"}} {}",
            g.armed.0
        );
        let _ = writeln!(
            out,
            "hacmp_em_rule_instances{{armed=\"false\"}} {}",
            g.armed.1
        );
        out.push_str(
            "# HELP hacmp_monitor_sample_seconds How long the last resource-monitor sample took.\n",
        );
        out.push_str("# TYPE hacmp_monitor_sample_seconds gauge\n");
        let _ = writeln!(out, "hacmp_monitor_sample_seconds {}", g.sample.0);
        out.push_str("# HELP hacmp_monitor_samples_total Resource-monitor samples taken.\n");
        out.push_str("# TYPE hacmp_monitor_samples_total counter\n");
        let _ = writeln!(out, "hacmp_monitor_samples_total {}", g.sample.1);
        out.push_str("# HELP hacmp_store_requests_total Requests to the coordination store (etcd), by result.\n");
        out.push_str("# TYPE hacmp_store_requests_total counter\n");
        let _ = writeln!(
            out,
            "hacmp_store_requests_total{{result=\"ok\"}} {}",
            g.store.0 - g.store.1.min(g.store.0)
        );
        let _ = writeln!(
            out,
            "hacmp_store_requests_total{{result=\"error\"}} {}",
            g.store.1
        );
        out.push_str("# HELP hacmp_store_request_seconds_total Time spent in requests to the coordination store.\n");
        out.push_str("# TYPE hacmp_store_request_seconds_total counter\n");
        let _ = writeln!(out, "hacmp_store_request_seconds_total {}", g.store.2);
        out.push_str("# HELP hacmp_resource_group_state Resource groups on this node that are not offline (1 for their state).\n");
        out.push_str("# TYPE hacmp_resource_group_state gauge\n");
        for (group, state) in &g.groups {
            let _ = writeln!(
                out,
                "hacmp_resource_group_state{{group=\"{}\",state=\"{}\"}} 1",
                label(group),
                label(state)
            );
        }
        out
    }
}
