//! Tests on real kernel objects in namespaces of the test's own (root
//! only: skipped loudly without it, failed under `HACMP_REQUIRE_ROOT=1`).

use std::path::Path;
use std::process::Command;

pub fn available(test: &str, tools: &[&str]) -> bool {
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
pub fn isolated<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
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

pub fn run(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Whether the kernel has IPv6 (a host booted with `ipv6.disable=1` has
/// not): skipped loudly without, failed under `HACMP_REQUIRE_ROOT=1`.
pub fn ipv6(test: &str) -> bool {
    if Path::new("/proc/sys/net/ipv6").exists() {
        return true;
    }
    if std::env::var("HACMP_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{test}: HACMP_REQUIRE_ROOT=1 but this kernel has no IPv6");
    }
    eprintln!("SKIPPED {test}: this kernel has no IPv6");
    false
}

/// A named network namespace, deleted when dropped: a test that fails
/// leaves no name behind.
pub struct Netns(pub String);

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let name = format!("{prefix}-{}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
