//! Predicates compiled to a small typed stack code that evaluates without
//! allocating, on a fixed-layout observation record.
//!
//! Type checking happens while compiling, so every operation knows the types
//! of its operands: integers and floats travel on one stack of raw 64-bit
//! words, strings never reach the stack (string comparisons read their two
//! operands directly).

mod analysis;
mod compile;
mod eval;
mod interval;

use serde::{Deserialize, Serialize};

pub use analysis::{analyze, Analysis, Can, Overlap, Witness};
pub use compile::{compile, TypeError};
pub use eval::{EvalError, Observation, Scalar};

/// Deepest evaluation stack a compiled predicate may need.
pub const MAX_STACK: usize = 64;

/// What a predicate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Atom {
    /// `X`
    Value,
    /// `X@n`
    Field(u32),
    /// `X@P`
    Previous,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NumTy {
    I,
    F,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bit {
    Shl,
    Shr,
    And,
    Xor,
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// A string operand of a string comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StrRef {
    Atom(Atom),
    /// Index into the predicate's string constants.
    Const(u32),
}

/// One instruction. Integers and floats are 64-bit words on the stack; the
/// instruction says which it reads.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    PushI(i64),
    PushF(#[serde(with = "bits")] f64),
    Load(Atom, NumTy),
    /// Converts the top word from integer to float.
    I2F,
    /// Converts the word below the top from integer to float.
    I2FBelow,
    Neg(NumTy),
    /// Logical not: pushes integer 0 or 1.
    Not(NumTy),
    BitNot,
    Arith(Arith, NumTy),
    Bit(Bit),
    Cmp(Cmp, NumTy),
    /// Fused `atom <cmp> constant`, the common case (`X>90`, `X@0==0`).
    CmpAtomI(Atom, Cmp, i64),
    CmpAtomF(Atom, Cmp, #[serde(with = "bits")] f64),
    /// Pushes 1 when the strings are equal (`eq`) or differ (`!eq`).
    StrCmp(StrRef, StrRef, bool),
    /// Replaces the top word by integer 0 or 1.
    Truth(NumTy),
    /// If the top is 0, jumps to the target keeping it; else pops it.
    JumpIfZero(u32),
    /// If the top is 1, jumps to the target keeping it; else pops it.
    JumpIfOne(u32),
}

/// One comparison of a float with a constant, as a closed range: true
/// when `lo <= x <= hi` (false for NaN), or when `negate`, the opposite.
/// The six operators are one shape, evaluated without branching on the
/// operator. (Bounds are kept as bits: JSON has no ±∞.)
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatRange {
    pub field: u32,
    #[serde(with = "bits")]
    pub lo: f64,
    #[serde(with = "bits")]
    pub hi: f64,
    pub negate: bool,
}

/// An f64 as its IEEE bits, so that ±∞ and NaN survive JSON.
mod bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

/// An integer range as its start and width: `lo <= x <= lo + span` is one
/// unsigned comparison of `x - lo` (wrapping) with `span`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntRange {
    pub field: u32,
    pub lo: i64,
    pub span: u64,
    pub negate: bool,
}

impl IntRange {
    #[inline(always)]
    pub fn holds(&self, x: i64) -> bool {
        (x.wrapping_sub(self.lo) as u64 <= self.span) != self.negate
    }

    /// `x <cmp> k` on integers.
    pub fn new(field: u32, cmp: Cmp, k: i64) -> IntRange {
        let ne = cmp == Cmp::Ne;
        let (lo, hi) = match cmp {
            Cmp::Eq | Cmp::Ne => (k, k),
            Cmp::Lt => (i64::MIN, k.wrapping_sub(1)),
            Cmp::Le => (i64::MIN, k),
            Cmp::Gt => (k.wrapping_add(1), i64::MAX),
            Cmp::Ge => (k, i64::MAX),
        };
        // `x < i64::MIN` and `x > i64::MAX`: no integer, the negation of
        // every integer.
        let none = matches!((cmp, k), (Cmp::Lt, i64::MIN) | (Cmp::Gt, i64::MAX));
        if none {
            return IntRange {
                field,
                lo: i64::MIN,
                span: u64::MAX,
                negate: true,
            };
        }
        IntRange {
            field,
            lo,
            span: hi.wrapping_sub(lo) as u64,
            negate: ne,
        }
    }
}

impl FloatRange {
    #[inline(always)]
    pub fn holds(&self, x: f64) -> bool {
        ((x >= self.lo) & (x <= self.hi)) != self.negate
    }

    /// `x <cmp> k` on floats: `x < k` is `x <=` the float below `k`, and no
    /// float is below −∞ or above +∞; NaN is in no range, so only `!=`
    /// holds for it, as IEEE comparisons say.
    pub fn new(field: u32, cmp: Cmp, k: f64) -> FloatRange {
        const NONE: (f64, f64) = (f64::INFINITY, f64::NEG_INFINITY);
        let (lo, hi) = match cmp {
            Cmp::Eq | Cmp::Ne => (k, k),
            Cmp::Lt if k == f64::NEG_INFINITY => NONE,
            Cmp::Lt => (f64::NEG_INFINITY, k.next_down()),
            Cmp::Le => (f64::NEG_INFINITY, k),
            Cmp::Gt if k == f64::INFINITY => NONE,
            Cmp::Gt => (k.next_up(), f64::INFINITY),
            Cmp::Ge => (k, f64::INFINITY),
        };
        FloatRange {
            field,
            lo,
            hi,
            negate: cmp == Cmp::Ne,
        }
    }
}

/// A comparison of what a predicate reads with a constant: of a field of
/// the `previous` record or of the current one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Test {
    I { previous: bool, range: IntRange },
    F { previous: bool, range: FloatRange },
}

impl Cmp {
    /// Bits: 1 greater, 2 equal, 4 less, 8 unordered (NaN).
    pub fn mask(self) -> u8 {
        match self {
            Cmp::Gt => 0b0001,
            Cmp::Ge => 0b0011,
            Cmp::Eq => 0b0010,
            Cmp::Lt => 0b0100,
            Cmp::Le => 0b0110,
            Cmp::Ne => 0b1101,
        }
    }
}

/// The common shapes of predicates, evaluated directly instead of on the
/// stack machine: comparisons with constants joined by `&&` (or all by
/// `||`), one comparison being a chain of one. Chains of one type on the
/// current record have a shape of their own (no dispatch per test).
/// Anything else runs on `ops`; both give the same result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Plan {
    /// Integer fields of the current record.
    Ints(Chain<IntRange>),
    /// Numbers of the current record compared as floats.
    Floats(Chain<FloatRange>),
    /// Types mixed, or the previous record read.
    Mixed(Chain<Test>),
    /// Run the stack code.
    Stack,
}

/// Tests joined by `&&` (`all`) or all by `||`; never empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chain<T> {
    pub all: bool,
    pub tests: Vec<T>,
}

impl CompiledPredicate {
    /// Parses and compiles a predicate's text for a variable of type `var`.
    pub fn from_source(
        text: &str,
        var: &hacmp_stdlib::ValueType,
    ) -> Result<CompiledPredicate, String> {
        let expr = hacmp_grammar::parse_predicate(text, hacmp_grammar::span::Span::default())
            .map_err(|e| format!("predicate `{text}` does not parse: {:?}", e.kind))?;
        compile::compile(&expr, var, text).map_err(|errs| {
            let msgs: Vec<String> = errs.into_iter().map(|e| e.message).collect();
            format!("predicate `{text}`: {}", msgs.join("; "))
        })
    }
}

/// A predicate ready to evaluate, with its source for messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledPredicate {
    pub source: String,
    pub plan: Plan,
    pub ops: Vec<Op>,
    pub strings: Vec<String>,
    pub result: NumTy,
    pub max_stack: u32,
    /// Reads `X@P`: false until a second observation exists.
    pub reads_previous: bool,
    /// Reads the observed value at all (`X`, `X@n` or `X@P`).
    pub reads_value: bool,
}
