//! File-system checks: existence, executability, ownership and permissions of
//! the files a site runs as root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Whether a site path has a `..` component: it could climb out of the
/// staging root, and it never names a file more clearly than the path
/// without it.
pub fn climbs(path: &str) -> bool {
    path.split('/').any(|c| c == "..")
}

/// Where an absolute site path lives on this machine: under the staging
/// root when there is one.
pub fn resolve(root: Option<&Path>, path: &str) -> PathBuf {
    match root {
        Some(r) => r.join(path.trim_start_matches('/')),
        None => PathBuf::from(path),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    Missing,
    NotAFile,
    NotExecutable,
    /// Writable by group or others, owned by another user, or in a
    /// directory all users may write (P008).
    Unsafe(String),
    /// Setuid or setgid (P008, a warning): it runs with its owner's rights.
    SetId(u32),
    Unreadable(String),
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Ownership and mode problems of a file that runs as root.
pub fn safety(meta: &std::fs::Metadata) -> Option<String> {
    let mode = meta.permissions().mode();
    let uid = meta.uid();
    if mode & 0o022 != 0 {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "its group and all users",
            (true, false) => "its group",
            _ => "all users",
        };
        return Some(format!("is writable by {who} (mode {:o})", mode & 0o7777));
    }
    if uid != 0 && uid != euid() {
        return Some(format!(
            "is owned by uid {uid}, neither root nor the user running the linter"
        ));
    }
    None
}

/// Checks a file to be executed: a site path, under the staging root.
pub fn check_command(root: Option<&Path>, path: &str) -> Vec<Problem> {
    match crate::rootfs::metadata(root, path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![Problem::Missing],
        Err(e) => vec![Problem::Unreadable(e.to_string())],
        Ok(m) if !m.is_file() => vec![Problem::NotAFile],
        Ok(m) => {
            let mut out = Vec::new();
            if m.permissions().mode() & 0o111 == 0 {
                out.push(Problem::NotExecutable);
            }
            if let Some(s) = safety(&m).or_else(|| open_directory(root, path)) {
                out.push(Problem::Unsafe(s));
            }
            let id = m.permissions().mode() & 0o6000;
            if id != 0 {
                out.push(Problem::SetId(id));
            }
            out
        }
    }
}

/// The first directory above a site path (inside the staging root) that
/// all users may write: anyone could put another file in its place.
pub fn open_directory(root: Option<&Path>, path: &str) -> Option<String> {
    let mut dir = Path::new(path).parent();
    while let Some(d) = dir {
        let s = d.display().to_string();
        if s == "/" {
            break;
        }
        if let Ok(m) = crate::rootfs::metadata(root, &s) {
            if m.permissions().mode() & 0o002 != 0 {
                return Some(format!(
                    "is in `{s}`, a directory all users may write (mode {:o}): anyone could replace it",
                    m.permissions().mode() & 0o7777
                ));
            }
        }
        dir = d.parent();
    }
    None
}
