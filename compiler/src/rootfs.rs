//! A site's files, opened under its staging root and never outside it.
//!
//! A site names its files by absolute paths (`/usr/sbin/cluster/...`).
//! Under a staging root they are looked up inside the root: `..`
//! components, and symbolic links (absolute or relative), resolve as if the
//! root were `/`. A link to `/etc/shadow` in the staging tree names the
//! tree's `etc/shadow`, not the machine's. The kernel does this
//! (`openat2` with `RESOLVE_IN_ROOT`, Linux 5.6). On an older kernel the
//! real path is checked to be inside the root instead, and a path that
//! leaves it is refused.
//!
//! Without a staging root the paths are the machine's, as they are.

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Opens `path` (a site path, absolute) under `root`. `flags` are added to
/// `O_CLOEXEC` (e.g. `O_RDONLY | O_NONBLOCK`, or `O_PATH` to look without
/// reading).
pub fn open(root: Option<&Path>, path: &str, flags: i32) -> io::Result<File> {
    let Some(root) = root else {
        return std::fs::OpenOptions::new()
            .read(flags & libc::O_PATH == 0)
            .custom_flags(flags)
            .open(path);
    };
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_PATH)
        .open(root)?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    match openat2(&dir, rel, flags, libc::RESOLVE_IN_ROOT) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => open_checked(root, rel, flags),
        other => other,
    }
}

/// Opens `rel` (relative) beneath `dir` for reading: a `..` or a symbolic
/// link that leads out of `dir` is refused (`openat2` with
/// `RESOLVE_BENEATH`; on an older kernel, the real path is checked), so
/// a server of `dir` serves nothing else.
pub fn open_beneath(dir: &Path, rel: &str) -> io::Result<File> {
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_PATH)
        .open(dir)?;
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
    match openat2(&d, rel, flags, libc::RESOLVE_BENEATH) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => open_checked(dir, rel, flags),
        other => other,
    }
}

/// Opens a site file for reading, without blocking, and checks it is a
/// regular file within `limit`.
pub fn open_regular(
    root: Option<&Path>,
    path: &str,
    limit: crate::input::Limit,
) -> io::Result<(File, Metadata)> {
    let f = open(
        root,
        path,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
    )?;
    let meta = f.metadata()?;
    crate::input::check(&meta, limit)?;
    Ok((f, meta))
}

/// The content hash of a site file (a command), read in pieces.
pub fn hash(root: Option<&Path>, path: &str) -> io::Result<String> {
    let (f, _) = open_regular(root, path, crate::input::COMMAND)?;
    crate::input::hash_open(f, crate::input::COMMAND)
}

/// Metadata of the file a site path names, without reading it.
pub fn metadata(root: Option<&Path>, path: &str) -> io::Result<Metadata> {
    open(root, path, libc::O_PATH)?.metadata()
}

fn openat2(dir: &File, rel: &str, flags: i32, resolve: u64) -> io::Result<File> {
    let c = std::ffi::CString::new(rel)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    // SAFETY: open_how is plain integers; all zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 with a valid directory descriptor, a NUL-terminated
    // path and an open_how of the size given; it returns a new descriptor
    // or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that we now own.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

/// Without `openat2`: the real path must stay inside the root.
fn open_checked(root: &Path, rel: &str, flags: i32) -> io::Result<File> {
    let root = std::fs::canonicalize(root)?;
    let real: PathBuf = std::fs::canonicalize(root.join(rel))?;
    if !real.starts_with(&root) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "it resolves to `{}`, outside the staging root",
                real.display()
            ),
        ));
    }
    open(None, &real.display().to_string(), flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_dots_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "staged\n").unwrap();
        std::fs::write(dir.path().join("outside"), "outside\n").unwrap();
        // An absolute link, a relative link that climbs, a path that climbs.
        std::os::unix::fs::symlink("/etc/passwd", root.join("usr/bin/abs")).unwrap();
        std::os::unix::fs::symlink("../../../outside", root.join("usr/bin/rel")).unwrap();
        let read = |p: &str| open(Some(&root), p, libc::O_RDONLY).and_then(std::io::read_to_string);
        assert_eq!(read("/usr/bin/abs").unwrap(), "staged\n");
        // `../../../outside` from usr/bin clamps at the root: no such file.
        assert!(read("/usr/bin/rel").is_err());
        assert_eq!(read("/usr/bin/../../../../etc/passwd").unwrap(), "staged\n");
        // The fallback refuses what the kernel would re-root.
        assert!(open_checked(&root, "usr/bin/abs", libc::O_RDONLY).is_err());
        assert!(metadata(Some(&root), "/usr/bin").unwrap().is_dir());
    }
}
