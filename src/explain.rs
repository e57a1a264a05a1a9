//! What each check verifies, where it looks, which configuration changes it and how its
//! typical failures are fixed: the text behind `devops-agent list` and `devops-agent explain`.
//!
//! One table, keyed by [`CheckId`], so every check has an entry (the match has no wildcard) and
//! the command line, the MCP server and the documentation say the same thing.

use serde::Serialize;

use crate::check::CheckId;

/// Everything `explain` says about one check.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The stable id, e.g. `ports.no_conflicts`.
    pub id: &'static str,
    /// The gate that runs it.
    pub gate: &'static str,
    /// The seed document's wording.
    pub title: &'static str,
    /// What passing means.
    pub verifies: &'static str,
    /// The files, processes and endpoints it reads.
    pub looks_at: &'static [&'static str],
    /// `devops-agent.toml` keys (and flags) that change what it does.
    pub config: &'static [&'static str],
    /// Typical failures and their fix.
    pub fixes: &'static [&'static str],
}

/// Every check's explanation, in catalogue order.
pub fn all() -> Vec<Explanation> {
    CheckId::ALL.iter().map(|&id| explain(id)).collect()
}

/// Find a check by full id (`build.bundle_size`) or by the part after the dot.
pub fn find(name: &str) -> Option<Explanation> {
    match CheckId::matching(name).as_slice() {
        [id] => Some(explain(*id)),
        _ => None,
    }
}

/// The explanation of one check.
pub fn explain(id: CheckId) -> Explanation {
    let (verifies, looks_at, config, fixes) = text(id);
    Explanation {
        id: id.as_str(),
        gate: id.gate().as_str(),
        title: id.title(),
        verifies,
        looks_at,
        config,
        fixes,
    }
}

type Text = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

#[allow(clippy::too_many_lines)] // one entry per check, read as a table
fn text(id: CheckId) -> Text {
    match id {
        CheckId::DepsPackagesInstalled => (
            "Every dependency a manifest declares is installed where the app loads it from, at a \
             version that satisfies the declared range, transitively — the verdict `npm ls --all` \
             and `pip check` give. Nothing is installed or downloaded.",
            &[
                "package.json (and workspaces), requirements*.txt, pyproject.toml, Pipfile, \
                 Cargo.toml, go.mod",
                "node_modules (npm, yarn, pnpm layouts), the project's virtualenv \
                 (.venv, venv, env: site-packages METADATA)",
            ],
            &[],
            &[
                "missing or wrong version → run the install command the finding names \
                 (`npm ci`, `pnpm install --frozen-lockfile`, `pip install -r requirements.txt`, \
                 `uv sync`, `poetry install`)",
                "a Python project without a virtualenv → create one in the project (.venv) and \
                 install into it",
            ],
        ),
        CheckId::DepsLockfileValid => (
            "Each manifest has a lock file from its package manager that parses, lists every \
             declared dependency at a version that satisfies its range, and agrees with what is \
             installed.",
            &[
                "package-lock.json, npm-shrinkwrap.json, yarn.lock, pnpm-lock.yaml, poetry.lock, \
                 uv.lock, Pipfile.lock, Cargo.lock, go.sum",
            ],
            &[],
            &[
                "lock out of date with the manifest → re-run the package manager's lock command \
                 (`npm install`, `uv lock`, `poetry lock`, `cargo generate-lockfile`) and commit it",
                "no lock file → generate and commit one so every install resolves the same tree",
            ],
        ),
        CheckId::DepsNoVersionConflicts => (
            "No installed package is required at incompatible versions by two dependents, and no \
             two lock files of the project pin one package differently where they share it.",
            &["the installed trees and lock files deps.packages_installed reads"],
            &[],
            &[
                "two ranges that no version satisfies → align the dependents' ranges, or add an \
                 `overrides` (npm) / `resolutions` (yarn) / `pnpm.overrides` entry",
            ],
        ),
        CheckId::DepsPeerDependencies => (
            "Every npm peer dependency an installed package declares resolves to an installed \
             version in its range (optional peers may be absent).",
            &["node_modules/*/package.json `peerDependencies` and `peerDependenciesMeta`"],
            &[],
            &[
                "unmet peer → add the peer to the app's dependencies at a version in the range \
                 the finding shows",
            ],
        ),
        CheckId::BuildDevBuild => (
            "The development build command exits 0 within its timeout and leaves no process \
             behind. A framework without a development build (Next.js: `next dev` compiles on \
             demand) makes it `skipped` with that reason.",
            &[
                "devops-agent.toml [build] dev, else package.json `build:dev` (or `build` with \
                 NODE_ENV=development); cargo build; go build; make",
                "the command's output, for the first real error lines",
            ],
            &[
                "[build] dev, env, dir",
                "[timeouts] build, grace",
                "--skip dev_build",
            ],
            &[
                "a failing build → the message quotes the first error lines; run the command \
                 shown in the evidence to reproduce",
                "a leaked process warning → the build started a daemon that outlived it: stop \
                 it at the end of the build script",
            ],
        ),
        CheckId::BuildProdBuild => (
            "The production build command exits 0 within its timeout (NODE_ENV=production, \
             cargo --release), in workspace dependency order for monorepos, each workspace once.",
            &[
                "devops-agent.toml [build] prod, else package.json `build`, turbo/nx when the \
                 repo uses them; cargo build --release; go build; make",
            ],
            &[
                "[build] prod, env, dir",
                "[timeouts] build, grace",
                "--skip prod_build",
            ],
            &[
                "a failing build → the message quotes the first error lines",
                "`Cannot find module '@scope/pkg'` in a monorepo → the workspace that provides \
                 it must declare a build script; devops-agent builds it first",
            ],
        ),
        CheckId::BuildNoBlockingWarnings => (
            "The builds' warnings (compiler, bundler and framework warnings parsed from the \
             output) stay within the budget: none with deny_warnings, at most max_warnings \
             otherwise; without a budget they are reported as a warning, not a failure.",
            &["the output of the dev and prod builds"],
            &["[build] deny_warnings, max_warnings"],
            &["fix the warnings listed with file:line, or raise [build] max_warnings"],
        ),
        CheckId::BuildBundleSize => (
            "The browser files of the production output (client assets only — never server \
             bundles) fit their budgets, raw, gzip and brotli, per file and in total.",
            &[
                "the framework's output folder (dist, build, .next/static, \
                 .svelte-kit/output/client, .output/public, …) or [build] output",
                "size-limit and bundlesize settings in package.json",
            ],
            &[
                "[build] output, budgets.total, budgets.per_file, budgets.compression, \
                 [[build.budgets.files]] path/limit/compression",
            ],
            &[
                "over budget → split the chunk named in the finding (dynamic import), drop a \
                 dependency, or raise the budget deliberately",
            ],
        ),
        CheckId::BuildAssetsGenerated => (
            "Every asset the built HTML, the Vite manifest or the framework's manifest \
             references exists in the output, under the framework's public path.",
            &["the production output's HTML files and manifests"],
            &["[build] output, public_path, artifacts"],
            &[
                "a referenced file is missing → the build's public path (Vite `base`, Next \
                 `assetPrefix`) does not match where the files are written; fix the setting",
            ],
        ),
        CheckId::StartupDevMode => (
            "The development server starts, becomes ready (its port accepts and a health \
             endpoint answers 2xx, or / answers below 500) within the ready timeout, stays up \
             through the stability window, and stops with its whole process tree, its port \
             freed.",
            &[
                "[services.*] dev, else package.json `dev`, Procfile, framework defaults",
                "the service's sockets and printed URLs (to find where it really listens)",
            ],
            &[
                "[services.NAME] dev, port, health, ready_log, env, environment, depends_on, dir",
                "[startup] ready_timeout, stability",
                "--env dev|prod",
            ],
            &[
                "never became ready → the message shows the HTTP statuses seen or that nothing \
                 listened; check the port the app binds (PORT, --port)",
                "listens elsewhere than offered (warning) → pass the port the way the framework \
                 takes it, as the finding suggests",
            ],
        ),
        CheckId::StartupProdMode => (
            "The production server (npm start, vite preview, next start, gunicorn, …) starts \
             on a production build, becomes ready, stays up and stops cleanly, as \
             startup.dev_mode does for the dev server.",
            &[
                "[services.*] prod, else package.json `start:prod`/`start`/`preview`, Procfile `web:`, Dockerfile CMD",
            ],
            &[
                "[services.NAME] prod, port, health, ready_log",
                "[startup] ready_timeout, stability",
                "--env dev|prod",
            ],
            &[
                "`Could not find a production build` → the prod start needs its build first; \
                 devops-agent runs it unless build was skipped",
            ],
        ),
        CheckId::StartupEnvVars => (
            "Every variable the app requires is set: [startup] required_env, compose \
             `${VAR:?}`, and .env.example/.env.sample/.env.template/.env.default keys that some \
             code or config reads without a default.",
            &[
                "the process environment, .env, .env.example and siblings, compose files",
                "JS/TS/Python/Go/Rust sources, for how each key is read",
            ],
            &["[startup] required_env", "[services.NAME] env"],
            &["set the missing variable in .env (a value is never printed)"],
        ),
        CheckId::StartupDatabaseConnections => (
            "Each database or broker URL from the environment or [[databases]] completes a real \
             protocol round trip with the credentials given (PostgreSQL with libpq's rules, \
             MySQL/MariaDB, Redis, AMQP, MQTT, NATS), also when assembled from \
             variable groups such as PGHOST/PGUSER or DB_HOST/DB_USER.",
            &[
                "the environment and .env",
                "[[databases]] in devops-agent.toml",
            ],
            &["[[databases]] name, url"],
            &[
                "connection refused → the server is not running where the URL says",
                "authentication failed → the credentials in the URL are wrong for that server",
            ],
        ),
        CheckId::StartupExternalServices => (
            "Each external HTTP(S) service the app depends on resolves in DNS, accepts TCP, \
             answers HTTP with the expected status and presents a valid, unexpired TLS \
             certificate for its name.",
            &[
                "[[external]] in devops-agent.toml",
                "URL variables in the environment",
            ],
            &["[[external]] name, url, expect_status, ca_file, timeout"],
            &["certificate errors → the service's certificate chain or name is wrong"],
        ),
        CheckId::StartupHealthChecks => (
            "Each health endpoint answers 2xx on every sample, with p95 latency under the \
             threshold (samples, p50/p95/max in the evidence).",
            &["[services.NAME] health, else /health, /healthz, /api/health, /ready"],
            &[
                "[services.NAME] health",
                "[startup] health_samples, health_p95",
            ],
            &[
                "a non-2xx sample → the endpoint reports itself unhealthy; see its body in the \
                 evidence",
                "p95 too high → the endpoint does slow work; make it cheap",
            ],
        ),
        CheckId::IntegrationFrontendBackend => (
            "The frontend's API base (VITE_API_URL, REACT_APP_API_URL, NEXT_PUBLIC_API_URL, \
             compose environment, config) reaches the running backend, sent with the \
             frontend's Origin.",
            &[
                "the frontend's env files and build config",
                "the running services",
            ],
            &["[integration] frontend, backend, api_url, backend_health"],
            &[
                "the API base points at the wrong host or port → fix the variable in the frontend's env",
            ],
        ),
        CheckId::IntegrationApiProxy => (
            "Requests through the frontend's proxy (nginx proxy_pass/upstream, the dev server's \
             /api prefix) reach the backend. Skipped when the frontend calls the API directly.",
            &[
                "nginx.conf, vite.config / next.config proxy settings",
                "the running services",
            ],
            &["[integration] proxy_prefix, nginx"],
            &[
                "502/504 through the proxy → its upstream names a host or port the backend does not listen on",
            ],
        ),
        CheckId::IntegrationCors => (
            "A CORS preflight from the origin the frontend is really served at (configured \
             frontend URL, then localhost and 127.0.0.1 forms) is allowed for the methods and \
             headers the app uses, without wildcard-with-credentials or origin reflection.",
            &["the backend's responses to OPTIONS and GET with Origin"],
            &["[integration] cors_methods, cors_headers"],
            &[
                "origin not allowed → add the frontend's origin (shown in the evidence) to the \
                 backend's allowed origins",
            ],
        ),
        CheckId::IntegrationWebsocket => (
            "Each WebSocket endpoint completes the 101 handshake and echoes a message, directly \
             and through the proxy (socket.io endpoints speak Engine.IO).",
            &["[integration] websocket paths, detected /ws routes and proxy locations"],
            &["[integration] websocket"],
            &["handshake fails through the proxy → forward Upgrade/Connection headers in nginx"],
        ),
        CheckId::IntegrationStaticAssets => (
            "The served index and every asset it references answer 200 with a matching \
             Content-Type, and client-side routes fall back to the index.",
            &["the running frontend", "the production output"],
            &["[integration] spa_fallback, build_dir"],
            &["404 on an asset → the server's root is not the build output folder"],
        ),
        CheckId::IntegrationCdn => (
            "Assets on the CDN match the local build byte for byte and carry cache headers \
             (a long max-age or `immutable` for hashed file names).",
            &["[integration] cdn_url", "the production output"],
            &["[integration] cdn_url"],
            &["a mismatch → the CDN serves an older deploy; purge or redeploy"],
        ),
        CheckId::PortsEnvConfigured => (
            "Every published port (compose `ports:`, Kubernetes hostPort/nodePort, package.json \
             scripts, [services.*] port) comes from an environment variable with a default, like \
             `${FRONTEND_PORT:-5173}:5173`. Dockerfile EXPOSE values are warnings.",
            &["compose files and overrides, Kubernetes manifests, package.json, Dockerfile"],
            &["[ports] ignore", "[services.NAME] port"],
            &["a hard-coded port → write the form the finding suggests (file:line given)"],
        ),
        CheckId::PortsNoConflicts => (
            "After interpolation (process env, then .env, then defaults) no two services that \
             run together publish the same host port, and no configured port is held by a \
             process on this machine (named by pid and command).",
            &[
                "the declarations ports.env_configured reads",
                "/proc/net/tcp{,6}, /proc/net/udp{,6}",
            ],
            &["[ports] ignore, search_width, allocate_range"],
            &[
                "a collision or a held port → `devops-agent ports allocate` writes free, \
                 reserved ports into .env",
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_an_explanation_with_a_fix() {
        for e in all() {
            assert!(!e.verifies.is_empty(), "{}", e.id);
            assert!(!e.looks_at.is_empty(), "{}", e.id);
            assert!(!e.fixes.is_empty(), "{}", e.id);
        }
        assert_eq!(all().len(), CheckId::ALL.len());
    }

    #[test]
    fn checks_are_found_by_full_or_short_id() {
        assert_eq!(find("ports.no_conflicts").unwrap().id, "ports.no_conflicts");
        assert_eq!(find("bundle_size").unwrap().id, "build.bundle_size");
        assert!(find("nope").is_none());
    }
}
