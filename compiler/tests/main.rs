//! The compiler's tests, in one binary (`no_alloc` is a binary of its own:
//! it installs a counting global allocator).

mod analysis;
mod diagnostics;
mod fs_checks;
mod mutations;
mod predicates;
mod realign;
