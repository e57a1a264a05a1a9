//! The report of a run cut short by a signal or its deadline: every gate that started keeps
//! every check it completed; its other checks, and the checks of the gates that never started,
//! are `skipped` with a reason that begins "cancelled". Nothing planned is absent.

use std::time::Duration;

use crate::check::{CheckResult, GateId, GateResult, Status};
use crate::report::EventSink;

/// Fill `results` up to `planned`, in plan order, from what the gates reported through `sink`
/// before they were cut short (`why`: "interrupted by SIGINT"). The checks and gates added
/// here are emitted, so the event stream agrees with the report.
pub fn complete(results: &mut Vec<GateResult>, planned: &[GateId], sink: &EventSink, why: &str) {
    let journal = sink.journal();
    let mut out = Vec::new();
    for &gate in planned {
        if let Some(i) = results.iter().position(|r| r.id == gate) {
            out.push(results.remove(i));
            continue;
        }
        let started = journal
            .started
            .iter()
            .find(|(g, _)| *g == gate)
            .map(|(_, at)| *at);
        if started.is_none() {
            sink.gate_started(gate);
        }
        let mut checks: Vec<CheckResult> = Vec::new();
        for id in gate.checks() {
            let done = journal
                .checks
                .iter()
                .rev()
                .find(|(g, c)| *g == gate && c.id == id)
                .map(|(_, c)| c.clone());
            let check = done.unwrap_or_else(|| {
                let reason = if started.is_some() {
                    format!("cancelled: {why} before this check finished")
                } else {
                    format!("cancelled: {why} before the {} gate started", gate.as_str())
                };
                let check = CheckResult::new(
                    id,
                    Status::Skipped {
                        reason: reason.clone(),
                    },
                    reason,
                );
                sink.check_completed(gate, &check);
                check
            });
            checks.push(check);
        }
        let result = GateResult {
            id: gate,
            checks,
            duration: started.map_or(Duration::ZERO, |at| at.elapsed()),
            ports: Vec::new(),
        };
        sink.gate_completed(&result);
        out.push(result);
    }
    // Gates that ran but were not planned (none today) keep their place at the end.
    out.append(results);
    *results = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckId;

    #[test]
    fn started_gate_keeps_its_checks_and_the_rest_are_cancelled() {
        let sink = EventSink::new();
        sink.gate_started(GateId::Build);
        let dev = CheckResult::new(CheckId::BuildDevBuild, Status::Passed, "built");
        sink.check_completed(GateId::Build, &dev);
        let mut results = Vec::new();
        complete(
            &mut results,
            &[GateId::Build, GateId::Startup],
            &sink,
            "interrupted by SIGTERM",
        );
        assert_eq!(results.len(), 2);
        let build = &results[0];
        assert_eq!(build.checks.len(), GateId::Build.checks().len());
        assert_eq!(build.checks[0].status, Status::Passed);
        assert!(matches!(
            &build.checks[1].status,
            Status::Skipped { reason } if reason == "cancelled: interrupted by SIGTERM before this check finished"
        ));
        let startup = &results[1];
        assert!(startup.checks.iter().all(|c| matches!(
            &c.status,
            Status::Skipped { reason } if reason.contains("before the startup gate started")
        )));
    }
}
