//! The typed AST of the three languages. Every node carries its span.

use serde::{Deserialize, Serialize};

use crate::span::{Span, Spanned};

// ------------------------------------------------------------ rules.hacmprd

/// The lines of a rules file: comments (not counted) and fields (counted, nine
/// to a record). Grouping fields into records is the compiler's job, because it
/// needs the realignment analysis.
#[derive(Clone, Debug, Default)]
pub struct RulesText<'a> {
    text: &'a str,
    /// Where each field line is: sixteen bytes a line, not a copy.
    lines: Vec<LineRef>,
    /// Number of comment lines (they have no meaning, but tell the size).
    pub comments: usize,
    /// Span of the end of the text (for "missing line" reports).
    pub end: Span,
}

#[derive(Clone, Copy, Debug, Default)]
struct LineRef {
    start: usize,
    len: u32,
    line: u32,
}

impl<'a> RulesText<'a> {
    pub(crate) fn new(text: &'a str, capacity: usize) -> Self {
        RulesText {
            text,
            lines: Vec::with_capacity(capacity),
            comments: 0,
            end: Span::default(),
        }
    }

    /// Adds the field line `start..end`, line `line` of the text. A line
    /// longer than 4 GiB is cut there (input limits are far below).
    pub(crate) fn push(&mut self, start: usize, end: usize, line: u32) {
        let len = u32::try_from(end - start).unwrap_or(u32::MAX);
        self.lines.push(LineRef { start, len, line });
    }

    /// Number of field lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Field line `i` (0-based among field lines), `None` past the end.
    pub fn get(&self, i: usize) -> Option<Field<'a>> {
        let l = self.lines.get(i)?;
        let end = l.start + l.len as usize;
        Some(Field {
            text: &self.text[l.start..end],
            span: Span {
                start: l.start,
                end,
                line: l.line,
                col: 1,
            },
        })
    }

    /// Field line `i`; an empty field at the end of the text past the last.
    pub fn field(&self, i: usize) -> Field<'a> {
        self.get(i).unwrap_or(Field {
            text: "",
            span: self.end,
        })
    }

    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        (0..self.len()).map(|i| self.field(i))
    }
}

/// One non-comment line of a rules file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Field<'a> {
    /// The line as written, without the line feed (a carriage return stays).
    pub text: &'a str,
    pub span: Span,
}

/// A parsed instance vector: `name=value` elements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceVector {
    pub elements: Vec<Element>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Element {
    pub name: Spanned<String>,
    pub value: Spanned<Pattern>,
}

/// An element value: a concrete value or `*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pattern {
    Any,
    Exact(String),
}

// ----------------------------------------------------------------------- .rp

/// A parsed recovery program: its statements in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RpFile {
    pub statements: Vec<Statement>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub kind: StatementKind,
    /// The whole line, without leading and trailing blanks.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StatementKind {
    Command(CommandLine),
    Barrier,
}

/// `node_set "recovery_command" expected_status NULL`
#[derive(Clone, Debug, PartialEq)]
pub struct CommandLine {
    pub node_set: Spanned<NodeSet>,
    /// The text between the quotes.
    pub command: Spanned<String>,
    /// The command split on blanks: program, then arguments.
    pub words: Vec<Spanned<String>>,
    pub expected: Spanned<Expected>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeSet {
    All,
    Event,
    Other,
}

impl NodeSet {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeSet::All => "all",
            NodeSet::Event => "event",
            NodeSet::Other => "other",
        }
    }
}

/// The expected exit status of a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    /// `X`: any status is accepted.
    Any,
    Status(u8),
}

impl Expected {
    pub fn accepts(self, status: i32) -> bool {
        match self {
            Expected::Any => true,
            Expected::Status(s) => i32::from(s) == status,
        }
    }
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Any => f.write_str("X"),
            Expected::Status(s) => write!(f, "{s}"),
        }
    }
}

// ---------------------------------------------------------------- predicates

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `X`: the whole (scalar) value.
    Value,
    /// `X@n`: field `n` of a structured value.
    Field(u32),
    /// `X@P`: the previous observation of a scalar value.
    Previous,
    Int(i64),
    Float(f64),
    Str(String),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryOp {
    Not,
    Neg,
    BitNot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
    Mul,
    Div,
    Rem,
    Add,
    Sub,
    Shl,
    Shr,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    BitAnd,
    BitXor,
    BitOr,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Mul => "*",
            Div => "/",
            Rem => "%",
            Add => "+",
            Sub => "-",
            Shl => "<<",
            Shr => ">>",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Eq => "==",
            Ne => "!=",
            BitAnd => "&",
            BitXor => "^",
            BitOr => "|",
            And => "&&",
            Or => "||",
        }
    }
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Not => "!",
            UnaryOp::Neg => "-",
            UnaryOp::BitNot => "~",
        }
    }
}

impl Expr {
    /// Calls `f` on this node and every node below it.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Unary(_, e) => e.walk(f),
            ExprKind::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            _ => {}
        }
    }
}
