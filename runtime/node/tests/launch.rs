//! Starting commands as root: the file checked is the file that runs, under
//! the staging root only, with the bundle's content only, inheriting no
//! descriptor but standard input, output and error.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use hacmp_node::exec::real::RealExecutor;
use hacmp_node::exec::{CommandSpec, Executor, Status, Tags};

fn script(root: &Path, name: &str, body: &str, mode: u32) -> String {
    let p = root.join("usr/local").join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    format!("/usr/local/{name}")
}

fn spec(root: &Path, argv0: &str, hash: Option<String>) -> CommandSpec {
    CommandSpec {
        leave_running: false,
        argv: vec![argv0.to_string()],
        root: Some(root.to_path_buf()),
        hash,
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("OUT".into(), root.join("out").display().to_string()),
        ],
        cwd: "/".into(),
        timeout: Some(Duration::from_secs(20)),
        warn_after: Duration::from_secs(60),
        kill_grace: Duration::from_secs(1),
        tags: Tags::default(),
    }
}

fn hash(root: &Path, path: &str) -> String {
    hacmp_compiler::rootfs::hash(Some(root), path).unwrap()
}

async fn run(s: CommandSpec) -> Status {
    RealExecutor::new().run(s, Box::new(|_| {})).await.status
}

fn refused(st: &Status) -> String {
    match st {
        Status::SpawnFailed { error } => error.clone(),
        other => panic!("ran: {other:?}"),
    }
}

#[tokio::test]
async fn a_command_changed_since_the_site_was_compiled_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let p = script(root, "ok", "exit 0", 0o755);
    let h = hash(root, &p);
    assert_eq!(
        run(spec(root, &p, Some(h.clone()))).await,
        Status::Exited { code: 0 }
    );
    script(root, "ok", "touch \"$OUT/ran\"; exit 0", 0o755);
    let e = refused(&run(spec(root, &p, Some(h))).await);
    assert!(e.contains("changed since the site was compiled"), "{e}");
    assert!(!root.join("out/ran").exists());
}

#[tokio::test]
async fn links_and_dots_never_leave_the_staging_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("usr/local")).unwrap();
    // A link to the machine's `/bin/true` names the root's, which is not there.
    std::os::unix::fs::symlink("/bin/true", root.join("usr/local/link")).unwrap();
    let e = refused(&run(spec(&root, "/usr/local/link", Some("x".into()))).await);
    assert!(e.contains("cannot open `/usr/local/link` under"), "{e}");
    let e = refused(
        &run(spec(
            &root,
            "/usr/local/../../../../bin/true",
            Some("x".into()),
        ))
        .await,
    );
    assert!(e.contains("without `..`"), "{e}");
}

#[tokio::test]
async fn a_command_others_may_write_is_not_run_as_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let p = script(root, "open", "exit 0", 0o757);
    let e = refused(&run(spec(root, &p, Some(hash(root, &p)))).await);
    assert!(e.contains("writable by all users"), "{e}");
    let p = script(root, "plain", "exit 0", 0o644);
    assert!(refused(&run(spec(root, &p, Some(hash(root, &p)))).await).contains("not executable"));
    // A command the bundle has no hash for: not one the site was compiled with.
    let p = script(root, "unknown", "exit 0", 0o755);
    assert!(refused(&run(spec(root, &p, None)).await).contains("no content hash"));
}

#[tokio::test]
async fn a_command_inherits_no_descriptor_but_the_standard_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("out")).unwrap();
    // A descriptor of this process that is not close-on-exec, at 200.
    let f = std::fs::File::open("/etc/hostname").unwrap();
    // SAFETY: dup2 onto a number we choose, then clear close-on-exec.
    unsafe {
        use std::os::fd::AsRawFd;
        assert_eq!(libc::dup2(f.as_raw_fd(), 200), 200);
        assert_eq!(libc::fcntl(200, libc::F_SETFD, 0), 0);
    }
    // The shell lists its own descriptors (the glob is expanded first).
    let p = script(
        root,
        "fds",
        "for f in /proc/$$/fd/*; do echo \"${f##*/} $(readlink $f)\"; done",
        0o755,
    );
    let r = RealExecutor::new()
        .run(spec(root, &p, Some(hash(root, &p))), Box::new(|_| {}))
        .await;
    assert_eq!(r.status, Status::Exited { code: 0 });
    // SAFETY: closing the descriptor this test made.
    unsafe { libc::close(200) };
    let seen = r.output_tail.join("\n");
    let mut lines = r.output_tail.clone();
    lines.sort_by_key(|l| {
        l.split_whitespace()
            .next()
            .and_then(|n| n.parse::<u32>().ok())
    });
    let fds: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(!fds.contains(&"200"), "descriptor 200 leaked: {seen}");
    assert!(!seen.contains("/etc/hostname"), "{seen}");
    // Standard input is null; nothing points outside the command's own
    // pipes and file.
    assert_eq!(lines[0], "0 /dev/null", "{seen}");
    for l in &lines {
        let target = l.split_once(' ').map_or("", |x| x.1);
        assert!(
            target == "/dev/null"
                || target.starts_with("pipe:")
                || target.ends_with("usr/local/fds"),
            "{l} in {seen}"
        );
    }
    assert!(seen.contains("usr/local/fds"), "{seen}");
}

/// A recovery command leaves nothing behind: what it started in the
/// background is killed with its process group when it exits. An
/// application's start command (`leave_running`) leaves its server up.
#[tokio::test]
async fn background_processes_die_with_a_recovery_command_and_outlive_a_start_command() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("out")).unwrap();
    let p = script(
        root,
        "bg",
        "sleep 30 </dev/null >/dev/null 2>&1 &\necho $! > \"$OUT/pid\"",
        0o755,
    );
    let h = hash(root, &p);
    let alive = |pid: i32| {
        // Reaped by init or a zombie: either way gone when its state is Z
        // or the entry is missing.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
            .unwrap_or(false)
    };
    let pid = |root: &Path| -> i32 {
        std::fs::read_to_string(root.join("out/pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(
        run(spec(root, &p, Some(h.clone()))).await,
        Status::Exited { code: 0 }
    );
    let killed = pid(root);
    // The kill is sent as the command ends; its delivery is not awaited.
    let t = std::time::Instant::now();
    while alive(killed) && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !alive(killed),
        "the recovery command's background process survived"
    );
    let mut s = spec(root, &p, Some(h));
    s.leave_running = true;
    assert_eq!(run(s).await, Status::Exited { code: 0 });
    let kept = pid(root);
    assert!(alive(kept), "the start command's server was killed");
    // SAFETY: our own test process's grandchild.
    unsafe {
        libc::kill(kept, libc::SIGKILL);
    }
}
