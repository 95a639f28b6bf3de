//! Reading what users and sites give: regular files only, read up to a
//! size cap, and never blocking. A FIFO, a device, a directory or a socket
//! is refused before any byte is read (the file is opened without
//! blocking and its type checked on the open descriptor, so it cannot be
//! swapped in between), and a file larger than its cap is refused with the
//! cap named, instead of being read until memory runs out.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// How much of one kind of input is read at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    /// What the input is, for the message.
    pub what: &'static str,
}

const MIB: u64 = 1 << 20;

pub const RULES: Limit = Limit {
    bytes: 64 * MIB,
    what: "a rules file",
};
pub const PROGRAM: Limit = Limit {
    bytes: 16 * MIB,
    what: "a recovery program",
};
/// Site files, scenarios, rule tests.
pub const CONFIG: Limit = Limit {
    bytes: 16 * MIB,
    what: "a site, scenario or rule-test file",
};
pub const BUNDLE: Limit = Limit {
    bytes: 256 * MIB,
    what: "a bundle",
};
/// Commands are hashed, not kept.
pub const COMMAND: Limit = Limit {
    bytes: 1024 * MIB,
    what: "a command",
};

/// What a file that is not a regular one is.
pub fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

fn refuse(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why)
}

/// Checks an open file: a regular one, within the cap.
pub fn check(meta: &Metadata, limit: Limit) -> io::Result<()> {
    if !meta.is_file() {
        return Err(refuse(format!("it is {}, not a regular file", kind(meta))));
    }
    if meta.len() > limit.bytes {
        return Err(too_large(limit));
    }
    Ok(())
}

fn too_large(limit: Limit) -> io::Error {
    refuse(format!(
        "it is larger than {} MiB, the most read for {}",
        limit.bytes / MIB,
        limit.what
    ))
}

/// Opens a file for reading without blocking (a FIFO opens at once, and is
/// then refused), and checks it.
pub fn open(path: &Path, limit: Limit) -> io::Result<(File, Metadata)> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = f.metadata()?;
    check(&meta, limit)?;
    Ok((f, meta))
}

/// Reads an open, checked file, up to the cap (a file that grows while it
/// is read is still cut at the cap).
pub fn read_open(f: File, meta: &Metadata, limit: Limit) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(meta.len().min(limit.bytes) as usize + 1);
    f.take(limit.bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit.bytes {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// A whole regular file, up to the cap.
pub fn read(path: &Path, limit: Limit) -> io::Result<Vec<u8>> {
    let (f, meta) = open(path, limit)?;
    read_open(f, &meta, limit)
}

/// A whole regular file as UTF-8 text, up to the cap.
pub fn read_text(path: &Path, limit: Limit) -> io::Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (byte {} is not valid)",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Writes a whole output file: created or replaced, never a FIFO or a
/// device (which would block, or send the output elsewhere).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(refuse(format!("it is {}, not a regular file", kind(&meta))));
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(refuse(format!("it is {}, not a regular file", kind(&meta))));
    }
    f.write_all(bytes)
}

/// The SHA-256 of an open file, read in pieces, up to the cap.
pub fn hash_open(mut f: impl Read, limit: Limit) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit.bytes {
            return Err(too_large(limit));
        }
        h.update(&buf[..n]);
    }
    Ok(crate::digest::hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo, RULES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
        let e = read(Path::new("/dev/zero"), RULES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is a character device, not a regular file"
        );
        let e = read(dir.path(), RULES).unwrap_err();
        assert_eq!(e.to_string(), "it is a directory, not a regular file");
        let link = dir.path().join("zero.rp");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read(&link, PROGRAM)
            .unwrap_err()
            .to_string()
            .contains("character device"));
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert!(read(&a, PROGRAM).is_err(), "a loop of links");
    }

    #[test]
    fn a_file_over_its_cap_is_refused_with_the_cap_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, vec![b'x'; 2 * MIB as usize]).unwrap();
        let small = Limit {
            bytes: MIB,
            what: "a test input",
        };
        let e = read(&p, small).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is larger than 1 MiB, the most read for a test input"
        );
        assert!(hash_open(File::open(&p).unwrap(), small).is_err());
        assert_eq!(read(&p, RULES).unwrap().len(), 2 * MIB as usize);
    }
}
