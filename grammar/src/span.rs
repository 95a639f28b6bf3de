//! Source positions carried by every AST node.

use serde::{Deserialize, Serialize};

/// A byte range in one source file, with the 1-based line and column (in
/// characters) of its start, so a node can be reported without the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: u32,
    pub col: u32,
}

impl Span {
    /// The span of `line_text[rel_start..rel_end]`, for a line that starts at
    /// byte `line_start` of the file and is line number `line`.
    pub fn in_line(
        line_start: usize,
        line: u32,
        line_text: &str,
        rel_start: usize,
        rel_end: usize,
    ) -> Span {
        let col = column_of(line_text, rel_start);
        Span {
            start: line_start + rel_start,
            end: line_start + rel_end,
            line,
            col,
        }
    }

    /// A sub-span of this one (for spans inside a one-line field).
    pub fn sub(&self, field_text: &str, rel_start: usize, rel_end: usize) -> Span {
        Span {
            start: self.start + rel_start,
            end: self.start + rel_end,
            line: self.line,
            col: self.col + column_of(field_text, rel_start) - 1,
        }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// 1-based character column of byte offset `rel` in `line` (clamped to a
/// character boundary).
pub fn column_of(line: &str, rel: usize) -> u32 {
    let mut rel = rel.min(line.len());
    while !line.is_char_boundary(rel) {
        rel -= 1;
    }
    let prefix = &line[..rel];
    let chars = if prefix.is_ascii() {
        prefix.len()
    } else {
        prefix.chars().count()
    };
    chars as u32 + 1
}

/// A value with the span it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// Line starts of a text, for turning byte offsets into line and column.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based (line, column) of byte `offset` in `text`.
    pub fn line_col(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
        let col = column_of(&text[start..end], offset - start);
        (line as u32 + 1, col)
    }
}
