//! The event journal: one structured record per event (why it ran next, its
//! membership, per node and command: start, end, status, barrier arrivals,
//! operator decisions), kept in memory and written as JSON lines.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;

use hacmp_model::clock::{monotonic_us, unix_ms};
use hacmp_model::event::{NodeId, Outcome};
use hacmp_model::ClaimedEvent;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    CommandStart,
    CommandEnd,
    BarrierArrive,
    BarrierDone,
    CbarrierDone,
    /// The manager changed state (`detail`).
    State,
    /// A command's status was not the expected one (`detail` says why).
    Failure,
    /// An operator's decision (`detail`).
    Decision,
    /// The event ended early on this node (`detail`).
    Stopped,
    /// A queued event an operator cancelled (`detail`).
    Cancelled,
    /// A resource group or resource changed (`command`: group or
    /// group/resource; `detail`: what happened).
    Resource,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub node: NodeId,
    pub kind: RecordKind,
    /// Milliseconds since the journal started.
    pub t_ms: u64,
    /// Wall clock, milliseconds since the Unix epoch (comparable across the
    /// journals of several daemons on one machine or with synced clocks).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wall_ms: u64,
    /// The machine's monotonic clock, microseconds since boot: exact
    /// intervals between the records of daemons on one machine.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mono_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodeset: Option<String>,
    /// 1-based group (for commands) or barrier number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// For commands: `main`, `notify`, `pre`, `post`, `recovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// For a command's end: whether its status was the expected one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Record {
    /// A resource group's own transition (`command` is the group), not one
    /// of its resources' (`group/resource`).
    pub fn is_group_change(&self) -> bool {
        self.kind == RecordKind::Resource && !self.command.as_deref().unwrap_or("").contains('/')
    }

    pub fn new(node: NodeId, kind: RecordKind, t_ms: u64) -> Record {
        Record {
            node,
            kind,
            t_ms,
            wall_ms: unix_ms(),
            mono_us: monotonic_us(),
            command: None,
            nodeset: None,
            group: None,
            status: None,
            role: None,
            ok: None,
            detail: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventEntry {
    pub seq: u64,
    pub name: String,
    pub state: i64,
    pub location: NodeId,
    pub why: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub queued_at: String,
    pub membership: Vec<NodeId>,
    /// Where the event places resource groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<hacmp_model::placement::Placement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub records: Vec<Record>,
}

/// One line of the journal file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// Written when an event starts, so that a restart can tell what was
    /// interrupted.
    Begin {
        seq: u64,
        name: String,
        location: NodeId,
        membership: Vec<NodeId>,
    },
    /// The whole record, written when the event ends.
    Event(EventEntry),
}

/// A record as it happens, for watchers (the simulator's triggers, live
/// progress).
#[derive(Clone, Debug)]
pub struct LiveRecord {
    pub seq: u64,
    pub event: String,
    pub record: Record,
}

/// Ended events a file-backed journal keeps in memory too.
const KEPT: usize = 64;

pub struct Journal {
    epoch: Instant,
    file: Option<Mutex<std::fs::File>>,
    path: Option<std::path::PathBuf>,
    open: Mutex<BTreeMap<u64, EventEntry>>,
    done: Mutex<Vec<EventEntry>>,
    feed: broadcast::Sender<LiveRecord>,
    /// Ended events kept in memory (a daemon's file has its history).
    kept: usize,
    /// Told each event as it ends (metrics).
    on_end: Mutex<Option<EndHook>>,
    /// Given each event as it ends, instead of keeping it.
    sink: Mutex<Option<Sink>>,
}

type EndHook = Box<dyn Fn(&EventEntry) + Send + Sync>;
type Sink = Box<dyn FnMut(EventEntry) + Send>;

impl Journal {
    /// Keeps every ended event in memory too (a simulation's outputs need
    /// them all, whatever its file holds).
    pub fn keeping_all(mut self: Arc<Self>) -> Arc<Journal> {
        if let Some(j) = Arc::get_mut(&mut self) {
            j.kept = usize::MAX;
        }
        self
    }

    /// Calls `f` with every event as it ends.
    pub fn on_end(&self, f: impl Fn(&EventEntry) + Send + Sync + 'static) {
        *self.on_end.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    /// Ended events go to `f` instead of being kept: a simulation of
    /// thousands of nodes renders each as it ends, not all at the end.
    pub fn hand_over(&self, f: impl FnMut(EventEntry) + Send + 'static) {
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    /// A journal kept in memory only.
    pub fn in_memory() -> Arc<Journal> {
        Arc::new(Journal {
            epoch: Instant::now(),
            file: None,
            path: None,
            open: Mutex::new(BTreeMap::new()),
            done: Mutex::new(Vec::new()),
            feed: broadcast::channel(4096).0,
            kept: usize::MAX,
            on_end: Mutex::new(None),
            sink: Mutex::new(None),
        })
    }

    /// A journal appended to `dir/journal.jsonl`.
    pub fn in_dir(dir: &Path) -> std::io::Result<Arc<Journal>> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("journal.jsonl");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let mut j = Arc::into_inner(Self::in_memory()).unwrap_or_else(|| unreachable!("fresh Arc"));
        j.file = Some(Mutex::new(f));
        j.path = Some(path);
        j.kept = KEPT;
        Ok(Arc::new(j))
    }

    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveRecord> {
        self.feed.subscribe()
    }

    fn write(&self, line: &Line) {
        if let Some(f) = &self.file {
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(mut s) = serde_json::to_string(line) {
                s.push('\n');
                if let Err(e) = f.write_all(s.as_bytes()).and_then(|_| f.flush()) {
                    tracing::error!("cannot write the journal: {e}");
                }
            }
        }
    }

    /// Opens the record of an event (once, however many nodes call it).
    pub fn begin(&self, ev: &ClaimedEvent) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.contains_key(&ev.seq) {
            return;
        }
        let r = &ev.event.request;
        open.insert(
            ev.seq,
            EventEntry {
                seq: ev.seq,
                name: r.name.clone(),
                state: r.state,
                location: r.location,
                why: ev.why.clone(),
                queued_at: ev.event.queued_at.clone(),
                membership: ev.membership.clone(),
                placement: ev.placement.as_ref().map(|p| p.after.clone()),
                outcome: None,
                records: Vec::new(),
            },
        );
        drop(open);
        self.write(&Line::Begin {
            seq: ev.seq,
            name: r.name.clone(),
            location: r.location,
            membership: ev.membership.clone(),
        });
    }

    pub fn record(&self, seq: u64, record: Record) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = open.get_mut(&seq) else { return };
        // (No copy for nobody: a simulation records millions.)
        if self.feed.receiver_count() > 0 {
            let _ = self.feed.send(LiveRecord {
                seq,
                event: e.name.clone(),
                record: record.clone(),
            });
        }
        e.records.push(record);
    }

    /// Closes the record of an event and writes it.
    pub fn end(&self, seq: u64, outcome: Outcome) {
        let Some(mut e) = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seq)
        else {
            return;
        };
        e.outcome = Some(outcome);
        if self.file.is_some() {
            self.write(&Line::Event(e.clone()));
        }
        if let Some(f) = self
            .on_end
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            f(&e);
        }
        if let Some(sink) = self.sink.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            sink(e);
            return;
        }
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        done.push(e);
        // A daemon's journal keeps its history in its file, not in memory.
        if done.len() > self.kept {
            let extra = done.len() - self.kept;
            done.drain(..extra);
        }
    }

    /// Every ended event, in order (for a journal with a file, the last
    /// ones; the file has them all).
    pub fn events(&self) -> Vec<EventEntry> {
        let mut v = self.done.lock().unwrap_or_else(|p| p.into_inner()).clone();
        v.sort_by_key(|e| e.seq);
        v
    }

    /// Every ended event, in order, moved out of the journal (which then
    /// holds none): a large run is not held twice.
    pub fn take_events(&self) -> Vec<EventEntry> {
        let mut v = std::mem::take(&mut *self.done.lock().unwrap_or_else(|p| p.into_inner()));
        v.sort_by_key(|e| e.seq);
        v
    }

    /// Events begun and not ended (still running, or interrupted).
    pub fn open_events(&self) -> Vec<EventEntry> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// An event begun and never ended in a journal file.
#[derive(Clone, Debug, PartialEq)]
pub struct Begun {
    pub seq: u64,
    pub name: String,
    pub location: NodeId,
    pub membership: Vec<NodeId>,
}

/// Reads a journal file: the ended events, and the begun events that never
/// ended (interrupted by a crash).
pub fn read_journal(path: &Path) -> std::io::Result<(Vec<EventEntry>, Vec<Begun>)> {
    let mut ended = Vec::new();
    let begun = scan(path, |e| ended.push(e))?;
    Ok((ended, begun))
}

/// Reads a journal line by line, handing each ended event to `ended`;
/// returns the events begun and never ended.
fn scan(path: &Path, mut ended: impl FnMut(EventEntry)) -> std::io::Result<Vec<Begun>> {
    use std::io::BufRead;
    let limit = hacmp_compiler::input::Limit {
        bytes: u64::MAX,
        what: "a journal",
    };
    // Read as it goes: a long-running daemon's journal is large.
    let (f, _) = hacmp_compiler::input::open(path, limit)?;
    let mut begun: BTreeMap<u64, Begun> = BTreeMap::new();
    for line in std::io::BufReader::new(f).lines() {
        let Ok(line) = line else { continue };
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Begin {
                seq,
                name,
                location,
                membership,
            }) => {
                begun.insert(
                    seq,
                    Begun {
                        seq,
                        name,
                        location,
                        membership,
                    },
                );
            }
            Ok(Line::Event(e)) => {
                begun.remove(&e.seq);
                ended(e);
            }
            // A line cut by a crash: the rest is still worth reading.
            Err(_) => continue,
        }
    }
    Ok(begun.into_values().collect())
}

impl Journal {
    /// Closes, as interrupted on this node, the events a previous run of
    /// this journal's daemon began and never ended; returns them.
    pub fn close_interrupted(&self, node: NodeId) -> Vec<Begun> {
        let Some(path) = &self.path else {
            return Vec::new();
        };
        let Ok(begun) = scan(path, |_| {}) else {
            return Vec::new();
        };
        for b in &begun {
            let mut r = Record::new(node, RecordKind::Stopped, self.now_ms());
            r.detail = Some("interrupted: the daemon stopped while the event ran".into());
            self.write(&Line::Event(EventEntry {
                seq: b.seq,
                name: b.name.clone(),
                state: 0,
                location: b.location,
                why: String::new(),
                queued_at: String::new(),
                membership: b.membership.clone(),
                placement: None,
                outcome: Some(Outcome::Interrupted),
                records: vec![r],
            }));
        }
        begun
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
