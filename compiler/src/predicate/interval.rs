//! The stack code run on intervals: for every value of what a predicate
//! reads inside a box, which results it can give. Sound by construction:
//! each operation's interval holds every concrete result (float bounds
//! are widened by one step for rounding; integer results past the 64-bit
//! range may overflow, which the evaluator turns into false), so "only
//! false" over a box means false on every point of it. Jumps that depend on
//! the box follow both ways.

use super::{Arith, Atom, Bit, Cmp, CompiledPredicate, NumTy, Op, StrRef};

/// What a slot of the observation may hold inside a box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Slot {
    I(i64, i64),
    /// Finite bounds, `lo <= hi`.
    F(f64, f64),
    /// A string: one of the region's `strings`, or (`None`) any.
    S(Option<u32>),
}

/// The values of a predicate's slots: the current record's fields and,
/// for a plain variable, the previous value.
pub struct Region<'a> {
    pub current: &'a [Slot],
    pub previous: Option<Slot>,
    /// What `Slot::S(Some(i))` stands for.
    pub strings: &'a [String],
}

/// Which results are possible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub f: bool,
    pub t: bool,
}

impl Outcomes {
    const BOTH: Outcomes = Outcomes { f: true, t: true };
}

#[derive(Clone, Copy, Debug)]
enum V {
    I(i128, i128),
    /// `nan`: NaN is possible.
    F(f64, f64, bool),
}

const IMIN: i128 = i64::MIN as i128;
const IMAX: i128 = i64::MAX as i128;

fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let b = x.to_bits();
    f64::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

/// A float interval from candidate corners, widened for rounding.
fn f_of(corners: &[f64], nan: bool) -> V {
    if corners.iter().any(|c| c.is_nan()) {
        return V::F(f64::NEG_INFINITY, f64::INFINITY, true);
    }
    let lo = corners.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = corners.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    V::F(next_down(lo), next_up(hi), nan)
}

fn i_of(corners: &[i128]) -> V {
    let lo = corners.iter().copied().min().unwrap_or(0);
    let hi = corners.iter().copied().max().unwrap_or(0);
    V::I(lo, hi)
}

fn bools(can_f: bool, can_t: bool) -> V {
    V::I(i128::from(!can_f), i128::from(can_t))
}

/// One path through the code: its stack, where it is, and whether it may
/// have failed (an evaluation error makes the predicate false).
#[derive(Clone)]
struct Path {
    pc: usize,
    stack: Vec<V>,
    may_fail: bool,
}

/// Most paths followed before giving up (both results possible).
const MAX_PATHS: usize = 256;

/// Every result the predicate can give for values inside `region`.
pub fn outcomes(p: &CompiledPredicate, region: &Region<'_>) -> Outcomes {
    let mut out = Outcomes::default();
    let mut todo = vec![Path {
        pc: 0,
        stack: Vec::with_capacity(8),
        may_fail: false,
    }];
    let mut paths = 0;
    while let Some(mut path) = todo.pop() {
        paths += 1;
        if paths > MAX_PATHS {
            return Outcomes::BOTH;
        }
        match run_path(p, region, &mut path, &mut todo) {
            // Failed for certain: false.
            None => out.f = true,
            Some(v) => {
                if path.may_fail {
                    out.f = true;
                }
                let (zero, nonzero) = truth(v);
                out.f |= zero;
                out.t |= nonzero;
            }
        }
        if out == Outcomes::BOTH {
            break;
        }
    }
    out
}

/// Whether a value may be zero, and whether it may be non-zero.
fn truth(v: V) -> (bool, bool) {
    match v {
        V::I(lo, hi) => (lo <= 0 && hi >= 0, lo != 0 || hi != 0),
        V::F(lo, hi, nan) => (lo <= 0.0 && hi >= 0.0, nan || lo != 0.0 || hi != 0.0),
    }
}

fn load(region: &Region<'_>, a: Atom, t: NumTy) -> Option<V> {
    let slot = match a {
        Atom::Value => region.current.first().copied(),
        Atom::Field(n) => region.current.get(n as usize).copied(),
        Atom::Previous => region.previous,
    }?;
    match (slot, t) {
        (Slot::I(lo, hi), NumTy::I) => Some(V::I(lo.into(), hi.into())),
        (Slot::I(lo, hi), NumTy::F) => Some(f_of(&[lo as f64, hi as f64], false)),
        (Slot::F(lo, hi), NumTy::F) => Some(V::F(lo, hi, false)),
        _ => None,
    }
}

/// Runs one path to its end (`Some(result)`) or to a certain failure
/// (`None`); forks go to `todo`.
fn run_path(
    p: &CompiledPredicate,
    region: &Region<'_>,
    path: &mut Path,
    todo: &mut Vec<Path>,
) -> Option<V> {
    macro_rules! pop {
        () => {
            path.stack.pop()?
        };
    }
    while let Some(op) = p.ops.get(path.pc) {
        path.pc += 1;
        let v = match *op {
            Op::PushI(v) => V::I(v.into(), v.into()),
            Op::PushF(v) => V::F(v, v, v.is_nan()),
            Op::Load(a, t) => load(region, a, t)?,
            Op::I2F => match pop!() {
                V::I(lo, hi) => f_of(&[lo as f64, hi as f64], false),
                f => f,
            },
            Op::I2FBelow => {
                let t = pop!();
                let u = match pop!() {
                    V::I(lo, hi) => f_of(&[lo as f64, hi as f64], false),
                    f => f,
                };
                path.stack.push(u);
                t
            }
            Op::Neg(_) => match pop!() {
                V::I(lo, hi) => int(path, -hi, -lo)?,
                V::F(lo, hi, nan) => V::F(-hi, -lo, nan),
            },
            Op::Not(_) => {
                let (zero, nonzero) = truth(pop!());
                bools(nonzero, zero)
            }
            Op::BitNot => match pop!() {
                V::I(lo, hi) => V::I(-hi - 1, -lo - 1),
                _ => return None,
            },
            Op::Arith(a, _) => {
                let y = pop!();
                let x = pop!();
                arith(path, a, x, y)?
            }
            Op::Bit(b) => {
                let y = pop!();
                let x = pop!();
                match (x, y) {
                    (V::I(a, b2), V::I(c, d)) => bit(path, b, (a, b2), (c, d))?,
                    _ => return None,
                }
            }
            Op::Cmp(c, _) => {
                let y = pop!();
                let x = pop!();
                compare(c, x, y)
            }
            Op::CmpAtomI(a, c, k) => {
                compare(c, load(region, a, NumTy::I)?, V::I(k.into(), k.into()))
            }
            Op::CmpAtomF(a, c, k) => compare(c, load(region, a, NumTy::F)?, V::F(k, k, k.is_nan())),
            Op::StrCmp(x, y, eq) => match (string(p, region, x), string(p, region, y)) {
                (Some(a), Some(b)) => {
                    let same = a == b;
                    bools(same != eq, same == eq)
                }
                _ => bools(true, true),
            },
            Op::Truth(_) => {
                let (zero, nonzero) = truth(pop!());
                bools(zero, nonzero)
            }
            Op::JumpIfZero(t) | Op::JumpIfOne(t) => {
                let top = *path.stack.last()?;
                let (zero, nonzero) = match top {
                    V::I(lo, hi) => (lo <= 0 && hi >= 0, lo != 0 || hi != 0),
                    // The machine tests the word: only +0.0 is zero.
                    V::F(..) => (true, true),
                };
                let jump_on_zero = matches!(op, Op::JumpIfZero(_));
                let (jumps, falls) = if jump_on_zero {
                    (zero, nonzero)
                } else {
                    (nonzero, zero)
                };
                let kept = if jump_on_zero { V::I(0, 0) } else { V::I(1, 1) };
                if jumps && falls {
                    let mut other = path.clone();
                    other.stack.pop();
                    todo.push(other);
                    *path.stack.last_mut()? = kept;
                    path.pc = t as usize;
                } else if jumps {
                    *path.stack.last_mut()? = kept;
                    path.pc = t as usize;
                } else {
                    path.stack.pop();
                }
                continue;
            }
        };
        path.stack.push(v);
    }
    path.stack.pop()
}

/// A string operand, when the region fixes it.
fn string<'a>(p: &'a CompiledPredicate, region: &Region<'a>, r: StrRef) -> Option<&'a str> {
    match r {
        StrRef::Const(i) => p.strings.get(i as usize).map(String::as_str),
        StrRef::Atom(a) => {
            let slot = match a {
                Atom::Value => region.current.first().copied(),
                Atom::Field(n) => region.current.get(n as usize).copied(),
                Atom::Previous => region.previous,
            };
            match slot {
                Some(Slot::S(Some(i))) => region.strings.get(i as usize).map(String::as_str),
                _ => None,
            }
        }
    }
}

/// An integer result: what fits in 64 bits; past it the evaluator fails.
fn int(path: &mut Path, lo: i128, hi: i128) -> Option<V> {
    if lo < IMIN || hi > IMAX {
        path.may_fail = true;
    }
    let (lo, hi) = (lo.max(IMIN), hi.min(IMAX));
    (lo <= hi).then_some(V::I(lo, hi))
}

fn arith(path: &mut Path, a: Arith, x: V, y: V) -> Option<V> {
    match (x, y) {
        (V::I(a0, a1), V::I(b0, b1)) => {
            let c = |f: fn(i128, i128) -> i128| [f(a0, b0), f(a0, b1), f(a1, b0), f(a1, b1)];
            match a {
                Arith::Add => int(path, a0 + b0, a1 + b1),
                Arith::Sub => int(path, a0 - b1, a1 - b0),
                Arith::Mul => {
                    let V::I(lo, hi) = i_of(&c(|p, q| p * q)) else {
                        return None;
                    };
                    int(path, lo, hi)
                }
                Arith::Div | Arith::Rem => {
                    if b0 <= 0 && b1 >= 0 {
                        path.may_fail = true;
                    }
                    // The divisor without 0, in its sign-consistent parts.
                    let parts: Vec<(i128, i128)> = [(b0, b1.min(-1)), (b0.max(1), b1)]
                        .into_iter()
                        .filter(|(l, h)| l <= h)
                        .collect();
                    if parts.is_empty() {
                        return None;
                    }
                    let mut lo = i128::MAX;
                    let mut hi = i128::MIN;
                    for (l, h) in parts {
                        let v = if a == Arith::Div {
                            // Truncating division is monotone on each part.
                            [a0 / l, a0 / h, a1 / l, a1 / h]
                        } else if a0 == a1 && l == h {
                            if a0 == IMIN && l == -1 {
                                // `i64::MIN % -1` overflows in the evaluator.
                                path.may_fail = true;
                            }
                            [a0 % l; 4]
                        } else {
                            if a0 == IMIN && l <= -1 && h >= -1 {
                                path.may_fail = true;
                            }
                            let m = l.abs().max(h.abs()) - 1;
                            let r0 = if a0 >= 0 { 0 } else { (-m).max(a0) };
                            let r1 = if a1 <= 0 { 0 } else { m.min(a1) };
                            [r0, r1, r0, r1]
                        };
                        lo = lo.min(v.iter().copied().min()?);
                        hi = hi.max(v.iter().copied().max()?);
                    }
                    int(path, lo, hi)
                }
            }
        }
        (V::F(a0, a1, an), V::F(b0, b1, bn)) => {
            let nan = an || bn;
            let c = |f: fn(f64, f64) -> f64| [f(a0, b0), f(a0, b1), f(a1, b0), f(a1, b1)];
            Some(match a {
                Arith::Add => f_of(&c(|p, q| p + q), nan),
                Arith::Sub => f_of(&c(|p, q| p - q), nan),
                Arith::Mul => f_of(&c(|p, q| p * q), nan),
                Arith::Div | Arith::Rem => {
                    if b0 <= 0.0 && b1 >= 0.0 {
                        path.may_fail = true;
                        if b0 == 0.0 && b1 == 0.0 {
                            return None;
                        }
                        // Near zero the quotient is unbounded.
                        if a == Arith::Div {
                            return Some(V::F(f64::NEG_INFINITY, f64::INFINITY, true));
                        }
                    }
                    if a == Arith::Div {
                        f_of(&c(|p, q| p / q), nan)
                    } else {
                        let m = b0.abs().max(b1.abs());
                        let lo = if a0 >= 0.0 { 0.0 } else { (-m).max(a0) };
                        let hi = if a1 <= 0.0 { 0.0 } else { m.min(a1) };
                        f_of(&[lo, hi], nan || a0.is_infinite() || a1.is_infinite())
                    }
                }
            })
        }
        _ => None,
    }
}

fn bit(path: &mut Path, b: Bit, (a0, a1): (i128, i128), (b0, b1): (i128, i128)) -> Option<V> {
    let full = V::I(IMIN, IMAX);
    match b {
        Bit::Shl | Bit::Shr => {
            if b0 < 0 || b1 > 63 {
                path.may_fail = true;
            }
            let (s0, s1) = (b0.max(0), b1.min(63));
            if s0 > s1 {
                return None;
            }
            if b == Bit::Shr {
                return Some(i_of(&[a0 >> s0, a0 >> s1, a1 >> s0, a1 >> s1]));
            }
            // Bits shifted out are lost: past 64 bits anything is possible.
            let v = [a0 << s0, a0 << s1, a1 << s0, a1 << s1];
            let V::I(lo, hi) = i_of(&v) else { return None };
            Some(if lo < IMIN || hi > IMAX {
                full
            } else {
                V::I(lo, hi)
            })
        }
        _ if a0 == a1 && b0 == b1 => {
            let (x, y) = (a0 as i64, b0 as i64);
            let r = match b {
                Bit::And => x & y,
                Bit::Or => x | y,
                _ => x ^ y,
            };
            Some(V::I(r.into(), r.into()))
        }
        _ if a0 >= 0 && b0 >= 0 => {
            let top = a1.max(b1);
            let ones = if top == 0 {
                0
            } else {
                (1i128 << (128 - top.leading_zeros())) - 1
            };
            Some(match b {
                Bit::And => V::I(0, a1.min(b1)),
                Bit::Or => V::I(a0.max(b0), ones),
                _ => V::I(0, ones),
            })
        }
        // `x & y` with `y >= 0` is in `0..=y`, whatever `x`.
        Bit::And if a0 >= 0 || b0 >= 0 => {
            let hi = match (a0 >= 0, b0 >= 0) {
                (true, true) => a1.min(b1),
                (true, false) => a1,
                _ => b1,
            };
            Some(V::I(0, hi))
        }
        // Both negative: the result keeps the sign and is at most either.
        Bit::And if a1 < 0 && b1 < 0 => Some(V::I(IMIN, a1.min(b1))),
        // `x | y` with `y < 0` is in `y..=-1`.
        Bit::Or if a1 < 0 || b1 < 0 => {
            let lo = match (a1 < 0, b1 < 0) {
                (true, true) => a0.max(b0),
                (true, false) => a0,
                _ => b0,
            };
            Some(V::I(lo, -1))
        }
        _ => Some(full),
    }
}

fn compare(c: Cmp, x: V, y: V) -> V {
    // Which of greater, equal, less, unordered can hold.
    let (gt, eq, lt, un) = match (x, y) {
        (V::I(a0, a1), V::I(b0, b1)) => (a1 > b0, a0 <= b1 && b0 <= a1, a0 < b1, false),
        (V::F(a0, a1, an), V::F(b0, b1, bn)) => (a1 > b0, a0 <= b1 && b0 <= a1, a0 < b1, an || bn),
        _ => (true, true, true, true),
    };
    // Certain: only one relation possible, or the interval is one point.
    let point = match (x, y) {
        (V::I(a0, a1), V::I(b0, b1)) => a0 == a1 && b0 == b1,
        (V::F(a0, a1, an), V::F(b0, b1, bn)) => a0 == a1 && b0 == b1 && !an && !bn,
        _ => false,
    };
    let mask = c.mask();
    let possible = [(gt, 1u8), (eq, 2), (lt, 4), (un, 8)];
    let can_t = possible.iter().any(|(p, bit)| *p && mask & bit != 0);
    let can_f = possible.iter().any(|(p, bit)| *p && mask & bit == 0);
    if point {
        // Exactly one relation holds between two points.
        let holds = possible.iter().find(|(p, _)| *p).map_or(0, |(_, b)| *b);
        return bools(mask & holds == 0, mask & holds != 0);
    }
    bools(can_f, can_t)
}
