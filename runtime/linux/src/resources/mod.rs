//! Resources on a Linux node: service addresses through rtnetlink with a
//! gratuitous ARP (`ip`), file systems through mount(2) (`mount`), and
//! applications and custom agents as commands run by the node's executor
//! (no shell, own process group, timeout, the bundle's content hash).

pub mod announce;
pub mod ip;
pub mod mount;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hacmp_compiler::resources::{AdapterRole, Ipat, Resource, ResourceKind};
use hacmp_compiler::Bundle;

use hacmp_node::exec::{CommandSpec, Executor, Status, Tags};
use hacmp_node::resources::{Agent, Ctx};

/// How long a start, stop or monitor command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long fsck may run.
const FSCK_TIMEOUT: Duration = Duration::from_secs(600);
/// OCF: the resource is not running.
const OCF_NOT_RUNNING: i32 = 7;

pub struct LinuxAgent {
    /// Commands are checked against its hashes; a deploy replaces it.
    bundle: std::sync::RwLock<Arc<Bundle>>,
    exec: Arc<dyn Executor>,
    /// Staging root: commands, mount points and bind sources resolve
    /// under it.
    root: Option<PathBuf>,
    /// Where the topology watch says service addresses go now.
    carriers: Option<Arc<crate::topology::Carriers>>,
    /// The process group each application's start command left running
    /// (its server), by `group/resource`: killed when its stop fails.
    servers: Arc<std::sync::Mutex<std::collections::BTreeMap<String, i32>>>,
    /// Told the servers' process groups whenever they change (the warden).
    on_servers: Option<ServerHook>,
}

/// Told the applications' servers' process groups.
pub type ServerHook = Arc<dyn Fn(Vec<i32>) + Send + Sync>;

fn tell_servers(hook: Option<&ServerHook>, servers: &std::collections::BTreeMap<String, i32>) {
    if let Some(h) = hook {
        h(servers.values().copied().collect());
    }
}

impl LinuxAgent {
    pub fn new(bundle: Arc<Bundle>, exec: Arc<dyn Executor>, root: Option<PathBuf>) -> LinuxAgent {
        LinuxAgent {
            bundle: std::sync::RwLock::new(bundle),
            exec,
            root,
            carriers: None,
            servers: Default::default(),
            on_servers: None,
        }
    }

    /// Tells `hook` the servers' process groups at each change.
    pub fn with_server_hook(mut self, hook: ServerHook) -> LinuxAgent {
        self.on_servers = Some(hook);
        self
    }

    fn servers_changed(&self, servers: &std::collections::BTreeMap<String, i32>) {
        tell_servers(self.on_servers.as_ref(), servers);
    }

    /// Service addresses go where the topology watch says (an adapter
    /// that failed hands its addresses to another).
    pub fn with_carriers(mut self, c: Arc<crate::topology::Carriers>) -> LinuxAgent {
        self.carriers = Some(c);
        self
    }

    fn bundle(&self) -> Arc<Bundle> {
        self.bundle
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn under_root(&self, p: &str) -> PathBuf {
        match &self.root {
            Some(r) => r.join(p.trim_start_matches('/')),
            None => PathBuf::from(p),
        }
    }

    /// Runs a resource command; its exit code. What a start command
    /// (`leave_running`) starts stays running after it exits.
    async fn run(
        &self,
        ctx: &Ctx<'_>,
        r: &Resource,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        leave_running: bool,
    ) -> Result<i32, String> {
        let display = argv.join(" ");
        let mut full = vec![
            (
                "PATH".to_string(),
                "/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ),
            ("HACMP_NODE".to_string(), ctx.node.to_string()),
            ("HACMP_GROUP".to_string(), ctx.group.name.clone()),
            ("HACMP_RESOURCE".to_string(), r.name.clone()),
        ];
        if let Some(r) = &self.root {
            // Where the site's files are staged, for the command's own paths.
            full.push(("HACMP_ROOT".to_string(), r.display().to_string()));
        }
        full.extend(env);
        let program = argv.first().cloned().unwrap_or_default();
        let spec = CommandSpec {
            hash: self.bundle().sources.get(&program).cloned(),
            argv,
            root: self.root.clone(),
            env: full,
            cwd: PathBuf::from("/"),
            timeout: Some(COMMAND_TIMEOUT),
            warn_after: COMMAND_TIMEOUT / 2,
            kill_grace: self.bundle().site.defaults.kill_grace.0,
            leave_running,
            tags: Tags {
                node: ctx.node,
                seq: 0,
                event: format!("resource group {}", ctx.group.name),
                location: ctx.node,
                command: display.clone(),
                role: "resource",
            },
        };
        // A start command's process group is the server's it leaves.
        let key = format!("{}/{}", ctx.group.name, r.name);
        let res = if leave_running {
            // Known (to the warden too) as soon as it starts: a daemon that
            // freezes while the start command runs leaves no server
            // unknown.
            let (servers, hook) = (self.servers.clone(), self.on_servers.clone());
            self.exec
                .run(
                    spec,
                    Box::new(move |pid| {
                        let pgid = i32::try_from(pid).unwrap_or(0);
                        let mut s = servers.lock().unwrap_or_else(|p| p.into_inner());
                        s.insert(key, pgid);
                        tell_servers(hook.as_ref(), &s);
                    }),
                )
                .await
        } else {
            self.exec.run(spec, Box::new(|_| {})).await
        };
        match res.status {
            Status::Exited { code } => Ok(code),
            other => Err(format!("`{display}` {}", other.describe())),
        }
    }

    fn argv(command: &str, action: Option<&str>) -> Vec<String> {
        let mut v: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        v.extend(action.map(str::to_string));
        v
    }

    fn ocf_env(params: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
        params
            .iter()
            .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.clone()))
            .collect()
    }

    /// The interface a service address of `network` goes on, and, when it
    /// swaps, the standby's own address to take off first.
    fn adapter(
        &self,
        ctx: &Ctx<'_>,
        network: &str,
    ) -> Result<(String, Option<hacmp_compiler::resources::Cidr>), String> {
        let res = &ctx.site.resources;
        let a = res
            .adapter_for(ctx.node, network)
            .ok_or_else(|| format!("node {} has no adapter on network `{network}`", ctx.node))?;
        let moved = self
            .carriers
            .as_ref()
            .and_then(|c| c.get(network))
            .filter(|i| *i != a.interface);
        if let Some(i) = moved {
            // Another adapter carries the network's addresses: they are
            // aliases there.
            return Ok((i, None));
        }
        let swap = res.network(network).is_some_and(|n| n.ipat == Ipat::Swap)
            && a.role == AdapterRole::Standby;
        Ok((a.interface.clone(), if swap { a.address } else { None }))
    }

    async fn running(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<Option<bool>, String> {
        match &r.kind {
            ResourceKind::Application {
                monitor: Some(m), ..
            } => match &m.command {
                Some(c) => Ok(Some(
                    self.run(ctx, r, Self::argv(c, None), Vec::new(), false)
                        .await?
                        == 0,
                )),
                None => Ok(None),
            },
            ResourceKind::Custom { .. } => self.monitor(ctx, r).await.map(Some),
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl Agent for LinuxAgent {
    fn switch(&self, bundle: &Arc<Bundle>) {
        *self.bundle.write().unwrap_or_else(|p| p.into_inner()) = bundle.clone();
    }

    async fn start(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<String, String> {
        match &r.kind {
            ResourceKind::ServiceIp { network, address } => {
                let (iface, swap) = self.adapter(ctx, network)?;
                if let Some(own) = swap {
                    ip::remove(&iface, own.addr).await?;
                }
                let added = ip::add(&iface, *address).await?;
                let told = match announce::announce(&iface, address.addr) {
                    Ok(what) => what,
                    Err(e) => {
                        tracing::warn!(node = ctx.node, "{e}");
                        "not announced"
                    }
                };
                Ok(if added {
                    format!("{address} added on {iface}, {told}")
                } else {
                    format!("{address} already on {iface}")
                })
            }
            ResourceKind::Filesystem {
                device,
                mount_point,
                fstype,
                options,
                fsck,
            } => {
                let bind = fstype == "bind" || fstype == "none";
                let dev = if bind {
                    self.under_root(device)
                } else {
                    PathBuf::from(device)
                };
                let at = self.under_root(mount_point);
                if mount::is_mounted(&at)? {
                    return Ok(format!("{} already mounted", at.display()));
                }
                if *fsck {
                    mount::fsck(&dev, FSCK_TIMEOUT).await?;
                }
                {
                    let (dev, at, fstype, options) =
                        (dev.clone(), at.clone(), fstype.clone(), options.clone());
                    mount::off_loop(move || mount::mount(&dev, &at, &fstype, &options)).await?;
                }
                Ok(format!("{} mounted on {}", dev.display(), at.display()))
            }
            ResourceKind::Application { start, .. } => {
                if self.running(ctx, r).await? == Some(true) {
                    return Ok("already running".into());
                }
                match self
                    .run(ctx, r, Self::argv(start, None), Vec::new(), true)
                    .await?
                {
                    0 => Ok(format!("`{start}` exited 0")),
                    c => Err(format!("`{start}` exited {c}")),
                }
            }
            ResourceKind::Custom { agent, params, .. } => {
                if self.monitor(ctx, r).await? {
                    return Ok("already running".into());
                }
                match self
                    .run(
                        ctx,
                        r,
                        Self::argv(agent, Some("start")),
                        Self::ocf_env(params),
                        true,
                    )
                    .await?
                {
                    0 => Ok(format!("`{agent} start` exited 0")),
                    c => Err(format!("`{agent} start` exited {c}")),
                }
            }
        }
    }

    async fn stop(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<String, String> {
        match &r.kind {
            ResourceKind::ServiceIp { network, address } => {
                // Off every adapter of the network: after a swap it may be
                // on another than the one it would go on now.
                let target = self.adapter(ctx, network)?.0;
                let mut from = Vec::new();
                let on_net = ctx
                    .site
                    .resources
                    .adapters
                    .get(&ctx.node)
                    .into_iter()
                    .flatten()
                    .filter(|a| a.network == *network);
                for a in on_net {
                    match ip::remove(&a.interface, address.addr).await {
                        Ok(true) => from.push(a.interface.clone()),
                        Ok(false) => {}
                        Err(e) if a.interface == target => return Err(e),
                        // Another adapter, gone or failing: nothing of ours
                        // is reachable there.
                        Err(e) => tracing::warn!(node = ctx.node, "{e}"),
                    }
                    let own = a.address.filter(|_| a.role == AdapterRole::Standby);
                    let swapped = ctx
                        .site
                        .resources
                        .network(network)
                        .is_some_and(|n| n.ipat == Ipat::Swap);
                    if let (Some(own), true) = (own, swapped) {
                        ip::add(&a.interface, own).await?;
                    }
                }
                Ok(if from.is_empty() {
                    format!("{address} not on {target}")
                } else {
                    format!("{address} removed from {}", from.join(", "))
                })
            }
            ResourceKind::Filesystem { mount_point, .. } => {
                let at = self.under_root(mount_point);
                let target = at.clone();
                Ok(if mount::off_loop(move || mount::unmount(&target)).await? {
                    format!("{} unmounted", at.display())
                } else {
                    format!("{} not mounted", at.display())
                })
            }
            ResourceKind::Application { stop, .. } => {
                let stopped = match self
                    .run(ctx, r, Self::argv(stop, None), Vec::new(), false)
                    .await
                {
                    Ok(0) => Ok(format!("`{stop}` exited 0")),
                    Ok(c) => Err(format!("`{stop}` exited {c}")),
                    Err(e) => Err(e),
                };
                let key = format!("{}/{}", ctx.group.name, r.name);
                let server = {
                    let mut s = self.servers.lock().unwrap_or_else(|p| p.into_inner());
                    let gone = s.remove(&key);
                    self.servers_changed(&s);
                    gone
                };
                match (stopped, server) {
                    (Ok(did), _) => Ok(did),
                    // The stop failed: the server is not left running on
                    // a node that lets the group go (another may start it
                    // next). The step still fails, so an operator sees the
                    // broken stop command.
                    (Err(e), Some(pgid)) => {
                        hacmp_node::exec::real::killpg(pgid, libc::SIGKILL);
                        Err(format!(
                            "{e}; its start command's process group {pgid} killed"
                        ))
                    }
                    (Err(e), None) => Err(e),
                }
            }
            ResourceKind::Custom { agent, params, .. } => {
                match self
                    .run(
                        ctx,
                        r,
                        Self::argv(agent, Some("stop")),
                        Self::ocf_env(params),
                        false,
                    )
                    .await?
                {
                    0 | OCF_NOT_RUNNING => Ok(format!("`{agent} stop`: stopped")),
                    c => Err(format!("`{agent} stop` exited {c}")),
                }
            }
        }
    }

    async fn kill_servers(&self) {
        let groups: Vec<i32> = self
            .servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .copied()
            .collect();
        if groups.is_empty() {
            return;
        }
        // (Kept in the map: the stop commands that run next find them
        // gone, and take them out.)
        let _ = tokio::task::spawn_blocking(move || hacmp_node::exec::groups::kill(&groups)).await;
    }

    async fn monitor(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<bool, String> {
        match &r.kind {
            ResourceKind::ServiceIp { network, address } => {
                let (iface, _) = self.adapter(ctx, network)?;
                ip::has(&iface, address.addr).await
            }
            ResourceKind::Filesystem { mount_point, .. } => {
                mount::is_mounted(&self.under_root(mount_point))
            }
            ResourceKind::Application { .. } => Ok(self.running(ctx, r).await?.unwrap_or(true)),
            ResourceKind::Custom { agent, params, .. } => {
                match self
                    .run(
                        ctx,
                        r,
                        Self::argv(agent, Some("monitor")),
                        Self::ocf_env(params),
                        false,
                    )
                    .await?
                {
                    0 => Ok(true),
                    OCF_NOT_RUNNING => Ok(false),
                    c => Err(format!("`{agent} monitor` exited {c}")),
                }
            }
        }
    }
}

/// Whether this process may change addresses and mounts (root or
/// CAP_NET_ADMIN and CAP_SYS_ADMIN): `hacmpd` says so at start.
pub fn privileged() -> bool {
    rustix::process::geteuid().is_root()
}
