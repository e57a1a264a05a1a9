//! Running the planned gates: their order (ports and deps together, then build, startup,
//! integration), the preconditions between them, the run's deadline, and cancellation by a
//! signal. Results come from the run's ledger, so a gate cut short by the deadline or a signal
//! still reports every check it had (see `gates::scope`).

use std::time::Duration;

use crate::check::{GateId, GateResult};
use crate::gates::{self, Cut, GateCtx, GateScope};
use crate::process::{CancelReason, Signals};
use crate::report::{EventSink, RunEnding};

/// Run a command that runs gates on a two-worker runtime; its exit code.
pub(super) fn block_on(command: impl Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let code = runtime.block_on(command);
            // The report is written. Blocking work still running (a cancelled walk finishing
            // its current file) must not keep the process alive: dropping the runtime would
            // wait for it.
            runtime.shutdown_timeout(Duration::from_millis(100));
            code
        }
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            crate::exit::USAGE_OR_CONFIG
        }
    }
}

/// Run every gate of `ctx.plan` under the run's deadline and the signal handlers (installed by
/// the caller before the project was loaded, so an early signal is not lost); stop what they
/// left running; return the results and how the run ended.
pub(super) async fn run_gates(
    ctx: &GateCtx,
    sink: &EventSink,
    signals: &mut Signals,
) -> (Vec<GateResult>, RunEnding) {
    let run_all = run_in_order(ctx, sink);
    tokio::pin!(run_all);
    let ending = tokio::select! {
        () = &mut run_all => RunEnding::Completed,
        signal = signals.recv() => RunEnding::Interrupted(signal),
        () = tokio::time::sleep(ctx.timeout) => RunEnding::DeadlineReached(ctx.timeout),
    };
    let cut = match ending {
        RunEnding::Completed => None,
        RunEnding::Interrupted(signal) => {
            Some((CancelReason::Interrupted(signal), Cut::Interrupted(signal)))
        }
        RunEnding::DeadlineReached(timeout) => {
            Some((CancelReason::Deadline, Cut::Deadline(timeout)))
        }
    };
    if let Some((reason, _)) = cut {
        // Let the gates stop their own commands and record how they ended; if they cannot
        // within the grace period, stop every process group here.
        // Work the tool does itself (a deps walk) stops at its next check, too.
        crate::cancel::request();
        ctx.processes.cancel(reason);
        let wait = ctx.grace() + Duration::from_secs(2);
        if tokio::time::timeout(wait, &mut run_all).await.is_err() {
            ctx.processes.stop_all(ctx.grace()).await;
        }
    }
    // Whatever happened, nothing started for integration outlives the run, nor anything a
    // command left behind that no stop claimed.
    ctx.stop_live(sink).await;
    let strays = ctx.processes.shutdown(ctx.grace()).await;
    if !strays.is_empty() {
        tracing::warn!(
            "stopped {} process(es) no command claimed: {}",
            strays.len(),
            crate::process::ProcInfo::list(&strays)
        );
    }
    let cut = cut.map(|(_, cut)| cut);
    let mut results = ctx.ledger().close(sink, cut);
    // Planned gates the run never reached are still reported, every check skipped.
    if let Some(cut) = cut {
        let reason = cut.not_reached_reason();
        for &gate in &ctx.plan.gates {
            if !results.iter().any(|r| r.id == gate) {
                results.push(GateScope::skip_gate(ctx, sink, gate, &reason));
            }
        }
    }
    (results, ending)
}

/// The gates of the plan in order; a gate whose precondition failed is skipped with the reason
/// (unless `--keep-going`), and passes its skip on to the gates after it.
async fn run_in_order(ctx: &GateCtx, sink: &EventSink) {
    let plan = &ctx.plan.gates;
    let mut done: Vec<(GateId, bool)> = Vec::new();
    let mut blocked_gates: Vec<(GateId, &str)> = Vec::new();
    // The first startup mode's services that need no build output start alongside the build
    // gate; the startup gate takes their run over, or it is stopped (see `gates::startup::Early`).
    let mut early: Option<gates::startup::Early<'_>> = None;
    // The static gates share nothing: run them together.
    if plan.contains(&GateId::Ports) && plan.contains(&GateId::Deps) {
        let (ports, deps) = tokio::join!(gates::ports::run(ctx, sink), gates::deps::run(ctx, sink));
        done.push((GateId::Ports, ports.blocks_what_follows()));
        done.push((GateId::Deps, deps.blocks_what_follows()));
    }
    for &gate in plan {
        if done.iter().any(|(g, _)| *g == gate) {
            continue;
        }
        let blocked = gate.precondition().and_then(|(before, reason)| {
            let failed = done.iter().any(|(g, failed)| *g == before && *failed);
            let inherited = blocked_gates.iter().find(|(g, _)| *g == before);
            match (inherited, failed && !ctx.plan.keep_going) {
                (Some((_, why)), _) => Some(*why),
                (None, true) => Some(reason),
                (None, false) => None,
            }
        });
        if let Some(why) = blocked {
            blocked_gates.push((gate, why));
        }
        // The startup gate does not run: stop what started for it.
        if gate == GateId::Startup
            && blocked.is_some()
            && let Some(started) = early.take()
        {
            started.abandon().await;
        }
        let result = match (blocked, gate) {
            (Some(reason), _) => GateScope::skip_gate(ctx, sink, gate, reason),
            (None, GateId::Ports) => gates::ports::run(ctx, sink).await,
            (None, GateId::Deps) => gates::deps::run(ctx, sink).await,
            (None, GateId::Build) => match gates::startup::Early::plan(ctx, sink) {
                Some(mut started) => {
                    let result = started.alongside(gates::build::run(ctx, sink)).await;
                    early = Some(started);
                    result
                }
                None => gates::build::run(ctx, sink).await,
            },
            (None, GateId::Startup) => gates::startup::run(ctx, sink, early.take()).await,
            (None, GateId::Integration) => gates::integration::run(ctx, sink).await,
        };
        done.push((gate, result.blocks_what_follows()));
    }
    if let Some(started) = early.take() {
        started.abandon().await;
    }
}
