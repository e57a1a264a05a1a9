//! The one place a check's result is decided and emitted.
//!
//! A gate opens a [`GateScope`] and runs each check through it. The scope returns `skipped`
//! *without running* a check the plan excludes (`--skip`, `--env`) or that the run's deadline or
//! an interrupt has overtaken; it times the check, turns a panic inside it into `error` with the
//! cause, records the result in the run's [`Ledger`], and is the only code that emits
//! `check_completed` and `gate_completed`. Because every output (events, the JSON report, every
//! other format, the exit code) is derived from the ledger, they cannot disagree.
//!
//! The ledger also survives a gate that never finishes: when the run is cancelled and a gate's
//! future is dropped, [`Ledger::close`] turns a check that was still running into `failed`
//! ("did not finish within the run's --timeout") or `skipped` (interrupted), and one that never
//! started into `skipped`, so the report always lists every check of every gate that started.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::check::{CheckId, CheckResult, GateId, GateResult, Status};
use crate::gates::GateCtx;
use crate::process::CancelReason;
use crate::report::{EventSink, PortAssignment};

/// Every check's result of one run, in the order gates started. Shared by the gates (through
/// [`GateScope`]) and the orchestrator, which closes it when the run ends.
#[derive(Debug, Default)]
pub struct Ledger {
    gates: Vec<GateEntry>,
}

#[derive(Debug)]
struct GateEntry {
    id: GateId,
    started: Instant,
    /// Set when the gate completed (its `gate_completed` was emitted).
    duration: Option<Duration>,
    checks: Vec<Slot>,
    ports: Vec<PortAssignment>,
}

#[derive(Debug)]
enum Slot {
    Pending(CheckId),
    Running(CheckId, Instant),
    Done(CheckResult),
}

impl Slot {
    fn id(&self) -> CheckId {
        match self {
            Slot::Pending(id) | Slot::Running(id, _) => *id,
            Slot::Done(result) => result.id,
        }
    }
}

/// Why the run ended before every gate completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The run's `--timeout` passed.
    Deadline(Duration),
    /// A signal asked the run to stop.
    Interrupted(crate::process::Interrupt),
}

impl Cut {
    /// The result of a check that was running when the run was cut short: a step that hung
    /// until the deadline has failed (it did not finish in the time allowed); an interrupted one
    /// has no verdict.
    fn unfinished(self, id: CheckId) -> CheckResult {
        match self {
            Cut::Deadline(timeout) => CheckResult::new(
                id,
                Status::Failed,
                format!(
                    "did not finish within the run's --timeout {}",
                    humantime::format_duration(timeout)
                ),
            ),
            Cut::Interrupted(signal) => skipped(
                id,
                &format!("cancelled: interrupted by {signal} before this check finished"),
            ),
        }
    }

    /// The result of a check that never started.
    fn not_reached(self, id: CheckId) -> CheckResult {
        skipped(id, &self.not_reached_reason())
    }

    /// Why a check or gate the run never reached is skipped.
    pub fn not_reached_reason(self) -> String {
        match self {
            Cut::Deadline(timeout) => format!(
                "not reached before the deadline (--timeout {})",
                humantime::format_duration(timeout)
            ),
            Cut::Interrupted(signal) => {
                format!("cancelled: interrupted by {signal} before this check ran")
            }
        }
    }
}

fn skipped(id: CheckId, reason: &str) -> CheckResult {
    CheckResult::new(
        id,
        Status::Skipped {
            reason: reason.to_owned(),
        },
        reason,
    )
}

impl Ledger {
    /// The results of every gate that started, completing the ones the run cut short (see the
    /// module doc), and emitting the events of what it completed.
    pub fn close(&mut self, sink: &EventSink, cut: Option<Cut>) -> Vec<GateResult> {
        for gate in &mut self.gates {
            if gate.duration.is_some() {
                continue;
            }
            let cut = cut.unwrap_or(Cut::Interrupted(crate::process::Interrupt::Term));
            for slot in &mut gate.checks {
                let result = match slot {
                    Slot::Done(_) => continue,
                    Slot::Running(id, since) => {
                        let mut result = cut.unfinished(*id);
                        result.duration = since.elapsed();
                        result.started = Some(*since);
                        result
                    }
                    Slot::Pending(id) => cut.not_reached(*id),
                };
                sink.check_completed(gate.id, &result);
                *slot = Slot::Done(result);
            }
            gate.duration = Some(gate.started.elapsed());
            sink.gate_completed(&gate.result());
        }
        self.gates.iter().map(GateEntry::result).collect()
    }

    fn gate(&mut self, id: GateId) -> Option<&mut GateEntry> {
        self.gates.iter_mut().rev().find(|g| g.id == id)
    }
}

impl GateEntry {
    fn result(&self) -> GateResult {
        GateResult {
            id: self.id,
            checks: self
                .checks
                .iter()
                .filter_map(|s| match s {
                    Slot::Done(r) => Some(r.clone()),
                    Slot::Pending(_) | Slot::Running(..) => None,
                })
                .collect(),
            duration: self.duration.unwrap_or_else(|| self.started.elapsed()),
            started: Some(self.started),
            ports: self.ports.clone(),
        }
    }
}

/// A gate in progress: runs its checks, records and emits their results.
pub struct GateScope<'a> {
    ctx: &'a GateCtx,
    sink: &'a EventSink,
    gate: GateId,
}

impl<'a> GateScope<'a> {
    /// Start `gate`: emits `gate_started` and registers every check of the gate as pending.
    pub fn begin(ctx: &'a GateCtx, sink: &'a EventSink, gate: GateId) -> GateScope<'a> {
        sink.gate_started(gate);
        ctx.ledger().gates.push(GateEntry {
            id: gate,
            started: Instant::now(),
            duration: None,
            checks: gate.checks().into_iter().map(Slot::Pending).collect(),
            ports: Vec::new(),
        });
        GateScope { ctx, sink, gate }
    }

    /// A gate not run because one it depends on failed: every check skipped with `reason`.
    pub fn skip_gate(ctx: &GateCtx, sink: &EventSink, gate: GateId, reason: &str) -> GateResult {
        let scope = GateScope::begin(ctx, sink, gate);
        for id in gate.checks() {
            scope.record(skipped(id, reason));
        }
        scope.finish()
    }

    /// Why `id` is not run, if it is not: excluded by the plan, or the run was cut short.
    pub fn not_running(&self, id: CheckId) -> Option<String> {
        if let Some(reason) = self.ctx.plan.excluded.get(&id) {
            return Some(reason.clone());
        }
        self.cut().map(Cut::not_reached_reason)
    }

    /// Whether `id` will run (neither excluded nor overtaken by the deadline or an interrupt).
    pub fn wants(&self, id: CheckId) -> bool {
        self.not_running(id).is_none()
    }

    fn cut(&self) -> Option<Cut> {
        self.ctx.processes.cancelled().map(|reason| match reason {
            CancelReason::Deadline => Cut::Deadline(self.ctx.timeout),
            CancelReason::Interrupted(signal) => Cut::Interrupted(signal),
        })
    }

    /// Run one check: skipped without running when it is not wanted; timed; a panic inside it
    /// becomes `error` with the cause. Returns the recorded status.
    pub async fn check<F>(&self, id: CheckId, work: F) -> Status
    where
        F: Future<Output = CheckResult>,
    {
        if let Some(reason) = self.not_running(id) {
            return self.record(skipped(id, &reason));
        }
        let started = self.mark_running(id);
        let gate = self.gate;
        let work = async move {
            inject_fault(gate, id);
            work.await
        };
        let mut result = match CatchUnwind(Box::pin(work)).await {
            Ok(result) => result,
            Err(panic) => broken(id, &panic_message(panic.as_ref())),
        };
        result.id = id;
        result.duration = started.elapsed();
        result.started = Some(started);
        self.record(result)
    }

    /// Run several checks that share one piece of work (one pass over the files): the excluded
    /// ones are recorded as skipped first; the work runs when any is wanted, and every wanted
    /// id it does not report, or all of them when it fails, becomes `error` with the cause.
    pub async fn checks<F>(&self, ids: &[CheckId], work: F)
    where
        F: Future<Output = Result<Vec<CheckResult>, String>>,
    {
        let mut wanted = Vec::new();
        for &id in ids {
            match self.not_running(id) {
                Some(reason) => {
                    self.record(skipped(id, &reason));
                }
                None => wanted.push(id),
            }
        }
        if wanted.is_empty() {
            return;
        }
        let started = Instant::now();
        for &id in &wanted {
            self.mark_running(id);
        }
        let gate = self.gate;
        let work = async move {
            inject_fault(gate, ids[0]);
            work.await
        };
        let outcome = match CatchUnwind(Box::pin(work)).await {
            Ok(outcome) => outcome,
            Err(panic) => Err(panic_message(panic.as_ref())),
        };
        let mut results: BTreeMap<CheckId, CheckResult> = match outcome {
            Ok(results) => results.into_iter().map(|r| (r.id, r)).collect(),
            Err(cause) => wanted.iter().map(|&id| (id, broken(id, &cause))).collect(),
        };
        for id in wanted {
            let mut result = results.remove(&id).unwrap_or_else(|| {
                broken(
                    id,
                    "the gate finished without a result for this check (a defect in devops-agent)",
                )
            });
            // A check the shared work did not time itself is timed as the whole work (which
            // started once for all of them); one it timed keeps its own start, or none.
            if result.duration.is_zero() {
                result.duration = started.elapsed();
                result.started = Some(started);
            }
            self.record(result);
        }
    }

    /// The published ports the gate resolved (the ports gate), for the report.
    pub fn set_ports(&self, ports: Vec<PortAssignment>) {
        if let Some(gate) = self.ctx.ledger().gate(self.gate) {
            gate.ports = ports;
        }
    }

    fn mark_running(&self, id: CheckId) -> Instant {
        let now = Instant::now();
        if let Some(gate) = self.ctx.ledger().gate(self.gate)
            && let Some(slot) = gate.checks.iter_mut().find(|s| s.id() == id)
            && matches!(slot, Slot::Pending(_))
        {
            *slot = Slot::Running(id, now);
        }
        now
    }

    /// Record a result and emit its `check_completed`. A check is recorded once: a second
    /// result for the same id is a defect and is ignored (the first one stands).
    fn record(&self, result: CheckResult) -> Status {
        // The baseline decides here, before the event, so every output agrees.
        let result = self.ctx.baseline.apply(result);
        let status = result.status.clone();
        let mut ledger = self.ctx.ledger();
        let Some(gate) = ledger.gate(self.gate) else {
            return status;
        };
        let Some(slot) = gate.checks.iter_mut().find(|s| s.id() == result.id) else {
            tracing::warn!(
                "{} reported a result for {}, which is not one of its checks",
                self.gate.as_str(),
                result.id.as_str()
            );
            return status;
        };
        if matches!(slot, Slot::Done(_)) {
            tracing::warn!(
                "{} reported twice; the first result stands",
                result.id.as_str()
            );
            return status;
        }
        self.sink.check_completed(self.gate, &result);
        *slot = Slot::Done(result);
        status
    }

    /// Complete the gate: any check the gate's code never reported is an `error` (it must not
    /// read as "nothing to check"); emits `gate_completed`.
    pub fn finish(self) -> GateResult {
        let missing: Vec<CheckId> = self
            .ctx
            .ledger()
            .gate(self.gate)
            .map(|g| {
                g.checks
                    .iter()
                    .filter(|s| !matches!(s, Slot::Done(_)))
                    .map(Slot::id)
                    .collect()
            })
            .unwrap_or_default();
        for id in missing {
            let result = match self.cut() {
                Some(cut) => cut.not_reached(id),
                None => broken(
                    id,
                    "the gate finished without a result for this check (a defect in devops-agent)",
                ),
            };
            self.record(result);
        }
        let mut ledger = self.ctx.ledger();
        let Some(gate) = ledger.gate(self.gate) else {
            return GateResult {
                id: self.gate,
                checks: Vec::new(),
                duration: Duration::ZERO,
                started: None,
                ports: Vec::new(),
            };
        };
        gate.duration = Some(gate.started.elapsed());
        let result = gate.result();
        drop(ledger);
        self.sink.gate_completed(&result);
        result
    }
}

/// A step stopped because the run was cut short: at the deadline it did not finish in the time
/// allowed (failed); on an interrupt its verdict is unknown (skipped).
pub fn cancelled_status(
    reason: crate::process::CancelReason,
    what: &str,
    timeout: std::time::Duration,
) -> (Status, String) {
    match reason {
        crate::process::CancelReason::Deadline => (
            Status::Failed,
            format!(
                "{what} did not finish within the run's --timeout {}",
                humantime::format_duration(timeout)
            ),
        ),
        crate::process::CancelReason::Interrupted(signal) => {
            let reason = format!(
                "cancelled: interrupted by {signal} before {what} finished; it was stopped"
            );
            (
                Status::Skipped {
                    reason: reason.clone(),
                },
                reason,
            )
        }
    }
}

/// Test hook, in debug builds only: `DEVOPS_AGENT_INJECT_FAULT=build` (a gate) or
/// `=build.dev_build` (a check) makes those checks panic, so the tests can prove that a broken
/// check is reported as `error` and never goes missing.
fn inject_fault(gate: GateId, id: CheckId) {
    if cfg!(debug_assertions)
        && let Some(target) = std::env::var_os("DEVOPS_AGENT_INJECT_FAULT")
        && (target == gate.as_str() || target == id.as_str())
    {
        panic!("fault injected into {}", id.as_str());
    }
}

/// A check that could not run because of `cause`.
fn broken(id: CheckId, cause: &str) -> CheckResult {
    CheckResult::new(
        id,
        Status::Error,
        format!("the check stopped unexpectedly: {cause}"),
    )
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Polls a future inside `catch_unwind`, so a panic in a check becomes a value. (A dozen lines
/// instead of the `futures` crate for one combinator; the boxed future keeps it free of unsafe
/// pin projection.)
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.get_mut().0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The ledger handle kept in [`GateCtx`].
pub(crate) type SharedLedger = Arc<Mutex<Ledger>>;

impl GateCtx {
    pub(crate) fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
