//! Errors of the parsing stage: one kind enum per language, each with a span.

use crate::span::Span;

/// The input is not text: the byte offset and position of the first byte that
/// is not valid UTF-8.
#[derive(Clone, Debug, PartialEq)]
pub struct NotUtf8 {
    pub span: Span,
}

/// A problem on one line of a `.rp` file.
#[derive(Clone, Debug, PartialEq)]
pub struct RpError {
    pub span: Span,
    pub kind: RpErrorKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RpErrorKind {
    /// The first word is not `all`, `event`, `other` or `barrier`.
    UnknownNodeSet {
        found: String,
        suggestion: Option<&'static str>,
    },
    /// The line starts with the command: the node set is missing.
    MissingNodeSet,
    /// The command is a bare word instead of a double-quoted string.
    CommandNotQuoted { found: String },
    /// The double quote around the command is not closed.
    UnclosedQuote,
    /// Nothing after the node set.
    MissingCommand,
    /// The expected status is neither `X` nor an integer 0–255.
    BadStatus { found: String },
    /// Nothing after the command.
    MissingStatus,
    /// `NULL` is missing at the end of the line.
    MissingNull,
    /// The last word is not `NULL` (e.g. `null`, `NUL`).
    NotNull { found: String },
    /// Words after `NULL`.
    AfterNull { count: usize },
    /// `barrier` followed by other words (a warning; `NULL` is tolerated).
    BarrierExtra { only_null: bool },
}

impl RpErrorKind {
    /// Whether the problem leaves the line's meaning intact (a warning).
    pub fn is_warning(&self) -> bool {
        matches!(self, RpErrorKind::BarrierExtra { .. })
    }
}

/// A predicate or rearm predicate that does not parse.
#[derive(Clone, Debug, PartialEq)]
pub struct PredicateError {
    pub span: Span,
    pub kind: PredicateErrorKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PredicateErrorKind {
    /// A token that does not fit: what was expected there.
    Syntax {
        expected: Vec<&'static str>,
        found: Option<String>,
    },
    /// A single `=`.
    SingleEquals,
    /// A name other than `X`.
    UnknownName { name: String },
    /// An integer literal that does not fit in 64 bits.
    IntegerOutOfRange,
    /// A floating literal that is not finite.
    FloatOutOfRange,
    /// A field index that does not fit in 32 bits.
    FieldIndexOutOfRange,
    /// An escape other than `\"` or `\\` in a string literal.
    BadEscape,
    /// Longer than the limit: no monitoring condition needs this many bytes.
    TooLong { limit: usize },
    /// Parentheses or unary operators nested deeper than the limit.
    TooDeep { limit: usize },
}

/// A malformed instance vector.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceVectorError {
    pub span: Span,
    pub kind: InstanceVectorErrorKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum InstanceVectorErrorKind {
    /// Not `name=value` pairs separated by `;`.
    Malformed { expected: Vec<&'static str> },
    /// `name=` with nothing after it.
    EmptyValue { name: String },
    /// The same element twice.
    Duplicate { name: String, first: Span },
}
