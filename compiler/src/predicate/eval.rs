//! The evaluator: no allocation, no panic.

use serde::{Deserialize, Serialize};

use super::{Arith, Atom, Bit, Cmp, CompiledPredicate, NumTy, Op, Plan, StrRef, Test};

/// One value of an observation record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Str(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Int(v) => write!(f, "{v}"),
            Scalar::Float(v) => write!(f, "{v}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// The values a predicate reads: the current record (one value for a plain
/// variable, one per field for a structured one) and the previous one.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub current: &'a [Scalar],
    pub previous: Option<&'a [Scalar]>,
}

/// Why an evaluation was false without being evaluated to the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvalError {
    DivisionByZero,
    Overflow,
    /// `X@P` before a second observation exists (not reported).
    NoPrevious,
    /// The record does not have the catalog's layout.
    Layout,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EvalError::DivisionByZero => "division by zero",
            EvalError::Overflow => "integer overflow",
            EvalError::NoPrevious => "no previous observation yet",
            EvalError::Layout => "the observation does not have the variable's layout",
        })
    }
}

#[inline(always)]
fn slot<'a>(obs: &Observation<'a>, atom: Atom) -> Result<&'a Scalar, EvalError> {
    match atom {
        Atom::Value => obs.current.first().ok_or(EvalError::Layout),
        Atom::Field(n) => obs.current.get(n as usize).ok_or(EvalError::Layout),
        Atom::Previous => obs
            .previous
            .ok_or(EvalError::NoPrevious)?
            .first()
            .ok_or(EvalError::Layout),
    }
}

#[inline(always)]
fn load_i(obs: &Observation<'_>, atom: Atom) -> Result<i64, EvalError> {
    match slot(obs, atom)? {
        Scalar::Int(v) => Ok(*v),
        _ => Err(EvalError::Layout),
    }
}

#[inline(always)]
fn load_f(obs: &Observation<'_>, atom: Atom) -> Result<f64, EvalError> {
    match slot(obs, atom)? {
        Scalar::Float(v) => Ok(*v),
        Scalar::Int(v) => Ok(*v as f64),
        Scalar::Str(_) => Err(EvalError::Layout),
    }
}

#[inline(always)]
fn cmp_i(c: Cmp, a: i64, b: i64) -> bool {
    order_i(a, b) & c.mask() != 0
}

#[inline(always)]
fn cmp_f(c: Cmp, a: f64, b: f64) -> bool {
    order_f(a, b) & c.mask() != 0
}

/// Comparison without branches: which of {greater, equal, less} holds,
/// against the mask of the wanted ones.
#[inline(always)]
fn order_i(x: i64, k: i64) -> u8 {
    u8::from(x > k) | u8::from(x == k) << 1 | u8::from(x < k) << 2
}

#[inline(always)]
fn order_f(x: f64, k: f64) -> u8 {
    u8::from(x > k)
        | u8::from(x == k) << 1
        | u8::from(x < k) << 2
        | u8::from(x.is_nan() || k.is_nan()) << 3
}

#[inline(always)]
fn int(rec: &[Scalar], field: u32) -> Result<i64, EvalError> {
    match rec.get(field as usize) {
        Some(Scalar::Int(x)) => Ok(*x),
        _ => Err(EvalError::Layout),
    }
}

#[inline(always)]
fn float(rec: &[Scalar], field: u32) -> Result<f64, EvalError> {
    match rec.get(field as usize) {
        Some(Scalar::Float(x)) => Ok(*x),
        Some(Scalar::Int(x)) => Ok(*x as f64),
        _ => Err(EvalError::Layout),
    }
}

impl<T> super::Chain<T> {
    /// Stops at the first test that decides, as `&&` and `||` do: a
    /// malformed slot after it is no error. The last test's value is the
    /// answer, without a branch on it.
    #[inline(always)]
    fn run(&self, mut test: impl FnMut(&T) -> Result<bool, EvalError>) -> Result<bool, EvalError> {
        let Some((last, first)) = self.tests.split_last() else {
            return Ok(self.all);
        };
        for t in first {
            if test(t)? != self.all {
                return Ok(!self.all);
            }
        }
        test(last)
    }
}

impl CompiledPredicate {
    /// Evaluates on one observation. Errors make the evaluation false; the
    /// caller decides whether to report them.
    #[inline(always)]
    pub fn eval(&self, obs: &Observation<'_>) -> Result<bool, EvalError> {
        let c = obs.current;
        match &self.plan {
            Plan::Ints(ch) => ch.run(|r| Ok(r.holds(int(c, r.field)?))),
            // Float slots hold floats; an integer there (or an integer
            // field compared with a float) takes the general way.
            Plan::Floats(ch) => match ch.run(|r| match c.get(r.field as usize) {
                Some(Scalar::Float(x)) => Ok(r.holds(*x)),
                _ => Err(EvalError::Layout),
            }) {
                Err(_) => self.eval_mixed(c, obs.previous),
                done => done,
            },
            _ => self.eval_mixed(c, obs.previous),
        }
    }

    /// Chains that read the previous record or mix types, and the stack
    /// machine.
    #[inline(never)]
    fn eval_mixed(
        &self,
        current: &[Scalar],
        previous: Option<&[Scalar]>,
    ) -> Result<bool, EvalError> {
        let obs = Observation { current, previous };
        let ch = match &self.plan {
            Plan::Mixed(ch) => ch,
            Plan::Floats(ch) => return ch.run(|r| Ok(r.holds(float(current, r.field)?))),
            _ => return self.run_stack(&obs),
        };
        // False until a second observation exists, whichever operand
        // `&&` or `||` would have read first.
        let previous = match previous {
            Some(p) => p,
            None if self.reads_previous => return Err(EvalError::NoPrevious),
            None => &[],
        };
        ch.run(|t: &Test| match *t {
            Test::I { previous: p, range } => {
                int(if p { previous } else { current }, range.field).map(|x| range.holds(x))
            }
            Test::F { previous: p, range } => {
                float(if p { previous } else { current }, range.field).map(|x| range.holds(x))
            }
        })
    }

    /// The stack machine (also what the plan must agree with).
    #[inline(never)]
    pub fn run_stack(&self, obs: &Observation<'_>) -> Result<bool, EvalError> {
        // The same first-observation rule as `eval`.
        if self.reads_previous && obs.previous.is_none() {
            return Err(EvalError::NoPrevious);
        }
        if self.max_stack as usize <= 8 {
            self.run::<8>(obs)
        } else {
            self.run::<{ super::MAX_STACK }>(obs)
        }
    }

    fn strref<'a>(&'a self, obs: &Observation<'a>, r: StrRef) -> Result<&'a str, EvalError> {
        match r {
            StrRef::Const(i) => self
                .strings
                .get(i as usize)
                .map(String::as_str)
                .ok_or(EvalError::Layout),
            StrRef::Atom(a) => match slot(obs, a)? {
                Scalar::Str(s) => Ok(s.as_str()),
                _ => Err(EvalError::Layout),
            },
        }
    }

    fn run<const N: usize>(&self, obs: &Observation<'_>) -> Result<bool, EvalError> {
        let mut st = [0u64; N];
        let mut sp = 0usize;
        let mut pc = 0usize;
        let ops = self.ops.as_slice();
        // Stack discipline is fixed by the compiler; `get`/checked indexing
        // keeps a corrupted bundle from panicking all the same.
        macro_rules! push {
            ($v:expr) => {{
                *st.get_mut(sp).ok_or(EvalError::Layout)? = $v;
                sp += 1;
            }};
        }
        macro_rules! pop {
            () => {{
                sp = sp.checked_sub(1).ok_or(EvalError::Layout)?;
                st[sp]
            }};
        }
        macro_rules! top {
            () => {
                *st.get_mut(sp.checked_sub(1).ok_or(EvalError::Layout)?)
                    .ok_or(EvalError::Layout)?
            };
        }
        let fi = |w: u64| w as i64;
        let ff = f64::from_bits;
        let wi = |v: i64| v as u64;
        let wf = |v: f64| v.to_bits();
        let b = |v: bool| u64::from(v);
        while let Some(op) = ops.get(pc) {
            pc += 1;
            match *op {
                Op::PushI(v) => push!(wi(v)),
                Op::PushF(v) => push!(wf(v)),
                Op::Load(a, NumTy::I) => push!(wi(load_i(obs, a)?)),
                Op::Load(a, NumTy::F) => push!(wf(load_f(obs, a)?)),
                Op::I2F => {
                    let t = top!();
                    top!() = wf(fi(t) as f64);
                }
                Op::I2FBelow => {
                    let t = pop!();
                    let u = top!();
                    top!() = wf(fi(u) as f64);
                    push!(t);
                }
                Op::Neg(NumTy::I) => {
                    let v = fi(top!()).checked_neg().ok_or(EvalError::Overflow)?;
                    top!() = wi(v);
                }
                Op::Neg(NumTy::F) => {
                    let v = -ff(top!());
                    top!() = wf(v);
                }
                Op::Not(NumTy::I) => {
                    let v = fi(top!()) == 0;
                    top!() = b(v);
                }
                Op::Not(NumTy::F) => {
                    let v = ff(top!()) == 0.0;
                    top!() = b(v);
                }
                Op::BitNot => {
                    let v = !fi(top!());
                    top!() = wi(v);
                }
                Op::Arith(a, NumTy::I) => {
                    let y = fi(pop!());
                    let x = fi(top!());
                    let r = match a {
                        Arith::Add => x.checked_add(y).ok_or(EvalError::Overflow)?,
                        Arith::Sub => x.checked_sub(y).ok_or(EvalError::Overflow)?,
                        Arith::Mul => x.checked_mul(y).ok_or(EvalError::Overflow)?,
                        Arith::Div | Arith::Rem if y == 0 => return Err(EvalError::DivisionByZero),
                        Arith::Div => x.checked_div(y).ok_or(EvalError::Overflow)?,
                        Arith::Rem => x.checked_rem(y).ok_or(EvalError::Overflow)?,
                    };
                    top!() = wi(r);
                }
                Op::Arith(a, NumTy::F) => {
                    let y = ff(pop!());
                    let x = ff(top!());
                    let r = match a {
                        Arith::Add => x + y,
                        Arith::Sub => x - y,
                        Arith::Mul => x * y,
                        Arith::Div | Arith::Rem if y == 0.0 => {
                            return Err(EvalError::DivisionByZero)
                        }
                        Arith::Div => x / y,
                        Arith::Rem => x % y,
                    };
                    top!() = wf(r);
                }
                Op::Bit(op) => {
                    let y = fi(pop!());
                    let x = fi(top!());
                    let shift = || {
                        u32::try_from(y)
                            .ok()
                            .filter(|s| *s < 64)
                            .ok_or(EvalError::Overflow)
                    };
                    let r = match op {
                        Bit::Shl => x.checked_shl(shift()?).ok_or(EvalError::Overflow)?,
                        Bit::Shr => x.checked_shr(shift()?).ok_or(EvalError::Overflow)?,
                        Bit::And => x & y,
                        Bit::Xor => x ^ y,
                        Bit::Or => x | y,
                    };
                    top!() = wi(r);
                }
                Op::Cmp(c, NumTy::I) => {
                    let y = fi(pop!());
                    let x = fi(top!());
                    top!() = b(cmp_i(c, x, y));
                }
                Op::Cmp(c, NumTy::F) => {
                    let y = ff(pop!());
                    let x = ff(top!());
                    top!() = b(cmp_f(c, x, y));
                }
                Op::CmpAtomI(a, c, k) => push!(b(cmp_i(c, load_i(obs, a)?, k))),
                Op::CmpAtomF(a, c, k) => push!(b(cmp_f(c, load_f(obs, a)?, k))),
                Op::StrCmp(x, y, eq) => {
                    let same = self.strref(obs, x)? == self.strref(obs, y)?;
                    push!(b(same == eq));
                }
                Op::Truth(NumTy::I) => {
                    let v = fi(top!()) != 0;
                    top!() = b(v);
                }
                Op::Truth(NumTy::F) => {
                    let v = ff(top!()) != 0.0;
                    top!() = b(v);
                }
                Op::JumpIfZero(t) => {
                    if top!() == 0 {
                        pc = t as usize;
                    } else {
                        sp -= 1;
                    }
                }
                Op::JumpIfOne(t) => {
                    if top!() != 0 {
                        pc = t as usize;
                    } else {
                        sp -= 1;
                    }
                }
            }
        }
        let r = pop!();
        Ok(match self.result {
            NumTy::I => fi(r) != 0,
            NumTy::F => ff(r) != 0.0,
        })
    }
}
