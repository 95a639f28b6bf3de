//! Type checking and code generation in one walk.

use hacmp_grammar::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use hacmp_grammar::span::Span;
use hacmp_stdlib::{ScalarType, ValueType};

use super::{
    Arith, Atom, Bit, Chain, Cmp, CompiledPredicate, FloatRange, IntRange, NumTy, Op, Plan, StrRef,
    Test, MAX_STACK,
};

/// A predicate that parses but does not fit the variable (R011).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeError {
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Gen {
    /// A number of this type is on the stack.
    Num(NumTy),
    /// A string operand (nothing on the stack).
    Str(StrRef),
}

struct Compiler<'a> {
    var: &'a ValueType,
    ops: Vec<Op>,
    strings: Vec<String>,
    depth: usize,
    max_depth: usize,
    reads_previous: bool,
    reads_value: bool,
    errors: Vec<TypeError>,
}

/// Compiles `expr` for a variable of type `var`. `source` is kept for
/// messages and the canonical form.
pub fn compile(
    expr: &Expr,
    var: &ValueType,
    source: &str,
) -> Result<CompiledPredicate, Vec<TypeError>> {
    let mut c = Compiler {
        var,
        ops: Vec::new(),
        strings: Vec::new(),
        depth: 0,
        max_depth: 0,
        reads_previous: false,
        reads_value: false,
        errors: Vec::new(),
    };
    let result = match c.gen(expr) {
        Ok(Gen::Num(t)) => Some(t),
        Ok(Gen::Str(_)) => {
            c.errors.push(TypeError {
                span: expr.span,
                message: "the predicate is a string; it must be a number (non-zero is true)".into(),
                help: Some("compare it: `X@0==\"READY\"`".into()),
            });
            None
        }
        Err(()) => None,
    };
    if c.max_depth > MAX_STACK {
        c.errors.push(TypeError {
            span: expr.span,
            message: format!("the predicate is too complex: it needs {} stack slots, at most {MAX_STACK} are allowed", c.max_depth),
            help: Some("split it, or remove needless nesting".into()),
        });
    }
    match result {
        Some(result) if c.errors.is_empty() => Ok(CompiledPredicate {
            source: source.to_string(),
            plan: plan(expr, var),
            ops: c.ops,
            strings: c.strings,
            result,
            max_stack: c.max_depth as u32,
            reads_previous: c.reads_previous,
            reads_value: c.reads_value,
        }),
        _ => Err(c.errors),
    }
}

fn scalar_ty(t: ScalarType) -> Option<NumTy> {
    match t {
        ScalarType::Int => Some(NumTy::I),
        ScalarType::Float => Some(NumTy::F),
        ScalarType::String => None,
    }
}

fn ty_name(g: Gen) -> &'static str {
    match g {
        Gen::Num(NumTy::I) => "an integer",
        Gen::Num(NumTy::F) => "a float",
        Gen::Str(_) => "a string",
    }
}

impl Compiler<'_> {
    fn err<T>(
        &mut self,
        span: Span,
        message: impl Into<String>,
        help: Option<&str>,
    ) -> Result<T, ()> {
        self.errors.push(TypeError {
            span,
            message: message.into(),
            help: help.map(str::to_string),
        });
        Err(())
    }

    fn push(&mut self, op: Op, delta: isize) {
        self.ops.push(op);
        self.depth = (self.depth as isize + delta).max(0) as usize;
        self.max_depth = self.max_depth.max(self.depth);
    }

    /// The type of an atom, or a type error.
    fn atom(&mut self, atom: Atom, span: Span) -> Result<ScalarType, ()> {
        self.reads_value = true;
        match (atom, self.var) {
            (Atom::Value, ValueType::Scalar(t)) => Ok(*t),
            (Atom::Previous, ValueType::Scalar(t)) => {
                self.reads_previous = true;
                Ok(*t)
            }
            (Atom::Field(n), ValueType::Sbs(fields)) => match fields.get(n as usize) {
                Some(t) => Ok(*t),
                None => {
                    let last = fields.len().saturating_sub(1);
                    self.err(
                        span,
                        format!("`X@{n}` is past the last field: the value has {} field{} (X@0…X@{last})", fields.len(), if fields.len() == 1 { "" } else { "s" }),
                        None,
                    )
                }
            },
            (Atom::Value, ValueType::Sbs(fields)) => self.err(
                span,
                format!("`X` is a structured value with {} fields; a predicate reads one field at a time", fields.len()),
                Some("use `X@0`, `X@1`, …"),
            ),
            (Atom::Previous, ValueType::Sbs(_)) => self.err(
                span,
                "`X@P` (the previous observation) applies to plain values only",
                Some("structured values carry their own history in their fields (for process counts, `X@1` is the previous count)"),
            ),
            (Atom::Field(n), ValueType::Scalar(_)) => self.err(
                span,
                format!("`X@{n}` reads a field, but the value is a plain number"),
                Some("write `X`"),
            ),
        }
    }

    fn gen(&mut self, e: &Expr) -> Result<Gen, ()> {
        match &e.kind {
            ExprKind::Value | ExprKind::Field(_) | ExprKind::Previous => {
                let atom = atom_of(&e.kind).unwrap_or(Atom::Value);
                let t = self.atom(atom, e.span)?;
                Ok(match scalar_ty(t) {
                    Some(n) => {
                        self.push(Op::Load(atom, n), 1);
                        Gen::Num(n)
                    }
                    None => Gen::Str(StrRef::Atom(atom)),
                })
            }
            ExprKind::Int(v) => {
                self.push(Op::PushI(*v), 1);
                Ok(Gen::Num(NumTy::I))
            }
            ExprKind::Float(v) => {
                self.push(Op::PushF(*v), 1);
                Ok(Gen::Num(NumTy::F))
            }
            ExprKind::Str(s) => {
                self.strings.push(s.clone());
                Ok(Gen::Str(StrRef::Const(self.strings.len() as u32 - 1)))
            }
            ExprKind::Unary(op, inner) => {
                let g = self.gen(inner)?;
                let Gen::Num(t) = g else {
                    return self.err(
                        e.span,
                        format!("`{}` does not apply to a string", op.symbol()),
                        None,
                    );
                };
                match op {
                    UnaryOp::Neg => {
                        self.push(Op::Neg(t), 0);
                        Ok(Gen::Num(t))
                    }
                    UnaryOp::Not => {
                        self.push(Op::Not(t), 0);
                        Ok(Gen::Num(NumTy::I))
                    }
                    UnaryOp::BitNot => {
                        if t == NumTy::F {
                            return self.err(e.span, "`~` takes an integer, not a float", None);
                        }
                        self.push(Op::BitNot, 0);
                        Ok(Gen::Num(NumTy::I))
                    }
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(e, *op, a, b),
        }
    }

    fn binary(&mut self, e: &Expr, op: BinaryOp, a: &Expr, b: &Expr) -> Result<Gen, ()> {
        use BinaryOp::*;
        match op {
            And | Or => {
                let ga = self.gen(a)?;
                let ta = self.need_num(ga, a, op)?;
                self.push(Op::Truth(ta), 0);
                let jump_at = self.ops.len();
                self.push(
                    if op == And {
                        Op::JumpIfZero(0)
                    } else {
                        Op::JumpIfOne(0)
                    },
                    -1,
                );
                let gb = self.gen(b)?;
                let tb = self.need_num(gb, b, op)?;
                self.push(Op::Truth(tb), 0);
                let end = self.ops.len() as u32;
                self.ops[jump_at] = if op == And {
                    Op::JumpIfZero(end)
                } else {
                    Op::JumpIfOne(end)
                };
                Ok(Gen::Num(NumTy::I))
            }
            Lt | Le | Gt | Ge | Eq | Ne => self.comparison(e, op, a, b),
            _ => {
                let ga = self.gen(a)?;
                let gb = self.gen(b)?;
                let ta = self.need_num(ga, a, op)?;
                let tb = self.need_num(gb, b, op)?;
                let integer_only = matches!(op, Rem | Shl | Shr | BitAnd | BitXor | BitOr);
                if integer_only && (ta == NumTy::F || tb == NumTy::F) {
                    let side = if ta == NumTy::F { a } else { b };
                    return self.err(
                        side.span,
                        format!("`{}` takes integers, and this is a float", op.symbol()),
                        None,
                    );
                }
                let t = self.unify(ta, tb);
                let instr = match op {
                    Mul => Op::Arith(Arith::Mul, t),
                    Div => Op::Arith(Arith::Div, t),
                    Rem => Op::Arith(Arith::Rem, t),
                    Add => Op::Arith(Arith::Add, t),
                    Sub => Op::Arith(Arith::Sub, t),
                    Shl => Op::Bit(Bit::Shl),
                    Shr => Op::Bit(Bit::Shr),
                    BitAnd => Op::Bit(Bit::And),
                    BitXor => Op::Bit(Bit::Xor),
                    _ => Op::Bit(Bit::Or),
                };
                self.push(instr, -1);
                Ok(Gen::Num(t))
            }
        }
    }

    /// Converts the operands on the stack to a common type.
    fn unify(&mut self, ta: NumTy, tb: NumTy) -> NumTy {
        match (ta, tb) {
            (NumTy::I, NumTy::F) => {
                self.push(Op::I2FBelow, 0);
                NumTy::F
            }
            (NumTy::F, NumTy::I) => {
                self.push(Op::I2F, 0);
                NumTy::F
            }
            (t, _) => t,
        }
    }

    fn need_num(&mut self, g: Gen, side: &Expr, op: BinaryOp) -> Result<NumTy, ()> {
        match g {
            Gen::Num(t) => Ok(t),
            Gen::Str(_) => self.err(
                side.span,
                format!(
                    "`{}` does not apply to strings: strings support only `==` and `!=`",
                    op.symbol()
                ),
                None,
            ),
        }
    }

    fn comparison(&mut self, e: &Expr, op: BinaryOp, a: &Expr, b: &Expr) -> Result<Gen, ()> {
        let cmp = match op {
            BinaryOp::Lt => Cmp::Lt,
            BinaryOp::Le => Cmp::Le,
            BinaryOp::Gt => Cmp::Gt,
            BinaryOp::Ge => Cmp::Ge,
            BinaryOp::Eq => Cmp::Eq,
            _ => Cmp::Ne,
        };
        // Fused form: an atom compared with a numeric literal.
        if let (Some(atom), Some(k)) = (atom_of(&a.kind), literal(&b.kind)) {
            let start = self.ops.len();
            let depth = self.depth;
            if let Gen::Num(t) = self.gen(a)? {
                self.ops.truncate(start);
                self.depth = depth;
                let instr = match (t, k) {
                    (NumTy::I, Lit::I(k)) => Op::CmpAtomI(atom, cmp, k),
                    (NumTy::I, Lit::F(k)) | (NumTy::F, Lit::F(k)) => Op::CmpAtomF(atom, cmp, k),
                    (NumTy::F, Lit::I(k)) => Op::CmpAtomF(atom, cmp, k as f64),
                };
                self.push(instr, 1);
                return Ok(Gen::Num(NumTy::I));
            }
            self.ops.truncate(start);
            self.depth = depth;
        }
        let ga = self.gen(a)?;
        let gb = self.gen(b)?;
        match (ga, gb) {
            (Gen::Str(x), Gen::Str(y)) => {
                if !matches!(cmp, Cmp::Eq | Cmp::Ne) {
                    return self.err(
                        e.span,
                        format!(
                            "`{}` does not apply to strings: strings support only `==` and `!=`",
                            op.symbol()
                        ),
                        None,
                    );
                }
                self.push(Op::StrCmp(x, y, cmp == Cmp::Eq), 1);
                Ok(Gen::Num(NumTy::I))
            }
            (Gen::Num(ta), Gen::Num(tb)) => {
                let t = self.unify(ta, tb);
                self.push(Op::Cmp(cmp, t), -1);
                Ok(Gen::Num(NumTy::I))
            }
            (x, y) => self.err(
                e.span,
                format!("this compares {} with {}", ty_name(x), ty_name(y)),
                Some("compare strings with strings (`X@0==\"READY\"`) and numbers with numbers"),
            ),
        }
    }
}

#[derive(Clone, Copy)]
enum Lit {
    I(i64),
    F(f64),
}

fn literal(k: &ExprKind) -> Option<Lit> {
    match k {
        ExprKind::Int(v) => Some(Lit::I(*v)),
        ExprKind::Float(v) => Some(Lit::F(*v)),
        _ => None,
    }
}

fn atom_of(k: &ExprKind) -> Option<Atom> {
    match k {
        ExprKind::Value => Some(Atom::Value),
        ExprKind::Field(n) => Some(Atom::Field(*n)),
        ExprKind::Previous => Some(Atom::Previous),
        _ => None,
    }
}

/// The type a numeric atom has, if it is numeric.
fn atom_ty(atom: Atom, var: &ValueType) -> Option<NumTy> {
    let t = match (atom, var) {
        (Atom::Value | Atom::Previous, ValueType::Scalar(t)) => *t,
        (Atom::Field(n), ValueType::Sbs(f)) => *f.get(n as usize)?,
        _ => return None,
    };
    scalar_ty(t)
}

fn flip(c: Cmp) -> Cmp {
    match c {
        Cmp::Lt => Cmp::Gt,
        Cmp::Le => Cmp::Ge,
        Cmp::Gt => Cmp::Lt,
        Cmp::Ge => Cmp::Le,
        c => c,
    }
}

/// The direct plan of a predicate already type-checked, or `Plan::Stack`.
fn plan(e: &Expr, var: &ValueType) -> Plan {
    for and in [true, false] {
        let op = if and { BinaryOp::And } else { BinaryOp::Or };
        let mut tests = Vec::new();
        if chain(e, op, var, &mut tests) {
            return shape(tests, and);
        }
    }
    Plan::Stack
}

/// The chain's shape: of one type on the current record, or mixed.
fn shape(tests: Vec<Test>, and: bool) -> Plan {
    let ints: Option<Vec<_>> = tests
        .iter()
        .map(|t| match t {
            Test::I {
                previous: false,
                range,
            } => Some(*range),
            _ => None,
        })
        .collect();
    let floats: Option<Vec<_>> = tests
        .iter()
        .map(|t| match t {
            Test::F {
                previous: false,
                range,
            } => Some(*range),
            _ => None,
        })
        .collect();
    fn chain<T>(all: bool, tests: Vec<T>) -> Option<Chain<T>> {
        (!tests.is_empty()).then_some(Chain { all, tests })
    }
    match (ints, floats) {
        (Some(t), _) => chain(and, t).map(Plan::Ints),
        (_, Some(t)) => chain(and, t).map(Plan::Floats),
        (None, None) => chain(and, tests).map(Plan::Mixed),
    }
    .unwrap_or(Plan::Stack)
}

/// `a op b op c …` where every operand is a test.
fn chain(e: &Expr, op: BinaryOp, var: &ValueType, out: &mut Vec<Test>) -> bool {
    match &e.kind {
        ExprKind::Binary(o, a, b) if *o == op => chain(a, op, var, out) && chain(b, op, var, out),
        _ => match test(e, var) {
            Some(t) => {
                out.push(t);
                true
            }
            None => false,
        },
    }
}

fn test(e: &Expr, var: &ValueType) -> Option<Test> {
    let ExprKind::Binary(op, a, b) = &e.kind else {
        return None;
    };
    let cmp = match op {
        BinaryOp::Lt => Cmp::Lt,
        BinaryOp::Le => Cmp::Le,
        BinaryOp::Gt => Cmp::Gt,
        BinaryOp::Ge => Cmp::Ge,
        BinaryOp::Eq => Cmp::Eq,
        BinaryOp::Ne => Cmp::Ne,
        _ => return None,
    };
    let (atom, lit, cmp) = match (
        atom_of(&a.kind),
        literal(&b.kind),
        atom_of(&b.kind),
        literal(&a.kind),
    ) {
        (Some(x), Some(k), _, _) => (x, k, cmp),
        (_, _, Some(x), Some(k)) => (x, k, flip(cmp)),
        _ => return None,
    };
    let (previous, field) = match atom {
        Atom::Value => (false, 0),
        Atom::Field(n) => (false, n),
        Atom::Previous => (true, 0),
    };
    Some(match (atom_ty(atom, var)?, lit) {
        (NumTy::I, Lit::I(k)) => Test::I {
            previous,
            range: IntRange::new(field, cmp, k),
        },
        (NumTy::I, Lit::F(k)) | (NumTy::F, Lit::F(k)) => Test::F {
            previous,
            range: FloatRange::new(field, cmp, k),
        },
        (NumTy::F, Lit::I(k)) => Test::F {
            previous,
            range: FloatRange::new(field, cmp, k as f64),
        },
    })
}
