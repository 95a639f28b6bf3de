//! The grammar's tests, in one binary.

mod no_panic;
mod rules_lines;
