//! The Linux agent on real kernel objects, in namespaces of the test's own
//! (root only: skipped loudly without it, failed under
//! `HACMP_REQUIRE_ROOT=1`): service addresses on veth interfaces, by
//! alias and by swap, and an ext4 file system on a loop device, checked
//! with fsck and mounted with mount(2).

use std::process::Command;
use std::sync::Arc;

use hacmp_testkit::netns::{available, ipv6, isolated, run, Netns};

use hacmp_compiler::resources::*;
use hacmp_compiler::{Bundle, Site};
use hacmp_linux::resources::{ip, mount, LinuxAgent};
use hacmp_node::exec::real::RealExecutor;
use hacmp_node::resources::{Agent, Ctx};

fn site(ipat: Ipat, adapters: Vec<Adapter>, group: ResourceGroup) -> Site {
    let mut s = Site::default();
    s.resources.networks = vec![Network {
        name: "net0".into(),
        subnet: Cidr::parse("10.99.0.0/24", false).unwrap(),
        ipat,
        hold_down: hacmp_stdlib::Duration::from_millis(100),
        heartbeat: None,
    }];
    s.resources.adapters.insert(1, adapters);
    s.resources.groups = vec![group];
    s
}

fn group(resources: Vec<Resource>) -> ResourceGroup {
    ResourceGroup {
        name: "g".into(),
        policy: Policy::Cascading,
        nodes: vec![1],
        fallback: Fallback::OnRejoin,
        startup: Startup::FirstAvailable,
        after: Vec::new(),
        resources,
    }
}

fn agent(site: &Site) -> LinuxAgent {
    let bundle = Bundle::new(
        site.clone(),
        Vec::new(),
        Default::default(),
        Default::default(),
    );
    LinuxAgent::new(Arc::new(bundle), Arc::new(RealExecutor::new()), None)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An IPv6 service address is usable at once (no duplicate address
/// detection) and announced: a neighbour that still has the address at
/// another hardware address (the old owner's) learns the new one from the
/// unsolicited advertisement, without asking.
#[test]
fn an_ipv6_service_address_is_announced_to_its_neighbours() {
    let test = "an_ipv6_service_address_is_announced_to_its_neighbours";
    if !available(test, &["ip"]) || !ipv6(test) {
        return;
    }
    isolated(|| {
        // The neighbour in a namespace of its own, across a veth pair.
        let netns = Netns::new("hacmp-na");
        let ns = netns.0.clone();
        run(&[
            "ip", "link", "add", "boot6", "type", "veth", "peer", "name", "boot6p",
        ]);
        run(&["ip", "link", "set", "boot6p", "netns", &ns]);
        run(&["ip", "addr", "add", "fd99::1/64", "dev", "boot6", "nodad"]);
        run(&["ip", "link", "set", "boot6", "up"]);
        let there = |args: &[&str]| {
            let mut v = vec!["ip", "-n", ns.as_str()];
            v.extend_from_slice(args);
            run(&v);
        };
        there(&["addr", "add", "fd99::2/64", "dev", "boot6p", "nodad"]);
        there(&["link", "set", "boot6p", "up"]);
        there(&[
            "-6",
            "neigh",
            "add",
            "fd99::100",
            "lladdr",
            "02:00:00:00:00:99",
            "dev",
            "boot6p",
            "nud",
            "stale",
        ]);
        // (Not from /sys, which shows the namespace it was mounted in.)
        let link = Command::new("ip")
            .args(["-o", "link", "show", "boot6"])
            .output()
            .unwrap();
        let link = String::from_utf8_lossy(&link.stdout).into_owned();
        let mac = link
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_else(|| panic!("no hardware address in {link}"))
            .to_string();
        let adapters = vec![Adapter {
            network: "net0".into(),
            interface: "boot6".into(),
            role: AdapterRole::Boot,
            address: Some(Cidr::parse("fd99::1/64", false).unwrap()),
        }];
        let svc = Resource {
            name: "ip6".into(),
            kind: ResourceKind::ServiceIp {
                network: "net0".into(),
                address: Cidr::parse("fd99::100/64", false).unwrap(),
            },
        };
        let mut s = site(Ipat::Alias, adapters, group(vec![svc.clone()]));
        s.resources.networks[0].subnet = Cidr::parse("fd99::/64", false).unwrap();
        let a = agent(&s);
        let ctx = Ctx {
            node: 1,
            site: &s,
            group: &s.resources.groups[0],
        };
        let did = rt().block_on(a.start(&ctx, &svc)).unwrap();
        assert!(did.contains("neighbour advertisement sent"), "{did}");
        let neigh = || {
            let o = Command::new("ip")
                .args([
                    "-n",
                    &ns,
                    "-6",
                    "neigh",
                    "show",
                    "fd99::100",
                    "dev",
                    "boot6p",
                ])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        let t = std::time::Instant::now();
        while !neigh().contains(&mac) {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(5),
                "the neighbour kept {} (boot6 is {mac})",
                neigh()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Usable at once: not tentative.
        let o = Command::new("ip")
            .args(["-6", "addr", "show", "dev", "boot6"])
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&o.stdout);
        let line = shown
            .lines()
            .find(|l| l.contains("fd99::100/64"))
            .unwrap_or_else(|| panic!("{shown}"));
        assert!(
            line.contains("nodad") && !line.contains("tentative"),
            "{shown}"
        );
    });
}

#[test]
fn service_addresses_by_alias_and_by_swap() {
    if !available("service_addresses_by_alias_and_by_swap", &["ip"]) {
        return;
    }
    isolated(|| {
        run(&[
            "ip", "link", "add", "boot0", "type", "veth", "peer", "name", "boot0p",
        ]);
        run(&[
            "ip", "link", "add", "stby0", "type", "veth", "peer", "name", "stby0p",
        ]);
        run(&["ip", "addr", "add", "10.99.0.11/24", "dev", "boot0"]);
        run(&["ip", "addr", "add", "10.99.0.21/24", "dev", "stby0"]);
        run(&["ip", "link", "set", "boot0", "up"]);
        run(&["ip", "link", "set", "stby0", "up"]);
        let adapters = vec![
            Adapter {
                network: "net0".into(),
                interface: "boot0".into(),
                role: AdapterRole::Boot,
                address: Some(Cidr::parse("10.99.0.11/24", false).unwrap()),
            },
            Adapter {
                network: "net0".into(),
                interface: "stby0".into(),
                role: AdapterRole::Standby,
                address: Some(Cidr::parse("10.99.0.21/24", false).unwrap()),
            },
        ];
        let svc = Resource {
            name: "ip".into(),
            kind: ResourceKind::ServiceIp {
                network: "net0".into(),
                address: Cidr::parse("10.99.0.100/24", false).unwrap(),
            },
        };
        let addr = "10.99.0.100".parse().unwrap();
        let rt = rt();
        // Alias: on the boot adapter, beside its own address.
        let s = site(Ipat::Alias, adapters.clone(), group(vec![svc.clone()]));
        let a = agent(&s);
        let ctx = Ctx {
            node: 1,
            site: &s,
            group: &s.resources.groups[0],
        };
        rt.block_on(async {
            let did = a.start(&ctx, &svc).await.unwrap();
            assert!(did.contains("added on boot0"), "{did}");
            assert!(ip::has("boot0", addr).await.unwrap());
            assert!(ip::has("boot0", "10.99.0.11".parse().unwrap())
                .await
                .unwrap());
            assert!(a.monitor(&ctx, &svc).await.unwrap());
            assert!(
                a.start(&ctx, &svc).await.unwrap().contains("already"),
                "idempotent"
            );
            a.stop(&ctx, &svc).await.unwrap();
            assert!(!ip::has("boot0", addr).await.unwrap());
            assert!(
                a.stop(&ctx, &svc).await.unwrap().contains("not on"),
                "idempotent"
            );
        });
        // Swap: on the standby, whose own address is off meanwhile.
        let s = site(Ipat::Swap, adapters, group(vec![svc.clone()]));
        let a = agent(&s);
        let ctx = Ctx {
            node: 1,
            site: &s,
            group: &s.resources.groups[0],
        };
        let own = "10.99.0.21".parse().unwrap();
        rt.block_on(async {
            a.start(&ctx, &svc).await.unwrap();
            assert!(ip::has("stby0", addr).await.unwrap());
            assert!(
                !ip::has("stby0", own).await.unwrap(),
                "the standby's address is off"
            );
            assert!(!ip::has("boot0", addr).await.unwrap());
            a.stop(&ctx, &svc).await.unwrap();
            assert!(!ip::has("stby0", addr).await.unwrap());
            assert!(ip::has("stby0", own).await.unwrap(), "and back");
        });
        // No such interface: a clear error.
        let bad = vec![Adapter {
            network: "net0".into(),
            interface: "nosuch0".into(),
            role: AdapterRole::Boot,
            address: None,
        }];
        let s = site(Ipat::Alias, bad, group(vec![svc.clone()]));
        let a = agent(&s);
        let ctx = Ctx {
            node: 1,
            site: &s,
            group: &s.resources.groups[0],
        };
        let e = rt.block_on(a.start(&ctx, &svc)).unwrap_err();
        assert!(e.contains("no interface `nosuch0`"), "{e}");
    });
}

#[test]
fn an_ext4_file_system_on_a_loop_device_is_checked_mounted_and_unmounted() {
    if !available(
        "an_ext4_file_system_on_a_loop_device_is_checked_mounted_and_unmounted",
        &["losetup", "mkfs.ext4", "fsck"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("fs.img");
    std::fs::write(&image, vec![0u8; 8 << 20]).unwrap();
    run(&["mkfs.ext4", "-q", "-F", image.to_str().unwrap()]);
    let o = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&image)
        .output()
        .unwrap();
    if !o.status.success() {
        // Loop devices are the kernel's and the machine's, not root's: a
        // container may have none. Required only where asked.
        let why = String::from_utf8_lossy(&o.stderr).into_owned();
        if std::env::var("HACMP_REQUIRE_LOOPDEV").as_deref() == Ok("1") {
            panic!("HACMP_REQUIRE_LOOPDEV=1 but losetup failed: {why}");
        }
        eprintln!("SKIPPED an_ext4_file_system_on_a_loop_device_is_checked_mounted_and_unmounted: no loop device ({why}); HACMP_REQUIRE_LOOPDEV=1 makes this an error");
        return;
    }
    let dev = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let (d, m) = (dev.clone(), mnt.clone());
    let r = std::panic::catch_unwind(move || {
        isolated(move || {
            let fs = Resource {
                name: "fs".into(),
                kind: ResourceKind::Filesystem {
                    device: d.clone(),
                    mount_point: m.display().to_string(),
                    fstype: "ext4".into(),
                    options: "noatime".into(),
                    fsck: true,
                },
            };
            let s = site(Ipat::Alias, Vec::new(), group(vec![fs.clone()]));
            let a = agent(&s);
            let ctx = Ctx {
                node: 1,
                site: &s,
                group: &s.resources.groups[0],
            };
            rt().block_on(async {
                let did = a.start(&ctx, &fs).await.unwrap();
                assert!(did.contains("mounted on"), "{did}");
                assert!(mount::is_mounted(&m).unwrap());
                std::fs::write(m.join("kept"), "data").unwrap();
                assert!(a
                    .start(&ctx, &fs)
                    .await
                    .unwrap()
                    .contains("already mounted"));
                a.stop(&ctx, &fs).await.unwrap();
                assert!(!mount::is_mounted(&m).unwrap());
                assert!(!m.join("kept").exists());
                a.start(&ctx, &fs).await.unwrap();
                assert_eq!(std::fs::read_to_string(m.join("kept")).unwrap(), "data");
                a.stop(&ctx, &fs).await.unwrap();
            });
        })
    });
    run(&["losetup", "-d", &dev]);
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

/// An application whose stop command fails is not left running on a node
/// that lets its group go (another node may start it next): the agent
/// kills the process group its start command left, and the stop still
/// fails so that the step's status says so. No root needed.
#[test]
fn an_application_whose_stop_fails_has_its_process_group_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = |name: &str, body: &str| {
        let p = dir.path().join(name);
        hacmp_testkit::write_executable(&p, &format!("#!/bin/sh\n{body}\n"));
        p.display().to_string()
    };
    let start = script(
        "start",
        &format!("sleep 600 & echo $! > {}", pidfile.display()),
    );
    let stop = script("stop", "exit 1");
    let app = Resource {
        name: "app".into(),
        kind: ResourceKind::Application {
            start: start.clone(),
            stop: stop.clone(),
            monitor: None,
        },
    };
    let s = site(Ipat::Alias, Vec::new(), group(vec![app.clone()]));
    // Commands run only with the content the site was compiled with.
    let sources = [&start, &stop]
        .into_iter()
        .map(|p| (p.clone(), hacmp_compiler::rootfs::hash(None, p).unwrap()))
        .collect();
    let bundle = Bundle::new(s.clone(), Vec::new(), Default::default(), sources);
    let a = LinuxAgent::new(Arc::new(bundle), Arc::new(RealExecutor::new()), None);
    let ctx = Ctx {
        node: 1,
        site: &s,
        group: &s.resources.groups[0],
    };
    rt().block_on(async {
        a.start(&ctx, &app).await.unwrap();
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let alive = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                !st.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        assert!(alive(pid), "the server runs after its start command exited");
        let e = a.stop(&ctx, &app).await.unwrap_err();
        assert!(e.contains("exited 1") && e.contains("process group"), "{e}");
        let mut gone = false;
        for _ in 0..200 {
            if !alive(pid) {
                gone = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        assert!(gone, "the server {pid} still runs after its stop failed");
    });
}
