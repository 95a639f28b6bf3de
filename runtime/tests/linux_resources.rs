//! The Linux agent on real kernel objects, in namespaces of the test's own
//! (root only: skipped loudly without it, failed under
//! `HACMP_REQUIRE_ROOT=1`): service addresses on veth interfaces, by
//! alias and by swap, and an ext4 file system on a loop device, checked
//! with fsck and mounted with mount(2).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use hacmp_compiler::resources::*;
use hacmp_compiler::{Bundle, Site};
use hacmp_runtime::exec::real::RealExecutor;
use hacmp_runtime::resources::linux::{ip, mount, LinuxAgent};
use hacmp_runtime::resources::{Agent, Ctx};

fn available(test: &str, tools: &[&str]) -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|t| {
            !["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .any(|d| Path::new(d).join(t).exists())
        })
        .collect();
    let why = if !root {
        Some("not root".to_string())
    } else if !missing.is_empty() {
        Some(format!("missing {missing:?}"))
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            if std::env::var("HACMP_REQUIRE_ROOT").as_deref() == Ok("1") {
                panic!("{test}: HACMP_REQUIRE_ROOT=1 but {why}");
            }
            eprintln!("SKIPPED {test}: {why}; HACMP_REQUIRE_ROOT=1 makes this an error");
            false
        }
    }
}

/// Runs `f` on a thread in new network and mount namespaces (mounts do not
/// propagate out), with a runtime of its own.
fn isolated<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        // SAFETY: this thread alone moves to new namespaces.
        unsafe {
            assert_eq!(
                libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWNS),
                0,
                "unshare: {}",
                std::io::Error::last_os_error()
            );
            let root = std::ffi::CString::new("/").unwrap();
            let none = std::ffi::CString::new("none").unwrap();
            assert_eq!(
                libc::mount(
                    none.as_ptr(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null()
                ),
                0
            );
        }
        f()
    })
    .join()
    .unwrap()
}

fn run(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

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
