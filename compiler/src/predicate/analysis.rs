//! Static questions about predicates: can the predicate and its rearm
//! predicate hold at once (R012), is a predicate constant (R016). Each
//! answer is proven or left open, never guessed. Values tried (the
//! constants of both predicates, their neighbours, ordinary numbers) give
//! witnesses: a value where something holds proves that it can. Proofs
//! that something cannot hold come from running the predicates on
//! intervals (`interval`) over boxes of the values they read, split where
//! the answer is not yet certain, within a budget; what the budget does not
//! settle stays open ("could not decide"). Values are finite numbers and
//! any string.

use std::fmt;

use hacmp_stdlib::{ScalarType, ValueType};

use super::eval::Observation;
use super::interval::{self, Region, Slot};
use super::{Atom, CompiledPredicate, Op, Scalar, StrRef};

/// Most combinations of values tried.
const MAX_SAMPLES: usize = 4096;

/// Values on which something holds, for the message.
#[derive(Clone, Debug, PartialEq)]
pub struct Witness(pub Vec<(String, Scalar)>);

impl fmt::Display for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name} = {v}")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Constants {
    ints: Vec<i64>,
    floats: Vec<f64>,
    strings: Vec<String>,
}

fn constants(preds: &[&CompiledPredicate]) -> Constants {
    let mut c = Constants::default();
    for p in preds {
        for op in &p.ops {
            match op {
                Op::PushI(v) | Op::CmpAtomI(_, _, v) => c.ints.push(*v),
                Op::PushF(v) | Op::CmpAtomF(_, _, v) => c.floats.push(*v),
                Op::StrCmp(a, b, _) => {
                    for r in [a, b] {
                        if let StrRef::Const(i) = r {
                            if let Some(s) = p.strings.get(*i as usize) {
                                c.strings.push(s.clone());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    c
}

fn candidates(t: ScalarType, c: &Constants) -> Vec<Scalar> {
    let mut out = Vec::new();
    match t {
        ScalarType::Int => {
            let mut v: Vec<i64> = vec![0, 1, -1, 2, 100];
            for k in c
                .ints
                .iter()
                .copied()
                .chain(c.floats.iter().map(|f| f.floor() as i64))
            {
                v.extend([k.saturating_sub(1), k, k.saturating_add(1)]);
            }
            for f in &c.floats {
                v.push(f.ceil() as i64);
            }
            v.sort_unstable();
            v.dedup();
            out.extend(v.into_iter().map(Scalar::Int));
        }
        ScalarType::Float => {
            let mut v: Vec<f64> = vec![0.0, 1.0, -1.0, 50.0, 100.0];
            for k in c
                .floats
                .iter()
                .copied()
                .chain(c.ints.iter().map(|i| *i as f64))
            {
                v.extend([k - 1.0, k - 0.5, k, k + 0.5, k + 1.0]);
            }
            v.retain(|x| x.is_finite());
            v.sort_by(f64::total_cmp);
            v.dedup();
            out.extend(v.into_iter().map(Scalar::Float));
        }
        ScalarType::String => {
            let mut v = vec![String::new(), "other".to_string()];
            v.extend(c.strings.iter().cloned());
            v.sort();
            v.dedup();
            out.extend(v.into_iter().map(Scalar::Str));
        }
    }
    out
}

/// The strings that stand for all: each constant, and one that is none of
/// them.
fn string_values(c: &Constants) -> Vec<Scalar> {
    let mut v: Vec<String> = c.strings.clone();
    v.sort();
    v.dedup();
    let mut other = String::from("other");
    while v.contains(&other) {
        other.push('_');
    }
    v.push(other);
    v.into_iter().map(Scalar::Str).collect()
}

/// The slots of an observation: (label, type) for current fields, and
/// whether a previous value exists.
fn slots(var: &ValueType) -> (Vec<(String, ScalarType)>, bool) {
    match var {
        ValueType::Scalar(t) => (vec![("X".into(), *t), ("X@P".into(), *t)], true),
        ValueType::Sbs(fields) => (
            fields
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("X@{i}"), *t))
                .collect(),
            false,
        ),
    }
}

/// Whether something can happen: proven either way, or left open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Can {
    Yes,
    No,
    Open,
}

/// The overlap of a predicate and its rearm predicate.
#[derive(Clone, Debug, PartialEq)]
pub enum Overlap {
    /// Both hold on these values.
    Found(Witness),
    /// Proven never both true.
    Disjoint,
    /// Neither found nor ruled out.
    Open,
}

/// What is known about a rule's predicates.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// `Some(v)`: proven to give `v` for every value.
    pub predicate_constant: Option<bool>,
    pub rearm_constant: Option<bool>,
    /// `Some(v)`: only `v` was seen and the other result was not ruled
    /// out: could not decide.
    pub predicate_undecided: Option<bool>,
    pub rearm_undecided: Option<bool>,
    /// `None` without a rearm predicate.
    pub overlap: Option<Overlap>,
}

/// Boxes examined at most per analysis.
const MAX_BOXES: usize = 4096;

/// The questions: predicate true, predicate false, rearm true, rearm
/// false, both true.
const PT: usize = 0;
const PF: usize = 1;
const RT: usize = 2;
const RF: usize = 3;
const BOTH: usize = 4;

struct Search<'a> {
    pred: &'a CompiledPredicate,
    rearm: Option<&'a CompiledPredicate>,
    slots: &'a [(String, ScalarType)],
    read: &'a [String],
    scalar: bool,
    strings: Vec<Scalar>,
    /// Strings are only compared with constants: the constants and one
    /// other string stand for every string.
    enumerable: bool,
    witnessed: [bool; 5],
    pending: [bool; 5],
    overlap: Option<Witness>,
}

impl Search<'_> {
    /// Evaluates both predicates on one record, noting what holds.
    fn try_record(&mut self, record: &[Scalar]) {
        let obs = if self.scalar {
            Observation {
                current: &record[..1],
                previous: Some(&record[1..2]),
            }
        } else {
            Observation {
                current: record,
                previous: None,
            }
        };
        let p = self.pred.eval(&obs).unwrap_or(false);
        self.witnessed[if p { PT } else { PF }] = true;
        if let Some(r) = self.rearm {
            let r = r.eval(&obs).unwrap_or(false);
            self.witnessed[if r { RT } else { RF }] = true;
            if p && r && self.overlap.is_none() {
                self.witnessed[BOTH] = true;
                self.overlap = Some(Witness(
                    self.slots
                        .iter()
                        .map(|(n, _)| n.clone())
                        .zip(record.iter().cloned())
                        .filter(|(n, _)| self.read.contains(n))
                        .collect(),
                ));
            }
        }
    }

    /// The questions still open in a box, by running on intervals.
    fn open(&self, b: &[Slot]) -> [bool; 5] {
        let strings = self.string_values();
        let region = if self.scalar {
            Region {
                current: &b[..1],
                previous: Some(b[1]),
                strings: &strings,
            }
        } else {
            Region {
                current: b,
                previous: None,
                strings: &strings,
            }
        };
        let p = interval::outcomes(self.pred, &region);
        let r = self
            .rearm
            .map(|r| interval::outcomes(r, &region))
            .unwrap_or_default();
        let possible = [p.t, p.f, r.t, r.f, p.t && r.t];
        let mut open = [false; 5];
        for q in 0..5 {
            open[q] = possible[q] && !self.witnessed[q];
        }
        open
    }

    fn string_values(&self) -> Vec<String> {
        self.strings
            .iter()
            .map(|s| match s {
                Scalar::Str(s) => s.clone(),
                _ => String::new(),
            })
            .collect()
    }

    /// A point of the box, as a record.
    fn point(&self, b: &[Slot], k: usize) -> Vec<Scalar> {
        b.iter()
            .map(|s| match *s {
                Slot::I(lo, hi) => Scalar::Int(((i128::from(lo) + i128::from(hi)) / 2) as i64),
                Slot::F(lo, hi) => Scalar::Float(from_key(
                    ((i128::from(key(lo)) + i128::from(key(hi))) / 2) as i64,
                )),
                Slot::S(Some(i)) => self
                    .strings
                    .get(i as usize)
                    .cloned()
                    .unwrap_or(Scalar::Str(String::new())),
                Slot::S(None) => self
                    .strings
                    .get(k % self.strings.len().max(1))
                    .cloned()
                    .unwrap_or(Scalar::Str(String::new())),
            })
            .collect()
    }

    fn run(&mut self, start: Vec<Slot>, splits: &Constants) {
        // Smallest boxes first: narrow regions around the predicates'
        // constants settle quickly; huge ones wait.
        let mut todo = std::collections::BinaryHeap::new();
        todo.push(Sized(start));
        let mut boxes = 0;
        while let Some(Sized(b)) = todo.pop() {
            boxes += 1;
            if boxes > MAX_BOXES {
                todo.push(Sized(b));
                break;
            }
            let record = self.point(&b, boxes);
            self.try_record(&record);
            let open = self.open(&b);
            if !open.iter().any(|o| *o) {
                continue;
            }
            match split(
                &b,
                self.read,
                self.slots,
                splits,
                self.enumerable.then_some(self.strings.len()),
            ) {
                Some(parts) => todo.extend(parts.into_iter().map(Sized)),
                // One point (strings aside): the record tried is the
                // answer, unless a string slot could change it.
                None if b.contains(&Slot::S(None)) => {
                    for (p, o) in self.pending.iter_mut().zip(open) {
                        *p |= o;
                    }
                }
                None => {}
            }
        }
        for Sized(b) in todo.iter() {
            let open = self.open(b);
            for (p, o) in self.pending.iter_mut().zip(open) {
                *p |= o;
            }
        }
    }

    fn can(&self, q: usize) -> Can {
        if self.witnessed[q] {
            Can::Yes
        } else if self.pending[q] {
            Can::Open
        } else {
            Can::No
        }
    }
}

/// A box ordered for the search: the smaller, the sooner.
struct Sized(Vec<Slot>);

impl Sized {
    fn size(&self) -> i128 {
        self.0.iter().map(width).max().unwrap_or(0)
    }
}

impl PartialEq for Sized {
    fn eq(&self, o: &Self) -> bool {
        self.size() == o.size()
    }
}

impl Eq for Sized {}

impl PartialOrd for Sized {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Sized {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.size().cmp(&self.size())
    }
}

fn width(s: &Slot) -> i128 {
    match *s {
        Slot::I(lo, hi) => i128::from(hi) - i128::from(lo),
        Slot::F(lo, hi) => i128::from(key(hi)) - i128::from(key(lo)),
        Slot::S(_) => 0,
    }
}

/// Floats in the order of their values, as integers.
fn key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    if b < 0 {
        b ^ i64::MAX
    } else {
        b
    }
}

fn from_key(k: i64) -> f64 {
    f64::from_bits((if k < 0 { k ^ i64::MAX } else { k }) as u64)
}

/// Splits the widest read slot of a box: at a constant of the predicates
/// inside it (below, at, above), else in halves. `None` for one point.
fn split(
    b: &[Slot],
    read: &[String],
    slots: &[(String, ScalarType)],
    c: &Constants,
    strings: Option<usize>,
) -> Option<Vec<Vec<Slot>>> {
    // A string that could be anything: each value that matters.
    if let Some(n) = strings {
        if let Some(i) = b
            .iter()
            .enumerate()
            .position(|(i, s)| *s == Slot::S(None) && read.contains(&slots[i].0))
        {
            return Some(
                (0..n as u32)
                    .map(|k| {
                        let mut v = b.to_vec();
                        v[i] = Slot::S(Some(k));
                        v
                    })
                    .collect(),
            );
        }
    }
    let (i, w) = b
        .iter()
        .enumerate()
        .filter(|(i, _)| read.contains(&slots[*i].0))
        .map(|(i, s)| (i, width(s)))
        .max_by_key(|(_, w)| *w)?;
    if w == 0 {
        return None;
    }
    let with = |s: Slot| {
        let mut v = b.to_vec();
        v[i] = s;
        v
    };
    Some(match b[i] {
        Slot::I(lo, hi) => {
            let inside = c
                .ints
                .iter()
                .copied()
                .chain(
                    c.floats
                        .iter()
                        .filter(|f| f.is_finite())
                        .map(|f| f.round() as i64),
                )
                .find(|k| lo < *k && *k < hi);
            match inside {
                Some(k) => vec![
                    with(Slot::I(lo, k - 1)),
                    with(Slot::I(k, k)),
                    with(Slot::I(k + 1, hi)),
                ],
                None => {
                    let mid = ((i128::from(lo) + i128::from(hi)).div_euclid(2)) as i64;
                    vec![with(Slot::I(lo, mid)), with(Slot::I(mid + 1, hi))]
                }
            }
        }
        Slot::F(lo, hi) => {
            let inside = c
                .floats
                .iter()
                .copied()
                .chain(c.ints.iter().map(|i| *i as f64))
                .find(|k| lo < *k && *k < hi);
            match inside {
                Some(k) => vec![
                    with(Slot::F(lo, from_key(key(k) - 1))),
                    with(Slot::F(k, k)),
                    with(Slot::F(from_key(key(k) + 1), hi)),
                ],
                None => {
                    let mid = ((i128::from(key(lo)) + i128::from(key(hi))).div_euclid(2)) as i64;
                    vec![
                        with(Slot::F(lo, from_key(mid))),
                        with(Slot::F(from_key(mid + 1), hi)),
                    ]
                }
            }
        }
        Slot::S(_) => return None,
    })
}

/// Answers the questions for a rule's predicates.
pub fn analyze(
    pred: &CompiledPredicate,
    rearm: Option<&CompiledPredicate>,
    var: &ValueType,
) -> Analysis {
    let preds: Vec<&CompiledPredicate> = std::iter::once(pred).chain(rearm).collect();
    let c = constants(&preds);
    let read = read_labels(&preds);
    let (slots, scalar) = slots(var);
    let mut s = Search {
        pred,
        rearm,
        slots: &slots,
        read: &read,
        scalar,
        strings: string_values(&c),
        enumerable: preds.iter().all(|p| {
            p.ops
                .iter()
                .all(|op| !matches!(op, Op::StrCmp(StrRef::Atom(_), StrRef::Atom(_), _)))
        }),
        witnessed: [false; 5],
        pending: [false; 5],
        overlap: None,
    };
    if rearm.is_none() {
        s.witnessed[RT] = true;
        s.witnessed[RF] = true;
        s.witnessed[BOTH] = true;
    }
    // Witnesses first: the usual values.
    let mut lists: Vec<Vec<Scalar>> = slots
        .iter()
        .map(|(label, t)| {
            let mut l = candidates(*t, &c);
            if !read.contains(label) {
                l.truncate(1);
            }
            l
        })
        .collect();
    while lists.iter().map(Vec::len).product::<usize>() > MAX_SAMPLES {
        if let Some(l) = lists.iter_mut().max_by_key(|l| l.len()) {
            let keep = (l.len() * 3 / 4).max(1);
            l.truncate(keep);
        }
    }
    if lists.iter().all(|l| !l.is_empty()) {
        let mut idx = vec![0usize; lists.len()];
        let mut record: Vec<Scalar> = lists.iter().map(|l| l[0].clone()).collect();
        'odometer: loop {
            s.try_record(&record);
            if s.witnessed.iter().all(|w| *w) {
                break;
            }
            let mut i = 0;
            loop {
                if i == idx.len() {
                    break 'odometer;
                }
                idx[i] += 1;
                if idx[i] < lists[i].len() {
                    record[i] = lists[i][idx[i]].clone();
                    break;
                }
                idx[i] = 0;
                record[i] = lists[i][0].clone();
                i += 1;
            }
        }
    }
    // Then proofs, and witnesses the usual values missed.
    if !s.witnessed.iter().all(|w| *w) {
        let start: Vec<Slot> = slots
            .iter()
            .map(|(label, t)| match t {
                // Unread slots are fixed: any value will do.
                _ if !read.contains(label) => match t {
                    ScalarType::Int => Slot::I(0, 0),
                    ScalarType::Float => Slot::F(0.0, 0.0),
                    ScalarType::String => Slot::S(None),
                },
                ScalarType::Int => Slot::I(i64::MIN, i64::MAX),
                ScalarType::Float => Slot::F(-f64::MAX, f64::MAX),
                ScalarType::String => Slot::S(None),
            })
            .collect();
        s.run(start, &c);
    }
    let constant = |t: Can, f: Can| match (t, f) {
        (Can::No, Can::Yes) => (Some(false), None),
        (Can::Yes, Can::No) => (Some(true), None),
        (Can::Open, Can::Yes) => (None, Some(false)),
        (Can::Yes, Can::Open) => (None, Some(true)),
        _ => (None, None),
    };
    let (predicate_constant, predicate_undecided) = constant(s.can(PT), s.can(PF));
    let (rearm_constant, rearm_undecided) = match rearm {
        Some(_) => constant(s.can(RT), s.can(RF)),
        None => (None, None),
    };
    let overlap = rearm.map(|_| match (s.can(BOTH), s.overlap.take()) {
        (_, Some(w)) => Overlap::Found(w),
        (Can::No, None) => Overlap::Disjoint,
        _ => Overlap::Open,
    });
    Analysis {
        predicate_constant,
        rearm_constant,
        predicate_undecided,
        rearm_undecided,
        overlap,
    }
}

/// The labels (`X`, `X@P`, `X@n`) of what the predicates read.
fn read_labels(preds: &[&CompiledPredicate]) -> Vec<String> {
    let label = |a: &Atom| match a {
        Atom::Value => "X".to_string(),
        Atom::Previous => "X@P".to_string(),
        Atom::Field(n) => format!("X@{n}"),
    };
    let mut out = Vec::new();
    for p in preds {
        for op in &p.ops {
            match op {
                Op::Load(a, _) | Op::CmpAtomI(a, _, _) | Op::CmpAtomF(a, _, _) => {
                    out.push(label(a))
                }
                Op::StrCmp(x, y, _) => {
                    for r in [x, y] {
                        if let StrRef::Atom(a) = r {
                            out.push(label(a));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}
