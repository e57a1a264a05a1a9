//! `startup.env_vars`: every variable the app requires is set, in the process environment or
//! `.env`. Names only: a value never appears in anything devops-agent writes.

use std::collections::BTreeMap;
use std::time::Instant;

use schemars::JsonSchema;
use serde::Serialize;

use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::interp::{Modifier, Segment, Template};
use crate::project::Project;

/// Why a variable is required.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// devops-agent.toml (`[startup] required_env`, `[services.X] env`): strict.
    Config(String),
    /// A compose `${VAR:?message}` or `${VAR?message}`: strict.
    ComposeRequired(String),
    /// A key of `.env.example` (or `.env.sample`, …) that some reference uses without a
    /// default: where.
    Example(String),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Config(s) => s.clone(),
            Source::ComposeRequired(at) => format!("required by {at}"),
            Source::Example(why) => why.clone(),
        }
    }
}

/// What `startup.env_vars` found. Names only: a value is never recorded.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct EnvVarsEvidence {
    /// The required variables (devops-agent.toml, compose `${VAR:?}`, `.env.example` keys the
    /// code reads without a default), sorted.
    pub(crate) required: Vec<String>,
    /// Required variables that are set, each with where it was found: `NAME (source)`.
    pub(crate) present: Vec<String>,
    /// Required variables set nowhere.
    pub(crate) missing: Vec<String>,
    /// Required variables set to an empty value.
    pub(crate) empty: Vec<String>,
    /// Documented keys every reader gives a default: not required.
    pub(crate) optional_with_defaults: Vec<String>,
    /// Documented keys nothing in the project reads.
    pub(crate) documented_but_unread: Vec<String>,
    /// The example files read for documented keys (`.env.example`, …).
    pub(crate) documented_in: Vec<String>,
}

pub(crate) fn check(project: &Project) -> CheckResult {
    let started = Instant::now();
    let mut required: BTreeMap<String, Vec<Source>> = BTreeMap::new();
    for name in &project.config.startup.required_env {
        required
            .entry(name.clone())
            .or_default()
            .push(Source::Config(
                "devops-agent.toml [startup] required_env".to_owned(),
            ));
    }
    for (service, cfg) in &project.config.services {
        for name in &cfg.env {
            required
                .entry(name.clone())
                .or_default()
                .push(Source::Config(format!(
                    "devops-agent.toml [services.{service}] env"
                )));
        }
    }
    // Every `${VAR…}` written in compose files, package.json scripts and the config, and
    // whether each reference supplies a default.
    let mut defaulted: BTreeMap<String, bool> = BTreeMap::new();
    let mut texts: Vec<(String, String)> = Vec::new();
    for path in project
        .detected
        .compose
        .iter()
        .chain(&project.detected.package_json)
    {
        if let Ok(bytes) = crate::fsread::read(path, 4 * 1024 * 1024)
            && let Ok(text) = String::from_utf8(bytes)
        {
            texts.push((project.relative(path), text));
        }
    }
    if let Some((path, text)) = &project.config_file {
        texts.push((project.relative(path), text.clone()));
    }
    for (file, text) in &texts {
        for (line_no, line) in text.lines().enumerate() {
            for (name, modifier) in references(line) {
                let has_default = matches!(
                    modifier,
                    Modifier::DefaultIfUnset(_) | Modifier::DefaultIfUnsetOrEmpty(_)
                );
                let entry = defaulted.entry(name.clone()).or_insert(true);
                *entry &= has_default;
                if matches!(
                    modifier,
                    Modifier::ErrorIfUnset(_) | Modifier::ErrorIfUnsetOrEmpty(_)
                ) {
                    required
                        .entry(name)
                        .or_default()
                        .push(Source::ComposeRequired(format!("{file}:{}", line_no + 1)));
                }
            }
        }
    }
    // A documented key is required only where something reads it without a default: a
    // compose/config reference, or the code.
    let mut optional = Vec::new();
    let mut unread = Vec::new();
    let documented = project.env.example_files.join(", ");
    let keys: Vec<&str> = project
        .env
        .example_keys
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let code = super::env_refs::scan(project, &keys);
    for key in &keys {
        let reads = code.get(*key);
        let in_code = reads.and_then(|r| r.without_default.clone());
        match (defaulted.get(*key), in_code) {
            (Some(false), _) => required
                .entry((*key).to_owned())
                .or_default()
                .push(Source::Example(format!(
                    "{documented}; referenced without a default in compose, package.json or devops-agent.toml"
                ))),
            (_, Some(at)) => required
                .entry((*key).to_owned())
                .or_default()
                .push(Source::Example(format!(
                    "{documented}; read without a default at {at}"
                ))),
            (Some(true), None) => optional.push((*key).to_owned()),
            (None, None) if reads.is_some() => optional.push((*key).to_owned()),
            (None, None) => unread.push((*key).to_owned()),
        }
    }

    let mut findings = Vec::new();
    let mut missing = Vec::new();
    let mut empty = Vec::new();
    let mut present = Vec::new();
    for (name, sources) in &required {
        let strict = sources.iter().any(|s| !matches!(s, Source::Example(_)));
        let why = sources
            .iter()
            .map(Source::describe)
            .collect::<Vec<_>>()
            .join(", ");
        match project.env.get(name) {
            None => {
                missing.push(name.clone());
                findings.push(
                    Finding::new(Severity::Error, format!("{name} is not set ({why})"))
                        .suggest(format!("set {name} in the environment or in .env")),
                );
            }
            Some(v) if v.trim().is_empty() => {
                empty.push(name.clone());
                findings.push(Finding::new(
                    if strict {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    format!("{name} is set but empty ({why})"),
                ));
            }
            Some(_) => present.push(format!(
                "{name} ({})",
                project.env.source(name).unwrap_or("?")
            )),
        }
    }
    if let Some(e) = &project.env.dotenv_error {
        findings.push(
            Finding::new(Severity::Error, format!("cannot read .env: {}", e.message))
                .at(&e.file, e.line, e.column),
        );
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let (status, message) = if project.env.dotenv_error.is_some() {
        (
            Status::Error,
            "the project's .env cannot be read; which variables are set is unknown".to_owned(),
        )
    } else if required.is_empty() {
        let mut reason =
            "no required variable declared (devops-agent.toml, compose ${VAR:?}, or a .env.example key the code reads without a default)"
                .to_owned();
        if !optional.is_empty() || !unread.is_empty() {
            reason = format!(
                "{reason}; {documented}: {} read with a default, {} read nowhere",
                optional.len(),
                unread.len()
            );
        }
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
                "{} of {} required variable(s) missing or empty: {}",
                errors,
                required.len(),
                missing
                    .iter()
                    .chain(&empty)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else if !empty.is_empty() {
        (
            Status::Warning,
            format!(
                "all {} required variable(s) set; {} empty",
                required.len(),
                empty.len()
            ),
        )
    } else {
        (
            Status::Passed,
            format!("all {} required variable(s) are set", required.len()),
        )
    };
    let mut result = CheckResult::new(CheckId::StartupEnvVars, status, message)
        .with_findings(findings)
        .with_evidence(&EnvVarsEvidence {
            required: required.into_keys().collect(),
            present,
            missing,
            empty,
            optional_with_defaults: optional,
            documented_but_unread: unread,
            documented_in: project.env.example_files.clone(),
        });
    result.duration = started.elapsed();
    result.started = Some(started);
    result
}

/// Variable references in one line of text: `${NAME…}` with their modifier (`$NAME` has none).
fn references(line: &str) -> Vec<(String, Modifier)> {
    let mut out = Vec::new();
    let mut rest = line;
    // Parse from each `${` so unrelated `$` in a line cannot hide later references.
    while let Some(pos) = rest.find("${") {
        let candidate = &rest[pos..];
        let end = matching_brace(candidate).unwrap_or(candidate.len());
        if let Ok(t) = Template::parse(&candidate[..end])
            && let Some(Segment::Var(v)) = t.segments().first()
        {
            out.push((v.name.clone(), v.modifier.clone()));
        }
        rest = &candidate[2..];
    }
    out
}

fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references_and_modifiers() {
        let refs =
            references("      - DATABASE_URL=${DATABASE_URL:?set it} PORT=${PORT:-3000} ${X}");
        let names: Vec<(&str, bool)> = refs
            .iter()
            .map(|(n, m)| (n.as_str(), matches!(m, Modifier::ErrorIfUnsetOrEmpty(_))))
            .collect();
        assert_eq!(
            names,
            [("DATABASE_URL", true), ("PORT", false), ("X", false)]
        );
    }
}
