//! Highly available resources in the site file: the model kept in the
//! bundle (`model`); the site file's sections are parsed and checked
//! (codes G001–G006) with the rest of the site (`site::resources`).
//! Placing groups and running resources is the runtime's part.

pub mod model;

pub use model::*;
