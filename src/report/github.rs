//! The `github` format: workflow commands that GitHub Actions turns into annotations on the
//! pull request (`::error file=…,line=…::message`), one per finding with a location and one per
//! blocking check; the markdown report is appended to `$GITHUB_STEP_SUMMARY` by the caller.
//!
//! GitHub places an annotation only when its `file=` is relative to the repository root, so
//! every path (findings are relative to the project, config errors absolute) is rewritten
//! relative to that root: `$GITHUB_WORKSPACE`, else the git top level above the project, else
//! the working directory. A path outside the root is left as it was.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::model::{CheckStatus, Report, Severity};

/// Workflow-command data escaping (`%`, CR, LF; plus `:` and `,` in properties).
/// Control characters (terminal escapes in a tool's output) are shown escaped: the log view
/// renders ANSI sequences.
fn data(text: &str) -> String {
    super::escape::terminal(&text.replace('\r', "\n"))
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The repository root annotations are relative to, for a project at `project`.
fn repository_root(project: &Path) -> Option<PathBuf> {
    if let Some(workspace) = std::env::var_os("GITHUB_WORKSPACE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(workspace));
    }
    // `.git` is a directory in a clone and a file in a worktree or submodule.
    if let Some(top) = project.ancestors().find(|dir| dir.join(".git").exists()) {
        return Some(top.to_path_buf());
    }
    std::env::current_dir().ok()
}

/// Resolve symlinks (`/tmp` on macOS) where the path exists, so prefixes compare equal.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Rewrites a report path (relative to the project, or absolute) relative to the root.
struct Relocate {
    project: PathBuf,
    root: Option<PathBuf>,
}

impl Relocate {
    fn new(project: &Path, root: Option<&Path>) -> Self {
        Self {
            project: canonical(project),
            root: root.map(canonical),
        }
    }

    fn path(&self, file: &str) -> String {
        let Some(root) = &self.root else {
            return file.to_owned();
        };
        let path = Path::new(file);
        let absolute = if path.is_absolute() {
            canonical(path)
        } else {
            self.project.join(path)
        };
        match absolute.strip_prefix(root) {
            Ok(relative) if !relative.as_os_str().is_empty() => {
                relative.to_string_lossy().replace('\\', "/")
            }
            _ => file.to_owned(),
        }
    }
}

/// Render annotations, paths relative to the repository root found from the environment.
pub fn render(report: &Report) -> String {
    let project = Path::new(&report.meta.project);
    render_with_root(report, repository_root(project).as_deref())
}

/// Render annotations, paths relative to `root` (unchanged when `None`).
fn render_with_root(report: &Report, root: Option<&Path>) -> String {
    let relocate = Relocate::new(Path::new(&report.meta.project), root);
    let mut out = String::new();
    for gate in &report.gates {
        for check in &gate.checks {
            let level = match check.status {
                CheckStatus::Failed | CheckStatus::Error => "error",
                CheckStatus::Warning => "warning",
                // An accepted finding is a notice: visible on its line, not a warning.
                CheckStatus::Accepted => "notice",
                CheckStatus::Passed | CheckStatus::Skipped => continue,
            };
            let mut located = 0;
            for f in &check.findings {
                let Some(file) = &f.file else {
                    continue;
                };
                let level = match f.severity {
                    Severity::Error => level,
                    Severity::Warning => "warning",
                    Severity::Info => "notice",
                };
                located += 1;
                let mut props = format!("file={}", property(&relocate.path(file)));
                if let Some(line) = f.line {
                    let _ = write!(props, ",line={line}");
                }
                if let Some(col) = f.column {
                    let _ = write!(props, ",col={col}");
                }
                let _ = write!(props, ",title={}", property(&check.id));
                let mut message = f.message.clone();
                if let Some(s) = &f.suggestion {
                    let _ = write!(message, " — use: {s}");
                }
                let _ = writeln!(out, "::{level} {props}::{}", data(&message));
            }
            if located == 0 {
                let _ = writeln!(
                    out,
                    "::{level} title={}::{}",
                    property(&check.id),
                    data(&check.message)
                );
            }
        }
    }
    for error in &report.errors {
        let mut props = String::from("title=devops-agent");
        if let Some(file) = &error.file {
            let _ = write!(props, ",file={}", property(&relocate.path(file)));
            if let Some(line) = error.line {
                let _ = write!(props, ",line={line}");
            }
        }
        let _ = writeln!(out, "::error {props}::{}", data(&error.message));
    }
    let _ = writeln!(out, "{}", report.summary);
    out
}
