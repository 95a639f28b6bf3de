//! A small static HTTP server: the application of the HA web example and
//! of the takeover tests. It serves files of one directory (GET and HEAD),
//! and `/node` answers with its `--name`, so a client can tell which node
//! served it. It binds the service address, so it can only start where the
//! address is up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "hacmp-httpd", version)]
struct Cli {
    /// ADDRESS:PORT to listen on.
    #[arg(long)]
    listen: String,
    /// Directory whose files are served.
    #[arg(long)]
    dir: PathBuf,
    /// What `/node` answers.
    #[arg(long, default_value = "")]
    name: String,
    /// Write the process id here once listening.
    #[arg(long)]
    pidfile: Option<PathBuf>,
}

/// Connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 64;
/// A request line and headers longer than this are refused.
const MAX_HEAD: u64 = 8 * 1024;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let listener = match TcpListener::bind(&cli.listen) {
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
    let busy = Arc::new(AtomicUsize::new(0));
    let dir = Arc::new(cli.dir);
    let name = Arc::new(cli.name);
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        if busy.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue;
        }
        busy.fetch_add(1, Ordering::SeqCst);
        let (busy, dir, name) = (busy.clone(), dir.clone(), name.clone());
        std::thread::spawn(move || {
            let _ = serve(stream, &dir, &name);
            busy.fetch_sub(1, Ordering::SeqCst);
        });
    }
    ExitCode::SUCCESS
}

fn serve(stream: TcpStream, dir: &Path, name: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?.take(MAX_HEAD));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Skip the headers.
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut out = stream;
    if method != "GET" && method != "HEAD" {
        return reply(&mut out, "405 Method Not Allowed", b"", method == "HEAD");
    }
    let path = target.split('?').next().unwrap_or("/");
    if path == "/node" {
        return reply(
            &mut out,
            "200 OK",
            format!("{name}\n").as_bytes(),
            method == "HEAD",
        );
    }
    match file(dir, path).and_then(|p| std::fs::read(p).ok()) {
        Some(body) => reply(&mut out, "200 OK", &body, method == "HEAD"),
        None => reply(&mut out, "404 Not Found", b"not found\n", method == "HEAD"),
    }
}

/// The file a path names inside `dir`, never outside it.
fn file(dir: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = dir.join(rel);
    let p = if p.is_dir() { p.join("index.html") } else { p };
    p.is_file().then_some(p)
}

fn reply(out: &mut TcpStream, status: &str, body: &[u8], head: bool) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.0 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if !head {
        out.write_all(body)?;
    }
    out.flush()
}
