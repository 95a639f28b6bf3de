//! `hacmp init DIR`: a starter site that lints clean.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::exit;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory to create (must not exist or be empty).
    pub dir: PathBuf,
    /// Cluster name.
    #[arg(long, default_value = "cluster1")]
    pub name: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 4)]
    pub nodes: u32,
}

fn site_toml(name: &str, nodes: u32) -> String {
    // The name as a TOML string, written by the TOML writer: quotes,
    // newlines and the like stay inside it.
    let quoted = toml::Value::String(name.to_string()).to_string();
    let mut s = format!(
        "# Site configuration of a cluster.\n\
         # `hacmp lint --site site.toml` checks the site before deploy.\n\n\
         [cluster]\nid = 1\nname = {quoted}\n# How long the event queue must be quiet before the next event is chosen.\nsettle = \"200ms\"\n\n"
    );
    for n in 1..=nodes {
        s.push_str(&format!("[[node]]\nnumber = {n}\nname = \"node{n}\"\n\n"));
    }
    s.push_str(
        "[paths]\n\
         # Absolute paths in the rules, programs and scripts resolve under this\n\
         # staging tree (remove it once the files are installed in /).\n\
         root = \"root\"\n\
         rules = \"rules.hacmprd\"\n\n\
         [defaults]\n\
         # wait (stop before the next barrier until an operator resumes), abort, continue\n\
         on_failure = \"wait\"\n\
         warn_after = \"180s\"\n\
         verbose_logging = \"low\"\n\n\
         # Event scripts: override any field of the standard definitions, e.g.\n\
         # [event_scripts.node_up]\n\
         # timeout = \"10m\"\n\
         # recovery = \"/usr/sbin/cluster/local/node_up_recover\"\n\
         # retry = 1\n",
    );
    s
}

fn write(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// A user-defined event of the starter site, with Event Management: `/var`
/// over 90 % full, rearmed below 80 %.
const SAMPLE_RULE: &str = "##### Beginning of Event Definition /var full (a site's own) ##########
#
UE_VAR_FULL
0
/usr/sbin/cluster/local/var_full.rp
2
0
IBM.PSSP.aixos.FS.%totused
NodeNum=*;Mount=/var
X>90
X<80
##### End of Event Definition /var full ######
";

const SAMPLE_PROGRAM: &str = "# var_full.rp: /var is over 90 % full on the event's node; every node
# reports it (EVLOCATION names that node).
all \"/usr/sbin/cluster/local/var_full\" 0 NULL
";

/// A rule test of the sample rule: `hacmp test tests/var_full.test.toml`.
const SAMPLE_TEST: &str =
    "# Rule tests: observations in, events out. `hacmp test tests/*.test.toml`
site = \"../site.toml\"

[[test]]
name = \"/var over 90% fires once per excursion\"
[[test.series]]
instance = \"NodeNum=1;Mount=/var\"
values = \"50 95 96 70 95\"
expect = [{ step = 2, event = \"UE_VAR_FULL\", location = 1 },
          { step = 5, event = \"UE_VAR_FULL\", location = 1 }]
";

/// A scenario for `hacmp sim`: every node starts, the last crashes and
/// comes back.
fn scenario(nodes: u32) -> String {
    let all: Vec<String> = (1..=nodes).map(|n| n.to_string()).collect();
    format!(
        "# The cluster in one process: `hacmp sim scenario.toml [--svg FILE]`.\n\
         site = \"site.toml\"\n\n\
         [[at]]\ntime = \"0s\"\nstart = [{}]\n\n\
         # Node {nodes} crashes; the others run its node_down.\n\
         [[at]]\ntime = \"10s\"\ncrash = {nodes}\n\n\
         [[at]]\ntime = \"20s\"\nstart = [{nodes}]\n",
        all.join(", ")
    )
}

/// Writes the starter site into `dir`.
pub fn init(dir: &Path, name: &str, nodes: u32) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut put = |rel: &str, text: &str, mode: u32| -> std::io::Result<()> {
        let p = dir.join(rel);
        write(&p, text, mode)?;
        written.push(p);
        Ok(())
    };
    put("site.toml", &site_toml(name, nodes), 0o644)?;
    put(
        "rules.hacmprd",
        &format!("{}{SAMPLE_RULE}", hacmp_stdlib::RULES),
        0o644,
    )?;
    put(
        "root/usr/sbin/cluster/local/var_full.rp",
        SAMPLE_PROGRAM,
        0o644,
    )?;
    put(
        "root/usr/sbin/cluster/local/var_full",
        hacmp_stdlib::STARTER_SCRIPT,
        0o755,
    )?;
    put("scenario.toml", &scenario(nodes), 0o644)?;
    put("tests/var_full.test.toml", SAMPLE_TEST, 0o644)?;
    let events = hacmp_stdlib::EVENTS_DIR.trim_start_matches('/');
    for (file, text) in hacmp_stdlib::PROGRAMS {
        put(&format!("root/{events}/{file}"), text, 0o644)?;
    }
    for def in hacmp_stdlib::event_scripts().0.values() {
        put(
            &format!("root/{}", def.path.trim_start_matches('/')),
            hacmp_stdlib::STARTER_SCRIPT,
            0o755,
        )?;
    }
    // Directories created along the way must not be group-writable either.
    for sub in [events, "usr/sbin/cluster/local"] {
        let mut d = dir.join("root");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755))?;
        for part in sub.split('/') {
            d = d.join(part);
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(written)
}

pub fn run(args: &InitArgs) -> u8 {
    if args.dir.exists()
        && fs::read_dir(&args.dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        eprintln!("error: `{}` exists and is not empty", args.dir.display());
        return exit::USAGE;
    }
    if args.nodes == 0 {
        eprintln!("error: a cluster needs at least one node");
        return exit::USAGE;
    }
    match init(&args.dir, &args.name, args.nodes) {
        Ok(files) => {
            println!("wrote {} files into `{}`", files.len(), args.dir.display());
            let at = |f: &str| args.dir.join(f).display().to_string();
            println!("next: hacmp lint --site {}", at("site.toml"));
            println!("      hacmp sim {}", at("scenario.toml"));
            println!("      hacmp test {}", at("tests/var_full.test.toml"));
            exit::OK
        }
        Err(e) => {
            eprintln!(
                "error: cannot write the site into `{}`: {e}",
                args.dir.display()
            );
            exit::USAGE
        }
    }
}
