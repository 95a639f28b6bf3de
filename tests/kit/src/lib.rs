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

/// Writes `text` to `path` as an executable (mode 755), from a child
/// process. A file this process held open for writing can be inherited, for
/// the instant between fork and exec, by a child another test of the same
/// binary starts; executing the file then fails with ETXTBSY ("Text file
/// busy"). Written by a child, it is never open in this process.
pub fn write_executable(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("/bin/sh");
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(text.as_bytes()).expect("the script's text");
    drop(stdin);
    assert!(
        child.wait().expect("sh").success(),
        "cannot write {}",
        path.display()
    );
}

/// Copies `from` to `to` keeping its mode, from a child process (see
/// `write_executable`).
pub fn copy_executable(from: &std::path::Path, to: &std::path::Path) {
    let ok = std::process::Command::new("cp")
        .arg("-p")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(
        ok.success(),
        "cannot copy {} to {}",
        from.display(),
        to.display()
    );
}

/// Copies a directory tree: files keep their modes (copied as
/// `copy_executable` does), directories get 755.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            copy_executable(&e.path(), &dest);
        }
    }
}
