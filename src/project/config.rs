//! `devops-agent.toml`: what a project says about itself when detection is not enough.
//!
//! The file is optional. Unknown keys are errors (a typo must not silently disable a check),
//! reported with file, line and column; so is a file that is not valid TOML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::line_col;

/// Configuration files larger than this are refused.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub project: ProjectSection,
    /// Services by name. A service's `port` joins the ports detected in compose files and
    /// manifests.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    #[serde(default)]
    pub ports: PortsConfig,
    #[serde(default)]
    pub build: BuildConfig,
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    #[serde(default)]
    pub startup: StartupConfig,
    /// Databases and brokers the app uses, beyond the URLs found in its environment.
    #[serde(default)]
    pub databases: Vec<NamedUrl>,
    /// External services the app depends on (HTTP(S) URLs or `host:port`).
    #[serde(default)]
    pub external: Vec<ExternalService>,
    #[serde(default)]
    pub integration: IntegrationConfig,
    /// Accepted findings (`[[accept]]`: check, fingerprint, reason, expires), see
    /// [`crate::baseline`].
    #[serde(default)]
    pub accept: Vec<crate::baseline::Acceptance>,
}

/// `[integration]`: what the integration gate probes, when detection is not enough.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// The service that serves the frontend (default: a running service named like
    /// `frontend`, `web`, `client`, `ui`, `nginx`, `app`).
    pub frontend: Option<String>,
    /// The service that serves the API (default: one named like `backend`, `api`, `server`).
    pub backend: Option<String>,
    /// The API base the frontend calls (default: `VITE_API_URL`, `REACT_APP_API_URL`,
    /// `NEXT_PUBLIC_API_URL` from the environment, `.env` files or compose `environment`).
    pub api_url: Option<String>,
    /// The backend's health path (default: the one the startup gate found, else `/health`).
    pub backend_health: Option<String>,
    /// The path prefix the frontend's server proxies to the backend (default `/api`).
    pub proxy_prefix: Option<String>,
    /// nginx configuration to check (default: `nginx.conf`, `nginx/*.conf`, `*/nginx.conf`).
    pub nginx: Option<String>,
    /// Methods the frontend uses cross-origin (default GET, POST, PUT, DELETE).
    pub cors_methods: Option<Vec<String>>,
    /// Request headers the frontend sends cross-origin (default Content-Type, Authorization).
    pub cors_headers: Option<Vec<String>>,
    /// WebSocket endpoint paths, e.g. `["/ws"]` (default: detected from nginx locations).
    pub websocket: Option<Vec<String>>,
    /// Subprotocols to offer in the WebSocket handshake (`Sec-WebSocket-Protocol`), e.g.
    /// `["graphql-transport-ws"]`, for servers that refuse a handshake without one.
    pub websocket_protocols: Option<Vec<String>>,
    /// A PEM file of CA certificates `wss://` endpoints are also trusted under (a private CA),
    /// relative to the project.
    pub websocket_ca: Option<String>,
    /// A client-side route that must return the index (default: a path no server has).
    pub spa_fallback: Option<String>,
    /// Base URL of the CDN serving the built assets (default: absolute asset URLs in the
    /// built HTML).
    pub cdn_url: Option<String>,
    /// Build output directory holding the built `index.html`, relative to the project
    /// (default: `[build] output`, else `dist`, `build`, `out` in the frontend's directory).
    pub build_dir: Option<String>,
    /// Deadline of one probe request (default 5s).
    #[serde(default, deserialize_with = "duration")]
    pub request_timeout: Option<Duration>,
}

/// `[startup]`: how apps are started and judged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartupConfig {
    /// Longest a service may take to become ready (default 60s).
    #[serde(default, deserialize_with = "duration")]
    pub ready_timeout: Option<Duration>,
    /// After ready, how long every service must stay up (default 1s).
    #[serde(default, deserialize_with = "duration")]
    pub stability: Option<Duration>,
    /// Health samples per endpoint (default 20).
    pub health_samples: Option<u32>,
    /// Fail `startup.health_checks` when p95 latency is above this (default 1s).
    #[serde(default, deserialize_with = "duration")]
    pub health_p95: Option<Duration>,
    /// Environment variables the app requires, beyond `.env.example` and compose `${VAR:?}`.
    #[serde(default)]
    pub required_env: Vec<String>,
}

/// A named URL (`url` may use `${VAR}` interpolation; it is never printed unredacted).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedUrl {
    pub name: String,
    pub url: String,
}

/// `[[external]]`: a service the app calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalService {
    pub name: String,
    /// `https://api.example.com/health`, or `host:port` for a TCP-only check.
    pub url: String,
    /// Expected HTTP status (default: any 2xx or 3xx).
    pub expect_status: Option<u16>,
    /// PEM file of extra trusted CA certificates (a private CA), relative to the project.
    pub ca_file: Option<String>,
    /// Deadline of each step (DNS, TCP, TLS, each HTTP hop) of this service's probe (default:
    /// `[integration] request_timeout`, else 10s).
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
}

/// `[timeouts]`: durations written as `"90s"`, `"5m"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Longest one build command may run (default: the run's `--timeout`).
    #[serde(default, deserialize_with = "duration")]
    pub build: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when stopping a command (default 3s).
    #[serde(default, deserialize_with = "duration")]
    pub grace: Option<Duration>,
}

/// `[build]`: how the build gate builds and what it expects of the output.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// Directory to build in, relative to the project; with it, only this app is built.
    pub dir: Option<String>,
    /// Development build command (run with `sh -c`); replaces detection.
    #[serde(default, deserialize_with = "command")]
    pub dev: Option<String>,
    /// Production build command; replaces detection.
    #[serde(default, deserialize_with = "command")]
    pub prod: Option<String>,
    /// Extra environment for both builds.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Build output directory, relative to the app directory (default: detected `dist`,
    /// `build`, `out`, `.next`, or `target/release` for Rust).
    pub output: Option<String>,
    /// Make any warning fail `build.no_blocking_warnings`.
    #[serde(default)]
    pub deny_warnings: bool,
    /// Fail `build.no_blocking_warnings` above this many warnings.
    pub max_warnings: Option<u32>,
    /// Files (relative to the app directory) that must exist and be non-empty after the build.
    #[serde(default)]
    pub artifacts: Vec<String>,
    /// URL prefix the output is served under (`/` by default): `/static/app.js` in built HTML
    /// with `public_path = "/static/"` is `app.js` in the output directory.
    pub public_path: Option<String>,
    #[serde(default)]
    pub budgets: BudgetsConfig,
}

/// `[build.budgets]`: size limits. Sizes are written `"250 KB"` (1000 bytes a KB), `"1 MiB"`
/// (1024-based), or a number of bytes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetsConfig {
    /// Limit for the whole output directory.
    pub total: Option<String>,
    /// Limit for any single file.
    pub per_file: Option<String>,
    /// Which size the limits apply to: `raw`, `gzip` (default) or `brotli`.
    pub compression: Option<String>,
    /// Limits for files matching a glob (relative to the output directory).
    #[serde(default)]
    pub files: Vec<FileBudget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBudget {
    pub path: String,
    pub limit: String,
    pub compression: Option<String>,
}

/// A command to run: an empty or blank one would "succeed" without doing anything (`sh -c ""`
/// exits 0), so it is an error at its line rather than a passed build or start.
fn command<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Err(serde::de::Error::custom(
            "the command is empty: write the command to run, or remove the key",
        ));
    }
    Ok(Some(text))
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("invalid duration `{text}`: {e}")))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSection {
    /// Display name; defaults to the directory name.
    pub name: Option<String>,
}

/// One service of the application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Directory of the service, relative to the project.
    pub dir: Option<String>,
    /// The host port, written as an expression: `"${BACKEND_PORT:-3000}"`.
    pub port: Option<toml::Spanned<String>>,
    /// Start command in development mode (run with `sh -c` in `dir`).
    #[serde(default, deserialize_with = "command")]
    pub dev: Option<String>,
    /// Start command in production mode.
    #[serde(default, deserialize_with = "command")]
    pub prod: Option<String>,
    /// Health endpoint path, e.g. `/health` (default: the first of `/health`, `/healthz`,
    /// `/api/health`, `/ready`, `/` that answers 2xx).
    pub health: Option<String>,
    /// Ready when a log line contains this text (instead of a port and health endpoint).
    pub ready_log: Option<String>,
    /// Environment variables this service requires (checked by `startup.env_vars`).
    #[serde(default)]
    pub env: Vec<String>,
    /// Extra environment for this service's process.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Services that must be ready before this one starts.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// `[ports]`: how the ports gate reads and allocates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsConfig {
    /// Paths (relative to the project; a prefix matches a directory) whose port declarations
    /// are not checked, e.g. vendored charts.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// `ports allocate` tries the default port and the next `search_width` ports above it before
    /// falling back to `allocate_range`.
    #[serde(default = "default_search_width")]
    pub search_width: u16,
    /// Inclusive fallback range for `ports allocate`.
    #[serde(default = "default_allocate_range")]
    pub allocate_range: [u16; 2],
}

impl Default for PortsConfig {
    fn default() -> Self {
        PortsConfig {
            ignore: Vec::new(),
            search_width: default_search_width(),
            allocate_range: default_allocate_range(),
        }
    }
}

fn default_search_width() -> u16 {
    100
}

fn default_allocate_range() -> [u16; 2] {
    [20000, 29999]
}

/// The configuration file is unreadable or invalid. Exit code 2.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {message}", path.display(), location(*line, *column))]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

fn location(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl Config {
    /// Load `path`. `Ok(None)` when it does not exist and `required` is false (the default
    /// location); a missing file given with `--config` is an error.
    pub fn load(path: &Path, required: bool) -> Result<Option<(Config, String)>, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.to_owned(),
            line: None,
            column: None,
            message,
        };
        // A FIFO or /dev/zero (also behind a symlink) is refused, not read forever.
        let bytes = match crate::fsread::read(path, MAX_CONFIG_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() && !required => return Ok(None),
            Err(e) => return Err(err(e.to_string())),
        };
        let text = String::from_utf8(bytes).map_err(|_| err("file is not valid UTF-8".into()))?;
        let config = Self::parse(&text).map_err(|(line, column, message)| ConfigError {
            path: path.to_owned(),
            line,
            column,
            message,
        })?;
        Ok(Some((config, text)))
    }

    /// Parse TOML text; on error, the line, column and message (first line of toml's).
    pub fn parse(text: &str) -> Result<Config, (Option<u64>, Option<u64>, String)> {
        toml::from_str::<Config>(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_col(text, span.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            (line, column, e.message().trim().to_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_located() {
        let (line, column, message) =
            Config::parse("[ports]\nignore = []\nsearch_widht = 3\n").unwrap_err();
        assert_eq!((line, column), (Some(3), Some(1)));
        assert!(message.contains("search_widht"), "{message}");
    }

    #[test]
    fn blank_commands_are_located_errors() {
        for text in [
            "[build]\ndev = \"\"\n",
            "[build]\nprod = \"  \\t \"\n",
            "[services.api]\ndev = \"\"\n",
        ] {
            let (line, _, message) = Config::parse(text).unwrap_err();
            assert_eq!(line, Some(2), "{text}");
            assert!(message.contains("the command is empty"), "{message}");
        }
        let c = Config::parse("[build]\ndev = \"make\"\n").unwrap();
        assert_eq!(c.build.dev.as_deref(), Some("make"));
        assert_eq!(c.build.prod, None);
    }

    #[test]
    fn services_and_defaults() {
        let c =
            Config::parse("[services.api]\ndir = \"api\"\nport = \"${API_PORT:-3000}\"\n").unwrap();
        assert_eq!(
            c.services["api"].port.as_ref().unwrap().get_ref(),
            "${API_PORT:-3000}"
        );
        assert_eq!(c.ports.allocate_range, [20000, 29999]);
    }
}
