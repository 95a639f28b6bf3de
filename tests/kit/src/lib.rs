//! Fixtures the workspace's tests share.

pub mod modules;
pub mod netns;

use std::path::PathBuf;

/// The repository's root (examples, the shared test inputs).
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The name of the user running the tests (what the monitor reports as
/// `UserName`).
pub fn user_name() -> String {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2) == Some(&uid.to_string().as_str())).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}
