//! Accepted findings: a known problem a team has decided to live with, for a reason and
//! usually until a date, without turning its check off.
//!
//! Entries come from `[[accept]]` tables in `devops-agent.toml` and in
//! `.devops-agent/baseline.toml` (the same shape, for teams that keep the baseline apart):
//!
//! ```toml
//! [[accept]]
//! check = "ports.env_configured"
//! fingerprint = "5d0c2a91e4f3b7a6"   # from the finding in the report
//! reason = "the legacy admin port is fixed by the hosting provider"
//! expires = "2027-03-31"             # optional; from that day on the finding fails again
//! ```
//!
//! Every finding in the report carries its `fingerprint`: a hash of the check id, the file and
//! the message (not the line), so it survives edits elsewhere in the file, and a different
//! problem — another port, a new size — needs its own acceptance. A check whose every error and warning finding
//! is accepted (and not expired) is reported `accepted`, which does not block deployment; an
//! expired acceptance is shown on its finding and the check keeps its status. The decision is
//! taken where each check's result is recorded (`gates::GateScope`), so the events, the
//! report and the exit code agree.

use std::path::Path;

use serde::Deserialize;

use crate::check::{Accepted, CheckId, CheckResult, Finding, Severity, Status};
use crate::project::ConfigError;

/// The baseline file, beside the history.
pub const BASELINE_FILE: &str = ".devops-agent/baseline.toml";
const MAX_BASELINE_BYTES: u64 = 1024 * 1024;

/// One `[[accept]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// The check id, e.g. `ports.env_configured`.
    pub check: String,
    /// The finding's `fingerprint` from a report.
    pub fingerprint: String,
    /// Why it is accepted (shown in the report).
    pub reason: String,
    /// Last day (UTC, `YYYY-MM-DD`) it is accepted.
    #[serde(default)]
    pub expires: Option<toml::value::Datetime>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    #[serde(default)]
    accept: Vec<Acceptance>,
}

/// Every acceptance of the project, with today's date to judge expiry.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    entries: Vec<Acceptance>,
    today: String,
}

impl Baseline {
    /// The project's baseline: `[[accept]]` in its configuration, then `.devops-agent/
    /// baseline.toml`. An entry naming an unknown check, or without a reason, is an error
    /// naming its file.
    pub fn load(
        root: &Path,
        config: Vec<Acceptance>,
        config_file: Option<&Path>,
    ) -> Result<Baseline, ConfigError> {
        let mut entries = Vec::new();
        let config_path =
            config_file.map_or_else(|| root.join("devops-agent.toml"), Path::to_owned);
        for entry in config {
            validate(&entry, &config_path)?;
            entries.push(entry);
        }
        let path = root.join(BASELINE_FILE);
        match crate::fsread::read(&path, MAX_BASELINE_BYTES) {
            Ok(bytes) => {
                let err = |line, column, message: String| ConfigError {
                    path: path.clone(),
                    line,
                    column,
                    message,
                };
                let text = String::from_utf8(bytes)
                    .map_err(|_| err(None, None, "file is not valid UTF-8".to_owned()))?;
                let file: BaselineFile = toml::from_str(&text).map_err(|e| {
                    let (line, column) = e
                        .span()
                        .map(|span| crate::project::line_col(&text, span.start))
                        .map_or((None, None), |(l, c)| (Some(l), Some(c)));
                    err(line, column, e.message().trim().to_owned())
                })?;
                for entry in file.accept {
                    validate(&entry, &path)?;
                    entries.push(entry);
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(ConfigError {
                    path,
                    line: None,
                    column: None,
                    message: e.to_string(),
                });
            }
        }
        let today = time::OffsetDateTime::now_utc().date().to_string();
        Ok(Baseline { entries, today })
    }

    /// Mark the accepted findings of `result`, and make it `accepted` when all its problems
    /// are.
    pub fn apply(&self, mut result: CheckResult) -> CheckResult {
        if self.entries.is_empty() {
            return result;
        }
        let id = result.id;
        let mut lapsed = Vec::new();
        for finding in &mut result.findings {
            let fingerprint = finding.fingerprint(id);
            let Some(entry) = self
                .entries
                .iter()
                .find(|e| e.check == id.as_str() && e.fingerprint == fingerprint)
            else {
                continue;
            };
            let expires = entry.expires.as_ref().map(ToString::to_string);
            let is_expired = expires.as_deref().is_some_and(|d| d < self.today.as_str());
            if is_expired {
                lapsed.push(expires.clone().unwrap_or_default());
            }
            finding.accepted = Some(Accepted {
                reason: entry.reason.clone(),
                expires,
                expired: is_expired,
            });
        }
        let problems: Vec<&Finding> = result
            .findings
            .iter()
            .filter(|f| matches!(f.severity, Severity::Error | Severity::Warning))
            .collect();
        let all_accepted = !problems.is_empty()
            && problems
                .iter()
                .all(|f| f.accepted.as_ref().is_some_and(|a| !a.expired));
        if let Some(date) = lapsed.first() {
            result.message = format!(
                "{} (an acceptance of this finding expired on {date}: it counts again)",
                result.message
            );
        }
        // Only a problem the check reported can be accepted; no wildcard, so a new status is
        // decided here.
        let acceptable = match result.status {
            Status::Failed | Status::Warning => true,
            Status::Passed | Status::Skipped { .. } | Status::Error | Status::Accepted => false,
        };
        if all_accepted && acceptable {
            let n = problems.len();
            result.message = format!(
                "{} — accepted in the baseline ({n} finding{}): {}",
                result.message,
                if n == 1 { "" } else { "s" },
                problems
                    .iter()
                    .filter_map(|f| f.accepted.as_ref().map(|a| a.reason.as_str()))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            result.status = Status::Accepted;
        }
        result
    }
}

fn validate(entry: &Acceptance, file: &Path) -> Result<(), ConfigError> {
    let err = |message: String| ConfigError {
        path: file.to_owned(),
        line: None,
        column: None,
        message,
    };
    if !CheckId::ALL.iter().any(|c| c.as_str() == entry.check) {
        return Err(err(format!(
            "[[accept]]: unknown check `{}` (`devops-agent list` shows the ids)",
            entry.check
        )));
    }
    if entry.reason.trim().is_empty() {
        return Err(err(format!(
            "[[accept]] for {} {}: a reason is required",
            entry.check, entry.fingerprint
        )));
    }
    if let Some(d) = &entry.expires
        && (d.date.is_none() || d.time.is_some())
    {
        return Err(err(format!(
            "[[accept]] for {} {}: expires must be a date like 2027-03-31",
            entry.check, entry.fingerprint
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> CheckResult {
        CheckResult::new(
            CheckId::PortsEnvConfigured,
            Status::Failed,
            "1 hard-coded port",
        )
        .with_findings(vec![
            Finding::new(Severity::Error, "port 8080 is hard-coded").at(
                "docker-compose.yml",
                Some(4),
                None,
            ),
        ])
    }

    fn baseline(expires: Option<&str>, today: &str) -> Baseline {
        let fingerprint = failed().findings[0].fingerprint(CheckId::PortsEnvConfigured);
        Baseline {
            entries: vec![Acceptance {
                check: "ports.env_configured".to_owned(),
                fingerprint,
                reason: "fixed by the host".to_owned(),
                expires: expires.map(|d| d.parse().unwrap()),
            }],
            today: today.to_owned(),
        }
    }

    #[test]
    fn an_accepted_finding_makes_its_check_accepted_until_it_expires() {
        let r = baseline(Some("2027-01-31"), "2027-01-31").apply(failed());
        assert_eq!(r.status, Status::Accepted);
        assert!(r.message.contains("fixed by the host"), "{}", r.message);

        let r = baseline(Some("2027-01-31"), "2027-02-01").apply(failed());
        assert_eq!(r.status, Status::Failed);
        assert!(r.findings[0].accepted.as_ref().unwrap().expired);
        assert!(r.message.contains("expired on 2027-01-31"), "{}", r.message);

        let r = baseline(None, "2099-01-01").apply(failed());
        assert_eq!(r.status, Status::Accepted);
    }

    #[test]
    fn fingerprints_survive_moved_lines_but_not_other_problems() {
        let id = CheckId::PortsEnvConfigured;
        let finding = |message: &str, file: &str, line: u64| {
            Finding::new(Severity::Error, message).at(file, Some(line), None)
        };
        let a = finding("port 8080 is hard-coded", "c.yml", 4);
        let moved = finding("port 8080 is hard-coded", "c.yml", 9);
        let other_port = finding("port 9090 is hard-coded", "c.yml", 4);
        let other_file = finding("port 8080 is hard-coded", "d.yml", 4);
        assert_eq!(a.fingerprint(id), moved.fingerprint(id));
        assert_ne!(a.fingerprint(id), other_port.fingerprint(id));
        assert_ne!(a.fingerprint(id), other_file.fingerprint(id));
        assert_ne!(a.fingerprint(id), a.fingerprint(CheckId::PortsNoConflicts));
        assert_eq!(a.fingerprint(id).len(), 16);
    }
}
