//! Lint throughput on a generated site of 10,000 user-defined events, each
//! with a predicate, a rearm predicate and its own `.rp` file, against a
//! baseline measured in the same run that only reads the same files and
//! splits them into lines.
//!
//! Then peak memory: the heap at its highest while linting a 20 MB rules
//! file, against the heap of only reading it (target: at most 4x the input).
//!
//! `cargo bench -p hacmp-compiler --bench lint [-- EVENTS]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use hacmp_compiler::{lint, LintOptions};

/// The system allocator, counting the bytes in use and their peak while
/// `COUNTING` is set (only around the memory measurement: the counting
/// would slow the timed runs).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static IN_USE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            let size = layout.size() as isize;
            PEAK.fetch_max(
                IN_USE.fetch_add(size, Ordering::Relaxed) + size,
                Ordering::Relaxed,
            );
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            IN_USE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        System.dealloc(p, layout)
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new);
        if !q.is_null() && COUNTING.load(Ordering::Relaxed) {
            let grown = new as isize - layout.size() as isize;
            PEAK.fetch_max(
                IN_USE.fetch_add(grown, Ordering::Relaxed) + grown,
                Ordering::Relaxed,
            );
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The peak heap taken while `f` runs (memory it frees that was taken
/// before counts as negative).
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    IN_USE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let out = f();
    COUNTING.store(false, Ordering::Relaxed);
    (out, PEAK.load(Ordering::Relaxed).max(0) as usize)
}

const VARIABLES: &[(&str, &str, &str, &str)] = &[
    (
        "IBM.PSSP.Prog.xpcount",
        "NodeNum=*;ProgName=app{i};UserName=root",
        "X@0==0&&X@1!=0",
        "X@0>0",
    ),
    (
        "IBM.PSSP.aixos.FS.%totused",
        "NodeNum={n};Mount=/data{i}",
        "X>90",
        "X<80",
    ),
    (
        "IBM.PSSP.aixos.PagSp.%totalfree",
        "NodeNum={n}",
        "X<10",
        "X>20",
    ),
    (
        "IBM.PSSP.pm.User_state3",
        "NodeNum=*",
        "X@0==\"FAILED{i}\"",
        "X@0!=\"FAILED{i}\"",
    ),
];

fn generate(dir: &Path, events: usize) -> (PathBuf, Vec<PathBuf>) {
    let root = dir.join("root");
    let local = root.join("usr/sbin/cluster/local");
    fs::create_dir_all(&local).unwrap();
    for cmd in ["app_msg", "app_restart", "app_done"] {
        let p = local.join(cmd);
        fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut rules = String::from("# generated site\n");
    let mut files = Vec::new();
    for i in 0..events {
        let (var, iv, p, r) = VARIABLES[i % VARIABLES.len()];
        let n = (i % 16 + 1).to_string();
        let fill = |s: &str| s.replace("{i}", &i.to_string()).replace("{n}", &n);
        let rp = format!("/usr/sbin/cluster/local/ue{i}.rp");
        rules.push_str(&format!(
            "#\n# user event {i}\n#\nUE_APP_{i}\n0\n{rp}\n2\n0\n{var}\n{}\n{}\n{}\n",
            fill(iv),
            fill(p),
            fill(r)
        ));
        let path = root.join(rp.trim_start_matches('/'));
        fs::write(
            &path,
            format!(
                "# recovery of user event {i}\nother \"/usr/sbin/cluster/local/app_msg remote\" 0 NULL\nevent \"/usr/sbin/cluster/local/app_msg local\" 0 NULL\nbarrier\nevent \"/usr/sbin/cluster/local/app_restart\" 0 NULL\nbarrier\nall \"/usr/sbin/cluster/local/app_done\" X NULL\n"
            ),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        files.push(path);
    }
    let rules_path = dir.join("rules.hacmprd");
    fs::write(&rules_path, rules).unwrap();
    files.insert(0, rules_path.clone());
    (rules_path, files)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let (rules, files) = generate(dir.path(), events);
    let bytes: u64 = files.iter().map(|f| fs::metadata(f).unwrap().len()).sum();
    let opts = LintOptions {
        root: Some(dir.path().join("root")),
        ..LintOptions::new()
    };

    // Warm the page cache and check the site is clean.
    let l = lint(std::slice::from_ref(&rules), &opts).unwrap();
    assert!(
        !l.has_errors(),
        "generated site has errors: {:?}",
        &l.diagnostics[..l.diagnostics.len().min(3)]
    );
    assert_eq!(l.rules.len(), events);

    let runs = 7;
    let mut base = Vec::new();
    let mut full = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut lines = 0usize;
        for f in &files {
            let text = fs::read_to_string(f).unwrap();
            lines += text.lines().count();
        }
        std::hint::black_box(lines);
        base.push(t.elapsed());

        let t = Instant::now();
        let l = lint(std::slice::from_ref(&rules), &opts).unwrap();
        std::hint::black_box(&l);
        full.push(t.elapsed());
    }
    let (b, f) = (median(base), median(full));
    let mb = bytes as f64 / 1e6;
    println!(
        "site: {events} user events, {} files, {:.2} MB",
        files.len(),
        mb
    );
    println!(
        "baseline (read + split lines): {:>9.2} ms  {:>8.1} MB/s",
        b.as_secs_f64() * 1e3,
        mb / b.as_secs_f64()
    );
    println!(
        "lint (end to end, fs checks):  {:>9.2} ms  {:>8.1} MB/s  {:>9.0} events/s",
        f.as_secs_f64() * 1e3,
        mb / f.as_secs_f64(),
        events as f64 / f.as_secs_f64()
    );
    println!(
        "ratio lint / baseline: {:.1}x (target: at most 25x, and at least 20 MB/s)",
        f.as_secs_f64() / b.as_secs_f64()
    );
    memory(dir.path());
}

/// Peak heap of linting a large rules file whose events share one program.
fn memory(dir: &Path) {
    let (_, files) = generate(&dir.join("one"), 1);
    let rp = "/usr/sbin/cluster/local/ue0.rp";
    let mut rules = String::new();
    let mut i = 0;
    while rules.len() < 20_000_000 {
        let (var, iv, p, r) = VARIABLES[i % VARIABLES.len()];
        let n = (i % 16 + 1).to_string();
        let fill = |s: &str| s.replace("{i}", &i.to_string()).replace("{n}", &n);
        rules.push_str(&format!(
            "#\n# user event {i}\n#\nUE_APP_{i}\n0\n{rp}\n2\n0\n{var}\n{}\n{}\n{}\n",
            fill(iv),
            fill(p),
            fill(r)
        ));
        i += 1;
    }
    let path = dir.join("big.hacmprd");
    fs::write(&path, &rules).unwrap();
    drop(rules);
    drop(files);
    let size = fs::metadata(&path).unwrap().len() as f64;
    let (_, read) = peak_of(|| std::hint::black_box(fs::read(&path).unwrap()).len());
    let opts = |diagnostics_only| LintOptions {
        root: Some(dir.join("one/root")),
        diagnostics_only,
        ..LintOptions::new()
    };
    let (l, linting) = peak_of(|| lint(std::slice::from_ref(&path), &opts(true)).unwrap());
    assert!(
        !l.has_errors(),
        "{:?}",
        &l.diagnostics[..l.diagnostics.len().min(3)]
    );
    drop(l);
    let (l, lowering) = peak_of(|| lint(std::slice::from_ref(&path), &opts(false)).unwrap());
    assert_eq!(l.rules.len(), i);
    drop(l);
    let mb = |b: usize| b as f64 / 1e6;
    println!("memory: {i} user events in {:.1} MB of rules", size / 1e6);
    println!(
        "baseline (read the file):      peak heap {:>8.1} MB  {:.2}x the input",
        mb(read),
        read as f64 / size
    );
    println!(
        "hacmp-lint (diagnostics only): peak heap {:>8.1} MB  {:.2}x the input (target: at most 4x)",
        mb(linting),
        linting as f64 / size
    );
    println!(
        "lint keeping the IR (compile): peak heap {:>8.1} MB  {:.2}x the input",
        mb(lowering),
        lowering as f64 / size
    );
}
