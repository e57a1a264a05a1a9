//! The services to start, how to start them in each mode, and the port each one gets.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::path::PathBuf;

use super::environment::RunEnv;
use crate::framework::{self, Ecosystem, Framework, PortStyle};
use crate::gates::ports::{PortDecl, PortExpr};
use crate::project::{DockerfileForm, FileError, Project, package_json_read};

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
    /// The framework server it runs, when the catalogue recognises the command.
    pub(crate) server: Option<Server>,
}

/// A recognised framework server command, and how a port reaches it.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) framework: &'static Framework,
    pub(crate) style: PortStyle,
    /// The port the command line pins (`vite --port 3333`): kept, never overridden.
    pub(crate) pinned: Option<u16>,
    /// The command line sets the port from a variable (`--port $PORT`): nothing to add.
    pub(crate) pinned_by_variable: bool,
    pub(crate) append: Append,
}

/// How extra arguments reach the server command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Append {
    /// `npm run dev -- --port N`.
    AfterDashes,
    /// `pnpm run dev --port N`, `yarn dev --port N`, or the command itself.
    Directly,
    /// The server is not the script's last command (or runs behind another `npm run`): only
    /// the environment reaches it.
    Never,
}

impl Launch {
    fn plain(command: impl Into<String>, env: BTreeMap<String, String>, source: String) -> Launch {
        Launch {
            command: command.into(),
            env,
            source,
            server: None,
        }
    }

    /// The command with `port` passed the framework's way, and how it was passed (for
    /// evidence).
    pub(crate) fn with_port(&self, port: Option<u16>, port_var: Option<&str>) -> (String, String) {
        let env_way = match port_var {
            Some(v) if v != "PORT" => format!("environment PORT and {v}"),
            _ => "environment PORT".to_owned(),
        };
        let (Some(server), Some(port)) = (&self.server, port) else {
            return (self.command.clone(), env_way);
        };
        if let Some(pinned) = server.pinned {
            return (
                self.command.clone(),
                format!("pinned by the command ({pinned})"),
            );
        }
        if server.pinned_by_variable {
            return (
                self.command.clone(),
                format!("{env_way}, which the command reads"),
            );
        }
        let args = crate::framework::with_port(server.style, port);
        if args.is_empty() {
            return (self.command.clone(), env_way);
        }
        let joined = args.join(" ");
        match server.append {
            Append::AfterDashes => (
                format!("{} -- {joined}", self.command),
                format!("{joined} ({}'s flag)", server.framework.name),
            ),
            Append::Directly => (
                format!("{} {joined}", self.command),
                format!("{joined} ({}'s flag)", server.framework.name),
            ),
            Append::Never => (
                self.command.clone(),
                format!(
                    "{env_way} only: {} takes {joined}, but the server is not the script's last command",
                    server.framework.name
                ),
            ),
        }
    }
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
    /// The framework its dependencies name, when the catalogue knows it.
    pub(crate) framework: Option<&'static Framework>,
    /// Why it has no production command, when that is known (CRA: the production app is
    /// the static build).
    pub(crate) prod_skip: Option<String>,
    /// Virtualenv and `node_modules/.bin` directories put before `PATH`.
    pub(crate) run_env: RunEnv,
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
/// package.json with a `dev` or `start` script (or a `server.js`, which `npm start` runs),
/// else a Procfile `web:` line, a Python ASGI/WSGI app, a Cargo binary, a Go module, or the
/// Dockerfile's `CMD` as a last hint. Configuration for a detected service (matched by name or
/// `dir`) adds its port, health path and environment.
pub(crate) fn detect(project: &Project, decls: &[PortDecl]) -> (Vec<Service>, Vec<FileError>) {
    let mut errors = Vec::new();
    let mut services: Vec<Service> = Vec::new();
    let configured = &project.config.services;

    for (name, cfg) in configured {
        if cfg.dev.is_none() && cfg.prod.is_none() {
            continue;
        }
        let dir = cfg.dir.clone().unwrap_or_else(|| ".".to_owned());
        let path = project.root.join(&dir);
        let launch = |command: &Option<String>, mode: Mode| {
            command.as_ref().map(|c| {
                let mut launch = Launch::plain(
                    c.clone(),
                    with_node_env(mode),
                    format!(
                        "devops-agent.toml [services.{name}] {}",
                        if mode == Mode::Dev { "dev" } else { "prod" }
                    ),
                );
                launch.server = server_of(c, None, Append::Directly);
                launch
            })
        };
        let mut service = blank(project, name, &dir);
        service.dev = launch(&cfg.dev, Mode::Dev);
        service.prod = launch(&cfg.prod, Mode::Prod);
        service.run_env = RunEnv::find(project, &path);
        services.push(service);
    }

    if services.is_empty() {
        for path in &project.detected.package_json {
            match package_json_read(&project.root, path) {
                Ok(pkg) => services.extend(node_service(project, path, &pkg)),
                Err(e) => errors.push(e),
            }
        }
    }
    if services.is_empty()
        && let Some(web) = procfile_web(project)
    {
        let mut service = plain(project, "web", &web, &web, "Procfile web");
        let hint = python_framework(project);
        for launch in [service.dev.as_mut(), service.prod.as_mut()]
            .into_iter()
            .flatten()
        {
            launch.server = server_of(&web, hint, Append::Directly);
        }
        service.framework = hint;
        services.push(service);
    }
    if services.is_empty()
        && let Some(service) = python_app(project)
    {
        services.push(service);
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
    if services.is_empty()
        && let Some(cmd) = dockerfile_cmd(project)
    {
        let mut service = plain(
            project,
            &project.name,
            &cmd,
            &cmd,
            "Dockerfile ENTRYPOINT/CMD (a hint: the image's command, run here)",
        );
        let hint = python_framework(project);
        for launch in [service.dev.as_mut(), service.prod.as_mut()]
            .into_iter()
            .flatten()
        {
            // A port written in the image's command is the container's, not this machine's.
            launch.server = server_of(&cmd, hint, Append::Directly).map(|mut s| {
                s.pinned = None;
                s.pinned_by_variable = false;
                s
            });
        }
        services.push(service);
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

/// A service with nothing known yet.
fn blank(project: &Project, name: &str, dir: &str) -> Service {
    Service {
        name: name.to_owned(),
        dir: dir.to_owned(),
        path: project.root.join(dir),
        dev: None,
        prod: None,
        port_var: None,
        port_preferred: None,
        health: None,
        ready_log: None,
        depends_on: Vec::new(),
        environment: BTreeMap::new(),
        framework: None,
        prod_skip: None,
        run_env: RunEnv::default(),
    }
}

/// The recognised server of `command`, with what its command line pins.
fn server_of(command: &str, hint: Option<&'static Framework>, append: Append) -> Option<Server> {
    let found = framework::recognise(command, hint)?;
    let pin = framework::pinned_port(&found.invocation, found.command.port, found.command.pins);
    let by_variable = pin.is_none()
        && found.invocation.words.iter().enumerate().any(|(i, w)| {
            w.contains('$')
                && (found.command.pins.iter().any(|p| {
                    i > 0 && found.invocation.words[i - 1] == *p
                        || w.starts_with(&format!("{}=", p.trim_end_matches('=')))
                }) || (found.command.port == PortStyle::Positional
                    && i > found.invocation.program + 1))
        });
    Some(Server {
        framework: found.framework,
        style: found.command.port,
        pinned: pin,
        pinned_by_variable: by_variable,
        append: if found.invocation.last {
            append
        } else {
            Append::Never
        },
    })
}

/// The service of one package.json: `dev` (else `start`) for development; `start` for
/// production unless the catalogue says it is a development server (CRA's `react-scripts
/// start`), else a `preview` script that runs a production server (`vite preview`); npm's
/// implicit `node server.js` when there is no start script.
fn node_service(
    project: &Project,
    path: &std::path::Path,
    pkg: &crate::project::PackageJson,
) -> Option<Service> {
    let dir = path.parent().unwrap_or(&project.root);
    let runner = crate::gates::build::package_manager(dir);
    let fw = framework::detect(Ecosystem::Node, |p| pkg.dependencies.contains(p));
    // A script that only recompiles on change (a library's `tsc -w`) or hands the task to
    // every workspace (the root's `turbo run dev`, or `concurrently` over workspace scripts)
    // is not a server: the workspaces' own scripts start the servers, each once.
    let has = |s: &str| {
        pkg.scripts.get(s).is_some_and(|c| {
            // `nx serve` at the root of an Nx integrated repository (no workspace of its
            // own) serves the app, it does not fan out.
            let integrated_nx =
                project.detected.package_json.len() == 1 && crate::project::runs_one_nx_target(c);
            let fan_out = pkg.dir == "."
                && (crate::project::fans_out(c)
                    || crate::project::runs_workspace_scripts(c, &pkg.scripts))
                && !integrated_nx;
            !(crate::project::only_watches(c) || fan_out)
        })
    };
    let append = if runner == "npm" {
        Append::AfterDashes
    } else {
        Append::Directly
    };
    let script = |name: &str, mode: Mode| -> Launch {
        let text = pkg.scripts.get(name).map_or("", String::as_str);
        let mut launch = Launch::plain(
            format!("{runner} run {name}"),
            with_node_env(mode),
            format!("{}/package.json script {name}", pkg.dir),
        );
        // A script that runs another script (`npm run start:dev`) does not pass arguments on.
        let nested = framework::segments(text)
            .last()
            .is_some_and(|s| matches!(s.program(), "npm" | "pnpm" | "yarn" | "bun"));
        launch.server = server_of(text, fw, if nested { Append::Never } else { append });
        if let Some(found) = framework::recognise(text, fw) {
            for (k, v) in found.command.env {
                launch.env.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        launch
    };
    let mode_of = |name: &str| {
        pkg.scripts
            .get(name)
            .and_then(|t| framework::recognise(t, fw))
            .map(|r| r.command.mode)
    };
    let mut service = blank(project, &pkg.service_name(), &pkg.dir);
    service.framework = fw;
    service.run_env = RunEnv::find(project, dir);
    if !has("dev") && !has("start") {
        // `npm start` with no start script runs `node server.js` (npm's documented default).
        if !dir.join("server.js").is_file() {
            return None;
        }
        let implicit = |mode: Mode| {
            let mut launch = Launch::plain(
                format!("{runner} start"),
                with_node_env(mode),
                format!(
                    "{}/package.json has no start script: npm start runs node server.js",
                    pkg.dir
                ),
            );
            launch.server = server_of("node server.js", None, Append::Never);
            launch
        };
        service.dev = Some(implicit(Mode::Dev));
        service.prod = Some(implicit(Mode::Prod));
        return Some(service);
    }
    // `start:prod` is the project's own name for its production start (NestJS: `start` runs
    // the sources through a development loader, `start:prod` the compiled output): it wins
    // over a `start` that is not known to be a production server.
    let start_prod_named = has("start:prod")
        && mode_of("start:prod") != Some(framework::Mode::Dev)
        && mode_of("start") != Some(framework::Mode::Prod);
    let start_is_prod =
        !start_prod_named && has("start") && mode_of("start") != Some(framework::Mode::Dev);
    service.dev = Some(
        if has("dev") && mode_of("dev") != Some(framework::Mode::Prod) {
            script("dev", Mode::Dev)
        } else {
            script("start", Mode::Dev)
        },
    );
    if start_is_prod {
        service.prod = Some(script("start", Mode::Prod));
    } else if start_prod_named {
        service.prod = Some(script("start:prod", Mode::Prod));
    } else if let Some(name) = ["preview", "serve", "start:prod"]
        .into_iter()
        .find(|n| has(n) && mode_of(n).is_some_and(|m| m != framework::Mode::Dev))
    {
        service.prod = Some(script(name, Mode::Prod));
    } else if let Some(fw) = fw
        && let Some(why) = fw.no_prod_server
    {
        service.prod_skip = Some(why.to_owned());
    } else if has("start") {
        service.prod_skip = Some(
            "its start script runs a development server and no script starts a production one"
                .to_owned(),
        );
    }
    Some(service)
}

/// Python packages the project declares (requirements*.txt, pyproject.toml, Pipfile), by a
/// plain word search: enough to tell Flask from `FastAPI` from Django.
fn python_framework(project: &Project) -> Option<&'static Framework> {
    let mut text = String::new();
    for name in [
        "requirements.txt",
        "requirements/base.txt",
        "requirements/prod.txt",
        "pyproject.toml",
        "Pipfile",
    ] {
        if let Some(t) = crate::gates::integration::read_small(&project.root.join(name)) {
            text.push_str(&t.to_ascii_lowercase());
            text.push('\n');
        }
    }
    let words: std::collections::BTreeSet<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    framework::detect(Ecosystem::Python, |p| words.contains(p))
}

/// A Python web app with no Procfile: a module that creates `FastAPI(…)` (run by uvicorn),
/// `Flask(…)` (`flask run` in development, gunicorn in production when installed) or a
/// Django `manage.py`.
fn python_app(project: &Project) -> Option<Service> {
    let root = &project.root;
    let run_env = RunEnv::find(project, root);
    let mut service = blank(project, &project.name, ".");
    if root.join("manage.py").is_file() {
        let dev = "python manage.py runserver --noreload";
        let mut launch = Launch::plain(dev, BTreeMap::new(), "manage.py (Django)".to_owned());
        launch.server = server_of(dev, framework::by_id("django"), Append::Directly);
        service.dev = Some(launch);
        service.framework = framework::by_id("django");
        let wsgi = std::fs::read_dir(root).ok()?.flatten().find_map(|e| {
            let p = e.path();
            p.join("wsgi.py")
                .is_file()
                .then(|| e.file_name().to_string_lossy().into_owned())
        });
        match wsgi {
            Some(project_dir) if run_env.has("gunicorn") => {
                let cmd = format!("gunicorn {project_dir}.wsgi");
                let mut launch = Launch::plain(cmd.clone(), BTreeMap::new(), format!("{project_dir}/wsgi.py with gunicorn"));
                launch.server = server_of(&cmd, framework::by_id("gunicorn"), Append::Directly);
                service.prod = Some(launch);
            }
            _ => service.prod_skip = Some("manage.py runserver is Django's development server, and no WSGI server (gunicorn) is installed to run it in production".to_owned()),
        }
        service.run_env = run_env;
        return Some(service);
    }
    for file in [
        "main.py",
        "app.py",
        "asgi.py",
        "wsgi.py",
        "server.py",
        "app/main.py",
        "src/main.py",
        "api/main.py",
        "app/__init__.py",
    ] {
        let Some(text) = crate::gates::integration::read_small(&root.join(file)) else {
            continue;
        };
        let module = file
            .trim_end_matches(".py")
            .trim_end_matches("/__init__")
            .replace('/', ".");
        let Some((var, kind)) = app_variable(&text) else {
            continue;
        };
        let target = format!("{module}:{var}");
        let source = format!("{file} creates {kind}() as {var}");
        let launch = |cmd: String, env: BTreeMap<String, String>, fw: &str| {
            let mut l = Launch::plain(cmd.clone(), env, source.clone());
            l.server = server_of(&cmd, framework::by_id(fw), Append::Directly);
            l
        };
        if kind == "FastAPI" || kind == "Starlette" {
            service.dev = Some(launch(
                format!("uvicorn {target}"),
                BTreeMap::new(),
                "fastapi",
            ));
            service.prod = Some(launch(
                format!("uvicorn {target}"),
                BTreeMap::new(),
                "fastapi",
            ));
            service.framework = framework::by_id("fastapi");
        } else {
            let env = BTreeMap::from([("FLASK_APP".to_owned(), target.clone())]);
            service.dev = Some(launch("flask run".to_owned(), env, "flask"));
            service.framework = framework::by_id("flask");
            if run_env.has("gunicorn") {
                service.prod = Some(launch(
                    format!("gunicorn {target}"),
                    BTreeMap::new(),
                    "gunicorn",
                ));
            } else {
                service.prod_skip = Some("flask run is Flask's development server, and no WSGI server (gunicorn) is installed to run it in production".to_owned());
            }
        }
        service.run_env = run_env;
        return Some(service);
    }
    None
}

/// `app = FastAPI(` / `application = Flask(__name__)`: the variable and the class.
fn app_variable(text: &str) -> Option<(String, &'static str)> {
    for line in text.lines() {
        let Some((lhs, rhs)) = line.split_once('=') else {
            continue;
        };
        let var = lhs.trim();
        if var.is_empty()
            || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || line.starts_with(char::is_whitespace)
        {
            continue;
        }
        let rhs = rhs.trim_start();
        for kind in ["FastAPI", "Starlette", "Flask"] {
            if rhs.starts_with(&format!("{kind}(")) || rhs.contains(&format!(".{kind}(")) {
                return Some((var.to_owned(), kind));
            }
        }
    }
    None
}

/// The command the root Dockerfile's image runs (its final stage's `ENTRYPOINT` and `CMD`, see
/// [`crate::project::Dockerfile::command`]) as a shell line. A program named by its path inside
/// the image (`/usr/local/bin/node`, `/app/.venv/bin/gunicorn`, `/app/start.sh`) is the project's
/// file of that name when the project root has one (the image copied it there), else looked up
/// on `PATH` by its name, which puts the project's venv and `node_modules/.bin` first. An
/// argument the image has only by a copy (`COPY dist/api api/`, then `node api`) is the path it
/// was copied from (`node dist/api`).
fn dockerfile_cmd(project: &Project) -> Option<String> {
    let path = project.root.join("Dockerfile");
    let dockerfile = crate::project::dockerfile_read(&project.root, &path).ok()?;
    let on_path = |program: &str| -> String {
        match program.strip_prefix('/').and_then(|p| p.rsplit('/').next()) {
            Some(name) if project.root.join(name).is_file() => format!("./{name}"),
            Some(name) => name.to_owned(),
            None => program.to_owned(),
        }
    };
    // An argument naming a path the project does not have, which the image copied there
    // from one it does (`COPY dist/api api/` … `CMD ["node", "api"]`), is the project's path.
    let here = |arg: String| -> String {
        if arg.starts_with('-') || arg.contains('=') || project.root.join(&arg).exists() {
            return arg;
        }
        let is_file = |p: &str| project.root.join(p).is_file();
        match dockerfile.project_path(&arg, is_file) {
            Some(path) if path != "." && path != arg.trim_start_matches("./") => path,
            _ => arg,
        }
    };
    match dockerfile.command()? {
        DockerfileForm::Shell(line) => {
            let (program, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let rest: Vec<String> = rest.split(' ').map(|w| here(w.to_owned())).collect();
            Some(
                format!("{} {}", on_path(program), rest.join(" "))
                    .trim_end()
                    .to_owned(),
            )
        }
        DockerfileForm::Exec(words) => {
            let (program, args) = words.split_first()?;
            Some(
                std::iter::once(on_path(program))
                    .chain(args.iter().cloned().map(here))
                    .map(|w| {
                        if !w.is_empty()
                            && w.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-_./:=".contains(c))
                        {
                            w
                        } else {
                            format!("'{}'", w.replace('\'', "'\\''"))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
    }
}

fn plain(project: &Project, name: &str, dev: &str, prod: &str, source: &str) -> Service {
    let launch = |c: &str, mode: Mode| {
        Launch::plain(c, BTreeMap::new(), format!("{source} ({})", mode.name()))
    };
    let mut service = blank(project, name, ".");
    service.dev = Some(launch(dev, Mode::Dev));
    service.prod = Some(launch(prod, Mode::Prod));
    service.run_env = RunEnv::find(project, &project.root);
    service
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
