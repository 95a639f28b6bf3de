//! The resource monitor for Linux: samples the variables of the catalog that
//! the rules use, for this node's own instances only.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hacmp_compiler::predicate::Scalar;
use hacmp_grammar::ast::Pattern;

use super::engine::EmRule;
use super::{Instance, Observation};
use hacmp_model::event::NodeId;

pub const XPCOUNT: &str = "IBM.PSSP.Prog.xpcount";
pub const PCOUNT: &str = "IBM.PSSP.Prog.pcount";
pub const FS_USED: &str = "IBM.PSSP.aixos.FS.%totused";
pub const SWAP_FREE: &str = "IBM.PSSP.aixos.PagSp.%totalfree";
pub const MEM_FREE: &str = "IBM.PSSP.aixos.Mem.Real.%free";
pub const CPU_IDLE: &str = "IBM.PSSP.aixos.CPU.glidle";

/// The kernel keeps 15 bytes of a process name.
const COMM_LEN: usize = 15;

/// Over how long the first CPU idle sample is measured.
const CPU_FIRST_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// What to watch for one process-count variable: (program, user) patterns.
#[derive(Clone, Debug, Default)]
struct ProcWatch {
    patterns: Vec<(Pattern, Pattern)>,
}

pub struct Monitor {
    node: NodeId,
    variables: BTreeSet<String>,
    procs: BTreeMap<String, ProcWatch>,
    mounts: Vec<Pattern>,
    /// Last counts per (variable, program, user), for `previous` and for
    /// reporting processes that vanished.
    last_counts: HashMap<(String, String, String), i64>,
    last_cpu: Option<(u64, u64)>,
    users: HashMap<u32, String>,
}

fn pattern_of(c: &hacmp_compiler::ir::Condition, element: &str) -> Pattern {
    c.instance
        .iter()
        .find(|(n, _)| n == element)
        .map_or(Pattern::Any, |(_, p)| p.clone())
}

impl Monitor {
    /// A monitor for the rules' variables, sampling `node`'s instances.
    pub fn new(rules: &[EmRule], node: NodeId) -> Monitor {
        let mut m = Monitor {
            node,
            variables: BTreeSet::new(),
            procs: BTreeMap::new(),
            mounts: Vec::new(),
            last_counts: HashMap::new(),
            last_cpu: None,
            users: HashMap::new(),
        };
        for r in rules {
            let c = &r.condition;
            // Only rules that can concern this node.
            match pattern_of(c, "NodeNum") {
                Pattern::Exact(n) if n != node.to_string() => continue,
                _ => {}
            }
            match c.variable.as_str() {
                XPCOUNT | PCOUNT => {
                    m.procs
                        .entry(c.variable.clone())
                        .or_default()
                        .patterns
                        .push((pattern_of(c, "ProgName"), pattern_of(c, "UserName")));
                }
                FS_USED => m.mounts.push(pattern_of(c, "Mount")),
                SWAP_FREE | MEM_FREE | CPU_IDLE => {}
                _ => continue,
            }
            m.variables.insert(c.variable.clone());
        }
        m
    }

    /// Whether the monitor samples anything at all.
    pub fn is_empty(&self) -> bool {
        self.variables.is_empty()
    }

    fn base(&self) -> Instance {
        Instance::from([("NodeNum".to_string(), self.node.to_string())])
    }

    /// One sample of every watched variable.
    pub fn sample(&mut self) -> Vec<Observation> {
        let mut out = Vec::new();
        if !self.procs.is_empty() {
            self.sample_procs(&mut out);
        }
        if self.variables.contains(FS_USED) {
            self.sample_fs(&mut out);
        }
        if self.variables.contains(SWAP_FREE) || self.variables.contains(MEM_FREE) {
            if let Some(mem) = read_meminfo() {
                let pct = |a: u64, t: u64| {
                    if t == 0 {
                        100.0
                    } else {
                        a as f64 * 100.0 / t as f64
                    }
                };
                if self.variables.contains(SWAP_FREE) {
                    let v = pct(
                        mem.get("SwapFree").copied().unwrap_or(0),
                        mem.get("SwapTotal").copied().unwrap_or(0),
                    );
                    out.push(Observation {
                        variable: SWAP_FREE.into(),
                        instance: self.base(),
                        value: vec![Scalar::Float(v)],
                    });
                }
                if self.variables.contains(MEM_FREE) {
                    let v = pct(
                        mem.get("MemAvailable").copied().unwrap_or(0),
                        mem.get("MemTotal").copied().unwrap_or(0),
                    );
                    out.push(Observation {
                        variable: MEM_FREE.into(),
                        instance: self.base(),
                        value: vec![Scalar::Float(v)],
                    });
                }
            }
        }
        if self.variables.contains(CPU_IDLE) {
            if self.last_cpu.is_none() {
                // The first reading is the average since boot: measure
                // over a short interval instead (this runs on a blocking
                // thread of its own).
                self.last_cpu = read_cpu();
                std::thread::sleep(CPU_FIRST_INTERVAL);
            }
            if let Some((idle, total)) = read_cpu() {
                let (pi, pt) = self.last_cpu.unwrap_or((0, 0));
                let (di, dt) = (idle.saturating_sub(pi), total.saturating_sub(pt));
                self.last_cpu = Some((idle, total));
                let v = if dt == 0 {
                    100.0
                } else {
                    di as f64 * 100.0 / dt as f64
                };
                out.push(Observation {
                    variable: CPU_IDLE.into(),
                    instance: self.base(),
                    value: vec![Scalar::Float(v)],
                });
            }
        }
        out
    }

    fn user(&mut self, uid: u32) -> String {
        if let Some(u) = self.users.get(&uid) {
            return u.clone();
        }
        let name = user_name(uid).unwrap_or_else(|| uid.to_string());
        self.users.insert(uid, name.clone());
        name
    }

    fn sample_procs(&mut self, out: &mut Vec<Observation>) {
        // (name, user) → pids; names as users write them (not the
        // kernel's 15-byte `comm`) where the process says.
        let mut seen: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
        for p in processes() {
            let user = self.user(p.uid);
            seen.entry((p.name, user)).or_default().push(p.pid);
        }
        let procs = std::mem::take(&mut self.procs);
        for (variable, watch) in &procs {
            // Instances to report: (program, user). A rule that leaves an
            // element out matches every instance of it, so there is no
            // combined instance beside the per-user ones.
            let mut report: BTreeSet<(String, String)> = BTreeSet::new();
            for (prog, user) in &watch.patterns {
                for (p, u) in seen.keys() {
                    let user_ok = match user {
                        Pattern::Any => true,
                        Pattern::Exact(x) => x == u,
                    };
                    if user_ok && name_matches(prog, p) {
                        report.insert((p.clone(), u.clone()));
                    }
                }
                // An exact program and user are reported even with no
                // process.
                if let (Pattern::Exact(x), Pattern::Exact(u)) = (prog, user) {
                    let shown = seen
                        .keys()
                        .find(|(p, pu)| pu == u && name_matches(prog, p))
                        .map_or_else(|| x.clone(), |(p, _)| p.clone());
                    report.insert((shown, u.clone()));
                }
            }
            // Processes seen last time and gone now are reported as 0.
            for (v, p, u) in self.last_counts.keys() {
                if v == variable {
                    report.insert((p.clone(), u.clone()));
                }
            }
            for (prog, user) in report {
                let mut pids: Vec<u32> = seen
                    .get(&(prog.clone(), user.clone()))
                    .cloned()
                    .unwrap_or_default();
                pids.sort_unstable();
                let count = pids.len() as i64;
                let key = (variable.clone(), prog.clone(), user.clone());
                let previous = self.last_counts.get(&key).copied().unwrap_or(count);
                if count == 0 && previous == 0 && !watch_names(&watch.patterns, &prog, &user) {
                    // A vanished instance reported once; forget it.
                    self.last_counts.remove(&key);
                    continue;
                }
                self.last_counts.insert(key, count);
                let mut instance = self.base();
                instance.insert("ProgName".into(), prog.clone());
                instance.insert("UserName".into(), user.clone());
                let pids: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
                out.push(Observation {
                    variable: variable.clone(),
                    instance,
                    value: vec![
                        Scalar::Int(count),
                        Scalar::Int(previous),
                        Scalar::Str(pids.join(",")),
                    ],
                });
            }
        }
        self.procs = procs;
    }

    fn sample_fs(&mut self, out: &mut Vec<Observation>) {
        let Ok(text) = std::fs::read_to_string("/proc/self/mounts") else {
            return;
        };
        let mut done = BTreeSet::new();
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (Some(dev), Some(mnt)) = (f.next(), f.next()) else {
                continue;
            };
            let mnt = unescape_mount(mnt);
            let wanted = self.mounts.iter().any(|p| match p {
                Pattern::Any => true,
                Pattern::Exact(m) => *m == mnt,
            });
            if !wanted || !done.insert(mnt.clone()) {
                continue;
            }
            let Some(used) = percent_used(&mnt) else {
                continue;
            };
            let mut instance = self.base();
            instance.insert("Mount".into(), mnt.clone());
            if let Some((vg, lv)) = lvm_names(dev) {
                instance.insert("VG".into(), vg);
                instance.insert("LV".into(), lv);
            }
            out.push(Observation {
                variable: FS_USED.into(),
                instance,
                value: vec![Scalar::Float(used)],
            });
        }
    }
}

fn watch_names(patterns: &[(Pattern, Pattern)], prog: &str, user: &str) -> bool {
    patterns.iter().any(|(p, u)| {
        matches!(p, Pattern::Exact(_))
            && name_matches(p, prog)
            && matches!(u, Pattern::Exact(x) if x == user)
    })
}

/// Whether a process named `name` is the program a rule names. A name of
/// 15 bytes may be the kernel's cut of a longer one (when the process did
/// not say its full name).
fn name_matches(prog: &Pattern, name: &str) -> bool {
    match prog {
        Pattern::Any => true,
        Pattern::Exact(x) => x == name || (name.len() == COMM_LEN && truncate(x) == name),
    }
}

fn truncate(name: &str) -> &str {
    let mut end = name.len().min(COMM_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// A process as the monitor counts it.
pub struct Proc {
    pub pid: u32,
    /// The program's name as users write it: the kernel's `comm` when it
    /// is whole, else the base name of `argv[0]` or of the executable that
    /// it begins.
    pub name: String,
    pub uid: u32,
}

/// Every running process (zombies are not).
pub fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(a), Some(b)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[a + 1..b].to_string();
        // A zombie is not a running process.
        if stat[b + 1..].split_whitespace().next() == Some("Z") {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse().ok())
            .unwrap_or(u32::MAX);
        let name = if comm.len() >= COMM_LEN {
            full_name(pid, &comm).unwrap_or(comm)
        } else {
            comm
        };
        out.push(Proc { pid, name, uid });
    }
    out
}

/// The whole name of a process whose `comm` was cut: `argv[0]`'s base name,
/// else the executable's, when it begins with `comm`.
fn full_name(pid: u32, comm: &str) -> Option<String> {
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline
        .split(|b| *b == 0)
        .next()
        .map(|a| base(&String::from_utf8_lossy(a)));
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| base(&p.to_string_lossy()));
    [argv0, exe]
        .into_iter()
        .flatten()
        .find(|n| n.len() > comm.len() && n.starts_with(comm))
}

fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _ = f.next();
        (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

fn read_meminfo() -> Option<HashMap<String, u64>> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    Some(
        text.lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.to_string(), v.split_whitespace().next()?.parse().ok()?))
            })
            .collect(),
    )
}

/// (idle, total) jiffies of all CPUs since boot.
fn read_cpu() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    // guest time is already in user time.
    let total: u64 = v.iter().take(8).sum();
    Some((idle, total))
}

/// Percent of blocks used, as `df` computes it.
pub fn percent_used(path: &str) -> Option<f64> {
    let s = rustix::fs::statvfs(path).ok().filter(|s| s.f_blocks != 0)?;
    let used = (s.f_blocks - s.f_bfree) as f64;
    let avail = s.f_bavail as f64;
    Some(if used + avail == 0.0 {
        0.0
    } else {
        used * 100.0 / (used + avail)
    })
}

/// `/proc/mounts` writes blanks and backslashes as octal escapes.
fn unescape_mount(m: &str) -> String {
    let mut out = Vec::new();
    let b = m.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/dev/mapper/vg-lv` → (vg, lv); LVM doubles dashes inside names.
fn lvm_names(dev: &str) -> Option<(String, String)> {
    let name = dev.strip_prefix("/dev/mapper/")?;
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            if i + 1 < b.len() && b[i + 1] == b'-' {
                i += 2;
                continue;
            }
            return Some((
                name[..i].replace("--", "-"),
                name[i + 1..].replace("--", "-"),
            ));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lvm_and_mount_names() {
        assert_eq!(
            lvm_names("/dev/mapper/rootvg-home--lv"),
            Some(("rootvg".into(), "home-lv".into()))
        );
        assert_eq!(lvm_names("/dev/sda1"), None);
        assert_eq!(unescape_mount("/mnt/my\\040disk"), "/mnt/my disk");
    }
}
