//! A small static HTTP server: the application of the HA web example and
//! of the takeover tests. It serves files of one directory (GET and HEAD),
//! and `/node` answers with its `--name`, so a client can tell which node
//! served it. It binds the service address, so it can only start where the
//! address is up. It runs as root in the example: files are opened beneath
//! `--dir` only (a symbolic link that leads out of it is not followed), and
//! clients get the limits of `hacmp_cli::serve` (a cap on connections, a
//! deadline for the whole request).

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use hacmp_cli::serve::{reply, Limits, Reply};

use hacmp_cli::bins::HttpdCli as Cli;

/// The largest file served.
const MAX_FILE: u64 = 64 * 1024 * 1024;

const LIMITS: Limits = Limits {
    connections: 64,
    deadline: Duration::from_secs(5),
    head: 8 * 1024,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hacmp-httpd: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(&cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hacmp-httpd: cannot listen on {}: {e}", cli.listen);
            return ExitCode::from(1);
        }
    };
    if let Some(p) = &cli.pidfile {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            eprintln!("hacmp-httpd: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    let dir = Arc::new(cli.dir);
    let name = Arc::new(cli.name);
    let handle = move |req: hyper::Request<hyper::body::Incoming>| {
        let (dir, name) = (dir.clone(), name.clone());
        async move {
            let head = req.method() == hyper::Method::HEAD;
            if req.method() != hyper::Method::GET && !head {
                return reply(405, "text/plain", "only GET and HEAD\n");
            }
            let path = req.uri().path().to_string();
            // (hyper sends no body in answer to HEAD.)
            if path == "/node" {
                reply(200, "text/plain", format!("{name}\n"))
            } else {
                // File reads block: off the event loop.
                tokio::task::spawn_blocking(move || file(&dir, &path))
                    .await
                    .unwrap_or_else(|_| reply(500, "text/plain", "internal error\n"))
            }
        }
    };
    hacmp_cli::serve::serve(listener, LIMITS, Default::default(), handle).await;
    ExitCode::SUCCESS
}

/// The file a path names beneath `dir` (a directory's `index.html`).
fn file(dir: &Path, path: &str) -> Reply {
    let not_found = || reply(404, "text/plain", "not found\n");
    let Some(rel) = decode(path) else {
        return not_found();
    };
    let mut f = match hacmp_compiler::rootfs::open_beneath(dir, &rel) {
        Ok(f) => f,
        Err(_) => return not_found(),
    };
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        let index = format!("{}/index.html", rel.trim_end_matches('/'));
        f = match hacmp_compiler::rootfs::open_beneath(dir, &index) {
            Ok(f) => f,
            Err(_) => return not_found(),
        };
    }
    match f.metadata() {
        Ok(m) if m.is_file() && m.len() <= MAX_FILE => {}
        _ => return not_found(),
    }
    let mut body = Vec::new();
    match f.take(MAX_FILE).read_to_end(&mut body) {
        Ok(_) => reply(200, "application/octet-stream", body),
        Err(_) => not_found(),
    }
}

/// The path as a relative file name: no percent-escapes, no NUL.
fn decode(path: &str) -> Option<String> {
    let rel = path.trim_start_matches('/');
    (!rel.contains('%') && !rel.contains('\0')).then(|| rel.to_string())
}
