//! The operator configuration of a node: `/etc/hacmp/hacmp.toml` (or the
//! file `HACMP_CONFIG` names) gives every command on the node its etcd
//! endpoints, cluster, TLS files and keys. A flag wins over the variable
//! of the same setting, which wins over the file: the file's values are
//! given to the commands as those variables when they are not set.
//!
//! ```toml
//! etcd = ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
//! cluster = 1
//! etcd_cacert = "/etc/hacmp/etcd-ca.pem"
//! etcd_cert = "/etc/hacmp/node1.pem"
//! etcd_key = "/etc/hacmp/node1-key.pem"
//! key = "/root/.config/hacmp/alice.key"     # signs deploys
//! trusted_keys = "/etc/hacmp/trusted-keys"  # hacmpd
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT: &str = "/etc/hacmp/hacmp.toml";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    etcd: Option<Vec<String>>,
    cluster: Option<u32>,
    etcd_cacert: Option<PathBuf>,
    etcd_cert: Option<PathBuf>,
    etcd_key: Option<PathBuf>,
    key: Option<PathBuf>,
    trusted_keys: Option<PathBuf>,
}

/// Reads the configuration (the file `HACMP_CONFIG` names, else the
/// default one if it exists) and gives each of its settings to the
/// commands as its variable, unless that variable is set.
pub fn apply() -> Result<(), String> {
    let (path, required) = match std::env::var_os("HACMP_CONFIG") {
        Some(p) if !p.is_empty() => (PathBuf::from(p), true),
        _ => (PathBuf::from(DEFAULT), false),
    };
    if !required && !path.exists() {
        return Ok(());
    }
    let vars = read(&path)?;
    for (name, value) in vars {
        if std::env::var_os(name).is_none_or(|v| v.is_empty()) {
            // Single-threaded: called first thing in `main`, before any
            // thread or child exists (commands get their own environment).
            std::env::set_var(name, value);
        }
    }
    Ok(())
}

/// The variables the file at `path` sets.
fn read(path: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let at = |e: String| format!("`{}`: {e}", path.display());
    let (f, meta) = hacmp_compiler::input::open(path, hacmp_compiler::input::CONFIG)
        .map_err(|e| at(e.to_string()))?;
    // It names the etcd to trust and the keys to use: only its owner may
    // change it.
    if let Some(why) = hacmp_compiler::fscheck::safety(&meta) {
        return Err(at(format!("{why}: it says which etcd and keys to use")));
    }
    let text = hacmp_compiler::input::read_open(f, &meta, hacmp_compiler::input::CONFIG)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| at("not UTF-8 text".into()))?;
    let c: Config = toml::from_str(&text).map_err(|e| crate::located::toml(path, &text, &e))?;
    let path_var = |p: Option<PathBuf>| p.map(|p| p.display().to_string());
    Ok([
        ("HACMP_ETCD", c.etcd.map(|e| e.join(","))),
        ("HACMP_CLUSTER", c.cluster.map(|n| n.to_string())),
        ("HACMP_ETCD_CACERT", path_var(c.etcd_cacert)),
        ("HACMP_ETCD_CERT", path_var(c.etcd_cert)),
        ("HACMP_ETCD_KEY", path_var(c.etcd_key)),
        ("HACMP_KEY", path_var(c.key)),
        ("HACMP_TRUSTED_KEYS", path_var(c.trusted_keys)),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_variables_and_bad_files_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hacmp.toml");
        std::fs::write(
            &p,
            "etcd = [\"http://127.0.0.1:2379\", \"http://127.0.0.1:2479\"]\ncluster = 7\nkey = \"/k/alice.key\"\n",
        )
        .unwrap();
        let vars = read(&p).unwrap();
        assert_eq!(
            vars,
            [
                (
                    "HACMP_ETCD",
                    "http://127.0.0.1:2379,http://127.0.0.1:2479".to_string()
                ),
                ("HACMP_CLUSTER", "7".to_string()),
                ("HACMP_KEY", "/k/alice.key".to_string()),
            ]
        );
        std::fs::write(&p, "cluster = 1\netc = [\"x\"]\n").unwrap();
        let e = read(&p).unwrap_err();
        assert!(
            e.contains("hacmp.toml:2:1:") && e.contains("unknown field `etc`"),
            "{e}"
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(read(&p).unwrap_err().contains("writable by"));
    }
}
