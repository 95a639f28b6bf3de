//! Splitting a rules file into comment and field lines.
//!
//! The grammar (`rules_file` in `hacmp.pest`) is one line after another, a
//! comment when it starts with `#`, a field otherwise. It is applied here
//! line by line without building pest's token queue, which for a large file
//! costs many times the file (`tests` check both agree).

use crate::ast::RulesText;
use crate::error::NotUtf8;
use crate::span::{column_of, Span};
use crate::text::as_text;

/// Parses the lines of a rules file. Fails only on bytes that are not UTF-8;
/// every string is a sequence of comment and field lines. The fields borrow
/// the text.
pub fn parse_rules(bytes: &[u8]) -> Result<RulesText<'_>, NotUtf8> {
    let text = as_text(bytes)?;
    let ends_with_newline = text.ends_with('\n');
    let lines = text.bytes().filter(|b| *b == b'\n').count() + 1;
    let mut out = RulesText::new(text, lines);
    let mut line = 0u32;
    let mut start = 0;
    for piece in text.split('\n') {
        line += 1;
        let end = start + piece.len();
        // The empty "line" after the final line feed is not a field.
        let last = end == text.len();
        if !(last && ends_with_newline && piece.is_empty()) {
            if piece.starts_with('#') {
                out.comments += 1;
            } else {
                out.push(start, end, line);
            }
        }
        start = end + 1;
    }
    let last_line_start = text.rfind('\n').map_or(0, |i| i + 1);
    out.end = Span {
        start: text.len(),
        end: text.len(),
        line: line.max(1),
        col: column_of(&text[last_line_start..], text.len() - last_line_start),
    };
    Ok(out)
}
