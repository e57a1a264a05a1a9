//! `ports.env_configured`: every published port is taken from an environment variable with a
//! default, so several projects can run side by side by changing `.env` alone.

use std::collections::BTreeMap;
use std::time::Instant;

use super::decl::{Declarations, Origin, PortDecl, PortExpr};
use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::project::{Env, K8sPortKind};

/// Run the check over gathered declarations.
pub(crate) fn check(decls: &Declarations, env: &Env) -> CheckResult {
    let started = Instant::now();
    let mut findings = Vec::new();
    let mut configurable = 0usize;
    let mut hard_coded = 0usize;
    let mut considered = 0usize;
    // Index of each declaration among its service's ports, for distinct variable names.
    let mut per_service: BTreeMap<(String, String), usize> = BTreeMap::new();

    for decl in &decls.ports {
        if !applies(decl) {
            continue;
        }
        considered += 1;
        let index = per_service
            .entry((decl.scope.clone(), decl.service.clone()))
            .and_modify(|i| *i += 1)
            .or_insert(0);
        match decl.expr() {
            PortExpr::EnvWithDefault { .. } | PortExpr::EnvRequired { .. } => configurable += 1,
            PortExpr::Literal => {
                hard_coded += 1;
                findings.push(hard_coded_finding(decl, *index));
            }
            PortExpr::EnvNoDefault { var } => {
                hard_coded += 1;
                let default = decl.target.clone().unwrap_or_else(|| "PORT".to_owned());
                findings.push(
                    Finding::new(
                        Severity::Error,
                        format!(
                            "{} takes its port from ${{{var}}} with no default: unset, it publishes no valid port",
                            describe(decl)
                        ),
                    )
                    .at(&decl.file, Some(decl.line), decl.column)
                    .suggest(decl.raw.replacen(
                        &decl.expression,
                        &format!("${{{var}:-{default}}}"),
                        1,
                    )),
                );
            }
            PortExpr::Invalid(why) => {
                hard_coded += 1;
                findings.push(
                    Finding::new(
                        Severity::Error,
                        format!(
                            "{}: invalid port expression `{}`: {why}",
                            describe(decl),
                            decl.expression
                        ),
                    )
                    .at(&decl.file, Some(decl.line), decl.column),
                );
            }
        }
    }
    // Port variables a newcomer would not know to set: used, but absent from .env.example.
    if let Some(keys) = &env.example_keys {
        let mut missing: Vec<&PortDecl> = Vec::new();
        for decl in decls.ports.iter().filter(|d| applies(d)) {
            if let PortExpr::EnvWithDefault { var, .. }
            | PortExpr::EnvRequired { var }
            | PortExpr::EnvNoDefault { var } = decl.expr()
                && !keys.contains(&var)
                && !missing.iter().any(|d| d.expr() == decl.expr())
            {
                missing.push(decl);
            }
        }
        for decl in missing {
            let var = match decl.expr() {
                PortExpr::EnvWithDefault { var, .. }
                | PortExpr::EnvRequired { var }
                | PortExpr::EnvNoDefault { var } => var,
                PortExpr::Literal | PortExpr::Invalid(_) => continue,
            };
            findings.push(
                Finding::new(
                    Severity::Warning,
                    format!(
                        "port variable {var} (service `{}`) is not listed in .env.example",
                        decl.service
                    ),
                )
                .at(&decl.file, Some(decl.line), decl.column)
                .suggest(format!(
                    "add `{var}=` to .env.example so others know to set it"
                )),
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
        let reason = "no published port found in compose files, Kubernetes manifests, Dockerfiles, package.json scripts or devops-agent.toml".to_owned();
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
                "{hard_coded} of {considered} port declarations are hard-coded; use the suggested ${{NAME_PORT:-default}} form so each project can pick its ports in .env"
            ),
        )
    } else if warnings > 0 {
        (
            Status::Warning,
            format!(
                "all {considered} port declarations come from env vars; {warnings} warning(s) to look at"
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

    let mut result = CheckResult::new(CheckId::PortsEnvConfigured, status, message)
        .with_findings(findings)
        .evidence("declarations", considered)
        .evidence("from_env", configurable)
        .evidence("hard_coded", hard_coded)
        .evidence("files", &decls.files)
        .evidence("templates_not_evaluated", &decls.templates);
    result.duration = started.elapsed();
    result
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

fn hard_coded_finding(decl: &PortDecl, index: usize) -> Finding {
    let var = decl.suggested_var(index);
    let value = &decl.expression;
    let (severity, message, suggestion) = match decl.origin {
        Origin::Compose => (
            Severity::Error,
            format!(
                "service `{}` publishes hard-coded host port {value}",
                decl.service
            ),
            format!(
                "\"{}\"",
                replace_host(decl, &format!("${{{var}:-{value}}}"))
            ),
        ),
        Origin::K8s(kind) => (
            Severity::Error,
            format!(
                "{} sets a hard-coded {} {value}",
                decl.service,
                kind_name(kind)
            ),
            format!(
                "{}: \"${{{var}:-{value}}}\" (rendered with envsubst)",
                kind.as_str()
            ),
        ),
        Origin::Dockerfile => (
            Severity::Warning,
            format!("EXPOSE {value} is fixed in the image"),
            format!("ARG PORT={value} then EXPOSE ${{PORT}}"),
        ),
        Origin::Script => (
            Severity::Error,
            format!("{} pins port {value}", decl.raw),
            decl.raw
                .split_once(": ")
                .map_or_else(String::new, |(_, cmd)| {
                    cmd.replacen(value.as_str(), &format!("${{PORT:-{value}}}"), 1)
                }),
        ),
        Origin::Config => (
            Severity::Error,
            format!(
                "service `{}` has a hard-coded port {value} in devops-agent.toml",
                decl.service
            ),
            format!("port = \"${{{var}:-{value}}}\""),
        ),
    };
    Finding::new(severity, message)
        .at(&decl.file, Some(decl.line), decl.column)
        .suggest(suggestion)
}

fn kind_name(kind: K8sPortKind) -> &'static str {
    match kind {
        K8sPortKind::HostPort => "hostPort",
        K8sPortKind::NodePort => "nodePort",
        K8sPortKind::ContainerPort => "containerPort",
        K8sPortKind::ServicePort => "service port",
    }
}

/// Rebuild a compose short-syntax entry with a new host side, keeping address and protocol.
fn replace_host(decl: &PortDecl, host: &str) -> String {
    let mut out = String::new();
    if let Some(ip) = &decl.host_ip {
        if ip.contains(':') {
            out.push('[');
            out.push_str(ip);
            out.push_str("]:");
        } else {
            out.push_str(ip);
            out.push(':');
        }
    }
    out.push_str(host);
    out.push(':');
    out.push_str(decl.target.as_deref().unwrap_or(""));
    if decl.protocol != "tcp" {
        out.push('/');
        out.push_str(&decl.protocol);
    }
    out
}
