//! `ports.env_configured`: every published port is taken from an environment variable with a
//! default, so several projects can run side by side by changing `.env` alone.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::Instant;

use schemars::JsonSchema;
use serde::Serialize;

use super::decl::{Declarations, Origin, PortDecl, PortExpr, Written};
use super::fix::{self, Fix};
use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::project::{Env, K8sPortKind};

/// What `ports.env_configured` measured.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct EnvConfiguredEvidence {
    /// Published port declarations considered (those in scripts that only run tests are not).
    pub(crate) declarations: usize,
    /// How many of them take the port from an environment variable (with a default, or
    /// required with `${VAR:?}`).
    pub(crate) from_env: usize,
    /// How many of them do not: `declarations - from_env`.
    pub(crate) hard_coded: usize,
    /// Ports in package.json scripts that only run tests, as `file:line`: listed, not judged.
    pub(crate) test_script_ports: Vec<String>,
    /// The files read for declarations, relative to the project.
    pub(crate) files: Vec<String>,
    /// Helm templates that were not evaluated (their ports are unknown).
    pub(crate) templates_not_evaluated: Vec<String>,
}

/// Run the check over gathered declarations.
pub(crate) fn check(decls: &Declarations, env: &Env) -> CheckResult {
    let started = Instant::now();
    let mut findings = Vec::new();
    let mut configurable = 0usize;
    let mut considered = 0usize;
    let mut test_only = Vec::new();
    // Hard-coded ports of one npm script get one finding whose fix rewrites them all: a fix
    // per port would each repeat the whole command.
    let mut scripts: BTreeMap<(String, u64, String), Vec<&PortDecl>> = BTreeMap::new();

    for decl in &decls.ports {
        if let Written::Script {
            test_only: true, ..
        } = decl.written
        {
            test_only.push(decl);
            continue;
        }
        if !applies(decl) {
            continue;
        }
        considered += 1;
        match decl.expr() {
            PortExpr::EnvWithDefault { .. } | PortExpr::EnvRequired { .. } => {
                if let Some(finding) = k8s_renderer_finding(decl) {
                    findings.push(finding);
                } else {
                    configurable += 1;
                }
            }
            PortExpr::EnvNoDefault { .. } if decl.is_envsubst_reference() => configurable += 1,
            PortExpr::Literal => match &decl.written {
                Written::Script { name, .. } => scripts
                    .entry((decl.file.clone(), decl.line, name.clone()))
                    .or_default()
                    .push(decl),
                _ => findings.push(hard_coded_finding(decl)),
            },
            PortExpr::EnvNoDefault { var } => findings.push(no_default_finding(decl, &var)),
            PortExpr::Invalid(why) => findings.push(
                Finding::new(
                    Severity::Error,
                    format!(
                        "{}: invalid port expression `{}`: {why}",
                        describe(decl),
                        decl.expression
                    ),
                )
                .at(&decl.file, Some(decl.line), decl.column),
            ),
        }
    }
    for group in scripts.values() {
        findings.push(script_finding(group));
    }
    test_only.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    for decl in &test_only {
        findings.push(
            Finding::new(
                Severity::Info,
                format!(
                    "{} only runs tests: its server is not a published port",
                    decl.raw
                ),
            )
            .at(&decl.file, Some(decl.line), decl.column),
        );
    }
    // Port variables a newcomer would not know to set: used, but absent from .env.example.
    if let Some(keys) = &env.example_keys {
        let mut seen: HashSet<String> = HashSet::new();
        for decl in decls
            .ports
            .iter()
            .filter(|d| applies(d) && !is_test_only(d))
        {
            let (var, default) = match decl.expr() {
                PortExpr::EnvWithDefault { var, default } => (var, Some(default)),
                PortExpr::EnvRequired { var } | PortExpr::EnvNoDefault { var } => (var, None),
                PortExpr::Literal | PortExpr::Invalid(_) => continue,
            };
            if keys.contains(&var) || !seen.insert(var.clone()) {
                continue;
            }
            findings.push(
                Finding::new(
                    Severity::Warning,
                    format!(
                        "port variable {var} (service `{}`, {}) is not listed in .env.example, so others do not know to set it",
                        decl.service,
                        decl.location()
                    ),
                )
                .at(".env.example", None, None)
                .suggest(format!("{var}={}", default.unwrap_or_default())),
            );
        }
    }
    if let Some(error) = &env.example_error {
        findings.push(
            Finding::new(
                Severity::Warning,
                format!("could not read: {}", error.message),
            )
            .at(&error.file, error.line, error.column),
        );
    }
    for error in &decls.errors {
        findings.push(
            Finding::new(
                Severity::Error,
                format!("could not read: {}", error.message),
            )
            .at(&error.file, error.line, error.column),
        );
    }

    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let not_configurable = considered - configurable;
    let (status, message) = if !decls.errors.is_empty() {
        let first = &decls.errors[0];
        (
            Status::Error,
            format!(
                "could not read {} file(s), first {first}; fix the file and run again",
                decls.errors.len()
            ),
        )
    } else if considered == 0 {
        let reason = if test_only.is_empty() {
            "no published port found in compose files, Kubernetes manifests, Dockerfiles, package.json scripts or devops-agent.toml".to_owned()
        } else {
            format!(
                "no published port found; {} port(s) in scripts that only run tests are listed",
                test_only.len()
            )
        };
        (
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        )
    } else if errors > 0 {
        (
            Status::Failed,
            format!(
                "{not_configurable} of {considered} port declarations do not come from an environment variable with a default; use the suggested forms so each project can pick its ports in .env"
            ),
        )
    } else if warnings > 0 {
        (
            Status::Warning,
            format!(
                "{configurable} of {considered} port declarations come from environment variables with defaults; {warnings} warning(s) to look at"
            ),
        )
    } else {
        (
            Status::Passed,
            format!(
                "all {considered} port declarations come from environment variables with defaults"
            ),
        )
    };

    let test_ports: Vec<String> = test_only.iter().map(|d| d.location()).collect();
    let mut result = CheckResult::new(CheckId::PortsEnvConfigured, status, message)
        .with_findings(findings)
        .with_evidence(&EnvConfiguredEvidence {
            declarations: considered,
            from_env: configurable,
            hard_coded: not_configurable,
            test_script_ports: test_ports,
            files: decls.files.clone(),
            templates_not_evaluated: decls.templates.clone(),
        });
    result.duration = started.elapsed();
    result.started = Some(started);
    result
}

fn is_test_only(decl: &PortDecl) -> bool {
    matches!(
        decl.written,
        Written::Script {
            test_only: true,
            ..
        }
    )
}

/// Which declarations the rule covers: everything a machine publishes, plus Dockerfile EXPOSE
/// (as a warning). Container and cluster-internal ports (`containerPort`, a Service's `port`)
/// never collide across projects and are not flagged; compose entries without a host port get
/// an ephemeral one and cannot collide either.
fn applies(decl: &PortDecl) -> bool {
    match decl.origin {
        Origin::Compose | Origin::Script | Origin::Config => decl.published,
        Origin::K8s(kind) => kind.is_published(),
        Origin::Dockerfile => true,
    }
}

fn describe(decl: &PortDecl) -> String {
    match decl.origin {
        Origin::Compose => format!("service `{}` ({})", decl.service, decl.raw),
        Origin::K8s(kind) => format!("{} {} `{}`", decl.service, kind.as_str(), decl.expression),
        Origin::Dockerfile | Origin::Script => format!("`{}`", decl.raw),
        Origin::Config => format!("service `{}` in devops-agent.toml", decl.service),
    }
}

/// A finding with its fix, located where the fix applies (see `fix.rs` for the rule).
fn with_fix(finding: Finding, fix: Option<Fix>) -> Finding {
    match fix {
        Some(fix) => finding.at(fix.file, fix.line, fix.column).suggest(fix.text),
        None => finding,
    }
}

/// A Kubernetes value with a variable that its renderer would not turn into an integer: a
/// quoted string stays a string after substitution (the API server rejects it), and GNU
/// `envsubst` leaves `${VAR:-d}` as written.
fn k8s_renderer_finding(decl: &PortDecl) -> Option<Finding> {
    let Written::K8s { quoted } = decl.written else {
        return None;
    };
    let fix = fix::from_variable(decl, &decl.fix_var, "");
    let (severity, why) = if quoted {
        (
            Severity::Error,
            "is a quoted string: after substitution it is still a string, and Kubernetes wants an integer",
        )
    } else {
        (
            Severity::Warning,
            "uses a `:-`/`:?` default that GNU envsubst leaves as written (only Flux post-build substitution and drone/envsubst expand it)",
        )
    };
    Some(with_fix(
        Finding::new(severity, format!("{} {why}", describe(decl))).at(
            &decl.file,
            Some(decl.line),
            decl.column,
        ),
        fix,
    ))
}

fn no_default_finding(decl: &PortDecl, var: &str) -> Finding {
    let message = format!(
        "{} takes its port from ${{{var}}} with no default: unset, it publishes no valid port",
        describe(decl)
    );
    // The container port is the natural default of a compose entry; elsewhere nothing says
    // which port was meant, so the message asks for one rather than inventing it.
    let fix = decl
        .target
        .as_deref()
        .and_then(|target| fix::from_variable(decl, var, target));
    let finding =
        Finding::new(Severity::Error, message).at(&decl.file, Some(decl.line), decl.column);
    with_fix(finding, fix)
}

fn hard_coded_finding(decl: &PortDecl) -> Finding {
    let var = &decl.fix_var;
    let value = &decl.expression;
    let (severity, message) = match decl.origin {
        Origin::Compose => (
            Severity::Error,
            format!(
                "service `{}` publishes hard-coded host port {value}",
                decl.service
            ),
        ),
        Origin::K8s(kind) => (
            Severity::Error,
            format!(
                "{} sets a hard-coded {} {value}; render it from ${{{var}}} with envsubst",
                decl.service,
                kind_name(kind)
            ),
        ),
        Origin::Dockerfile => (
            Severity::Warning,
            format!("EXPOSE {value} is fixed in the image; take it from a build argument"),
        ),
        Origin::Script => (Severity::Error, format!("{} pins port {value}", decl.raw)),
        Origin::Config => (
            Severity::Error,
            format!(
                "service `{}` has a hard-coded port {value} in devops-agent.toml",
                decl.service
            ),
        ),
    };
    with_fix(
        Finding::new(severity, message).at(&decl.file, Some(decl.line), decl.column),
        fix::from_variable(decl, var, value),
    )
}

/// One finding for the hard-coded ports of one script, with one fix rewriting all of them.
fn script_finding(group: &[&PortDecl]) -> Finding {
    let first = group[0];
    let Written::Script { name, command, .. } = &first.written else {
        return hard_coded_finding(first);
    };
    let values: Vec<&str> = group.iter().map(|d| d.expression.as_str()).collect();
    // One pass over the command, copying the text between the rewritten values: rewriting
    // each value in place would shift the rest of a long command once per port.
    let mut by_offset: Vec<(usize, &PortDecl)> = group
        .iter()
        .filter_map(|d| match d.written {
            Written::Script { offset, .. } => Some((offset, *d)),
            _ => None,
        })
        .collect();
    by_offset.sort_by_key(|(offset, _)| *offset);
    let mut fixed = String::with_capacity(command.len() + group.len() * 16);
    let mut copied = 0;
    for (offset, decl) in by_offset {
        fixed.push_str(&command[copied..offset]);
        let _ = write!(fixed, "${{{}:-{}}}", decl.fix_var, decl.expression);
        copied = offset + decl.expression.len();
    }
    fixed.push_str(&command[copied..]);
    let message = if group.len() == 1 {
        format!("{} pins port {}", first.raw, values[0])
    } else {
        let shown = values.len().min(10);
        let more = if values.len() > shown {
            format!(" and {} more", values.len() - shown)
        } else {
            String::new()
        };
        format!(
            "`{name}` script pins {} ports: {}{more}",
            group.len(),
            values[..shown].join(", ")
        )
    };
    Finding::new(Severity::Error, message)
        .at(&first.file, Some(first.line), first.column)
        .suggest(fix::script_member(name, &fixed))
}

fn kind_name(kind: K8sPortKind) -> &'static str {
    match kind {
        K8sPortKind::HostPort => "hostPort",
        K8sPortKind::NodePort => "nodePort",
        K8sPortKind::ContainerPort => "containerPort",
        K8sPortKind::ServicePort => "service port",
    }
}
