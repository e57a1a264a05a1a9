//! What a command runs, decided once from the command line before anything starts: the gates
//! in order, the checks excluded with the reason each reports, and whether a failed gate stops
//! the ones that depend on it.

use std::collections::BTreeMap;

use crate::check::{CheckId, GateId};
use crate::cli::{Command, EnvMode, Remote, Selection};
use crate::gates::Plan;

/// A selection that names something that does not exist: a usage error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum PlanError {
    #[error("--gates: unknown gate `{name}` (one of {})", gate_names())]
    UnknownGate { name: String },
    #[error("--skip: `{name}` is neither a gate ({}) nor a check id", gate_names())]
    UnknownSkip { name: String },
}

fn gate_names() -> String {
    GateId::ALL
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan of `command`, or a usage error naming the unknown gate or check (a typo must not
/// silently run, or skip, something else).
pub(super) fn plan(command: &Command) -> Result<Plan, PlanError> {
    let gates = match command {
        Command::Validate { selection, .. } => {
            check_names(selection)?;
            GateId::ALL
                .iter()
                .copied()
                .filter(|g| {
                    selection.gates.is_empty() || selection.gates.iter().any(|s| s == g.as_str())
                })
                .filter(|g| !selection.skip.iter().any(|s| s == g.as_str()))
                .collect()
        }
        Command::Ports { .. } => vec![GateId::Ports],
        Command::Deps => vec![GateId::Deps],
        Command::Build => vec![GateId::Build],
        Command::Startup { .. } => vec![GateId::Startup],
        Command::Integration { .. } => vec![GateId::Integration],
        Command::Schema
        | Command::List
        | Command::Explain { .. }
        | Command::Completions { .. }
        | Command::Init { .. }
        | Command::Man { .. }
        | Command::Mcp { .. } => Vec::new(),
    };
    let (excluded, keep_going) = match command {
        Command::Validate { selection, .. } => (excluded(selection), selection.keep_going),
        Command::Startup { env } | Command::Integration { env, .. } => (not_selected(*env), false),
        _ => (BTreeMap::new(), false),
    };
    Ok(Plan {
        gates,
        excluded,
        keep_going,
    })
}

/// What the startup and integration gates run against: the remote URLs given on the command
/// line (none: the app they start) and the startup mode `--env` chose (none: both).
pub(super) fn target(command: &Command) -> (Remote, Option<EnvMode>) {
    match command {
        Command::Validate {
            remote, selection, ..
        } => (remote.clone(), selection.env),
        Command::Integration { remote, env } => (remote.clone(), *env),
        Command::Startup { env } => (Remote::default(), *env),
        _ => (Remote::default(), None),
    }
}

fn check_names(selection: &Selection) -> Result<(), PlanError> {
    for name in &selection.gates {
        if GateId::parse(name).is_none() {
            return Err(PlanError::UnknownGate { name: name.clone() });
        }
    }
    for name in &selection.skip {
        if GateId::parse(name).is_none() && CheckId::matching(name).is_empty() {
            return Err(PlanError::UnknownSkip { name: name.clone() });
        }
    }
    Ok(())
}

/// The startup mode `--env` leaves out, with the reason its check reports.
fn not_selected(env: Option<EnvMode>) -> BTreeMap<CheckId, String> {
    let mut excluded = BTreeMap::new();
    match env {
        Some(EnvMode::Dev) => {
            excluded.insert(
                CheckId::StartupProdMode,
                "not selected: --env dev".to_owned(),
            );
        }
        Some(EnvMode::Prod) => {
            excluded.insert(
                CheckId::StartupDevMode,
                "not selected: --env prod".to_owned(),
            );
        }
        None => {}
    }
    excluded
}

/// Checks excluded by `--skip` and `--env`, each with the reason its `skipped` result gives.
fn excluded(selection: &Selection) -> BTreeMap<CheckId, String> {
    let mut excluded = not_selected(selection.env);
    for name in &selection.skip {
        let mut ids = CheckId::matching(name);
        if let Some(gate) = GateId::parse(name) {
            ids.extend(gate.checks());
        }
        for id in ids {
            excluded.insert(id, "skipped with --skip".to_owned());
        }
    }
    excluded
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn plan_of(args: &[&str]) -> Result<Plan, PlanError> {
        let cli = Cli::try_parse_from(std::iter::once("devops-agent").chain(args.iter().copied()))
            .expect("valid arguments");
        plan(&cli.command)
    }

    #[test]
    fn skip_excludes_checks_by_short_and_full_id_and_gate() {
        let plan = plan_of(&[
            "validate",
            "S-1",
            "--skip",
            "dev_build,build.prod_build,ports",
        ])
        .expect("plan");
        assert!(plan.excluded.contains_key(&CheckId::BuildDevBuild));
        assert!(plan.excluded.contains_key(&CheckId::BuildProdBuild));
        assert!(!plan.excluded.contains_key(&CheckId::BuildBundleSize));
        assert!(!plan.gates.contains(&GateId::Ports));
        assert!(plan.gates.contains(&GateId::Build));
    }

    #[test]
    fn env_says_which_mode_was_not_selected() {
        let plan = plan_of(&["validate", "S-1", "--env", "dev"]).expect("plan");
        assert_eq!(
            plan.excluded
                .get(&CheckId::StartupProdMode)
                .map(String::as_str),
            Some("not selected: --env dev")
        );
        assert!(!plan.excluded.contains_key(&CheckId::StartupDevMode));
    }

    #[test]
    fn unknown_names_are_usage_errors() {
        let err = plan_of(&["validate", "S-1", "--gates", "biuld"]).unwrap_err();
        assert_eq!(
            err,
            PlanError::UnknownGate {
                name: "biuld".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "--gates: unknown gate `biuld` (one of ports, deps, build, startup, integration)"
        );
        assert_eq!(
            plan_of(&["validate", "S-1", "--skip", "bundle_sise"]).unwrap_err(),
            PlanError::UnknownSkip {
                name: "bundle_sise".into()
            }
        );
    }
}
