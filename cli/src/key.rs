//! `hacmp key new`: an operator's signing key; `--key` on `compile` and
//! `deploy` signs with it. Nodes trust the public half (docs/security.md).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use hacmp_compiler::signing::SigningKey;
use hacmp_compiler::Bundle;

use crate::exit;

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Make an Ed25519 signing key: `NAME.key` (secret, mode 600) and
    /// `NAME.pub` (for the nodes' trusted-keys directory).
    New(NewArgs),
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The key's name (letters, digits, `-`, `_`, `.`, `@`), shown with
    /// what it signs: who holds it, and since when (`alice-2026`).
    pub name: String,
    /// Where to write the two files (never over existing ones).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,
}

/// The signing key of `compile` and `deploy`.
#[derive(Args, Debug, Default)]
pub struct SignArgs {
    /// Sign the bundle with this secret key (`hacmp key new`); nodes run
    /// only bundles signed by a key they trust, unless the site they run
    /// is a lab's (`[cluster] bundles = "unsigned"`).
    #[arg(long, env = "HACMP_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
}

impl SignArgs {
    /// Signs `bundle` when a key was given; what was done, or why not.
    pub fn sign(&self, bundle: &mut Bundle) -> Result<Option<String>, String> {
        let Some(path) = &self.key else {
            return Ok(None);
        };
        let key = SigningKey::read(path)?;
        key.sign(bundle);
        let p = key.public();
        Ok(Some(format!("signed by `{}` (key {})", p.name, p.id)))
    }
}

pub fn run(cmd: &KeyCommand) -> u8 {
    match cmd {
        KeyCommand::New(a) => new(a),
    }
}

/// Creates `path` with `mode`, never over an existing file.
fn create(path: &Path, mode: u32, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

fn new(a: &NewArgs) -> u8 {
    let key = match SigningKey::generate(&a.name) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    // Created for the secret key: nobody else may list it.
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&a.out)
    {
        eprintln!("error: cannot create `{}`: {e}", a.out.display());
        return exit::USAGE;
    }
    let secret = a.out.join(format!("{}.key", a.name));
    let public = a.out.join(format!("{}.pub", a.name));
    for p in [&secret, &public] {
        if p.symlink_metadata().is_ok() {
            eprintln!(
                "error: `{}` exists: a key is never written over (choose another name)",
                p.display()
            );
            return exit::USAGE;
        }
    }
    if let Err(e) = create(&secret, 0o600, &key.to_line()) {
        eprintln!("error: cannot write `{}`: {e}", secret.display());
        return exit::USAGE;
    }
    if let Err(e) = create(&public, 0o644, &key.public().to_line()) {
        eprintln!("error: cannot write `{}`: {e}", public.display());
        let _ = std::fs::remove_file(&secret);
        return exit::USAGE;
    }
    crate::print_out(&format!(
        "key `{}` ({}):\n  secret: {} (keep it with whoever deploys; `hacmp deploy --key` or HACMP_KEY)\n  public: {} (install it in {} on every node)\n",
        a.name,
        key.public().id,
        secret.display(),
        public.display(),
        hacmp_compiler::signing::TRUSTED_KEYS
    ));
    exit::OK
}
