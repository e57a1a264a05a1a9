//! The project under validation: its configuration, its environment and the files detected in it.

mod compose;
mod config;
mod context;
mod dockerfile;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod k8s;
mod package_json;
#[cfg(test)]
pub(crate) mod testutil;
mod walk;
mod workspaces;
mod yaml;

pub use compose::{
    ComposeFile, ComposePort, ComposeSet, DependsOn, group as compose_group, read as compose_read,
};
pub use config::{
    BudgetsConfig, BuildConfig, Config, ConfigError, ExternalService, FileBudget,
    IntegrationConfig, NamedUrl, PortsConfig, ServiceConfig, StartupConfig, TimeoutsConfig,
};
pub use context::{Env, Project, file_error as dotenv_file_error};
pub use dockerfile::{Dockerfile, Expose, Form as DockerfileForm, read as dockerfile_read};
pub use error::{FileError, LineIndex, line_col};
pub use k8s::{K8sPort, K8sPortKind, Manifest, read as k8s_read};
pub use package_json::{PackageJson, ScriptPort, read as package_json_read};
pub use walk::Detected;
pub(crate) use workspaces::{
    Orchestrator, fans_out, only_watches, read as workspaces_read, runs_one_nx_target,
    runs_workspace_scripts,
};
