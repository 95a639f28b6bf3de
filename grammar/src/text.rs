//! Bytes to text, with a located error for bytes that are not UTF-8.

use crate::error::NotUtf8;
use crate::span::{column_of, Span};

pub fn as_text(bytes: &[u8]) -> Result<&str, NotUtf8> {
    match std::str::from_utf8(bytes) {
        Ok(t) => Ok(t),
        Err(e) => {
            let good = e.valid_up_to();
            // Safe: the prefix up to `valid_up_to` is valid UTF-8.
            let prefix = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
            let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
            let line = prefix.matches('\n').count() as u32 + 1;
            let bad_len = e.error_len().unwrap_or(bytes.len() - good);
            Err(NotUtf8 {
                span: Span {
                    start: good,
                    end: good + bad_len,
                    line,
                    col: column_of(&prefix[line_start..], good - line_start),
                },
            })
        }
    }
}
