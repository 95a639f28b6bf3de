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
    PushF(f64),
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
    CmpAtomF(Atom, Cmp, f64),
    /// Pushes 1 when the strings are equal (`eq`) or differ (`!eq`).
    StrCmp(StrRef, StrRef, bool),
    /// Replaces the top word by integer 0 or 1.
    Truth(NumTy),
    /// If the top is 0, jumps to the target keeping it; else pops it.
    JumpIfZero(u32),
    /// If the top is 1, jumps to the target keeping it; else pops it.
    JumpIfOne(u32),
}

/// One comparison of what a predicate reads with a constant: the slot
/// (`previous` record or current, field index), the comparison as a mask
/// over {greater, equal, less, unordered}, and the constant.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Test {
    I {
        previous: bool,
        field: u32,
        mask: u8,
        k: i64,
    },
    F {
        previous: bool,
        field: u32,
        mask: u8,
        k: f64,
    },
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
/// stack machine: one comparison with a constant, or several joined by `&&`
/// (or all by `||`). Anything else runs on `ops`; both give the same result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Plan {
    One(Test),
    All(Vec<Test>),
    Any(Vec<Test>),
    /// Run the stack code.
    Stack,
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
