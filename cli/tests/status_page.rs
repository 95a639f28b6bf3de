//! `hacmpd --http`: the status page in a real headless browser (Debian's
//! `chromium`; skipped loudly without it, failed under
//! `HACMP_REQUIRE_BROWSER=1`), and its JSON, which is `hacmp status`'s.

use crate::common;
use crate::harness;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::*;

fn browser(test: &str) -> Option<PathBuf> {
    let found = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("HACMP_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("{test}: HACMP_REQUIRE_BROWSER=1 but there is no chromium (Debian: apt-get install chromium)");
        }
        eprintln!("SKIPPED {test}: no chromium (Debian: apt-get install chromium); HACMP_REQUIRE_BROWSER=1 makes this an error");
    }
    found
}

/// The page as the browser has it once its script ran.
fn dom(bin: &PathBuf, url: &str, profile: &std::path::Path) -> String {
    let o = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--virtual-time-budget=1500",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_status_page_shows_the_cluster_and_a_raised_event() {
    let test = "the_status_page_shows_the_cluster_and_a_raised_event";
    let Some(chromium) = browser(test) else {
        return;
    };
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start(test, 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    // The event's first command takes a while: the page can show it run.
    site.script("rwho_msg_local", "sleep 4\necho local");
    let page = format!("127.0.0.1:{}", free_port());
    let d1 = Daemon::spawn(
        &site,
        1,
        &url,
        base.path(),
        &["--no-monitor", "--http", &page],
    );
    until("node 1", 40, || d1.has("TE_JOIN_NODE", 1));
    let profile = base.path().join("profile");
    let shown = dom(&chromium, &format!("http://{page}/"), &profile);
    assert!(shown.contains("clstrmgr_1"), "{shown}");
    assert!(shown.contains("members 1; joining none"), "{shown}");
    assert!(
        shown.contains("node1 (1) up, node2 (2) down"),
        "every node of the site: {shown}"
    );
    assert!(
        shown.contains("<ul id=\"monitors\"><li>nothing lately</li></ul>"),
        "{shown}"
    );
    assert!(
        shown.contains("<td>1</td><td class=\"stable\">stable</td>"),
        "{shown}"
    );
    // A raised event shows within 2 s of being raised.
    let t = Instant::now();
    let o = hacmp(&[
        "raise",
        "UE_PGMRWHO_DOWN",
        "--location",
        "1",
        "--etcd",
        &url,
    ]);
    assert_eq!(o.status.code(), Some(0));
    let mut shown = String::new();
    while t.elapsed() < Duration::from_secs(10) {
        shown = dom(&chromium, &format!("http://{page}/"), &profile);
        if shown.contains("UE_PGMRWHO_DOWN at node 1") {
            break;
        }
    }
    let took = t.elapsed();
    assert!(shown.contains("UE_PGMRWHO_DOWN at node 1"), "{shown}");
    eprintln!("the page showed the raised event {took:?} after it was raised");
    assert!(
        took < Duration::from_secs(4),
        "took {took:?} (the browser's start included)"
    );
    // The JSON is `hacmp status --format json`'s.
    let json = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&page).unwrap();
        write!(s, "GET /status.json HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let cli = status(&url);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&json), keys(&cli));
    assert_eq!(json["group"], "clstrmgr_1");
}

/// `hacmp sim --html`: one page with no fetch from anywhere, legible at 128
/// nodes (columns collapsed, plain joins folded), that a browser renders.
#[test]
fn the_html_report_of_128_nodes_renders_in_a_browser() {
    let test = "the_html_report_of_128_nodes_renders_in_a_browser";
    let dir = tempfile::tempdir().unwrap();
    let site_dir = dir.path().join("site");
    common::copy_tree(&common::repo().join("examples/rwho"), &site_dir);
    let site = site_dir.join("site.toml");
    let extra: String = (5..=128)
        .map(|k| format!("[[node]]\nnumber = {k}\nname = \"node{k}\"\n\n"))
        .collect();
    let text = std::fs::read_to_string(&site)
        .unwrap()
        .replace("[paths]", &format!("{extra}[paths]"));
    std::fs::write(&site, text).unwrap();
    let nodes: Vec<String> = (1..=128).map(|k| k.to_string()).collect();
    let sc = dir.path().join("sc.toml");
    std::fs::write(
        &sc,
        format!(
            "site = {:?}\n[[at]]\ntime = \"0s\"\nstart = [{}]\n[[at]]\ntime = \"60s\"\nraise = {{ event = \"UE_PGMRWHO_DOWN\", location = 3 }}\n\
             [[override]]\ncommand = \"/usr/sbin/cluster/local/rwho_msg_remote\"\nnode = 7\nstatus = 2\ntimes = 1\n\
             [[at]]\nwhen = {{ failure = true }}\nresume = {{ decision = \"continue\" }}\n",
            site.display().to_string(),
            nodes.join(", ")
        ),
    )
    .unwrap();
    let html = dir.path().join("r.html");
    let o = hacmp(&[
        "sim",
        sc.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("src="),
        "self-contained"
    );
    assert!(page.len() < 400_000, "{} bytes", page.len());
    assert!(
        page.contains("#1–#128 TE_JOIN_NODE: 128 joins, all"),
        "plain joins folded"
    );
    assert!(
        page.contains("<th>nodes 1, 2, 4–6, 8–128</th><th>node 3</th><th>node 7</th>"),
        "columns collapsed"
    );
    let Some(chromium) = browser(test) else {
        return;
    };
    let shown = dom(
        &chromium,
        &format!("file://{}", html.display()),
        &dir.path().join("profile"),
    );
    assert!(
        shown.contains("#129 UE_PGMRWHO_DOWN at node 3"),
        "{}",
        &shown[..shown.len().min(2000)]
    );
    assert!(shown.contains("node 7: ✗ FAILED"), "the failure in full");
}
