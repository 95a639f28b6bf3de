//! Parsing for the three languages of the cluster manager: the event map
//! `rules.hacmprd`, `.rp` recovery programs, and Event Management predicates
//! with their instance vectors.
//!
//! ```text
//! bytes ──parse_rules──▶ RulesText (comment and field lines, spanned)
//! bytes ──parse_rp─────▶ ParsedRp  (statements + located line errors)
//! field ──parse_predicate / parse_instance_vector──▶ Expr / InstanceVector
//! ```
//!
//! Parsing never panics and never fails on text: every mistake comes back as
//! a located error for the compiler to report.

pub mod ast;
pub mod error;
mod instance;
pub mod parser;
mod predicate;
mod rp;
mod rules;
pub mod span;
mod text;

pub use instance::parse_instance_vector;
pub use predicate::{parse_predicate, MAX_NESTING, MAX_PREDICATE_LEN};
pub use rp::{edit_distance, parse_node_set, parse_rp, parse_status, ParsedRp};
pub use rules::parse_rules;
pub use text::as_text;
