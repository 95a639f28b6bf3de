//! Highly available resources in the site file: the model kept in the
//! bundle (`model`) and its parsing and checks (`parse`, codes G001–G006).
//! Placing groups and running resources is the runtime's part.

pub mod model;
pub(crate) mod parse;

pub use model::*;
