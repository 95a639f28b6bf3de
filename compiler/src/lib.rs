//! The compiler of a cluster site: checks with diagnostics, and the IR.
//!
//! ```text
//! site.toml ─parse_site─▶ Site ─┐
//! rules.hacmprd ─────────────── lint ─▶ Lint { diagnostics, rules, programs } ─bundle─▶ Bundle (hashed)
//! *.rp (named by the rules) ────┘              │
//!                                              └─render::{human, json, sarif}
//! ```
//!
//! Stage functions are the API: [`lint`], [`lint_texts`], [`lint_nodes`],
//! [`site::parse_site`], [`Lint::bundle`]. Every check emits a
//! [`Diagnostic`] with a [`Code`]; [`explain`] documents each code.

mod check_rp;
mod check_rules;
pub mod code;
pub mod diagnostic;
pub mod diff;
pub mod digest;
pub mod explain;
pub mod fscheck;
pub mod input;
pub mod ir;
mod lint;
pub mod predicate;
mod records;
pub mod render;
pub mod resources;
pub mod rootfs;
pub mod shape;
pub mod signature;
pub mod signing;
pub mod site;
pub mod source;

pub use check_rules::suggest;
pub use code::{Code, Severity};
pub use diagnostic::{Diagnostic, Summary};
pub use explain::{explain, Explanation};
pub use ir::Bundle;
pub use lint::{lint, lint_nodes, lint_texts, InputError, Lint, LintOptions};
pub use site::Site;
