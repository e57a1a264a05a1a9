//! A monorepo orchestrator's build output, attributed to the workspace that printed it: turbo
//! prefixes every line with `package:task: `, nx opens each task with `> nx run project:task`.
//! Failed workspaces come from the orchestrator's own summary (turbo `Failed: pkg#build`, nx
//! `Failed tasks:` list), so a failure is named after the workspace, not the whole run.

use std::collections::BTreeMap;

use serde_json::json;

use crate::project::Orchestrator;

/// What one workspace printed during the orchestrator's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberOutput {
    pub(crate) name: String,
    /// Directory relative to the project.
    pub(crate) dir: String,
    /// Its lines, prefixes removed.
    pub(crate) text: String,
    pub(crate) lines: usize,
    pub(crate) failed: bool,
}

impl MemberOutput {
    pub(crate) fn evidence(&self) -> serde_json::Value {
        json!({ "name": self.name, "dir": self.dir, "lines": self.lines, "failed": self.failed })
    }
}

/// Split `text` by workspace. `members` maps package names to directories; workspaces that
/// printed nothing are listed with no lines.
pub(crate) fn attribute(
    tool: Orchestrator,
    text: &str,
    members: &BTreeMap<String, String>,
) -> Vec<MemberOutput> {
    let mut out: BTreeMap<&str, MemberOutput> = members
        .iter()
        .map(|(name, dir)| {
            (
                name.as_str(),
                MemberOutput {
                    name: name.clone(),
                    dir: dir.clone(),
                    text: String::new(),
                    lines: 0,
                    failed: false,
                },
            )
        })
        .collect();
    let mut current: Option<&str> = None;
    let mut in_failed_list = false;
    for line in text.lines() {
        let trimmed = line.trim();
        match tool {
            Orchestrator::Turbo => {
                if let Some(list) = trimmed.strip_prefix("Failed:") {
                    for task in list.split([',', ' ']).filter(|t| !t.is_empty()) {
                        let name = task.rsplit_once('#').map_or(task, |(n, _)| n);
                        if let Some(m) = out.get_mut(name) {
                            m.failed = true;
                        }
                    }
                    continue;
                }
                // `@scope/pkg:build: line` (the task name has no spaces or colons).
                let Some((head, rest)) = line.split_once(": ") else {
                    continue;
                };
                let Some((name, _task)) = head.rsplit_once(':') else {
                    continue;
                };
                if let Some(m) = out.get_mut(name) {
                    m.text.push_str(rest);
                    m.text.push('\n');
                    m.lines += 1;
                    if rest.contains("ERR_") && rest.contains("exited") {
                        m.failed = true;
                    }
                }
            }
            Orchestrator::Nx => {
                if let Some(task) = trimmed.strip_prefix("> nx run ") {
                    let project = task.split_whitespace().next().unwrap_or("");
                    let name = project.rsplit_once(':').map_or(project, |(n, _)| n);
                    current = members.get_key_value(name).map(|(k, _)| k.as_str());
                    continue;
                }
                if trimmed.starts_with("Failed tasks:") {
                    in_failed_list = true;
                    current = None;
                    continue;
                }
                if in_failed_list {
                    if let Some(task) = trimmed.strip_prefix("- ") {
                        let name = task.rsplit_once(':').map_or(task, |(n, _)| n);
                        if let Some(m) = out.get_mut(name) {
                            m.failed = true;
                        }
                    }
                    continue;
                }
                if trimmed.starts_with("NX ") || trimmed.starts_with(">  NX") {
                    current = None;
                    continue;
                }
                if let Some(m) = current.and_then(|c| out.get_mut(c)) {
                    m.text.push_str(line);
                    m.text.push('\n');
                    m.lines += 1;
                }
            }
        }
    }
    out.into_values().collect()
}

/// Flags that leave `names` out of the orchestrator's run.
pub(crate) fn exclude_flags(tool: Orchestrator, names: &[&String]) -> String {
    match tool {
        Orchestrator::Turbo => names
            .iter()
            .map(|n| format!("--filter=!{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        Orchestrator::Nx => format!(
            "--exclude={}",
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("@m/api".to_owned(), "apps/api".to_owned()),
            ("@m/logger".to_owned(), "packages/logger".to_owned()),
        ])
    }

    #[test]
    fn turbo_lines_and_failures_are_attributed() {
        let text = "\
• Packages in scope: @m/api, @m/logger
@m/logger:build: cache miss, executing 1f2e
@m/logger:build: > tsc -p .
@m/api:build: src/server.ts(2,21): error TS2307: Cannot find module '@m/logger' or its corresponding type declarations.
@m/api:build: npm error Lifecycle script `build` failed with error:
 Tasks:    1 successful, 2 total
Failed:    @m/api#build
";
        let out = attribute(Orchestrator::Turbo, text, &members());
        assert_eq!(out[0].name, "@m/api");
        assert!(out[0].failed);
        assert!(out[0].text.starts_with("src/server.ts(2,21): error TS2307"));
        assert_eq!(out[1].lines, 2);
        assert!(!out[1].failed);
    }

    #[test]
    fn nx_sections_and_failed_tasks() {
        let text = "\
> nx run @m/logger:build

> tsc -p .

> nx run @m/api:build

src/server.ts(2,21): error TS2307: Cannot find module '@m/logger'.

 NX   Running target build for 2 projects failed

Failed tasks:

- @m/api:build
";
        let out = attribute(Orchestrator::Nx, text, &members());
        assert!(out[0].failed);
        assert!(out[0].text.contains("TS2307"));
        assert!(!out[1].failed);
        assert_eq!(
            exclude_flags(Orchestrator::Turbo, &[&"web".to_owned()]),
            "--filter=!web"
        );
    }
}
