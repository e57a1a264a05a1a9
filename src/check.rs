//! The domain side of a check: its stable id, its outcome and the findings behind it.
//!
//! Gates produce [`CheckResult`]s; the report module turns them into wire types. Keeping the two
//! apart lets the JSON contract stay fixed while the gates evolve.

use std::path::PathBuf;
use std::time::Duration;

/// Every check devops-agent knows, with the stable id of SPEC.md. Never rename, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckId {
    DepsPackagesInstalled,
    DepsLockfileValid,
    DepsNoVersionConflicts,
    DepsPeerDependencies,
    BuildDevBuild,
    BuildProdBuild,
    BuildNoBlockingWarnings,
    BuildBundleSize,
    BuildAssetsGenerated,
    StartupDevMode,
    StartupProdMode,
    StartupEnvVars,
    StartupDatabaseConnections,
    StartupExternalServices,
    StartupHealthChecks,
    IntegrationFrontendBackend,
    IntegrationApiProxy,
    IntegrationCors,
    IntegrationWebsocket,
    IntegrationStaticAssets,
    IntegrationCdn,
    PortsEnvConfigured,
    PortsNoConflicts,
}

impl CheckId {
    /// Every check, in catalogue order.
    pub const ALL: &'static [CheckId] = &[
        CheckId::DepsPackagesInstalled,
        CheckId::DepsLockfileValid,
        CheckId::DepsNoVersionConflicts,
        CheckId::DepsPeerDependencies,
        CheckId::BuildDevBuild,
        CheckId::BuildProdBuild,
        CheckId::BuildNoBlockingWarnings,
        CheckId::BuildBundleSize,
        CheckId::BuildAssetsGenerated,
        CheckId::StartupDevMode,
        CheckId::StartupProdMode,
        CheckId::StartupEnvVars,
        CheckId::StartupDatabaseConnections,
        CheckId::StartupExternalServices,
        CheckId::StartupHealthChecks,
        CheckId::IntegrationFrontendBackend,
        CheckId::IntegrationApiProxy,
        CheckId::IntegrationCors,
        CheckId::IntegrationWebsocket,
        CheckId::IntegrationStaticAssets,
        CheckId::IntegrationCdn,
        CheckId::PortsEnvConfigured,
        CheckId::PortsNoConflicts,
    ];

    /// The gate the check belongs to.
    pub fn gate(self) -> GateId {
        match self.as_str().split('.').next() {
            Some("deps") => GateId::Deps,
            Some("build") => GateId::Build,
            Some("startup") => GateId::Startup,
            Some("integration") => GateId::Integration,
            _ => GateId::Ports,
        }
    }

    /// Find checks by full id (`build.bundle_size`) or by the part after the dot
    /// (`bundle_size`).
    pub fn matching(name: &str) -> Vec<CheckId> {
        CheckId::ALL
            .iter()
            .copied()
            .filter(|c| {
                let id = c.as_str();
                id == name || id.split_once('.').is_some_and(|(_, short)| short == name)
            })
            .collect()
    }

    /// The id as it appears in reports and on the command line, e.g. `ports.no_conflicts`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::DepsPackagesInstalled => "deps.packages_installed",
            CheckId::DepsLockfileValid => "deps.lockfile_valid",
            CheckId::DepsNoVersionConflicts => "deps.no_version_conflicts",
            CheckId::DepsPeerDependencies => "deps.peer_dependencies",
            CheckId::BuildDevBuild => "build.dev_build",
            CheckId::BuildProdBuild => "build.prod_build",
            CheckId::BuildNoBlockingWarnings => "build.no_blocking_warnings",
            CheckId::BuildBundleSize => "build.bundle_size",
            CheckId::BuildAssetsGenerated => "build.assets_generated",
            CheckId::StartupDevMode => "startup.dev_mode",
            CheckId::StartupProdMode => "startup.prod_mode",
            CheckId::StartupEnvVars => "startup.env_vars",
            CheckId::StartupDatabaseConnections => "startup.database_connections",
            CheckId::StartupExternalServices => "startup.external_services",
            CheckId::StartupHealthChecks => "startup.health_checks",
            CheckId::IntegrationFrontendBackend => "integration.frontend_backend",
            CheckId::IntegrationApiProxy => "integration.api_proxy",
            CheckId::IntegrationCors => "integration.cors",
            CheckId::IntegrationWebsocket => "integration.websocket",
            CheckId::IntegrationStaticAssets => "integration.static_assets",
            CheckId::IntegrationCdn => "integration.cdn",
            CheckId::PortsEnvConfigured => "ports.env_configured",
            CheckId::PortsNoConflicts => "ports.no_conflicts",
        }
    }

    /// The seed document's wording of the check, shown to people.
    pub fn title(self) -> &'static str {
        match self {
            CheckId::DepsPackagesInstalled => {
                "All packages in package.json/requirements.txt installed"
            }
            CheckId::DepsLockfileValid => "Lock files present and valid",
            CheckId::DepsNoVersionConflicts => "No version conflicts",
            CheckId::DepsPeerDependencies => "Peer dependencies satisfied",
            CheckId::BuildDevBuild => "Development build succeeds without errors",
            CheckId::BuildProdBuild => "Production build succeeds without errors",
            CheckId::BuildNoBlockingWarnings => "No compilation warnings blocking deployment",
            CheckId::BuildBundleSize => "Bundle size within limits",
            CheckId::BuildAssetsGenerated => "All assets generated correctly",
            CheckId::StartupDevMode => "App starts successfully in development mode",
            CheckId::StartupProdMode => "App starts successfully in production mode",
            CheckId::StartupEnvVars => "All required environment variables present",
            CheckId::StartupDatabaseConnections => "Database connections established",
            CheckId::StartupExternalServices => "External service connections verified",
            CheckId::StartupHealthChecks => "Health check endpoints responding",
            CheckId::IntegrationFrontendBackend => "Frontend-backend communication working",
            CheckId::IntegrationApiProxy => "API proxy configurations correct",
            CheckId::IntegrationCors => "CORS settings validated",
            CheckId::IntegrationWebsocket => "WebSocket connections functional",
            CheckId::IntegrationStaticAssets => "Static asset serving working",
            CheckId::IntegrationCdn => "CDN integration functional",
            CheckId::PortsEnvConfigured => "Use environment variables for all port configurations",
            CheckId::PortsNoConflicts => "Port conflict resolution",
        }
    }
}

/// How a check ended. Every place that turns this into a verdict matches it without a wildcard,
/// so a new variant forces a decision there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The check ran and what it verifies holds.
    Passed,
    /// The check ran and found what it verifies does not hold: blocks deployment.
    Failed,
    /// The check ran and found something worth fixing that does not block deployment.
    Warning,
    /// The check did not apply, with the reason (e.g. "no compose file or port declaration found").
    Skipped { reason: String },
    /// The check could not run (e.g. a file it reads is malformed); the verdict is unknown.
    Error,
    /// The check found problems, and every one of them is accepted in the project's baseline
    /// (`[[accept]]`, see [`crate::baseline`]): shown, not blocking.
    Accepted,
}

impl Status {
    /// Orders statuses from least to most serious, for "the worst of" summaries.
    pub fn severity_rank(&self) -> u8 {
        match self {
            Status::Skipped { .. } => 0,
            Status::Passed => 1,
            Status::Accepted => 2,
            Status::Warning => 3,
            Status::Failed => 4,
            Status::Error => 5,
        }
    }

    /// Whether this status blocks `deployment_ready` (SPEC: a required check `failed` or `error`).
    pub fn is_blocking(&self) -> bool {
        match self {
            Status::Failed | Status::Error => true,
            Status::Passed | Status::Warning | Status::Skipped { .. } | Status::Accepted => false,
        }
    }
}

/// How serious one finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One concrete thing a check found, with a location when it has one (used for `file:line`
/// annotations and for people to jump to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
    pub file: Option<PathBuf>,
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// What to write instead, e.g. `"${BACKEND_PORT:-3000}:3000"`.
    pub suggestion: Option<String>,
    /// Set when the project's baseline accepts this finding ([`crate::baseline`]).
    pub accepted: Option<Accepted>,
}

/// A baseline entry that matched a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub reason: String,
    /// `YYYY-MM-DD`, when the acceptance has an end.
    pub expires: Option<String>,
    /// The end has passed: the finding counts again.
    pub expired: bool,
}

impl Finding {
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            severity,
            message: message.into(),
            file: None,
            line: None,
            column: None,
            suggestion: None,
            accepted: None,
        }
    }

    /// A stable id for accepting this finding in a baseline: FNV-1a (64 bit, hex) of the check
    /// id, the file and the message — not the line, so it survives edits elsewhere in the file;
    /// a different problem (another port, a new size) gets a new one and must be accepted on
    /// its own. FNV is written out here because the value is a contract: it must not change
    /// with a hasher crate's version.
    pub fn fingerprint(&self, check: CheckId) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        feed(check.as_str().as_bytes());
        feed(&[0]);
        if let Some(file) = &self.file {
            feed(file.to_string_lossy().as_bytes());
        }
        feed(&[0]);
        feed(self.message.as_bytes());
        format!("{hash:016x}")
    }

    /// Attach a location (a path relative to the project where possible).
    #[must_use]
    pub fn at(mut self, file: impl Into<PathBuf>, line: Option<u64>, column: Option<u64>) -> Self {
        self.file = Some(file.into());
        self.line = line;
        self.column = column;
        self
    }

    #[must_use]
    pub fn suggest(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: CheckId,
    pub status: Status,
    /// One sentence for people: what was verified or what is wrong, and the fix.
    pub message: String,
    pub findings: Vec<Finding>,
    /// Check-specific measured facts (always a JSON object), filled from the check's typed
    /// evidence struct by [`CheckResult::with_evidence`]; empty for a check that did not run.
    pub evidence: serde_json::Map<String, serde_json::Value>,
    pub duration: Duration,
    /// When the check started running (set by the gate's scope); `None` for a check that never
    /// ran (skipped by the plan, not reached).
    pub started: Option<std::time::Instant>,
}

impl CheckResult {
    pub fn new(id: CheckId, status: Status, message: impl Into<String>) -> Self {
        CheckResult {
            id,
            status,
            message: message.into(),
            findings: Vec::new(),
            evidence: serde_json::Map::new(),
            duration: Duration::ZERO,
            started: None,
        }
    }

    #[must_use]
    pub fn with_findings(mut self, findings: Vec<Finding>) -> Self {
        self.findings = findings;
        self
    }

    /// Record the check's typed evidence (the struct beside the check's code, described in the
    /// schema per check id): its fields are merged into [`CheckResult::evidence`], so a gate can
    /// add context the check itself cannot know (the integration gate's target).
    #[must_use]
    pub fn with_evidence(mut self, evidence: &impl serde::Serialize) -> Self {
        match serde_json::to_value(evidence) {
            Ok(serde_json::Value::Object(fields)) => self.evidence.extend(fields),
            // Every evidence type is a struct of plain data with string keys: not reached.
            Ok(_) | Err(_) => {
                debug_assert!(false, "evidence of {} is not an object", self.id.as_str());
            }
        }
        self
    }
}

/// The gates, in the order `validate` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GateId {
    Ports,
    Deps,
    Build,
    Startup,
    Integration,
}

impl GateId {
    /// Every gate, in the order `validate` runs them.
    pub const ALL: &'static [GateId] = &[
        GateId::Ports,
        GateId::Deps,
        GateId::Build,
        GateId::Startup,
        GateId::Integration,
    ];

    /// Parse a gate name.
    pub fn parse(name: &str) -> Option<GateId> {
        GateId::ALL.iter().copied().find(|g| g.as_str() == name)
    }

    /// The gate's checks, in catalogue order.
    pub fn checks(self) -> Vec<CheckId> {
        CheckId::ALL
            .iter()
            .copied()
            .filter(|c| c.gate() == self)
            .collect()
    }

    /// The gate whose failure makes this one pointless, and what to say when it is skipped:
    /// no build without dependencies, no start without a build. What counts as that gate's
    /// failure is [`GateResult::blocks_what_follows`]: the reason must be true.
    pub fn precondition(self) -> Option<(GateId, &'static str)> {
        match self {
            GateId::Build => Some((
                GateId::Deps,
                "dependencies are not installed as declared: not building",
            )),
            GateId::Startup => Some((GateId::Build, "build failed: not starting")),
            GateId::Integration => {
                Some((GateId::Startup, "the app did not start: nothing to probe"))
            }
            GateId::Ports | GateId::Deps => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GateId::Ports => "ports",
            GateId::Deps => "deps",
            GateId::Build => "build",
            GateId::Startup => "startup",
            GateId::Integration => "integration",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            GateId::Ports => "Port configuration",
            GateId::Deps => "Dependency installation",
            GateId::Build => "Build process",
            GateId::Startup => "Application startup",
            GateId::Integration => "Integration verification",
        }
    }
}

/// The outcome of one gate: its checks, in catalogue order.
#[derive(Debug, Clone)]
pub struct GateResult {
    pub id: GateId,
    pub checks: Vec<CheckResult>,
    pub duration: Duration,
    /// When the gate started (its `gate_started`); `None` for a gate built without running.
    pub started: Option<std::time::Instant>,
    /// Published ports the gate resolved (the ports gate fills this; it feeds
    /// `infrastructure.ports` and `port_configuration`).
    pub ports: Vec<crate::report::PortAssignment>,
}

impl GateResult {
    /// Whether this gate failed in the way that makes the gates needing it pointless, the way
    /// their skip reason says ([`GateId::precondition`]): for build, a development or production
    /// build that failed ("build failed: not starting" — a bundle over its budget, a missing
    /// favicon or a counted warning does not stop the app from starting); for startup, a mode
    /// that did not start ("the app did not start: nothing to probe" — a missing variable, an
    /// unreachable database or a slow health endpoint leave the app running to be probed); for
    /// the other gates, any failed or errored check.
    pub fn blocks_what_follows(&self) -> bool {
        let decisive: &[CheckId] = match self.id {
            GateId::Build => &[CheckId::BuildDevBuild, CheckId::BuildProdBuild],
            GateId::Startup => &[CheckId::StartupDevMode, CheckId::StartupProdMode],
            GateId::Ports | GateId::Deps | GateId::Integration => {
                return self.status().is_blocking();
            }
        };
        self.checks
            .iter()
            .any(|c| decisive.contains(&c.id) && c.status.is_blocking())
    }

    /// The gate's overall status: the worst of its checks; skipped only when every check was.
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|c| &c.status)
            .max_by_key(|s| s.severity_rank())
            .cloned()
            .unwrap_or(Status::Skipped {
                reason: "no checks ran".to_owned(),
            })
    }
}
