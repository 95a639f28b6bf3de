//! The interface a resource is brought up and down through; the shape of
//! an OCF resource agent (start, stop, monitor), one resource at a time.

use async_trait::async_trait;
use hacmp_compiler::resources::{Resource, ResourceGroup};
use hacmp_compiler::Site;

use hacmp_model::event::NodeId;

/// The resource's node, site and group.
pub struct Ctx<'a> {
    pub node: NodeId,
    pub site: &'a Site,
    pub group: &'a ResourceGroup,
}

#[async_trait]
pub trait Agent: Send + Sync {
    /// Brings the resource up on the node; a no-op when it is up. Says
    /// what it did, for the journal.
    async fn start(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<String, String>;
    /// Takes it down; a no-op when it is down.
    async fn stop(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<String, String>;
    /// Whether it runs (`Err`: the check itself failed).
    async fn monitor(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<bool, String>;
    /// The node crashed: it holds nothing any more (simulated nodes; a real
    /// machine loses its addresses and mounts when it goes down).
    fn crash(&self, _node: NodeId) {}
    /// The node switched to another bundle (a deploy): commands are run
    /// and checked against it from now on.
    fn switch(&self, _bundle: &std::sync::Arc<hacmp_compiler::Bundle>) {}
    /// The node fenced itself: the servers its applications' start
    /// commands left are killed, and awaited briefly, before the service
    /// addresses go (`exec::groups`). Their stop commands still run after.
    async fn kill_servers(&self) {}
}
