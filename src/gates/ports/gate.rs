//! Running the ports gate: gather declarations once, then both checks over them.

use std::time::Instant;

use super::{conflicts, decl, env_configured, registry};
use crate::check::{GateId, GateResult};
use crate::gates::GateCtx;
use crate::report::EventSink;

/// Run `ports.env_configured` and `ports.no_conflicts`.
pub async fn run(ctx: &GateCtx, sink: &EventSink) -> GateResult {
    let started = Instant::now();
    sink.gate_started(GateId::Ports);
    let project = ctx.project.clone();
    // File reading and /proc scans are blocking; keep them off the async workers so a signal
    // is still noticed promptly.
    let work = tokio::task::spawn_blocking(move || {
        let decls = decl::collect(&project);
        let reservations = registry::read(&registry::state_dir());
        let checks = vec![
            env_configured::check(decls, &project.env),
            conflicts::check(&project, decls, &reservations),
        ];
        let ports = decls
            .ports
            .iter()
            .filter(|d| d.published)
            .map(|d| d.assignment(&project))
            .collect();
        (checks, ports)
    });
    let (checks, ports) = match work.await {
        Ok(done) => done,
        Err(e) => (
            vec![crate::check::CheckResult::new(
                crate::check::CheckId::PortsEnvConfigured,
                crate::check::Status::Error,
                format!("the ports gate stopped unexpectedly: {e}"),
            )],
            Vec::new(),
        ),
    };
    for check in &checks {
        sink.check_completed(GateId::Ports, check);
    }
    let result = GateResult {
        id: GateId::Ports,
        checks,
        duration: started.elapsed(),
        ports,
    };
    sink.gate_completed(&result);
    result
}
