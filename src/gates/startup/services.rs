//! The services to start, how to start them in each mode, and the port each one gets.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::path::PathBuf;

use crate::gates::ports::{PortDecl, PortExpr};
use crate::project::{FileError, Project, package_json_read};

/// Development or production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mode {
    Dev,
    Prod,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Dev => "development",
            Mode::Prod => "production",
        }
    }
}

/// How a service starts in one mode.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub(crate) command: String,
    pub(crate) env: BTreeMap<String, String>,
    /// Where the command came from ("backend/package.json script start").
    pub(crate) source: String,
}

/// A service of the application.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) name: String,
    /// Directory relative to the project.
    pub(crate) dir: String,
    pub(crate) path: PathBuf,
    pub(crate) dev: Option<Launch>,
    pub(crate) prod: Option<Launch>,
    /// The variable that sets its port (`BACKEND_PORT`), when known.
    pub(crate) port_var: Option<String>,
    /// The port it gets when nothing else says: the variable's value, else its default.
    pub(crate) port_preferred: Option<u16>,
    pub(crate) health: Option<String>,
    pub(crate) ready_log: Option<String>,
    pub(crate) depends_on: Vec<String>,
    pub(crate) environment: BTreeMap<String, String>,
}

impl Service {
    pub(crate) fn launch(&self, mode: Mode) -> Option<&Launch> {
        match mode {
            Mode::Dev => self.dev.as_ref(),
            Mode::Prod => self.prod.as_ref(),
        }
    }
}

fn with_node_env(mode: Mode) -> BTreeMap<String, String> {
    BTreeMap::from([("NODE_ENV".to_owned(), mode.name().to_owned())])
}

/// Find the services: those of devops-agent.toml with start commands, else one per
/// package.json with a `dev` or `start` script, else a Procfile `web:` line, a Cargo binary or
/// a Go module at the root. Configuration for a detected service (matched by name or `dir`)
/// adds its port, health path and environment.
pub(crate) fn detect(project: &Project, decls: &[PortDecl]) -> (Vec<Service>, Vec<FileError>) {
    let mut errors = Vec::new();
    let mut services: Vec<Service> = Vec::new();
    let configured = &project.config.services;

    for (name, cfg) in configured {
        if cfg.dev.is_none() && cfg.prod.is_none() {
            continue;
        }
        let dir = cfg.dir.clone().unwrap_or_else(|| ".".to_owned());
        let launch = |command: &Option<String>, mode: Mode| {
            command.as_ref().map(|c| Launch {
                command: c.clone(),
                env: with_node_env(mode),
                source: format!(
                    "devops-agent.toml [services.{name}] {}",
                    if mode == Mode::Dev { "dev" } else { "prod" }
                ),
            })
        };
        services.push(Service {
            name: name.clone(),
            path: project.root.join(&dir),
            dir,
            dev: launch(&cfg.dev, Mode::Dev),
            prod: launch(&cfg.prod, Mode::Prod),
            port_var: None,
            port_preferred: None,
            health: None,
            ready_log: None,
            depends_on: Vec::new(),
            environment: BTreeMap::new(),
        });
    }

    if services.is_empty() {
        for path in &project.detected.package_json {
            let pkg = match package_json_read(&project.root, path) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            // A script that only recompiles on change (a library's `tsc -w`) or hands the task
            // to every workspace (the root's `turbo run dev`) is not a server: the workspaces'
            // own scripts start the servers, each once.
            let serves = |s: &str| {
                pkg.scripts.get(s).is_some_and(|c| {
                    let fan_out = pkg.dir == "." && crate::project::fans_out(c);
                    !(crate::project::only_watches(c) || fan_out)
                })
            };
            let has = |s: &str| serves(s);
            if !has("dev") && !has("start") {
                continue;
            }
            let runner =
                crate::gates::build::package_manager(path.parent().unwrap_or(&project.root));
            let script = |s: &str, mode: Mode| Launch {
                command: format!("{runner} run {s}"),
                env: with_node_env(mode),
                source: format!("{}/package.json script {s}", pkg.dir),
            };
            let dev = if has("dev") {
                script("dev", Mode::Dev)
            } else {
                script("start", Mode::Dev)
            };
            services.push(Service {
                name: pkg.service_name(),
                dir: pkg.dir.clone(),
                path: project.root.join(&pkg.dir),
                dev: Some(dev),
                prod: has("start").then(|| script("start", Mode::Prod)),
                port_var: None,
                port_preferred: None,
                health: None,
                ready_log: None,
                depends_on: Vec::new(),
                environment: BTreeMap::new(),
            });
        }
    }
    if services.is_empty()
        && let Some(web) = procfile_web(project)
    {
        services.push(plain(project, "web", &web, &web, "Procfile web"));
    }
    if services.is_empty()
        && project.root.join("Cargo.toml").is_file()
        && project.root.join("src/main.rs").is_file()
    {
        services.push(plain(
            project,
            &project.name,
            "cargo run --locked",
            "cargo run --locked --release",
            "Cargo.toml",
        ));
    }
    if services.is_empty() && project.root.join("go.mod").is_file() {
        services.push(plain(
            project,
            &project.name,
            "go run .",
            "go run .",
            "go.mod",
        ));
    }

    // Configuration and port declarations complete what detection found.
    for service in &mut services {
        let cfg = configured.get(&service.name).or_else(|| {
            configured.values().find(|c| {
                c.dir.as_deref().map(|d| d.trim_end_matches('/')) == Some(service.dir.as_str())
            })
        });
        if let Some(cfg) = cfg {
            service.health.clone_from(&cfg.health);
            service.ready_log.clone_from(&cfg.ready_log);
            service.depends_on.clone_from(&cfg.depends_on);
            service.environment.clone_from(&cfg.environment);
            if let Some(port) = &cfg.port {
                set_port(
                    service,
                    &crate::gates::ports::classify_expr(port.get_ref()),
                    project,
                );
            }
        }
        if service.port_var.is_none() {
            // The compose service or npm script of the same name says which variable it reads.
            let decl = decls.iter().find(|d| {
                d.published
                    && (d.service == service.name
                        || d.file.starts_with(&format!("{}/", service.dir)))
                    && !matches!(d.expr(), PortExpr::Literal | PortExpr::Invalid(_))
            });
            if let Some(decl) = decl {
                set_port(service, &decl.expr(), project);
            }
        }
        if service.port_var.is_none() {
            service.port_var = Some("PORT".to_owned());
        }
    }
    (services, errors)
}

fn plain(project: &Project, name: &str, dev: &str, prod: &str, source: &str) -> Service {
    let launch = |c: &str, mode: Mode| Launch {
        command: c.to_owned(),
        env: BTreeMap::new(),
        source: format!("{source} ({})", mode.name()),
    };
    Service {
        name: name.to_owned(),
        dir: ".".to_owned(),
        path: project.root.clone(),
        dev: Some(launch(dev, Mode::Dev)),
        prod: Some(launch(prod, Mode::Prod)),
        port_var: None,
        port_preferred: None,
        health: None,
        ready_log: None,
        depends_on: Vec::new(),
        environment: BTreeMap::new(),
    }
}

fn set_port(service: &mut Service, expr: &PortExpr, project: &Project) {
    let (var, default) = match expr {
        PortExpr::EnvWithDefault { var, default } => (var.clone(), default.parse::<u16>().ok()),
        PortExpr::EnvRequired { var } | PortExpr::EnvNoDefault { var } => (var.clone(), None),
        PortExpr::Literal | PortExpr::Invalid(_) => return,
    };
    let from_env = project
        .env
        .get(&var)
        .and_then(|v| v.trim().parse::<u16>().ok());
    service.port_preferred = from_env.or(default);
    service.port_var = Some(var);
}

fn procfile_web(project: &Project) -> Option<String> {
    let text = crate::fsread::read_lossy(&project.root.join("Procfile"), 1024 * 1024).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("web:"))
        .map(|c| c.trim().to_owned())
}

/// The port a service gets for this run: its preferred port when nothing listens there and it
/// is not already given to another service; else a free port from the kernel.
pub(crate) fn pick_port(preferred: Option<u16>, taken: &[u16]) -> Option<u16> {
    if let Some(p) = preferred
        && !taken.contains(&p)
        && free(p)
    {
        return Some(p);
    }
    for _ in 0..20 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .ok()?
            .local_addr()
            .ok()?
            .port();
        if !taken.contains(&port) && free(port) {
            return Some(port);
        }
    }
    None
}

/// Nothing listens on `port` (from /proc, both families) and it can be bound on all addresses.
fn free(port: u16) -> bool {
    let listening = crate::probe::listeners(&[crate::probe::Proto::Tcp])
        .iter()
        .any(|l| l.port == port);
    !listening
        && TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
        && match TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::AddrNotAvailable,
        }
}

/// Group services into start levels: each level only depends on earlier ones. A dependency
/// cycle or unknown dependency puts the rest in a final level (and is reported by the caller
/// through `unresolved`).
pub(crate) fn levels(services: &[Service]) -> (Vec<Vec<usize>>, Vec<String>) {
    let mut placed: Vec<Option<usize>> = vec![None; services.len()];
    let mut levels: Vec<Vec<usize>> = Vec::new();
    let index = |name: &str| services.iter().position(|s| s.name == name);
    let mut unresolved = Vec::new();
    loop {
        let level = levels.len();
        let ready: Vec<usize> = (0..services.len())
            .filter(|&i| placed[i].is_none())
            .filter(|&i| {
                services[i]
                    .depends_on
                    .iter()
                    .all(|d| index(d).is_some_and(|j| placed[j].is_some_and(|l| l < level)))
            })
            .collect();
        if ready.is_empty() {
            break;
        }
        for &i in &ready {
            placed[i] = Some(level);
        }
        levels.push(ready);
    }
    let rest: Vec<usize> = (0..services.len())
        .filter(|&i| placed[i].is_none())
        .collect();
    if !rest.is_empty() {
        for &i in &rest {
            unresolved.push(format!(
                "{} depends on {} (unknown or circular)",
                services[i].name,
                services[i].depends_on.join(", ")
            ));
        }
        levels.push(rest);
    }
    (levels, unresolved)
}
