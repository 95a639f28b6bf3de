//! What a node does to its machine, on real kernel objects in namespaces
//! of the test's own (root only: skipped loudly without it, failed under
//! `HACMP_REQUIRE_ROOT=1`).

mod heartbeats;
mod linux_resources;
