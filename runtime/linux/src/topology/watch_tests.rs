use super::*;
use hacmp_compiler::resources::{Adapter as SiteAdapter, Cidr, Ipat, Network};

const HOLD: Duration = Duration::from_millis(100);

/// Node 1 with boot eth0 and standby eth1 on net0, and eth2 alone on net1.
fn res() -> Resources {
    let mut r = Resources::default();
    for (name, subnet) in [("net0", "10.1.0.0/24"), ("net1", "10.2.0.0/24")] {
        r.networks.push(Network {
            name: name.into(),
            subnet: Cidr::parse(subnet, false).unwrap(),
            ipat: Ipat::Alias,
            hold_down: hacmp_stdlib::Duration(HOLD),
            heartbeat: None,
        });
    }
    let a = |network: &str, interface: &str, role| SiteAdapter {
        network: network.into(),
        interface: interface.into(),
        role,
        address: None,
    };
    r.adapters.insert(
        1,
        vec![
            a("net0", "eth0", AdapterRole::Boot),
            a("net0", "eth1", AdapterRole::Standby),
            a("net1", "eth2", AdapterRole::Boot),
        ],
    );
    r
}

fn started(t: Instant) -> Watch {
    let mut w = Watch::new(&res(), 1);
    for i in ["eth0", "eth1", "eth2"] {
        w.observe(i, true, t);
    }
    assert!(w.down_at_start().is_empty());
    w
}

fn kinds(d: &[Decided]) -> Vec<EventKind> {
    d.iter().map(|d| d.kind.clone()).collect()
}

#[test]
fn the_carrier_failing_swaps_and_its_return_is_a_standby_joining() {
    let t = Instant::now();
    let mut w = started(t);
    assert_eq!(w.carrier("net0"), Some("eth0"));
    w.observe("eth0", false, t + Duration::from_millis(10));
    assert!(w.due(t + Duration::from_millis(50)).is_empty(), "held down");
    assert_eq!(w.next_due(), Some(t + Duration::from_millis(110)));
    let d = w.due(t + Duration::from_millis(110));
    assert_eq!(kinds(&d), vec![EventKind::AdapterSwap { network: 1 }]);
    assert_eq!(w.carrier("net0"), Some("eth1"));
    assert!(w.due(t + Duration::from_secs(5)).is_empty(), "once");
    w.observe("eth0", true, t + Duration::from_secs(6));
    let d = w.due(t + Duration::from_secs(7));
    assert_eq!(kinds(&d), vec![EventKind::StandbyJoin { network: 1 }]);
    assert_eq!(w.carrier("net0"), Some("eth1"), "no move back");
}

#[test]
fn a_standby_failing_and_the_network_going_and_coming() {
    let t = Instant::now();
    let mut w = started(t);
    w.observe("eth1", false, t);
    assert_eq!(
        kinds(&w.due(t + HOLD)),
        vec![EventKind::StandbyFail { network: 1 }]
    );
    w.observe("eth0", false, t + HOLD);
    assert_eq!(
        kinds(&w.due(t + HOLD * 2)),
        vec![EventKind::NetworkDown { network: 1 }]
    );
    w.observe("eth2", false, t + HOLD * 2);
    assert_eq!(
        kinds(&w.due(t + HOLD * 3)),
        vec![EventKind::NetworkDown { network: 2 }]
    );
    w.observe("eth1", true, t + HOLD * 3);
    assert_eq!(
        kinds(&w.due(t + HOLD * 4)),
        vec![EventKind::NetworkUp { network: 1 }]
    );
    assert_eq!(w.carrier("net0"), Some("eth1"));
}

/// Ten flaps in a second: nothing while it flaps, then one event for the
/// change that lasted, or none when it ends as it began.
#[test]
fn a_flapping_link_queues_one_event_per_change() {
    let t = Instant::now();
    for ends_down in [true, false] {
        let mut w = started(t);
        let mut events = Vec::new();
        let mut up = true;
        for k in 1..=(if ends_down { 19 } else { 20 }) {
            up = !up;
            let at = t + Duration::from_millis(50 * k);
            w.observe("eth1", up, at);
            events.extend(w.due(at));
        }
        assert!(events.is_empty(), "{events:?}");
        events.extend(w.due(t + Duration::from_secs(2)));
        events.extend(w.due(t + Duration::from_secs(3)));
        if ends_down {
            assert_eq!(kinds(&events), vec![EventKind::StandbyFail { network: 1 }]);
        } else {
            assert!(events.is_empty(), "{events:?}");
        }
    }
}

#[test]
fn a_node_starting_with_a_network_down_or_its_carrier_down() {
    let t = Instant::now();
    let mut w = Watch::new(&res(), 1);
    w.observe("eth0", false, t);
    w.observe("eth1", true, t);
    w.observe("eth2", false, t);
    assert_eq!(
        w.carrier("net0"),
        Some("eth1"),
        "carrier down at start hands over"
    );
    assert_eq!(
        kinds(&w.down_at_start()),
        vec![EventKind::NetworkDown { network: 2 }]
    );
    assert!(w.due(t + Duration::from_secs(1)).is_empty());
    // Unknown interfaces are not watched.
    w.observe("lo", false, t);
    assert!(w.next_due().is_none());
}
