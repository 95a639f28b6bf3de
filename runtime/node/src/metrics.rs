//! What a daemon counts for Prometheus (through `prometheus-client`, in
//! the OpenMetrics text format): events by name and outcome, failed
//! commands, monitor restarts, event, command and barrier-wait durations
//! (histograms), from each event as it ends; the gauges (members, queue,
//! states, resource groups, a wait for an operator) are read when scraped.
//! Every state a node or a group can be in is a series of its own, 0 or
//! 1, so an alert on a state never loses its series when the state ends.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::journal::{EventEntry, RecordKind};
use hacmp_model::manager_state::ManagerState;

/// Upper bounds of the duration buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

type Labels = Vec<(&'static str, String)>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// What one daemon counted (shared handles: a scrape registers clones).
pub struct Metrics {
    events: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    event_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    command_seconds: Histogram,
    barrier_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            events: Family::default(),
            failures: Family::default(),
            event_seconds: Family::new_with_constructor(histogram),
            command_seconds: histogram(),
            barrier_seconds: histogram(),
        }
    }
}

/// The gauges of a scrape.
pub struct Gauges {
    pub node: u32,
    pub members: usize,
    pub queued: usize,
    pub state: ManagerState,
    /// Every group of the site this node may hold, with its state here
    /// (`offline` included).
    pub groups: Vec<(String, &'static str)>,
    /// The event this node waits on for an operator's decision, if any:
    /// (sequence number, event name).
    pub waiting: Option<(u64, String)>,
    /// Monitor restarts by (group, resource), since the daemon started.
    pub restarts: BTreeMap<(String, String), u64>,
    /// The bundle this node runs, and who signed it.
    pub bundle: (String, String),
    /// (rule, instance) pairs of Event Management armed and disarmed.
    pub armed: (usize, usize),
    /// The last monitor sample's duration in seconds, and how many samples.
    pub sample: (f64, u64),
    /// Store requests, failed ones, and their total time in seconds.
    pub store: (u64, u64, f64),
}

/// The states a resource group can be in on a node.
pub const GROUP_STATES: [&str; 5] = ["offline", "acquiring", "online", "releasing", "error"];

fn gauge(v: i64) -> Gauge {
    let g = Gauge::default();
    g.set(v);
    g
}

fn counter(v: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(v);
    c
}

impl Metrics {
    /// Counts one ended event.
    pub fn event_ended(&self, e: &EventEntry) {
        let outcome = e.outcome.map_or("unknown", |o| o.as_str());
        self.events
            .get_or_create(&vec![
                ("event", e.name.clone()),
                ("outcome", outcome.into()),
            ])
            .inc();
        let failed = e
            .records
            .iter()
            .filter(|r| r.kind == RecordKind::Failure)
            .count() as u64;
        if failed > 0 {
            self.failures
                .get_or_create(&vec![("event", e.name.clone())])
                .inc_by(failed);
        }
        let times: Vec<u64> = e.records.iter().map(|r| r.t_ms).collect();
        if let (Some(a), Some(b)) = (times.iter().min(), times.iter().max()) {
            self.event_seconds
                .get_or_create(&vec![("event", e.name.clone())])
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
                        self.command_seconds
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
                        self.barrier_seconds
                            .observe(r.t_ms.saturating_sub(t) as f64 / 1000.0);
                    }
                }
                _ => {}
            }
        }
    }

    /// The OpenMetrics text of everything counted, with `g`'s gauges.
    pub fn render(&self, g: &Gauges) -> String {
        // Help texts without their full stop: the encoder adds one.
        let mut r = Registry::with_prefix("hacmp");
        r.register(
            "events",
            "Events that ended on this node, by name and outcome",
            self.events.clone(),
        );
        r.register(
            "command_failures",
            "Commands of events on this node that ended with an unexpected status, by event",
            self.failures.clone(),
        );
        r.register_with_unit(
            "event_duration",
            "How long events ran on this node",
            Unit::Seconds,
            self.event_seconds.clone(),
        );
        r.register_with_unit(
            "command_duration",
            "How long commands ran on this node",
            Unit::Seconds,
            self.command_seconds.clone(),
        );
        r.register_with_unit(
            "barrier_wait",
            "How long this node waited at barriers",
            Unit::Seconds,
            self.barrier_seconds.clone(),
        );
        let node = g.node.to_string();
        let info = Family::<Labels, Gauge>::default();
        info.get_or_create(&vec![
            ("version", env!("CARGO_PKG_VERSION").into()),
            ("bundle", g.bundle.0.clone()),
            ("signed_by", g.bundle.1.clone()),
        ])
        .set(1);
        r.register(
            "build_info",
            "The program's version and the bundle this node runs (always 1)",
            info,
        );
        r.register(
            "members",
            "Members of the group, as this node sees it",
            gauge(g.members as i64),
        );
        r.register(
            "queued_events",
            "Events queued and not yet run",
            gauge(g.queued as i64),
        );
        let states = Family::<Labels, Gauge>::default();
        for s in ManagerState::ALL {
            states
                .get_or_create(&vec![("state", s.as_str().into())])
                .set(i64::from(s == g.state));
        }
        r.register(
            "node_state",
            "The state of this node's cluster manager: 1 for the current one, 0 for the others",
            states,
        );
        let wait = Family::<Labels, Gauge>::default();
        wait.get_or_create(&vec![("node", node.clone())])
            .set(i64::from(g.waiting.is_some()));
        r.register(
            "operator_wait",
            "1 while an event waits on this node for an operator's decision (`hacmp resume`)",
            wait,
        );
        let waiting = Family::<Labels, Gauge>::default();
        if let Some((seq, event)) = &g.waiting {
            waiting
                .get_or_create(&vec![
                    ("node", node.clone()),
                    ("seq", seq.to_string()),
                    ("event", event.clone()),
                ])
                .set(1);
        }
        r.register(
            "operator_wait_event",
            "The event waiting on this node for an operator's decision (present only while one waits)",
            waiting,
        );
        let groups = Family::<Labels, Gauge>::default();
        for (group, state) in &g.groups {
            for s in GROUP_STATES {
                groups
                    .get_or_create(&vec![("group", group.clone()), ("state", s.into())])
                    .set(i64::from(s == *state));
            }
        }
        r.register(
            "resource_group_state",
            "Each resource group this node may hold: 1 for its state here, 0 for the others",
            groups,
        );
        let restarts = Family::<Labels, Counter>::default();
        for ((group, resource), n) in &g.restarts {
            restarts
                .get_or_create(&vec![
                    ("group", group.clone()),
                    ("resource", resource.clone()),
                ])
                .inc_by(*n);
        }
        r.register(
            "monitor_restarts",
            "Applications a resource monitor found down and restarted in place",
            restarts,
        );
        let armed = Family::<Labels, Gauge>::default();
        armed
            .get_or_create(&vec![("armed", "true".into())])
            .set(g.armed.0 as i64);
        armed
            .get_or_create(&vec![("armed", "false".into())])
            .set(g.armed.1 as i64);
        r.register(
            "em_rule_instances",
            "Event Management (rule, instance) pairs, by arming",
            armed,
        );
        let sample = Gauge::<f64, AtomicU64>::default();
        sample.set(g.sample.0);
        r.register_with_unit(
            "monitor_sample",
            "How long the last resource-monitor sample took",
            Unit::Seconds,
            sample,
        );
        r.register(
            "monitor_samples",
            "Resource-monitor samples taken",
            counter(g.sample.1),
        );
        let store = Family::<Labels, Counter>::default();
        store
            .get_or_create(&vec![("result", "ok".into())])
            .inc_by(g.store.0 - g.store.1.min(g.store.0));
        store
            .get_or_create(&vec![("result", "error".into())])
            .inc_by(g.store.1);
        r.register(
            "store_requests",
            "Requests to the coordination store (etcd), by result",
            store,
        );
        let store_seconds = Counter::<f64, AtomicU64>::default();
        store_seconds.inc_by(g.store.2);
        r.register_with_unit(
            "store_request",
            "Time spent in requests to the coordination store",
            Unit::Seconds,
            store_seconds,
        );
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &r);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauges() -> Gauges {
        Gauges {
            node: 2,
            members: 3,
            queued: 1,
            state: ManagerState::RpRunning,
            groups: vec![("web".into(), "online"), ("db".into(), "offline")],
            waiting: Some((17, "TE_FAIL_NODE".into())),
            restarts: [(("web".to_string(), "httpd".to_string()), 2)].into(),
            bundle: ("3f2a9c1e0b7d".into(), "alice".into()),
            armed: (4, 1),
            sample: (0.002, 9),
            store: (10, 1, 0.5),
        }
    }

    #[test]
    fn every_state_is_a_series_and_a_wait_for_an_operator_is_one() {
        let m = Metrics::default();
        let text = m.render(&gauges());
        for line in [
            "hacmp_node_state{state=\"rp_running\"} 1",
            "hacmp_node_state{state=\"stable\"} 0",
            "hacmp_resource_group_state{group=\"web\",state=\"online\"} 1",
            "hacmp_resource_group_state{group=\"web\",state=\"error\"} 0",
            "hacmp_resource_group_state{group=\"db\",state=\"offline\"} 1",
            "hacmp_operator_wait{node=\"2\"} 1",
            "hacmp_operator_wait_event{node=\"2\",seq=\"17\",event=\"TE_FAIL_NODE\"} 1",
            "hacmp_monitor_restarts_total{group=\"web\",resource=\"httpd\"} 2",
            "hacmp_build_info{version=\"0.1.0\",bundle=\"3f2a9c1e0b7d\",signed_by=\"alice\"} 1",
            "hacmp_store_requests_total{result=\"error\"} 1",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        let idle = m.render(&Gauges {
            waiting: None,
            ..gauges()
        });
        assert!(idle.contains("hacmp_operator_wait{node=\"2\"} 0"), "{idle}");
        assert!(!idle.contains("hacmp_operator_wait_event{"), "{idle}");
        let parsed = prometheus_parse_like(&idle);
        assert!(parsed > 20, "{idle}");
    }

    /// Sample lines (not comments) in the text: each `name{labels} value`.
    fn prometheus_parse_like(text: &str) -> usize {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .inspect(|l| {
                let v = l.rsplit(' ').next().unwrap();
                assert!(v.parse::<f64>().is_ok(), "{l}");
            })
            .count()
    }
}
