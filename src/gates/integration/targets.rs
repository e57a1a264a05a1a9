//! What the integration gate probes: the frontend's and the backend's URLs (the services the
//! startup gate left running, or `--base-url`/`--frontend-url`/`--backend-url`), the backend's
//! health path, and the API base the frontend is configured to call.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::gates::{GateCtx, LiveService};
use crate::probe::http::{HttpError, Request, parse_target};
use crate::project::Project;
use crate::report::EventSink;

/// The variables front-end toolchains read the API base from.
pub(crate) const API_VARS: [&str; 3] = ["VITE_API_URL", "REACT_APP_API_URL", "NEXT_PUBLIC_API_URL"];

/// Health paths tried on a remote backend when none is configured.
const HEALTH_CANDIDATES: [&str; 4] = ["/health", "/healthz", "/api/health", "/ready"];

/// One HTTP service to probe.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// Service name (`frontend`, `backend`), or `remote` for a URL given on the command line.
    pub(crate) name: String,
    /// Base URL without a trailing slash (may carry a path prefix when given remotely).
    pub(crate) url: String,
    /// `scheme://host[:port]`, what a browser sends as `Origin`.
    pub(crate) origin: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) secure: bool,
}

impl Endpoint {
    pub(crate) fn parse(name: &str, url: &str) -> Result<Endpoint, HttpError> {
        let url = url.trim().trim_end_matches('/');
        let target = parse_target(url, "http", "https")?;
        let scheme = if target.secure { "https" } else { "http" };
        Ok(Endpoint {
            name: name.to_owned(),
            url: url.to_owned(),
            origin: format!("{scheme}://{}", target.authority),
            host: target.host,
            port: target.port,
            secure: target.secure,
        })
    }

    /// `url` + `path` (`path` starts with `/`).
    pub(crate) fn at(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.url)
        } else {
            format!("{}/{path}", self.url)
        }
    }

    /// The same address for WebSocket connections (`ws://`, `wss://`).
    pub(crate) fn ws_at(&self, path: &str) -> String {
        let http = self.at(path);
        match http.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", http.strip_prefix("http://").unwrap_or(&http)),
        }
    }
}

/// Whether two hosts are the same machine's loopback (or the same name).
pub(crate) fn same_host(a: &str, b: &str) -> bool {
    let loopback = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "::1" | "[::1]" | "0.0.0.0");
    a.eq_ignore_ascii_case(b) || (loopback(a) && loopback(b))
}

/// Everything the runtime checks probe.
#[derive(Debug, Clone, Default)]
pub(crate) struct Targets {
    /// Probing a deployed environment (no processes started).
    pub(crate) remote: bool,
    pub(crate) frontend: Option<Endpoint>,
    pub(crate) backend: Option<Endpoint>,
    /// The backend's health path, e.g. `/health`.
    pub(crate) backend_health: String,
    /// Ports of the running services by name (local), or the remote backend's port.
    pub(crate) ports: Vec<(String, u16)>,
    /// Port variable → the port the service got in this run (`BACKEND_PORT` → 41234).
    pub(crate) port_vars: BTreeMap<String, u16>,
    /// The frontend service's directory, relative to the project.
    pub(crate) frontend_dir: Option<String>,
    /// The backend service's directory, relative to the project.
    pub(crate) backend_dir: Option<String>,
    /// How the roles were decided (evidence per service), or why they could not be.
    pub(crate) roles: RoleNote,
    /// `development` or `production`: which `.env.[mode]` files the frontend's toolchain loads.
    pub(crate) mode: String,
}

/// What the role decision rests on.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoleNote {
    /// `frontend web: has dist/index.html; uses Vite`, …
    pub(crate) evidence: Vec<String>,
    /// Set when several services run and nothing says which is the frontend or the backend.
    pub(crate) unknown: Option<String>,
    /// Set when the one running service shows no sign of serving a browser app.
    pub(crate) no_frontend: Option<String>,
}

impl Targets {
    /// Locally, one service plays frontend and backend: there is no hop between them.
    pub(crate) fn single_service(&self) -> Option<&str> {
        match (&self.frontend, &self.backend) {
            (Some(f), Some(b)) if !self.remote && f.url == b.url => Some(f.name.as_str()),
            _ => None,
        }
    }
}

/// Why nothing can be probed at run time: skipped (nothing to start) or an error (it did not
/// start).
#[derive(Debug, Clone)]
pub(crate) struct Unavailable {
    pub(crate) skip: bool,
    pub(crate) reason: String,
}

/// Decide what to probe, starting the app when it is not running and the run is local.
pub(crate) async fn resolve(
    ctx: &GateCtx,
    sink: &EventSink,
    timeout: Duration,
) -> Result<Targets, Unavailable> {
    let remote = &ctx.remote;
    let cfg = &ctx.project.config.integration;
    if remote.base_url.is_some() || remote.frontend_url.is_some() || remote.backend_url.is_some() {
        let bad = |e: String| Unavailable {
            skip: false,
            reason: crate::redact::mask_url_passwords(&e),
        };
        let frontend = remote
            .frontend_url
            .as_ref()
            .or(remote.base_url.as_ref())
            .map(|u| Endpoint::parse("frontend", u))
            .transpose()
            .map_err(|e| bad(format!("--frontend-url/--base-url: {e}")))?;
        let backend = remote
            .backend_url
            .as_ref()
            .or(remote.base_url.as_ref())
            .map(|u| Endpoint::parse("backend", u))
            .transpose()
            .map_err(|e| bad(format!("--backend-url/--base-url: {e}")))?;
        let backend_health = match (&cfg.backend_health, &backend) {
            (Some(p), _) => p.clone(),
            (None, Some(b)) => detect_health(b, timeout).await,
            (None, None) => "/health".to_owned(),
        };
        let mut targets = Targets {
            remote: true,
            frontend,
            backend,
            backend_health,
            ports: Vec::new(),
            port_vars: BTreeMap::new(),
            frontend_dir: cfg
                .frontend
                .as_ref()
                .and_then(|f| ctx.project.config.services.get(f))
                .and_then(|s| s.dir.clone()),
            backend_dir: cfg
                .backend
                .as_ref()
                .and_then(|b| ctx.project.config.services.get(b))
                .and_then(|s| s.dir.clone()),
            roles: RoleNote::default(),
            mode: "production".to_owned(),
        };
        // Without --backend-url, the API base the production build calls is the best word on
        // where the backend is; --base-url alone then means "the site", not "the API".
        if remote.backend_url.is_none()
            && let Some(base) = api_base(&ctx.project, &targets)
            && base.value.contains("://")
            && let Ok(api) = Endpoint::parse("backend", &base.value)
        {
            let api = Endpoint::parse("backend", &api.origin).unwrap_or(api);
            if cfg.backend_health.is_none() {
                targets.backend_health = detect_health(&api, timeout).await;
            }
            targets.backend = Some(api);
        }
        targets.ports = targets
            .backend
            .iter()
            .map(|b| ("backend".to_owned(), b.port))
            .collect();
        return Ok(targets);
    }

    let needs_start = ctx.live.lock().await.is_none();
    if needs_start {
        crate::gates::startup::start_live(ctx, sink)
            .await
            .map_err(|reason| Unavailable {
                skip: reason.starts_with("no service to start"),
                reason,
            })?;
    }
    let (services, mode): (Vec<LiveService>, String) = ctx
        .live
        .lock()
        .await
        .as_ref()
        .map(|l| (l.services.clone(), l.mode.clone()))
        .unwrap_or_default();
    if services.is_empty() {
        return Err(Unavailable {
            skip: true,
            reason: "no service is running to probe".to_owned(),
        });
    }
    let (front, back, note) = roles(
        &ctx.project,
        &services,
        cfg.frontend.as_deref(),
        cfg.backend.as_deref(),
    );
    let endpoint = |s: &LiveService| {
        s.base_url
            .as_ref()
            .and_then(|u| Endpoint::parse(&s.name, u).ok())
    };
    let frontend = front.and_then(endpoint);
    let backend = back.and_then(endpoint);
    let backend_health = cfg
        .backend_health
        .clone()
        .or_else(|| back.and_then(|b| b.health_path.clone()))
        .unwrap_or_else(|| "/health".to_owned());
    Ok(Targets {
        remote: false,
        frontend,
        backend,
        backend_health,
        ports: services
            .iter()
            .filter_map(|s| s.port.map(|p| (s.name.clone(), p)))
            .collect(),
        port_vars: port_vars(&ctx.project, &services),
        frontend_dir: front.map(|f| f.dir.clone()),
        backend_dir: back.map(|b| b.dir.clone()),
        roles: note,
        mode,
    })
}

/// Which running service is the frontend and which the backend: configuration first, then
/// evidence in each service's directory (see [`frontend_evidence`], [`backend_evidence`]) —
/// never its name. One service plays both roles. With several services and no evidence the
/// roles stay unknown, and the checks that need them are skipped saying so.
fn roles<'a>(
    project: &Project,
    services: &'a [LiveService],
    frontend: Option<&str>,
    backend: Option<&str>,
) -> (Option<&'a LiveService>, Option<&'a LiveService>, RoleNote) {
    let mut note = RoleNote::default();
    let named = |n: Option<&str>| n.and_then(|n| services.iter().find(|s| s.name == n));
    if let [only] = services {
        // One service plays both roles — if anything shows it serves a browser app; an API
        // on its own has no frontend to probe.
        let why = frontend_evidence(project, &only.dir);
        if why.is_empty() && named(frontend).is_none() {
            note.no_frontend = Some(format!(
                "the only service ({}) shows no sign of serving a browser app (no built index.html, dev-server proxy, API base variable or frontend framework), so there is no frontend to probe; set [integration] frontend if it serves one",
                only.name
            ));
            return (None, Some(only), note);
        }
        note.evidence.push(format!(
            "{} looks like a frontend: {}",
            only.name,
            why.join("; ")
        ));
        return (Some(only), Some(only), note);
    }
    let fronts: Vec<(&LiveService, Vec<String>)> = services
        .iter()
        .map(|s| (s, frontend_evidence(project, &s.dir)))
        .collect();
    let backs: Vec<(&LiveService, Vec<String>)> = services
        .iter()
        .map(|s| (s, backend_evidence(project, &s.dir)))
        .collect();
    for (s, why) in &fronts {
        if !why.is_empty() {
            note.evidence.push(format!(
                "{} looks like a frontend: {}",
                s.name,
                why.join("; ")
            ));
        }
    }
    for (s, why) in &backs {
        if !why.is_empty() {
            note.evidence.push(format!(
                "{} looks like a backend: {}",
                s.name,
                why.join("; ")
            ));
        }
    }
    // The frontend: configured, else the one service with the most frontend evidence (and
    // more of it than backend evidence).
    let front = named(frontend).or_else(|| {
        let score = |s: &LiveService| {
            let f = fronts
                .iter()
                .find(|(x, _)| x.name == s.name)
                .map_or(0, |(_, w)| w.len());
            let b = backs
                .iter()
                .find(|(x, _)| x.name == s.name)
                .map_or(0, |(_, w)| w.len());
            if f > b { f } else { 0 }
        };
        let best = services.iter().map(score).max().unwrap_or(0);
        let top: Vec<&LiveService> = services
            .iter()
            .filter(|s| best > 0 && score(s) == best)
            .collect();
        (top.len() == 1).then(|| top[0])
    });
    let back = named(backend).or_else(|| {
        let others: Vec<&LiveService> = services
            .iter()
            .filter(|s| front.is_none_or(|f| f.name != s.name))
            .collect();
        let with_evidence: Vec<&LiveService> = others
            .iter()
            .copied()
            .filter(|s| backs.iter().any(|(x, w)| x.name == s.name && !w.is_empty()))
            .collect();
        match (with_evidence.as_slice(), others.as_slice()) {
            ([one], _) => Some(*one),
            // Two services, one known to be the frontend: the other is what it talks to.
            (_, [one]) if front.is_some() => Some(*one),
            _ => None,
        }
    });
    if front.is_none() || back.is_none() {
        let running: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        note.unknown = Some(format!(
            "{} services run ({}) and nothing says which is the {} (looked for: a built index.html, a dev-server proxy, an API base variable, a frontend or backend framework among the dependencies); set [integration] frontend and backend",
            services.len(),
            running.join(", "),
            match (front.is_none(), back.is_none()) {
                (true, true) => "frontend and which the backend",
                (true, false) => "frontend",
                _ => "backend",
            }
        ));
        return (None, None, note);
    }
    (front, back, note)
}

/// Why the service in `dir` serves a browser app: a built or source `index.html`, a
/// dev-server proxy, an API base variable in its env files, a frontend framework dependency.
pub(crate) fn frontend_evidence(project: &Project, dir: &str) -> Vec<String> {
    let base = project.root.join(dir);
    let mut why = Vec::new();
    for html in [
        "dist/index.html",
        "build/index.html",
        "out/index.html",
        "index.html",
        "public/index.html",
    ] {
        if base.join(html).is_file() {
            why.push(format!("has {html}"));
            break;
        }
    }
    if let Some(proxy) = dev_proxy(project, dir) {
        why.push(format!("dev-server proxy in {proxy}"));
    }
    for file in [".env", ".env.local", ".env.development", ".env.production"] {
        if let Ok(Some(env)) = crate::dotenv::load(&base.join(file))
            && let Some(var) = API_VARS
                .iter()
                .find(|v| env.entries.iter().any(|e| e.key == **v))
        {
            why.push(format!("sets {var} in {file}"));
            break;
        }
    }
    if let Some(fw) = node_framework(project, dir)
        && fw.role != crate::framework::Role::Backend
    {
        why.push(format!("uses {}", fw.name));
    }
    why
}

/// Why the service in `dir` serves an API: a backend framework among its dependencies.
pub(crate) fn backend_evidence(project: &Project, dir: &str) -> Vec<String> {
    let mut why = Vec::new();
    if let Some(fw) = node_framework(project, dir)
        && fw.role == crate::framework::Role::Backend
    {
        why.push(format!("uses {}", fw.name));
    }
    let base = project.root.join(dir);
    for file in [
        "requirements.txt",
        "pyproject.toml",
        "Pipfile",
        "manage.py",
        "Gemfile",
    ] {
        if base.join(file).is_file() {
            why.push(format!("has {file}"));
            break;
        }
    }
    why
}

/// The framework the package.json in `dir` depends on.
fn node_framework(project: &Project, dir: &str) -> Option<&'static crate::framework::Framework> {
    let path = project.root.join(dir).join("package.json");
    let pkg = crate::project::package_json_read(&project.root, &path).ok()?;
    crate::framework::detect(crate::framework::Ecosystem::Node, |p| {
        pkg.dependencies.contains(p)
    })
}

/// Where the frontend in `dir` configures a dev-server proxy: `server.proxy` in
/// `vite.config.*`, `devServer.proxy` in `webpack.config.js`, CRA's package.json `proxy` or
/// `src/setupProxy.js`, Next's `rewrites`.
pub(crate) fn dev_proxy(project: &Project, dir: &str) -> Option<String> {
    let base = project.root.join(dir);
    let rel = |f: &str| project.relative(&base.join(f));
    let others = [
        "webpack.config.js",
        "next.config.js",
        "next.config.mjs",
        "next.config.ts",
    ];
    for &file in crate::framework::VITE_CONFIGS.iter().chain(&others) {
        if let Some(text) = read_small(&base.join(file))
            && (text.contains("proxy") || text.contains("rewrites"))
        {
            return Some(rel(file));
        }
    }
    if base.join("src/setupProxy.js").is_file() {
        return Some(rel("src/setupProxy.js"));
    }
    if let Some(text) = read_small(&base.join("package.json"))
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
        && value.get("proxy").is_some_and(serde_json::Value::is_string)
    {
        return Some(format!("{} \"proxy\"", rel("package.json")));
    }
    None
}

/// A dev-server proxy whose target is a loopback URL with its port written in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FixedProxy {
    /// The config file, relative to the project.
    pub(crate) file: String,
    /// The target as written (`http://localhost:3000`).
    pub(crate) target: String,
    pub(crate) port: u16,
}

/// Where the frontend's dev-server config sends `prefix`, when it writes a loopback URL with a
/// port (`"/api": "http://localhost:3000"`, `'/api': { target: 'http://127.0.0.1:3000' }`, or
/// Create React App's `"proxy": "http://localhost:5000"`). A target built from a variable
/// (`` `http://localhost:${process.env.API_PORT}` ``) is not fixed and gives None.
pub(crate) fn fixed_proxy_target(project: &Project, dir: &str, prefix: &str) -> Option<FixedProxy> {
    let base = project.root.join(dir);
    let rel = |f: &str| project.relative(&base.join(f));
    for &file in crate::framework::VITE_CONFIGS {
        let Some(text) = read_small(&base.join(file)) else {
            continue;
        };
        if let Some((target, port)) = vite_proxy_target(&text, prefix) {
            return Some(FixedProxy {
                file: rel(file),
                target,
                port,
            });
        }
    }
    let text = read_small(&base.join("package.json"))?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let proxy = value.get("proxy")?.as_str()?;
    let (target, port) = loopback_url(proxy)?;
    Some(FixedProxy {
        file: format!("{} \"proxy\"", rel("package.json")),
        target,
        port,
    })
}

/// Why a request through the frontend's dev-server proxy says nothing about the project: its
/// config sends `prefix` to a port written in it, and this run started the backend on another
/// (the one it was offered). With the ports the project runs on by default the proxy may well
/// reach the backend, so a failed request there is no verdict.
pub(crate) fn moved_proxy_target(project: &Project, t: &Targets, prefix: &str) -> Option<String> {
    if t.remote {
        return None;
    }
    let backend = t.backend.as_ref()?;
    let fixed = fixed_proxy_target(project, t.frontend_dir.as_deref()?, prefix)?;
    if fixed.port == backend.port {
        return None;
    }
    Some(format!(
        "{} sends {prefix} to {}, a port written in the config, while this run started {} on port {}: the proxy cannot be checked here; take the target's port from an environment variable the backend's port also comes from (e.g. `http://localhost:${{process.env.API_PORT ?? {}}}`)",
        fixed.file, fixed.target, backend.name, backend.port, fixed.port
    ))
}

/// In a Vite config's text, the loopback target written for `prefix`.
fn vite_proxy_target(text: &str, prefix: &str) -> Option<(String, u16)> {
    let prefix = prefix.trim_end_matches('/');
    for quote in ['"', '\'', '`'] {
        for key in [
            format!("{quote}{prefix}{quote}"),
            format!("{quote}^{prefix}{quote}"),
        ] {
            let Some(at) = text.find(&key) else {
                continue;
            };
            // `'/api': 'http://…'` or `'/api': { target: 'http://…', … }`.
            let Some(value) = text[at + key.len()..].trim_start().strip_prefix(':') else {
                continue;
            };
            let value = value.trim_start();
            let literal = match value.strip_prefix('{') {
                Some(object) => {
                    let object = &object[..object.find('}').unwrap_or(object.len())];
                    object
                        .find("target")
                        .and_then(|t| object[t + "target".len()..].trim_start().strip_prefix(':'))
                        .map(str::trim_start)
                }
                None => Some(value),
            };
            if let Some(found) = literal.and_then(string_literal).and_then(loopback_url) {
                return Some(found);
            }
        }
    }
    None
}

/// The string literal `text` starts with, unless it is a template with `${…}`.
fn string_literal(text: &str) -> Option<&str> {
    let quote = text
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let body = &text[1..];
    let literal = &body[..body.find(quote)?];
    (!literal.contains("${")).then_some(literal)
}

/// `http://localhost:3000` (or `127.0.0.1`, `[::1]`; https) → the URL and its port.
fn loopback_url(url: &str) -> Option<(String, u16)> {
    let url = url.trim();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    if !matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "0.0.0.0") {
        return None;
    }
    Some((url.trim_end_matches('/').to_owned(), port.parse().ok()?))
}

/// Port variables (`BACKEND_PORT`) of the running services, with the ports they got: the
/// startup gate passes these to every service, so a frontend's `${BACKEND_PORT}` means them.
fn port_vars(project: &Project, services: &[LiveService]) -> BTreeMap<String, u16> {
    let mut vars = BTreeMap::new();
    let mut note = |service: &str, expression: &str| {
        let var = match crate::gates::ports::classify_expr(expression) {
            crate::gates::ports::PortExpr::EnvWithDefault { var, .. }
            | crate::gates::ports::PortExpr::EnvRequired { var }
            | crate::gates::ports::PortExpr::EnvNoDefault { var } => var,
            crate::gates::ports::PortExpr::Literal | crate::gates::ports::PortExpr::Invalid(_) => {
                return;
            }
        };
        if let Some(port) = services
            .iter()
            .find(|s| s.name == service)
            .and_then(|s| s.port)
        {
            vars.entry(var).or_insert(port);
        }
    };
    for (name, service) in &project.config.services {
        if let Some(port) = &service.port {
            note(name, port.get_ref());
        }
    }
    for decl in &crate::gates::ports::collect(project).ports {
        if decl.published {
            note(&decl.service, &decl.expression);
        }
    }
    vars
}

/// The first health path a remote backend answers 2xx on; `/health` when none does.
async fn detect_health(backend: &Endpoint, timeout: Duration) -> String {
    for path in HEALTH_CANDIDATES {
        let request = Request::get(&backend.at(path), timeout.min(Duration::from_secs(3)));
        // An SPA's fallback answers every path with its page: that is not a health endpoint.
        if let Ok(resp) = crate::probe::http::send(&request).await
            && (200..300).contains(&resp.status)
            && !resp
                .header("content-type")
                .is_some_and(|t| t.trim_start().starts_with("text/html"))
        {
            return path.to_owned();
        }
    }
    "/health".to_owned()
}

/// The API base the frontend calls, and where that is written.
#[derive(Debug, Clone)]
pub(crate) struct ApiBase {
    /// `VITE_API_URL`, … or `api_url` for the configuration key.
    pub(crate) variable: String,
    /// The value with `${VAR}` references resolved.
    pub(crate) value: String,
    /// `process environment`, `.env`, `frontend/.env.production`, `docker-compose.yml`, ….
    pub(crate) source: String,
    pub(crate) line: Option<u64>,
}

/// Find the API base: `[integration] api_url`, the process environment and `.env`, the
/// frontend directory's `.env.production`/`.env.local`/`.env`, then compose `environment`.
pub(crate) fn api_base(project: &Project, targets: &Targets) -> Option<ApiBase> {
    let lookup = |name: &str| {
        targets
            .port_vars
            .get(name)
            .map(u16::to_string)
            .or_else(|| project.env.get(name))
    };
    let render = |v: &str| crate::interp::interpolate(v, &lookup).unwrap_or_else(|_| v.to_owned());
    if let Some(url) = &project.config.integration.api_url {
        return Some(ApiBase {
            variable: "api_url".to_owned(),
            value: render(url),
            source: "devops-agent.toml [integration]".to_owned(),
            line: None,
        });
    }
    for var in API_VARS {
        if project.env.source(var) == Some("process")
            && let Some(value) = project.env.get(var)
        {
            return Some(ApiBase {
                variable: var.to_owned(),
                value: render(&value),
                source: "process environment".to_owned(),
                line: None,
            });
        }
    }
    let mut dirs: Vec<&str> = Vec::new();
    if let Some(dir) = targets.frontend_dir.as_deref() {
        dirs.push(dir);
    }
    dirs.extend(["frontend", "client", "web", "."]);
    dirs.dedup();
    // The env files the frontend's toolchain loads for the mode it runs (a deployed
    // environment was built for production), highest precedence first: Vite's `.env`,
    // `.env.local`, `.env.[mode]`, `.env.[mode].local` (later wins); CRA and Next put
    // `.env.local` after `.env.[mode]`.
    let framework = targets
        .frontend_dir
        .as_deref()
        .and_then(|d| node_framework(project, d));
    let mode = if targets.remote {
        "production"
    } else {
        targets.mode.as_str()
    };
    let mode = if mode.is_empty() { "production" } else { mode };
    let mut names: Vec<String> = framework
        .or_else(|| crate::framework::by_id("vite"))
        .map(|f| f.env_files_for(mode))
        .unwrap_or_default();
    names.reverse();
    let mut files: Vec<(&str, String)> = Vec::new();
    if !targets.remote {
        // The project's `.env` is in every started service's environment, which front-end
        // tools let win over their own `.env*` files.
        files.push((".", ".env".to_owned()));
    }
    for dir in &dirs {
        files.extend(names.iter().map(|n| (*dir, n.clone())));
    }
    for (dir, name) in files {
        let path = project.root.join(dir).join(&name);
        let Ok(Some(file)) = crate::dotenv::load(&path) else {
            continue;
        };
        for var in API_VARS {
            if let Some(entry) = file.entries.iter().rev().find(|e| e.key == var) {
                return Some(ApiBase {
                    variable: var.to_owned(),
                    value: render(&entry.value),
                    source: project.relative(&path),
                    line: u64::try_from(entry.line).ok(),
                });
            }
        }
    }
    if targets.remote {
        return None;
    }
    compose_api_base(project, targets, &render)
}

#[derive(Deserialize)]
struct ComposeEnvFile {
    #[serde(default)]
    services: Option<BTreeMap<String, Option<ComposeEnvService>>>,
}

#[derive(Deserialize)]
struct ComposeEnvService {
    #[serde(default)]
    environment: Option<Environment>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Environment {
    List(Vec<String>),
    Map(BTreeMap<String, Option<ScalarValue>>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScalarValue {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// `environment` of the frontend service (by name, else any service) in the compose files.
fn compose_api_base(
    project: &Project,
    targets: &Targets,
    render: &dyn Fn(&str) -> String,
) -> Option<ApiBase> {
    let frontend = targets.frontend.as_ref().map(|f| f.name.as_str());
    for path in &project.detected.compose {
        let Some(text) = read_small(path) else {
            continue;
        };
        let Ok(file) = serde_saphyr::from_str::<ComposeEnvFile>(&text) else {
            continue; // The ports gate reports unreadable compose files.
        };
        let mut services: Vec<(String, ComposeEnvService)> = file
            .services
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(n, s)| s.map(|s| (n, s)))
            .collect();
        // The frontend's own environment wins over another service's.
        services.sort_by_key(|(n, _)| Some(n.as_str()) != frontend);
        for (_, service) in services {
            let pairs: Vec<(String, String)> = match service.environment {
                Some(Environment::List(items)) => items
                    .into_iter()
                    .filter_map(|i| i.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                    .collect(),
                Some(Environment::Map(map)) => map
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let v = match v? {
                            ScalarValue::Text(t) => t,
                            ScalarValue::Int(i) => i.to_string(),
                            ScalarValue::Float(f) => f.to_string(),
                            ScalarValue::Bool(b) => b.to_string(),
                        };
                        Some((k, v))
                    })
                    .collect(),
                None => Vec::new(),
            };
            for var in API_VARS {
                if let Some((_, value)) = pairs.iter().find(|(k, _)| k == var) {
                    let line = text
                        .lines()
                        .position(|l| l.contains(var))
                        .and_then(|i| u64::try_from(i + 1).ok());
                    return Some(ApiBase {
                        variable: var.to_owned(),
                        value: render(value),
                        source: project.relative(path),
                        line,
                    });
                }
            }
        }
    }
    None
}

/// A text file of at most 4 MiB.
pub(crate) fn read_small(path: &Path) -> Option<String> {
    let bytes = crate::fsread::read(path, 4 * 1024 * 1024).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_origin_and_build_ws_urls() {
        let e = Endpoint::parse("x", "http://127.0.0.1:8080/").unwrap();
        assert_eq!(e.origin, "http://127.0.0.1:8080");
        assert_eq!(e.at("/api/health"), "http://127.0.0.1:8080/api/health");
        assert_eq!(e.ws_at("/ws"), "ws://127.0.0.1:8080/ws");
        let e = Endpoint::parse("x", "https://app.example/base").unwrap();
        assert_eq!(e.origin, "https://app.example");
        assert_eq!(e.ws_at("/ws"), "wss://app.example/base/ws");
        assert!(Endpoint::parse("x", "nonsense").is_err());
        assert!(same_host("localhost", "127.0.0.1") && !same_host("a.test", "127.0.0.1"));
    }

    #[test]
    fn a_vite_proxy_target_is_fixed_only_when_its_port_is_written() {
        let t = |text: &str| vite_proxy_target(text, "/api");
        let fixed = Some(("http://localhost:3000".to_owned(), 3000));
        assert_eq!(t(r#"proxy: { "/api": "http://localhost:3000" }"#), fixed);
        assert_eq!(
            t(
                "proxy: {\n  '/api': {\n    target: 'http://localhost:3000/',\n    changeOrigin: true,\n  },\n}"
            ),
            fixed
        );
        assert_eq!(
            t("proxy: { '^/api': { target: `http://127.0.0.1:8000`, rewrite } }"),
            Some(("http://127.0.0.1:8000".to_owned(), 8000))
        );
        // From a variable, or another host, or no port: not a port written in the config.
        assert_eq!(
            t("proxy: { '/api': `http://localhost:${process.env.API_PORT}` }"),
            None
        );
        assert_eq!(t("proxy: { '/api': { target: apiUrl } }"), None);
        assert_eq!(t("proxy: { '/api': 'http://api.example:3000' }"), None);
        assert_eq!(t("proxy: { '/api': 'http://localhost' }"), None);
        assert_eq!(t("proxy: { '/ws': 'http://localhost:3000' }"), None);
    }
}
