//! Running the ports gate: gather declarations once, then both checks over them.

use super::{conflicts, decl, env_configured, registry};
use crate::check::{CheckId, GateId, GateResult};
use crate::gates::{GateCtx, GateScope};
use crate::report::EventSink;

/// Run `ports.env_configured` and `ports.no_conflicts`.
pub async fn run(ctx: &GateCtx, sink: &EventSink) -> GateResult {
    let scope = GateScope::begin(ctx, sink, GateId::Ports);
    let project = ctx.project.clone();
    let wanted = [CheckId::PortsEnvConfigured, CheckId::PortsNoConflicts].map(|id| scope.wants(id));
    let mut ports = Vec::new();
    scope
        .checks(
            &[CheckId::PortsEnvConfigured, CheckId::PortsNoConflicts],
            async {
                // File reading and /proc scans are blocking; keep them off the async workers so
                // a signal is still noticed promptly.
                let work = tokio::task::spawn_blocking(move || {
                    let decls = decl::collect(&project);
                    let mut checks = Vec::new();
                    if wanted[0] {
                        checks.push(env_configured::check(decls, &project.env));
                    }
                    if wanted[1] {
                        let reservations = registry::read(&registry::state_dir());
                        checks.push(conflicts::check(&project, decls, &reservations));
                    }
                    let ports = decls
                        .ports
                        .iter()
                        .filter(|d| d.published)
                        .map(|d| d.assignment(&project))
                        .collect::<Vec<_>>();
                    (checks, ports)
                });
                let (checks, resolved) = work.await.map_err(|e| e.to_string())?;
                ports = resolved;
                Ok(checks)
            },
        )
        .await;
    scope.set_ports(ports);
    scope.finish()
}
