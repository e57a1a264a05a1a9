//! The tools' arguments, and the command line each becomes. The field docs are the CLI's flag
//! docs ([`crate::cli`]), and every value is handed to the CLI's own parser, so a tool accepts
//! exactly what the command accepts and rejects the rest with the same usage error.

use std::ffi::OsString;
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::cli::{EnvMode, FailOn};

/// What every gate-running tool takes: the project and the run's deadline.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct Target {
    /// Project directory to validate: absolute, or relative to the first allowed root
    /// [default: the first allowed root]. Must lie under the server's roots.
    #[serde(default)]
    pub(crate) project: Option<String>,
    /// Deadline for the whole run, e.g. `90s`, `10m` [default: 10m].
    #[serde(default)]
    pub(crate) timeout: Option<String>,
    /// Lowest check status that makes the run not ready: `failed` (default) or `warning`.
    #[serde(default)]
    pub(crate) fail_on: Option<FailOn>,
}

/// Where the integration gate probes a deployed environment instead of starting the app.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[expect(
    clippy::struct_field_names,
    reason = "the names are the tool's argument names, the CLI's --base-url, --frontend-url, --backend-url"
)]
pub(crate) struct Remote {
    /// Probe this deployed base URL (e.g. a staging or preview deploy) instead of starting the
    /// app; the frontend and backend are both reached through it unless given separately.
    #[serde(default)]
    pub(crate) base_url: Option<String>,
    /// The frontend's URL, when it differs from `base_url`.
    #[serde(default)]
    pub(crate) frontend_url: Option<String>,
    /// The backend's URL, when it differs from `base_url`.
    #[serde(default)]
    pub(crate) backend_url: Option<String>,
}

/// `validate`: every gate for a story, one report with its verdict.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ValidateArgs {
    /// The story being validated, e.g. STORY-123.
    pub(crate) story_id: String,
    #[serde(flatten)]
    pub(crate) target: Target,
    /// Run only these gates, in the usual order (ports, deps, build, startup, integration).
    /// The others are not run and not reported.
    #[serde(default)]
    pub(crate) gates: Vec<String>,
    /// Skip these checks or gates (ids, e.g. `build.bundle_size`, or the part after the dot,
    /// e.g. `bundle_size`, or a gate name). Skipped checks are reported as `skipped`.
    #[serde(default)]
    pub(crate) skip: Vec<String>,
    /// Start the app in this mode only: `dev` runs `startup.dev_mode`, `prod`
    /// runs `startup.prod_mode`; the other is reported skipped.
    #[serde(default)]
    pub(crate) env: Option<EnvMode>,
    /// Run every gate even when an earlier one it depends on failed.
    #[serde(default)]
    pub(crate) keep_going: bool,
    /// Do not read or append `.devops-agent/history.jsonl` (the run-to-run comparison).
    #[serde(default)]
    pub(crate) no_history: bool,
    #[serde(flatten)]
    pub(crate) remote: Remote,
}

/// A gate that takes nothing but the project: `deps`, `build`, `ports`, `ports_allocate`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct GateArgs {
    #[serde(flatten)]
    pub(crate) target: Target,
}

/// `startup`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct StartupArgs {
    #[serde(flatten)]
    pub(crate) target: Target,
    /// Start the app in this mode only; the other mode's check is reported skipped.
    #[serde(default)]
    pub(crate) env: Option<EnvMode>,
}

/// `integration`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct IntegrationArgs {
    #[serde(flatten)]
    pub(crate) target: Target,
    /// Locally, start the app in this mode to probe it (default: production when it has a
    /// production command, else development).
    #[serde(default)]
    pub(crate) env: Option<EnvMode>,
    #[serde(flatten)]
    pub(crate) remote: Remote,
}

/// `explain_check`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ExplainArgs {
    /// A check id, e.g. `ports.no_conflicts` (or the part after the dot, e.g. `no_conflicts`).
    pub(crate) check_id: String,
}

fn env_word(env: EnvMode) -> &'static str {
    match env {
        EnvMode::Dev => "dev",
        EnvMode::Prod => "prod",
    }
}

/// The command line of one run, built as `SUBCOMMAND… --flag=value… [-- POSITIONAL]` so no
/// value from the client is ever read as a flag.
pub(crate) struct CommandLine {
    args: Vec<OsString>,
    positional: Vec<String>,
}

impl CommandLine {
    /// `subcommand` (e.g. `["ports", "allocate"]`) on `project`, the report as JSON on stdout
    /// and the events to `events`.
    pub(crate) fn new(
        subcommand: &[&str],
        project: &Path,
        target: &Target,
        events: &Path,
    ) -> CommandLine {
        let mut args: Vec<OsString> = subcommand.iter().map(OsString::from).collect();
        let mut flag = |name: &str, value: &std::ffi::OsStr| {
            let mut arg = OsString::from(format!("--{name}="));
            arg.push(value);
            args.push(arg);
        };
        flag("project", project.as_os_str());
        flag("format", "json".as_ref());
        flag("events", events.as_os_str());
        if let Some(timeout) = &target.timeout {
            flag("timeout", timeout.as_ref());
        }
        if let Some(fail_on) = target.fail_on {
            flag(
                "fail-on",
                match fail_on {
                    FailOn::Failed => "failed",
                    FailOn::Warning => "warning",
                }
                .as_ref(),
            );
        }
        CommandLine {
            args,
            positional: Vec::new(),
        }
    }

    fn flag(&mut self, name: &str, value: &str) {
        self.args.push(OsString::from(format!("--{name}={value}")));
    }

    fn switch(&mut self, name: &str, on: bool) {
        if on {
            self.args.push(OsString::from(format!("--{name}")));
        }
    }

    pub(crate) fn env(&mut self, env: Option<EnvMode>) -> &mut Self {
        if let Some(env) = env {
            self.flag("env", env_word(env));
        }
        self
    }

    pub(crate) fn remote(&mut self, remote: &Remote) -> &mut Self {
        for (name, value) in [
            ("base-url", &remote.base_url),
            ("frontend-url", &remote.frontend_url),
            ("backend-url", &remote.backend_url),
        ] {
            if let Some(value) = value {
                self.flag(name, value);
            }
        }
        self
    }

    pub(crate) fn validate(&mut self, args: &ValidateArgs) -> &mut Self {
        if !args.gates.is_empty() {
            self.flag("gates", &args.gates.join(","));
        }
        if !args.skip.is_empty() {
            self.flag("skip", &args.skip.join(","));
        }
        self.env(args.env);
        self.switch("keep-going", args.keep_going);
        self.switch("no-history", args.no_history);
        self.remote(&args.remote);
        self.positional.push(args.story_id.clone());
        self
    }

    /// The arguments, positional ones after `--`.
    pub(crate) fn into_args(self) -> Vec<OsString> {
        let mut args = self.args;
        if !self.positional.is_empty() {
            args.push("--".into());
            args.extend(self.positional.into_iter().map(OsString::from));
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_values_never_become_flags() {
        let args = ValidateArgs {
            story_id: "--help".to_owned(),
            target: Target {
                project: None,
                timeout: Some("90s".to_owned()),
                fail_on: Some(FailOn::Warning),
            },
            gates: vec!["ports".to_owned(), "deps".to_owned()],
            skip: vec!["--no-history".to_owned()],
            env: Some(EnvMode::Dev),
            keep_going: true,
            no_history: false,
            remote: Remote::default(),
        };
        let mut line = CommandLine::new(
            &["validate"],
            Path::new("/p"),
            &args.target,
            Path::new("/e"),
        );
        line.validate(&args);
        let args: Vec<String> = line
            .into_args()
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "validate",
                "--project=/p",
                "--format=json",
                "--events=/e",
                "--timeout=90s",
                "--fail-on=warning",
                "--gates=ports,deps",
                "--skip=--no-history",
                "--env=dev",
                "--keep-going",
                "--",
                "--help"
            ]
        );
    }
}
