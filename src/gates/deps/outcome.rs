//! Collecting what each ecosystem found into the four `deps.*` checks.
//!
//! Every ecosystem reports into one [`Outcome`]: per check, the manifests it covered, the
//! problems it found (each a finding for people and an evidence entry for programs), the files it
//! could not read, and the commands that fix what it found. [`Acc::finish`] turns that into a
//! [`CheckResult`] with capped lists and a total count.

use std::collections::BTreeSet;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::project::FileError;

/// Evidence lists are capped so a broken 2,000-package tree still gives a readable report; the
/// total is always given next to the list.
pub(crate) const MAX_ITEMS: usize = 50;

/// What each of the four `deps.*` checks measured, over every manifest it covered.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct DepsEvidence {
    /// One entry per manifest covered: `manifest` (path relative to the project), `ecosystem`
    /// (`node`, `python`, `rust`, `go`), `checked` (dependencies verified through it) and what
    /// was used to verify them (`lockfile`, `node_modules`, `environment`, …).
    pub(crate) manifests: Vec<Value>,
    /// Dependencies (or lock entries) verified, summed over the manifests.
    pub(crate) checked: usize,
    /// The problems found, blocking ones first, at most 50 (`problems_total` has the count):
    /// `problem` (`missing`, `invalid`, `out_of_sync`, …), `package`, `manifest`, and where
    /// known `wanted`, `found`, `path`, `required_by`, `dependency_type`, `environment`.
    pub(crate) problems: Vec<Value>,
    /// How many problems were found, including those not listed.
    pub(crate) problems_total: usize,
    /// The commands that fix the blocking problems, deduplicated and sorted.
    pub(crate) fix: Vec<String>,
    /// Files that could not be read, as `file:line: message`; empty when every file was read.
    pub(crate) unreadable: Vec<String>,
    /// What could not be verified, said plainly (e.g. a Yarn Plug'n'Play install); empty when
    /// everything was.
    pub(crate) unverified: Vec<String>,
}

/// One thing wrong (or worth knowing) about one dependency.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// `Error` fails the check, `Warning` makes it a warning, `Info` is only listed.
    pub(crate) severity: Severity,
    pub(crate) message: String,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u64>,
    pub(crate) fix: Option<String>,
    /// The evidence entry: `problem`, `package`, `wanted`, `found`, `path`, `required_by`,
    /// `manifest`.
    pub(crate) item: Map<String, Value>,
}

impl Problem {
    /// A problem of kind `problem` (`missing`, `invalid`, `out_of_sync`, …) with `package`,
    /// found through `manifest`.
    pub(crate) fn new(
        severity: Severity,
        problem: &str,
        package: &str,
        manifest: &str,
        message: String,
    ) -> Problem {
        let mut item = Map::new();
        item.insert("problem".to_owned(), Value::from(problem));
        item.insert("package".to_owned(), Value::from(package));
        item.insert("manifest".to_owned(), Value::from(manifest));
        Problem {
            severity,
            message,
            file: None,
            line: None,
            fix: None,
            item,
        }
    }

    /// Add an evidence field (skipped when `value` is None).
    #[must_use]
    pub(crate) fn with(mut self, key: &str, value: Option<&str>) -> Problem {
        if let Some(value) = value {
            self.item.insert(key.to_owned(), Value::from(value));
        }
        self
    }

    #[must_use]
    pub(crate) fn at(mut self, file: &str, line: Option<u64>) -> Problem {
        self.file = Some(file.to_owned());
        self.line = line;
        self
    }

    #[must_use]
    pub(crate) fn fix(mut self, fix: &str) -> Problem {
        self.fix = Some(fix.to_owned());
        self
    }

    fn finding(&self) -> Finding {
        let mut finding = Finding::new(self.severity, self.message.clone());
        if let Some(file) = &self.file {
            finding = finding.at(file.clone(), self.line, None);
        }
        if let Some(fix) = &self.fix {
            finding = finding.suggest(fix.clone());
        }
        finding
    }
}

/// What one check collected over every manifest.
#[derive(Debug, Default)]
pub(crate) struct Acc {
    pub(crate) problems: Vec<Problem>,
    pub(crate) errors: Vec<FileError>,
    /// One entry per manifest covered: `manifest`, `ecosystem`, `checked` and what was used
    /// (lock file, environment).
    pub(crate) manifests: Vec<Value>,
    /// How many dependencies (or lock entries) were verified in total.
    pub(crate) checked: usize,
    /// Things the check could not verify, said plainly (e.g. Yarn Plug'n'Play installs).
    pub(crate) unverified: Vec<String>,
}

impl Acc {
    pub(crate) fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// Record a manifest this check covered.
    pub(crate) fn manifest(&mut self, manifest: &str, ecosystem: &str, checked: usize) -> usize {
        let mut entry = Map::new();
        entry.insert("manifest".to_owned(), Value::from(manifest));
        entry.insert("ecosystem".to_owned(), Value::from(ecosystem));
        entry.insert("checked".to_owned(), Value::from(checked));
        self.manifests.push(Value::Object(entry));
        self.checked += checked;
        self.manifests.len() - 1
    }

    /// Add a field to the entry of the manifest at `index` (returned by [`Acc::manifest`]).
    pub(crate) fn annotate(&mut self, index: usize, key: &str, value: Value) {
        if let Some(Value::Object(entry)) = self.manifests.get_mut(index) {
            entry.insert(key.to_owned(), value);
        }
    }

    /// Turn what was collected into the check. `skip` is the reason when no manifest applied;
    /// `what` names what was verified ("declared dependencies installed"); `noun` what a
    /// problem is ("not installed").
    pub(crate) fn finish(
        self,
        id: CheckId,
        skip: &str,
        what: &str,
        duration: Duration,
    ) -> CheckResult {
        if self.manifests.is_empty() && self.errors.is_empty() && self.problems.is_empty() {
            let mut result = CheckResult::new(
                id,
                Status::Skipped {
                    reason: skip.to_owned(),
                },
                format!("skipped: {skip}"),
            );
            result.duration = duration;
            return result;
        }
        let failures = self
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        let warnings = self
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
            .count();
        let status = if !self.errors.is_empty() {
            Status::Error
        } else if failures > 0 {
            Status::Failed
        } else if warnings > 0 || !self.unverified.is_empty() {
            Status::Warning
        } else {
            Status::Passed
        };
        let manifests: Vec<String> = self
            .manifests
            .iter()
            .filter_map(|m| m["manifest"].as_str().map(str::to_owned))
            .collect();
        let fixes: BTreeSet<String> = self
            .problems
            .iter()
            .filter(|p| p.severity != Severity::Info)
            .filter_map(|p| p.fix.clone())
            .collect();
        let message = message(&self, &status, failures, warnings, what, &manifests, &fixes);

        let mut findings: Vec<Finding> = self
            .errors
            .iter()
            .map(|e| {
                Finding::new(Severity::Error, e.message.clone()).at(
                    e.file.clone(),
                    e.line,
                    e.column,
                )
            })
            .collect();
        let mut ordered: Vec<&Problem> = self.problems.iter().collect();
        // Blocking problems first, so the capped list always shows them.
        ordered.sort_by_key(|p| p.severity);
        let (info, blocking): (Vec<&Problem>, Vec<&Problem>) =
            ordered.iter().partition(|p| p.severity == Severity::Info);
        findings.extend(blocking.iter().take(MAX_ITEMS).map(|p| p.finding()));
        if blocking.len() > MAX_ITEMS {
            findings.push(Finding::new(
                Severity::Info,
                format!(
                    "{} more problems not listed (evidence.problems_total)",
                    blocking.len() - MAX_ITEMS
                ),
            ));
        }
        if let Some(summary) = info_summary(&info) {
            findings.push(summary);
        }
        let items: Vec<Value> = ordered
            .iter()
            .take(MAX_ITEMS)
            .map(|p| Value::Object(p.item.clone()))
            .collect();
        let errors: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        let problems_total = ordered.len();
        let mut result = CheckResult::new(id, status, message)
            .with_findings(findings)
            .with_evidence(&DepsEvidence {
                manifests: self.manifests,
                checked: self.checked,
                problems: items,
                problems_total,
                fix: fixes.into_iter().collect(),
                unreadable: errors,
                unverified: self.unverified,
            });
        result.duration = duration;
        result
    }
}

/// The informational findings in one line: they are fine (devDependencies a production
/// install leaves out), so one line per package — each with a fix nobody needs — would bury the
/// check's verdict. The evidence still lists each.
fn info_summary(info: &[&Problem]) -> Option<Finding> {
    let first = info.first()?;
    if info.len() == 1 {
        return Some(first.finding());
    }
    let mut names: Vec<&str> = info
        .iter()
        .filter_map(|p| p.item.get("package").and_then(Value::as_str))
        .collect();
    names.dedup();
    let shown = names.len().min(5);
    let more = if names.len() > shown {
        format!(" and {} more", names.len() - shown)
    } else {
        String::new()
    };
    Some(Finding::new(
        Severity::Info,
        format!(
            "{} informational findings, none blocking ({}{more}; evidence.problems) — e.g. {}",
            info.len(),
            names[..shown].join(", "),
            first.message
        ),
    ))
}

fn message(
    acc: &Acc,
    status: &Status,
    failures: usize,
    warnings: usize,
    what: &str,
    manifests: &[String],
    fixes: &BTreeSet<String>,
) -> String {
    let fix = if fixes.is_empty() {
        String::new()
    } else {
        let list: Vec<&str> = fixes.iter().map(String::as_str).take(4).collect();
        format!("; fix: {}", list.join(", "))
    };
    let first = acc
        .problems
        .iter()
        .find(|p| p.severity == Severity::Error)
        .or_else(|| {
            acc.problems
                .iter()
                .find(|p| p.severity == Severity::Warning)
        })
        .map(|p| format!(" — e.g. {}", p.message))
        .unwrap_or_default();
    match status {
        Status::Error => {
            let unreadable: Vec<String> = acc.errors.iter().map(ToString::to_string).collect();
            format!(
                "could not verify {what}: {}{}",
                unreadable.join("; "),
                if failures > 0 {
                    format!(" (and {failures} problems elsewhere{fix})")
                } else {
                    String::new()
                }
            )
        }
        Status::Failed => format!(
            "{failures} {} ({} checked in {}){first}{fix}",
            if failures == 1 { "problem" } else { "problems" },
            acc.checked,
            manifests.join(", ")
        ),
        Status::Warning => {
            let mut text = format!(
                "{what}: {} checked in {}; {warnings} {}{first}",
                acc.checked,
                manifests.join(", "),
                if warnings == 1 { "warning" } else { "warnings" }
            );
            if !acc.unverified.is_empty() {
                text.push_str("; not verified: ");
                text.push_str(&acc.unverified.join("; "));
            }
            text.push_str(&fix);
            text
        }
        // `Accepted` is decided after the gate (by the baseline), never here.
        Status::Passed | Status::Skipped { .. } | Status::Accepted => format!(
            "{what}: {} checked in {}",
            acc.checked,
            manifests.join(", ")
        ),
    }
}

/// The four checks being collected.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) installed: Acc,
    pub(crate) lockfile: Acc,
    pub(crate) conflicts: Acc,
    pub(crate) peers: Acc,
}

impl Outcome {
    /// A file every check of an ecosystem needs could not be read: all of them end as `error`
    /// for it (peers only for Node, which is the caller's choice through `peers`).
    pub(crate) fn unreadable(&mut self, error: &FileError, peers: bool) {
        self.installed.errors.push(error.clone());
        self.lockfile.errors.push(error.clone());
        self.conflicts.errors.push(error.clone());
        if peers {
            self.peers.errors.push(error.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_missing(name: &str) -> Problem {
        Problem::new(
            Severity::Info,
            "missing",
            name,
            "package.json",
            format!("{name}@^1 is not installed (dev dependency of app; fine: …)"),
        )
    }

    #[test]
    fn fine_findings_are_one_summary_line() {
        let mut acc = Acc::default();
        acc.manifest("package.json", "npm", 90);
        for i in 0..90 {
            acc.push(dev_missing(&format!("dev-{i:02}")));
        }
        let result = acc.finish(
            CheckId::DepsPackagesInstalled,
            "",
            "declared dependencies installed",
            Duration::ZERO,
        );
        assert_eq!(result.status, Status::Passed);
        assert_eq!(result.findings.len(), 1, "{:#?}", result.findings);
        let line = &result.findings[0];
        assert!(line.suggestion.is_none());
        assert!(
            line.message.starts_with(
                "90 informational findings, none blocking (dev-00, dev-01, dev-02, dev-03, dev-04 and 85 more; evidence.problems) — e.g. dev-00@^1"
            ),
            "{}",
            line.message
        );

        // Beside a real problem, the problem keeps its own line and its fix.
        let mut acc = Acc::default();
        acc.manifest("package.json", "npm", 3);
        acc.push(dev_missing("a"));
        acc.push(dev_missing("b"));
        acc.push(
            Problem::new(Severity::Error, "missing", "c", "package.json", "c".into()).fix("npm ci"),
        );
        let result = acc.finish(CheckId::DepsPackagesInstalled, "", "x", Duration::ZERO);
        assert_eq!(result.status, Status::Failed);
        assert_eq!(result.findings.len(), 2);
        assert_eq!(result.findings[0].suggestion.as_deref(), Some("npm ci"));
        assert!(result.findings[1].message.starts_with("2 informational"));
    }
}
