//! `man`: a man page per command — devops-agent(1), devops-agent-validate(1),
//! devops-agent-ports-allocate(1), … — rendered from the clap definition (the same source as
//! `--help`), each with EXIT STATUS and ENVIRONMENT sections. Every page another page refers to
//! is one of the set, so `man --dir DIR` writes pages that never point at a missing one.

use std::fmt::Write as _;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit;

/// One rendered page.
pub(super) struct Page {
    /// `devops-agent-ports-allocate`: the page's name, its file is `NAME.1`.
    pub(super) name: String,
    /// The command words after the binary, e.g. `["ports", "allocate"]`.
    pub(super) path: Vec<String>,
    pub(super) roff: String,
}

/// Every page: the binary's, then each (non-hidden) subcommand's, depth first.
pub(super) fn pages() -> std::io::Result<Vec<Page>> {
    // No page for `help`: it is clap's, and `--help` on every page covers it.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, &[], None, &mut pages)?;
    Ok(pages)
}

fn collect(
    cmd: &clap::Command,
    path: &[String],
    parent: Option<&str>,
    pages: &mut Vec<Page>,
) -> std::io::Result<()> {
    let name = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned();
    pages.push(Page {
        roff: render(cmd, path, parent)?,
        name: name.clone(),
        path: path.to_vec(),
    });
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.get_name().to_owned());
        collect(sub, &sub_path, Some(&name), pages)?;
    }
    Ok(())
}

fn render(cmd: &clap::Command, path: &[String], parent: Option<&str>) -> std::io::Result<String> {
    let version = env!("CARGO_PKG_VERSION");
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("devops-agent {version}"))
        .manual("devops-agent manual");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let subcommands: Vec<&clap::Command> =
        cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if !subcommands.is_empty() {
        man.render_subcommands_section(&mut out)?;
    }
    let mut roff = String::from_utf8_lossy(&out).into_owned();
    exit_status(&mut roff, path);
    environment(&mut roff, cmd);
    see_also(&mut roff, parent, &subcommands, cmd);
    roff.push_str(".SH VERSION\n");
    roff.push_str(&text(&format!("v{version}")));
    Ok(roff)
}

/// Whether the command runs checks (and so can end not ready), or only prints or writes.
fn runs_checks(path: &[String]) -> bool {
    matches!(
        path.first().map(String::as_str),
        Some("validate" | "ports" | "deps" | "build" | "startup" | "integration")
    )
}

fn exit_status(roff: &mut String, path: &[String]) {
    roff.push_str(".SH \"EXIT STATUS\"\n");
    let entries: Vec<(u8, &str)> = if runs_checks(path) {
        vec![
            (
                exit::READY,
                "Ready: every check that ran passed or warned (skipped checks say why in the report).",
            ),
            (
                exit::NOT_READY,
                "Not ready: a check failed (or warned, with --fail-on warning), also when others errored or the --timeout deadline was reached (a step still running at the deadline has failed).",
            ),
            (
                exit::USAGE_OR_CONFIG,
                "No verdict: a usage or configuration error, a check in error, or the deadline reached before anything failed. The report names the cause.",
            ),
            (
                exit::HANGUP,
                "Stopped by SIGHUP (a closed terminal, a cancelled CI step); the partial report is still written.",
            ),
            (
                exit::INTERRUPTED,
                "Interrupted by SIGINT (Ctrl-C) or SIGTERM; every process it started is stopped and the partial report is still written.",
            ),
        ]
    } else {
        vec![
            (exit::READY, "Success."),
            (
                exit::USAGE_OR_CONFIG,
                "A usage or configuration error; the message is on stderr.",
            ),
        ]
    };
    for (code, meaning) in entries {
        roff.push_str(".TP\n");
        let _ = writeln!(roff, "\\fB{code}\\fR");
        roff.push_str(&text(meaning));
    }
    if runs_checks(path) {
        roff.push_str(".PP\n");
        roff.push_str(&text(
            "When several apply, the first of 130, 129, 1, 2 wins; 0 only when none does.",
        ));
    }
}

/// The variables devops-agent itself reads, besides those given as flags' `env` (which clap
/// knows and are listed from the definition).
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "DEVOPS_AGENT_LOG",
        "A log filter for stderr (tracing's env-filter syntax, e.g. devops_agent=debug); -q and -v set the level otherwise.",
    ),
    (
        "DEVOPS_AGENT_STATE_DIR",
        "Directory of the machine-wide port registry; default $XDG_STATE_HOME/devops-agent, else ~/.local/state/devops-agent.",
    ),
    ("XDG_STATE_HOME", "See DEVOPS_AGENT_STATE_DIR."),
    (
        "NO_COLOR",
        "With --color auto (the default), a value that is not empty turns colours off.",
    ),
    (
        "GITHUB_STEP_SUMMARY",
        "With --format github, the markdown report is appended to this file when it is set.",
    ),
    (
        "GITHUB_WORKSPACE",
        "With --format github, annotation paths are relative to this directory (else the git top level, else the working directory).",
    ),
    (
        "VIRTUAL_ENV",
        "The Python environment the deps and startup gates use; else .venv or venv in the project.",
    ),
    (
        "PATH",
        "Where commands the project runs are found; the project's virtualenv bin/ and every node_modules/.bin are put in front for the commands it starts.",
    ),
];

fn environment(roff: &mut String, cmd: &clap::Command) {
    roff.push_str(".SH ENVIRONMENT\n");
    let mut flags: Vec<(String, String)> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| {
            let var = a.get_env()?.to_string_lossy().into_owned();
            let flag = a.get_long().map_or_else(String::new, |l| format!("--{l}"));
            Some((var, format!("The default of {flag}.")))
        })
        .collect();
    flags.sort();
    flags.dedup();
    for (var, meaning) in flags
        .iter()
        .map(|(v, m)| (v.as_str(), m.as_str()))
        .chain(ENVIRONMENT.iter().copied())
    {
        roff.push_str(".TP\n");
        let _ = writeln!(roff, "\\fB{var}\\fR");
        roff.push_str(&text(meaning));
    }
    roff.push_str(".PP\n");
    roff.push_str(&text(
        "The project's own variables (ports such as FRONTEND_PORT, DATABASE_URL and other service URLs, the keys of .env.example) are read from the process environment first, then .env, as docker compose reads them; their values never appear in any output.",
    ));
}

fn see_also(
    roff: &mut String,
    parent: Option<&str>,
    subcommands: &[&clap::Command],
    cmd: &clap::Command,
) {
    let own = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    let mut refs: Vec<String> = parent.map(str::to_owned).into_iter().collect();
    refs.extend(subcommands.iter().map(|s| {
        s.get_display_name()
            .map_or_else(|| format!("{own}-{}", s.get_name()), str::to_owned)
    }));
    if refs.is_empty() {
        return;
    }
    roff.push_str(".SH \"SEE ALSO\"\n");
    let list: Vec<String> = refs
        .iter()
        .map(|r| format!("\\fB{}\\fR(1)", escape(r)))
        .collect();
    roff.push_str(&list.join(", "));
    roff.push('\n');
}

/// Roff-escape running text: backslashes and hyphens, and a leading `.` or `'`.
fn escape(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

fn text(s: &str) -> String {
    let escaped = escape(s);
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}\n")
    } else {
        format!("{escaped}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_exit_status_and_environment_and_refers_only_to_pages_of_the_set() {
        let pages = pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|p| p.name.as_str()).collect();
        for expected in [
            "devops-agent",
            "devops-agent-validate",
            "devops-agent-ports",
            "devops-agent-ports-allocate",
            "devops-agent-completions",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.ends_with("-help")), "{names:?}");
        for page in &pages {
            assert!(page.roff.contains(".SH \"EXIT STATUS\""), "{}", page.name);
            assert!(page.roff.contains(".SH ENVIRONMENT"), "{}", page.name);
            assert!(page.roff.contains("DEVOPS_AGENT_EVENTS"), "{}", page.name);
            // Every `name(1)` reference (hyphens escaped in roff) names a page of the set.
            let plain = page
                .roff
                .replace("\\-", "-")
                .replace("\\fB", "")
                .replace("\\fR", "");
            for (at, _) in plain.match_indices("(1)") {
                let start = plain[..at]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .map_or(0, |i| i + 1);
                let referenced = &plain[start..at];
                if referenced.starts_with("devops-agent") {
                    assert!(
                        names.contains(&referenced),
                        "{} refers to {referenced}(1)",
                        page.name
                    );
                }
            }
        }
        let validate = pages.iter().find(|p| p.path == ["validate"]).unwrap();
        assert!(validate.roff.contains("\\fB130\\fR"));
        let schema = pages.iter().find(|p| p.path == ["schema"]).unwrap();
        assert!(!schema.roff.contains("\\fB130\\fR"), "schema runs no check");
    }
}
