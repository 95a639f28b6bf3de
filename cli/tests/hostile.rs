//! Hostile and careless inputs, on the real binaries: inputs that never end
//! (FIFOs, `/dev/zero`, loops of links), paths that climb out of the
//! staging root, forged bundles, a runtime killed under its commands,
//! descriptors and control characters that must not get through. Every run
//! is bounded: a command that does not end in time fails the test instead
//! of hanging it.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{alive, copy_tree, repo};

/// Runs `hacmp ARGS` in `dir`, failing the test if it runs longer than
/// `secs` (it is killed then).
fn bounded(dir: &Path, args: &[&str], secs: u64) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "`hacmp {}` hung (killed after {secs} s): {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// A copy of the rwho example, staged.
fn rwho(dir: &Path) -> PathBuf {
    let site = dir.join("site");
    copy_tree(&repo().join("examples/rwho"), &site);
    std::fs::create_dir_all(site.join("root/out")).unwrap();
    site
}

fn script(site: &Path, name: &str, body: &str) {
    let p = site.join("root/usr/sbin/cluster/local").join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_fifo_as_any_input_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let site = rwho(d);
    let fifo = d.join("fifo");
    mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    let s = site.join("site.toml");
    let s = s.to_str().unwrap();
    std::fs::write(
        d.join("scenario.toml"),
        format!("site = {s:?}\n[[at]]\ntime = \"0s\"\nstart = [1]\n"),
    )
    .unwrap();
    for args in [
        vec!["lint", f],
        vec!["compile", f, "-o", "out.json"],
        vec!["sim", f],
        vec!["test", f],
        vec!["plan", f],
        vec!["plan", s, "--feed", f],
        vec![
            "observe",
            "IBM.PSSP.pm.User_state1",
            "NodeNum=1",
            "READY",
            "--feed",
            f,
        ],
        vec!["run", f, "--event", "UE_PGMRWHO_DOWN", "--location", "1"],
        vec!["sim", "scenario.toml", "--svg", f],
        vec!["compile", s, "-o", f],
    ] {
        let o = bounded(d, &args, 20);
        let e = err(&o);
        assert!(
            e.contains("FIFO") || String::from_utf8_lossy(&o.stdout).contains("FIFO"),
            "{args:?}: {e}"
        );
        if args[0] != "plan" || args.len() == 2 {
            assert_ne!(o.status.code(), Some(0), "{args:?}");
        }
    }
    // A program and a command under the root that are FIFOs.
    let local = site.join("root/usr/sbin/cluster/local");
    std::fs::remove_file(local.join("rwho_msg_local")).unwrap();
    mkfifo(&local.join("rwho_msg_local"));
    std::fs::remove_file(local.join("rwho.rp")).unwrap();
    mkfifo(&local.join("rwho.rp"));
    let o = bounded(d, &["lint", "--site", s], 20);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("FIFO"), "{out}");
}

#[test]
fn endless_files_and_loops_of_links_are_refused_before_any_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = bounded(d, &["lint", "/dev/zero"], 20);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("`/dev/zero`") && err(&o).contains("character device"),
        "{}",
        err(&o)
    );
    std::os::unix::fs::symlink(d.join("b"), d.join("a")).unwrap();
    std::os::unix::fs::symlink(d.join("a"), d.join("b")).unwrap();
    let o = bounded(d, &["lint", "a"], 20);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("`a`"), "{}", err(&o));
    // The site's rules file, a program linked to /dev/zero, a command that is one.
    let site = rwho(d);
    let toml = std::fs::read_to_string(site.join("site.toml")).unwrap();
    std::fs::write(
        site.join("zero.toml"),
        toml.replace("rules = \"rules.hacmprd\"", "rules = \"/dev/zero\""),
    )
    .unwrap();
    let o = bounded(d, &["lint", "site/zero.toml"], 20);
    assert_ne!(o.status.code(), Some(0));
    assert!(err(&o).contains("character device"), "{}", err(&o));
    // A program that is /dev/zero, on the machine itself (no staging root).
    std::fs::write(
        d.join("zero.hacmprd"),
        "UE_ZERO\n0\n/dev/zero\n2\n0\n\n\n\n\n",
    )
    .unwrap();
    let o = bounded(d, &["lint", "zero.hacmprd"], 20);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("[F001]") && out.contains("character device"),
        "{out}"
    );
    // Under a staging root, a link to /dev/zero names the root's.
    let local = site.join("root/usr/sbin/cluster/local");
    std::fs::remove_file(local.join("rwho.rp")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", local.join("rwho.rp")).unwrap();
    let o = bounded(d, &["lint", "--site", "site/site.toml"], 20);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("does not exist under"), "{out}");
}

#[test]
fn a_path_that_climbs_out_of_the_root_is_refused_at_lint_and_at_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let site = rwho(d);
    let rp = site.join("root/usr/sbin/cluster/local/rwho.rp");
    std::fs::write(
        &rp,
        "all \"/usr/sbin/cluster/local/../../../../usr/bin/id\" 0 NULL\n",
    )
    .unwrap();
    let o = bounded(d, &["lint", "--site", "site/site.toml"], 20);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("[F003]"));
    let o = bounded(
        d,
        &[
            "run",
            "site/site.toml",
            "--event",
            "UE_PGMRWHO_DOWN",
            "--location",
            "1",
        ],
        20,
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(err(&o).contains("F003"), "{}", err(&o));
}

#[test]
fn a_forged_or_open_bundle_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let site = rwho(d);
    let o = bounded(d, &["compile", "site/site.toml", "-o", "bundle.json"], 20);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // A command rewritten in the bundle, its hash recomputed.
    let text = std::fs::read_to_string(d.join("bundle.json")).unwrap();
    let mut b: hacmp_compiler::Bundle = serde_json::from_str(&text).unwrap();
    let rp = b
        .programs
        .get_mut("/usr/sbin/cluster/local/rwho.rp")
        .unwrap();
    for line in &mut rp.groups[0].commands {
        line.command = hacmp_compiler::ir::Command::Exec {
            argv: vec!["/bin/sh".into(), "-c".into(), "touch pwned".into()],
        };
    }
    let b = hacmp_compiler::Bundle::new(b.site, b.rules, b.programs, b.sources);
    std::fs::write(d.join("forged.json"), serde_json::to_string(&b).unwrap()).unwrap();
    let root = site.join("root");
    let root = root.to_str().unwrap();
    std::fs::set_permissions(
        d.join("forged.json"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let run = |file: &str| {
        bounded(
            d,
            &[
                "run",
                file,
                "--root",
                root,
                "--event",
                "UE_PGMRWHO_DOWN",
                "--location",
                "2",
                "--state-dir",
                "state",
            ],
            30,
        )
    };
    let o = run("forged.json");
    assert_ne!(o.status.code(), Some(0));
    assert!(err(&o).contains("writable by"), "{}", err(&o));
    // Owner-only: it loads, but the command it names was never compiled.
    std::fs::set_permissions(
        d.join("forged.json"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let o = run("forged.json");
    assert_ne!(o.status.code(), Some(0));
    assert!(
        err(&o).contains("no content hash for `/bin/sh`"),
        "{}",
        err(&o)
    );
    assert!(!d.join("pwned").exists() && !Path::new("/pwned").exists());
    // A command changed on disk since the bundle was compiled.
    script(&site, "rwho_msg_local", "touch \"$HACMP_ROOT/out/changed\"");
    let o = run("bundle.json");
    assert_ne!(o.status.code(), Some(0));
    assert!(
        err(&o).contains("changed since the site was compiled"),
        "{}",
        err(&o)
    );
    assert!(!site.join("root/out/changed").exists());
}

/// `hacmp run` of rwho on node 2 with `rwho_msg_local` replaced by `body`.
fn run_in_background(d: &Path, body: &str, fd9: bool) -> std::process::Child {
    let site = rwho(d);
    script(&site, "rwho_msg_local", body);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hacmp"));
    cmd.args([
        "run",
        "site/site.toml",
        "--event",
        "UE_PGMRWHO_DOWN",
        "--location",
        "2",
        "--state-dir",
        "state",
    ])
    .current_dir(d)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(d.join("run.log")).unwrap());
    if fd9 {
        let f = std::fs::File::open("/etc/hostname").unwrap();
        use std::os::fd::IntoRawFd;
        let fd = f.into_raw_fd();
        // SAFETY: in the child before exec: dup2 onto 9, without close-on-exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 9) != 9 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.spawn().unwrap()
}

fn wait_for(what: &str, secs: u64, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_in(p: &Path) -> i32 {
    std::fs::read_to_string(p).unwrap().trim().parse().unwrap()
}

#[test]
fn a_command_dies_with_hacmp_run_even_of_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut run = run_in_background(d, "echo $$ > \"$HACMP_ROOT/out/pid\"; sleep 60", false);
    let pidfile = d.join("site/root/out/pid");
    wait_for("the command", 20, || {
        pidfile.exists() && std::fs::metadata(&pidfile).unwrap().len() > 0
    });
    let pid = pid_in(&pidfile);
    assert!(alive(pid));
    run.kill().unwrap();
    run.wait().unwrap();
    wait_for("the command to die with the runtime", 10, || !alive(pid));
}

#[test]
fn sigterm_of_hacmp_run_gives_the_commands_term_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut run = run_in_background(
        d,
        "trap 'echo term > \"$HACMP_ROOT/out/got\"; exit 0' TERM; echo $$ > \"$HACMP_ROOT/out/pid\"; while :; do sleep 0.1; done",
        false,
    );
    let pidfile = d.join("site/root/out/pid");
    wait_for("the command", 20, || {
        pidfile.exists() && std::fs::metadata(&pidfile).unwrap().len() > 0
    });
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let status = run.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "interrupted: the event did not complete"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("site/root/out/got"))
            .unwrap()
            .trim(),
        "term"
    );
    assert!(!alive(pid_in(&pidfile)));
}

#[test]
fn a_command_inherits_no_descriptor_of_its_caller() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut run = run_in_background(
        d,
        "if [ -e /proc/$$/fd/9 ]; then echo leaked; else echo clean; fi > \"$HACMP_ROOT/out/fd9\"",
        true,
    );
    assert_eq!(
        run.wait().unwrap().code(),
        Some(0),
        "{}",
        std::fs::read_to_string(d.join("run.log")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(d.join("site/root/out/fd9"))
            .unwrap()
            .trim(),
        "clean"
    );
}

#[test]
fn control_characters_never_reach_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut run = run_in_background(d, "printf 'ok\\r\\033[31mFORGED LINE\\033[0m\\a\\n'", false);
    assert_eq!(run.wait().unwrap().code(), Some(0));
    let log = std::fs::read(d.join("run.log")).unwrap();
    assert!(
        !log.contains(&0x1b) && !log.contains(&b'\r') && !log.contains(&0x07),
        "{}",
        String::from_utf8_lossy(&log)
    );
    assert!(String::from_utf8_lossy(&log).contains("\\u{1b}[31mFORGED"));
    // A command string with an escape in a program: the linter shows it escaped.
    let site = d.join("site");
    std::fs::write(
        site.join("root/usr/sbin/cluster/local/rwho.rp"),
        "all \"rwho\u{1b}]0;pwned\u{7}\" 0 NULL\n",
    )
    .unwrap();
    let o = bounded(d, &["lint", "--site", "site/site.toml"], 20);
    assert!(
        !o.stdout.contains(&0x1b) && !o.stdout.contains(&0x07),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("\\u{1b}]0;pwned"));
}

#[test]
fn init_writes_any_cluster_name_as_toml_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let name = "x\"\n[paths]\nroot = \"/\"\n#";
    let o = bounded(d, &["init", "site", "--name", name], 20);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = std::fs::read_to_string(d.join("site/site.toml")).unwrap();
    let t: toml::Table = text.parse().unwrap();
    assert_eq!(t["cluster"]["name"].as_str(), Some(name));
    assert_ne!(t["paths"]["root"].as_str(), Some("/"));
    let o = bounded(d, &["lint", "--site", "site/site.toml"], 20);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn a_huge_line_is_echoed_as_an_excerpt() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A predicate of 200,000 terms (1.2 MB on one line), and a name line
    // as long: each error shows a short excerpt, not the line.
    let predicate = vec!["X>1"; 200_000].join("||");
    let name = format!("UE_{}", "A".repeat(1_000_000));
    std::fs::write(
        d.join("rules.hacmprd"),
        format!(
            "{name}\n0\n/usr/sbin/cluster/local/x.rp\n2\n0\nIBM.PSSP.aixos.FS.%totused\nNodeNum=*;Mount=/tmp\n{predicate}\nX<80\n"
        ),
    )
    .unwrap();
    for format in ["human", "json"] {
        let o = bounded(
            d,
            &["lint", "--no-fs", "--format", format, "rules.hacmprd"],
            30,
        );
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("R010"),
            "{format}: {}",
            &out[..out.len().min(2000)]
        );
        assert!(
            out.len() < 20_000,
            "{format}: {} bytes of output for two errors",
            out.len()
        );
    }
}

/// `hacmp-httpd` (run as root in the HA web example) serves files beneath
/// `--dir` only: a symbolic link that leads out of it is not followed,
/// nor is `..`. Slow clients cannot take its slots: 64 connections that
/// send a header byte every second are cut off at the request deadline,
/// and a normal request is answered while they try.
#[test]
fn hacmp_httpd_serves_only_its_directory_and_outlasts_slow_clients() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello\n").unwrap();
    std::fs::write(dir.path().join("secret"), "outside\n").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret"), www.join("abs")).unwrap();
    std::os::unix::fs::symlink("../secret", www.join("rel")).unwrap();
    std::os::unix::fs::symlink("index.html", www.join("inside")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let pidfile = dir.path().join("pid");
    let mut server = Command::new(env!("CARGO_BIN_EXE_hacmp-httpd"))
        .args([
            "--listen",
            &addr,
            "--dir",
            www.to_str().unwrap(),
            "--name",
            "n1",
        ])
        .arg("--pidfile")
        .arg(&pidfile)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !pidfile.exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A connection past the cap is closed at once: that reads as an empty
    // answer here.
    let get = |path: &str| -> String {
        let mut text = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
            if write!(s, "GET {path} HTTP/1.0\r\n\r\n").is_ok() {
                let _ = s.read_to_string(&mut text);
            }
        }
        text
    };
    assert!(get("/").ends_with("\r\n\r\nhello\n"), "{}", get("/"));
    assert!(get("/inside").ends_with("hello\n"));
    assert!(get("/node").ends_with("n1\n"));
    for p in ["/abs", "/rel", "/../secret", "/%2e%2e/secret"] {
        let page = get(p);
        assert!(page.starts_with("HTTP/1.0 404"), "{p}: {page}");
        assert!(!page.contains("outside"), "{p}: {page}");
    }
    // Slow clients: one header byte a second each.
    let slow: Vec<_> = (0..64)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
                    return Duration::ZERO;
                };
                let t = Instant::now();
                for b in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
                    if s.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1000));
                }
                t.elapsed()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // While they hold every slot, a normal client is refused at once or
    // answered, and answered once the deadline frees the slots.
    let t = Instant::now();
    let mut answered = false;
    while t.elapsed() < Duration::from_secs(20) {
        if get("/").ends_with("hello\n") {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(answered, "a normal request was never answered");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "answered after {:?}",
        t.elapsed()
    );
    for h in slow {
        let held = h.join().unwrap();
        assert!(
            held < Duration::from_secs(15),
            "a slow client was held {held:?}"
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
