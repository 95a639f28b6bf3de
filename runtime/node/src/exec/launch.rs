//! Starting a recovery command as root, safely:
//! - **the file that was checked is the file that runs.** The command is
//!   opened once, under the staging root (`rootfs`); its type, mode and
//!   owner are checked on that descriptor, and its content hash against the
//!   bundle's. Then the kernel executes that very descriptor
//!   (`/proc/self/fd/N`). Replacing the path after the check changes
//!   nothing; a command changed since the site was compiled does not run.
//! - **nothing is inherited** but standard input, output and error: every
//!   other descriptor is closed at exec (a script keeps the one its
//!   interpreter reads it from).
//! - **it dies with the runtime:** the command gets SIGKILL if the process
//!   that started it dies, even of SIGKILL.
//!
//! A script's interpreter reads it through `/proc/self/fd/N`, so `$0` is
//! that path; `argv[0]` and `HACMP_COMMAND` carry the site's path.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Mutex;

use hacmp_compiler::{fscheck, input, rootfs};

/// A file's identity while it is not changed (a write changes its ctime).
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

/// Content hashes of commands already checked, by file identity: a large
/// command is not read again at every run.
#[derive(Default)]
pub struct Hashes(Mutex<HashMap<Stamp, String>>);

fn stamp(m: &std::fs::Metadata) -> Stamp {
    (
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// A command opened and checked, ready to execute.
pub struct Checked {
    file: File,
    /// `#!`: its interpreter reads it through the descriptor.
    script: bool,
}

/// Opens a command under the staging root and checks it: a regular file,
/// executable, owned by root or by this user and writable only by its
/// owner, with the content the bundle was built from. The descriptor it
/// holds is the one to execute.
pub fn open_checked(
    root: Option<&Path>,
    path: &str,
    expected: Option<&str>,
    hashes: &Hashes,
) -> Result<Checked, String> {
    if !path.starts_with('/') || fscheck::climbs(path) {
        return Err(format!("`{path}` is not an absolute path without `..`"));
    }
    let Some(expected) = expected else {
        return Err(format!(
            "the bundle has no content hash for `{path}`: only commands the site was compiled with run"
        ));
    };
    let f = rootfs::open(
        root,
        path,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
    )
    .map_err(|e| match root {
        Some(r) => format!("cannot open `{path}` under `{}`: {e}", r.display()),
        None => format!("cannot open `{path}`: {e}"),
    })?;
    let meta = f.metadata().map_err(|e| format!("`{path}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "`{path}` is {}, not a regular file",
            input::kind(&meta)
        ));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("`{path}` is not executable"));
    }
    if let Some(why) = fscheck::safety(&meta) {
        return Err(format!("`{path}` {why}: it is not run as root"));
    }
    {
        let key = stamp(&meta);
        let known = hashes
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let actual = match known {
            Some(h) => h,
            None => {
                let h =
                    input::hash_open(&f, input::COMMAND).map_err(|e| format!("`{path}`: {e}"))?;
                hashes
                    .0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, h.clone());
                h
            }
        };
        if actual != expected {
            return Err(format!(
                "`{path}` changed since the site was compiled (its content is not the bundle's): lint the site and restart the node with it"
            ));
        }
    }
    let mut magic = [0u8; 2];
    let script = std::os::unix::fs::FileExt::read_at(&f, &mut magic, 0).is_ok_and(|n| n == 2)
        && magic == *b"#!";
    Ok(Checked { file: f, script })
}

impl Checked {
    /// Starts it (`super::spawn`) with `argv` (`argv[0]` as the site
    /// wrote it), exactly `env`, in `cwd`.
    pub fn spawn(
        &self,
        argv: &[String],
        env: &[(String, String)],
        cwd: &Path,
    ) -> std::io::Result<super::spawn::Child> {
        super::spawn::spawn(&super::spawn::Request {
            exe: self.file.as_raw_fd(),
            script: self.script,
            argv,
            env,
            cwd,
        })
    }
}
