//! The environment given to every command: exactly these variables.

use hacmp_grammar::ast::NodeSet;

use hacmp_model::event::{EventKind, NodeId};
use hacmp_model::ClaimedEvent;

/// `PATH` for commands: they run without the daemon's environment.
pub const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

pub struct EnvContext<'a> {
    pub event: &'a ClaimedEvent,
    /// `HACMP_MEMBERSHIP`, computed once per event.
    pub membership: &'a str,
    pub node: NodeId,
    pub verbose_logging: &'a str,
    /// The site's staging root, when it has one.
    pub root: Option<&'a str>,
}

/// `EVNAME`, `EVQUALIFIER`, `EVLOCATION`, `TIMESTAMP`, `HACMP_NODE`,
/// `HACMP_NODESET`, `HACMP_MEMBERSHIP`, `VERBOSE_LOGGING`; for Event
/// Management events `EVRESVAR`, `EVINSTVEC`, `EVVALUE`; for node
/// departures `HACMP_STOP` (`failure`, `graceful`, `takeover`); `PATH`; and
/// `HACMP_ROOT` when the site runs under a staging root.
pub fn command_env(c: &EnvContext<'_>, node_set: NodeSet) -> Vec<(String, String)> {
    let r = &c.event.event.request;
    let mut env = vec![
        ("EVNAME".to_string(), r.name.clone()),
        ("EVQUALIFIER".to_string(), r.state.to_string()),
        ("EVLOCATION".to_string(), r.location.to_string()),
        ("TIMESTAMP".to_string(), c.event.event.queued_at.clone()),
        ("HACMP_NODE".to_string(), c.node.to_string()),
        ("HACMP_NODESET".to_string(), node_set.as_str().to_string()),
        ("HACMP_MEMBERSHIP".to_string(), c.membership.to_string()),
        ("VERBOSE_LOGGING".to_string(), c.verbose_logging.to_string()),
    ];
    if let Some(em) = &r.em {
        env.push(("EVRESVAR".to_string(), em.variable.clone()));
        env.push(("EVINSTVEC".to_string(), em.instance.clone()));
        env.push(("EVVALUE".to_string(), em.value.clone()));
    }
    match r.kind {
        EventKind::NodeFailure => env.push(("HACMP_STOP".to_string(), "failure".to_string())),
        EventKind::NodeStop { takeover } => env.push((
            "HACMP_STOP".to_string(),
            if takeover { "takeover" } else { "graceful" }.to_string(),
        )),
        _ => {}
    }
    env.push(("PATH".to_string(), PATH.to_string()));
    if let Some(root) = c.root {
        env.push(("HACMP_ROOT".to_string(), root.to_string()));
    }
    env
}

/// The value of `HACMP_MEMBERSHIP`: node numbers separated by blanks.
pub fn membership_value(event: &ClaimedEvent) -> &str {
    event.membership_env.get_or_init(|| {
        let v: Vec<String> = event.membership.iter().map(|n| n.to_string()).collect();
        v.join(" ")
    })
}

/// Whether a line of a node set runs on `node` for this event.
pub fn runs_on(node_set: NodeSet, node: NodeId, event: &ClaimedEvent) -> bool {
    let location = event.event.request.location;
    // The membership is sorted by node number.
    event.membership.binary_search(&node).is_ok()
        && match node_set {
            NodeSet::All => true,
            NodeSet::Event => node == location,
            NodeSet::Other => node != location,
        }
}
