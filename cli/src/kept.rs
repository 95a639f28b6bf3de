//! The bundle a daemon runs, kept in its state directory
//! (`STATE/bundle.json`): a node restarted after a deploy starts from the
//! site it was switched to, not from the older file it was first started
//! with (which the group would refuse as a different site).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hacmp_compiler::signing::{admit, TrustedKeys};
use hacmp_compiler::Bundle;

use crate::bundle::{load, Loaded};

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("bundle.json")
}

/// Keeps `bundle` as what this node runs: written beside, then renamed
/// over, so a crash leaves the old one or the new one, never half.
pub fn keep(state_dir: &Path, bundle: &Bundle) -> std::io::Result<()> {
    let json = serde_json::to_vec(bundle).map_err(std::io::Error::other)?;
    let to = path(state_dir);
    let tmp = state_dir.join(".bundle.json.new");
    hacmp_compiler::input::write(&tmp, &json)?;
    std::fs::rename(&tmp, &to)
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// What to start with: `given` (loaded from `site`), or the kept bundle
/// when `site` is older than it, differs from it, and the kept one is still
/// fit to run (owner, mode, hash, signature). Says why when it is not the
/// obvious choice.
pub fn choose(
    site: &Path,
    given: Loaded,
    state_dir: &Path,
    trusted: &TrustedKeys,
) -> (Loaded, Option<String>) {
    let kept_path = path(state_dir);
    if !kept_path.exists() {
        return (given, None);
    }
    let kept = match load(&kept_path, None, given.root.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            return (
                given,
                Some(format!(
                    "ignoring the kept bundle `{}`: {e}",
                    kept_path.display()
                )),
            )
        }
    };
    if kept.bundle.hash == given.bundle.hash {
        return (given, None);
    }
    let (site_t, kept_t) = (modified(site), modified(&kept_path));
    if site_t.is_none_or(|s| kept_t.is_none_or(|k| s >= k)) {
        let why = format!(
                "`{}` (bundle {}) is newer than the bundle this node ran last (`{}`, bundle {}): starting with `{}`",
                site.display(),
                short(&given.bundle.hash),
                kept_path.display(),
                short(&kept.bundle.hash),
                site.display()
        );
        return (given, Some(why));
    }
    if let Err(e) = admit(&kept.bundle, &kept.bundle.site, trusted) {
        return (
            given,
            Some(format!(
                "ignoring the kept bundle `{}`: {e}",
                kept_path.display()
            )),
        );
    }
    let why = format!(
        "starting with the bundle this node ran last (`{}`, bundle {}), not `{}` (bundle {}), which is older: a deploy switched this node after that file was written (remove `{}` to start from the file)",
        kept_path.display(),
        short(&kept.bundle.hash),
        site.display(),
        short(&given.bundle.hash),
        kept_path.display()
    );
    (kept, Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(settle_ms: u64) -> Loaded {
        let mut site = hacmp_compiler::Site::default();
        site.cluster.settle = hacmp_stdlib::Duration(std::time::Duration::from_millis(settle_ms));
        Loaded {
            bundle: Bundle::new(site, Vec::new(), Default::default(), Default::default()),
            root: None,
        }
    }

    #[test]
    fn the_kept_bundle_wins_over_an_older_site_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = hacmp_compiler::signing::SigningKey::generate("ops").unwrap();
        let trusted = TrustedKeys::Keys(std::sync::Arc::new(vec![key.public()]));
        let site = dir.path().join("site.toml");
        std::fs::write(&site, "").unwrap();
        // Nothing kept: the site.
        let (l, why) = choose(&site, loaded(100), dir.path(), &trusted);
        assert_eq!((l.bundle.hash, why), (loaded(100).bundle.hash, None));
        // A deploy's bundle, kept after the site file was written.
        let mut deployed = loaded(300).bundle;
        key.sign(&mut deployed);
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&site)
            .unwrap()
            .set_modified(old)
            .unwrap();
        keep(dir.path(), &deployed).unwrap();
        let (l, why) = choose(&site, loaded(100), dir.path(), &trusted);
        assert_eq!(l.bundle.hash, deployed.hash);
        assert!(why.unwrap().contains("older"));
        // The same, unsigned, is not run from the state directory.
        let mut unsigned = deployed.clone();
        unsigned.signature = None;
        keep(dir.path(), &unsigned).unwrap();
        std::fs::File::options()
            .write(true)
            .open(path(dir.path()))
            .unwrap()
            .set_modified(SystemTime::now())
            .unwrap();
        let (l, why) = choose(&site, loaded(100), dir.path(), &trusted);
        assert_eq!(l.bundle.hash, loaded(100).bundle.hash);
        assert!(why.unwrap().contains("is not signed"));
        // The site file edited since: the site.
        keep(dir.path(), &deployed).unwrap();
        std::fs::write(&site, "# edited\n").unwrap();
        let (l, why) = choose(&site, loaded(100), dir.path(), &trusted);
        assert_eq!(l.bundle.hash, loaded(100).bundle.hash);
        assert!(why.unwrap().contains("is newer"));
    }
}
