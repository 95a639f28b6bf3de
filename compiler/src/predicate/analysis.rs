//! Static questions about predicates, answered by trying values: can the
//! predicate and its rearm predicate hold at once (R012), is a predicate
//! constant (R016). The values tried are the constants of both predicates,
//! their neighbours, and a few ordinary numbers, over every field.

use std::fmt;

use hacmp_stdlib::{ScalarType, ValueType};

use super::eval::Observation;
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

/// What trying values found out about a rule's predicates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    /// `Some(v)`: the predicate gave `v` on every value tried.
    pub predicate_constant: Option<bool>,
    pub rearm_constant: Option<bool>,
    /// Values on which the predicate and the rearm predicate both hold.
    pub overlap: Option<Witness>,
}

/// Tries every combination of candidate values (only the slots the
/// predicates read vary) in one pass.
pub fn analyze(
    pred: &CompiledPredicate,
    rearm: Option<&CompiledPredicate>,
    var: &ValueType,
) -> Analysis {
    let preds: Vec<&CompiledPredicate> = std::iter::once(pred).chain(rearm).collect();
    let c = constants(&preds);
    let read = read_labels(&preds);
    let (slots, scalar) = slots(var);
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
    // Keep the product bounded: trim the longest list until it fits.
    while lists.iter().map(Vec::len).product::<usize>() > MAX_SAMPLES {
        if let Some(l) = lists.iter_mut().max_by_key(|l| l.len()) {
            let keep = (l.len() * 3 / 4).max(1);
            l.truncate(keep);
        }
    }
    let mut out = Analysis::default();
    if lists.iter().any(Vec::is_empty) {
        return out;
    }
    let mut seen_pred: [bool; 2] = [false; 2];
    let mut seen_rearm: [bool; 2] = [false; 2];
    let mut idx = vec![0usize; lists.len()];
    let mut record: Vec<Scalar> = lists.iter().map(|l| l[0].clone()).collect();
    loop {
        let obs = if scalar {
            Observation {
                current: &record[..1],
                previous: Some(&record[1..2]),
            }
        } else {
            Observation {
                current: &record,
                previous: None,
            }
        };
        let p = pred.eval(&obs).unwrap_or(false);
        seen_pred[usize::from(p)] = true;
        if let Some(r) = rearm {
            let r = r.eval(&obs).unwrap_or(false);
            seen_rearm[usize::from(r)] = true;
            if p && r && out.overlap.is_none() {
                out.overlap = Some(Witness(
                    slots
                        .iter()
                        .map(|(n, _)| n.clone())
                        .zip(record.iter().cloned())
                        .filter(|(n, _)| read.contains(n))
                        .collect(),
                ));
            }
        }
        // Next combination: an odometer; only the slots that turn change.
        let mut i = 0;
        loop {
            if i == idx.len() {
                let constant = |seen: [bool; 2]| (seen[0] != seen[1]).then_some(seen[1]);
                out.predicate_constant = constant(seen_pred);
                out.rearm_constant = rearm.and_then(|_| constant(seen_rearm));
                return out;
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
