//! Loading a site for the commands that run it: a site file, a rules file,
//! or a compiled bundle.

use std::path::{Path, PathBuf};

use hacmp_compiler::{lint, render, Bundle, LintOptions};

/// Why a site could not be loaded, with the exit status it means: 2 when
/// a file cannot be read (usage or I/O), 1 when what was read has errors.
#[derive(Debug)]
pub struct LoadError {
    pub message: String,
    pub code: u8,
    /// The diagnostics behind the message, for a caller that renders them
    /// in another format (`hacmp-lint --format json`).
    pub located: Option<
        Box<(
            hacmp_compiler::source::SourceMap,
            Vec<hacmp_compiler::Diagnostic>,
        )>,
    >,
}

impl LoadError {
    pub fn io(message: String) -> LoadError {
        LoadError {
            message,
            code: crate::exit::USAGE,
            located: None,
        }
    }

    pub fn findings(message: String) -> LoadError {
        LoadError {
            message,
            code: crate::exit::FINDINGS,
            located: None,
        }
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A site ready to run.
pub struct Loaded {
    pub bundle: Bundle,
    /// Staging root of the absolute paths, if any.
    pub root: Option<PathBuf>,
}

/// The rules file a site file names in `[paths] rules`, resolved against the
/// site file's directory.
pub fn rules_of_site(site: &Path) -> Result<PathBuf, LoadError> {
    let text = hacmp_compiler::input::read_text(site, hacmp_compiler::input::CONFIG)
        .map_err(|e| LoadError::io(format!("cannot read `{}`: {e}", site.display())))?;
    let table = match text.parse::<toml::Table>() {
        Ok(t) => t,
        Err(_) => {
            // The parse error itself, located and rendered like any other.
            let mut sources = hacmp_compiler::source::SourceMap::default();
            let file = sources.add(site.display().to_string(), text);
            let diags = hacmp_compiler::site::parse_site(&sources, file)
                .err()
                .unwrap_or_default();
            let message = format!(
                "`{}` is not valid TOML:\n{}",
                site.display(),
                render::human(&sources, &diags, false)
            );
            return Err(LoadError {
                located: Some(Box::new((sources, diags))),
                ..LoadError::findings(message)
            });
        }
    };
    let rules = table
        .get("paths")
        .and_then(|p| p.get("rules")?.as_str().map(str::to_string))
        .ok_or_else(|| {
            LoadError::findings(format!(
                "`{}` has no `[paths] rules`: give the rules file",
                site.display()
            ))
        })?;
    Ok(site.parent().unwrap_or(Path::new(".")).join(rules))
}

/// `path` is a site file (`*.toml`: its rules file and itself) or a rules
/// file (with the site file given apart, if any).
pub fn rules_and_site(
    path: &Path,
    site: Option<&Path>,
) -> Result<(PathBuf, Option<PathBuf>), LoadError> {
    if path.extension().is_some_and(|e| e == "toml") {
        Ok((rules_of_site(path)?, Some(path.to_path_buf())))
    } else {
        Ok((path.to_path_buf(), site.map(Path::to_path_buf)))
    }
}

/// Reads `path`: `*.json` is a bundle (its hash is checked), `*.toml` a
/// site file, anything else a rules file (with `root` for its paths).
/// Errors are printed diagnostics or a one-line reason.
pub fn load(path: &Path, site: Option<&Path>, root: Option<&Path>) -> Result<Loaded, LoadError> {
    if path.extension().is_some_and(|e| e == "json") {
        let (f, meta) = hacmp_compiler::input::open(path, hacmp_compiler::input::BUNDLE)
            .map_err(|e| LoadError::io(format!("cannot read `{}`: {e}", path.display())))?;
        // What a bundle says runs as root: only its owner may change it
        // (its hash proves nothing against someone who can rewrite it).
        if let Some(why) = hacmp_compiler::fscheck::safety(&meta) {
            return Err(LoadError::findings(format!(
                "`{}` {why}: a bundle runs as root, so it must be owned by root (or you) and writable only by its owner",
                path.display()
            )));
        }
        let text = hacmp_compiler::input::read_open(f, &meta, hacmp_compiler::input::BUNDLE)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                LoadError::findings(format!("cannot read `{}`: not UTF-8 text", path.display()))
            })?;
        let bundle: Bundle = serde_json::from_str(&text).map_err(|e| {
            LoadError::findings(format!("`{}` is not a bundle: {e}", path.display()))
        })?;
        if !bundle.verify() {
            return Err(LoadError::findings(format!(
                "`{}`: the content does not match its hash (edited or damaged); compile it again",
                path.display()
            )));
        }
        return Ok(Loaded {
            bundle,
            root: root.map(Path::to_path_buf),
        });
    }
    let (rules, site) = rules_and_site(path, site)?;
    let opts = LintOptions {
        root: root.map(Path::to_path_buf),
        site,
        compiling: true,
        ..LintOptions::new()
    };
    let l = lint(&[rules], &opts).map_err(|e| LoadError::io(e.to_string()))?;
    match l.bundle() {
        Some(bundle) => {
            let root = l.site.root.clone().or_else(|| root.map(Path::to_path_buf));
            let root = root.map(|r| std::path::absolute(&r).unwrap_or(r));
            Ok(Loaded { bundle, root })
        }
        None => Err(LoadError::findings(format!(
            "the site has errors:\n{}",
            render::human(&l.sources, &l.diagnostics, false)
        ))),
    }
}

/// What is logged: `warn` by default, `info` with `-v`, `debug` with
/// `-vv`; `RUST_LOG` overrides. The netlink crate's warnings about kernel
/// attributes newer than it knows (about 180 a run on a current kernel)
/// say nothing to an administrator: errors only from it.
pub fn log_filter(verbose: u8) -> tracing_subscriber::EnvFilter {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{default},netlink_packet_route=error,netlink_packet_core=error"
        ))
    })
}

/// Logs to standard error: `warn` by default, `info` with `-v`, `debug`
/// with `-vv`; `RUST_LOG` overrides; JSON lines with `json`; without
/// wall-clock times when `clock` is false (a simulation's time is not the
/// wall clock's). Colour only on a terminal, and never with `NO_COLOR`.
pub fn init_logging(verbose: u8, json: bool, clock: bool) {
    let filter = log_filter(verbose);
    let ansi = crate::colour(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match (json, clock) {
        (true, true) => {
            let _ = b.json().try_init();
        }
        (true, false) => {
            let _ = b.json().without_time().try_init();
        }
        (false, true) => {
            let _ = b.with_target(false).try_init();
        }
        (false, false) => {
            let _ = b.with_target(false).without_time().try_init();
        }
    }
}
