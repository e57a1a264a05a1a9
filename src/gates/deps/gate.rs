//! Running the deps gate: find every manifest once, let each ecosystem report into one
//! [`Outcome`], then turn it into the four checks.

use std::time::Instant;

use super::outcome::Outcome;
use super::{cargo, discover, gomod, node, python};
use crate::check::{CheckId, CheckResult, GateId, GateResult, Status};
use crate::gates::{GateCtx, GateScope};
use crate::project::Project;
use crate::report::EventSink;

const NO_MANIFEST: &str =
    "no package.json, requirements.txt, pyproject.toml, Pipfile, Cargo.toml or go.mod found";

/// Run `deps.packages_installed`, `deps.lockfile_valid`, `deps.no_version_conflicts` and
/// `deps.peer_dependencies`.
pub async fn run(ctx: &GateCtx, sink: &EventSink) -> GateResult {
    let scope = GateScope::begin(ctx, sink, GateId::Deps);
    let project = ctx.project.clone();
    scope
        .checks(&GateId::Deps.checks(), async {
            // Reading manifests, locks and installed trees is blocking file work; keep it off
            // the async workers so a signal is still noticed promptly.
            let checks = tokio::task::spawn_blocking(move || checks(&project))
                .await
                .map_err(|e| e.to_string())?;
            // A pass cut short by cancellation found only part of the project: no verdict.
            if crate::cancel::requested() {
                let reason = "cancelled: the run was cut short before the deps gate finished";
                return Ok(checks
                    .into_iter()
                    .map(|c| {
                        CheckResult::new(
                            c.id,
                            Status::Skipped {
                                reason: reason.to_owned(),
                            },
                            reason,
                        )
                    })
                    .collect());
            }
            Ok(checks)
        })
        .await;
    scope.finish()
}

/// The four checks over every manifest of `project`.
pub(crate) fn checks(project: &Project) -> Vec<CheckResult> {
    let started = Instant::now();
    let manifests = discover::scan(&project.root);
    let mut out = Outcome::default();
    // Each ecosystem checks for cancellation inside its own long loops; between them is cheap.
    let cancelled = crate::cancel::requested;
    node::check_all(project, &manifests.package_json, &mut out);
    if !cancelled() {
        python::check_all(project, &manifests, &mut out);
    }
    if !cancelled() {
        cargo::check_all(project, &manifests.cargo, &mut out);
    }
    if !cancelled() {
        gomod::check_all(project, &manifests.go_mod, &mut out);
    }
    if manifests.truncated {
        out.installed.unverified.push(
            "the manifest search stopped at its entry limit; manifests deeper in the tree were not checked"
                .to_owned(),
        );
    }
    // The checks share one pass over the files; each reports the whole pass's time.
    let duration = started.elapsed();
    let skip_all = if manifests.is_empty() {
        NO_MANIFEST
    } else {
        "no manifest of an ecosystem this check applies to"
    };
    let mut results = vec![
        out.installed.finish(
            CheckId::DepsPackagesInstalled,
            skip_all,
            "declared dependencies installed",
            duration,
        ),
        out.lockfile.finish(
            CheckId::DepsLockfileValid,
            skip_all,
            "lock files present, valid and in sync",
            duration,
        ),
        out.conflicts.finish(
            CheckId::DepsNoVersionConflicts,
            skip_all,
            "installed versions satisfy declared ranges",
            duration,
        ),
        out.peers.finish(
            CheckId::DepsPeerDependencies,
            if manifests.package_json.is_empty() {
                "no package.json found (peer dependencies are an npm concept)"
            } else {
                skip_all
            },
            "peer dependencies satisfied",
            duration,
        ),
    ];
    for result in &mut results {
        result.started = Some(started);
    }
    results
}
