//! Port declarations gathered from every source the ports gate reads, in one shape.

use std::collections::{BTreeMap, HashMap};

use crate::interp::{Modifier, Template};
use crate::project::{
    ComposePort, FileError, K8sPortKind, Project, dockerfile_read, k8s_read, package_json_read,
};
use crate::report::PortAssignment;

/// Where a declaration was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Compose,
    K8s(K8sPortKind),
    Dockerfile,
    Script,
    Config,
}

/// Why a declaration's host port cannot be worked out from the project's environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EffectiveError {
    /// The expression is not valid compose interpolation, or a required variable is unset.
    #[error(transparent)]
    Interp(#[from] crate::interp::InterpError),
    /// It interpolates to something that is not a port or `first-last` range.
    #[error("`{value}` is not a port or port range")]
    NotAPort {
        /// The interpolated text.
        value: String,
    },
}

/// One declared port, host side as written.
#[derive(Debug, Clone)]
pub struct PortDecl {
    pub service: String,
    /// Declarations in the same scope run together, so equal host ports collide: one compose
    /// file set, the Kubernetes manifests, the npm scripts, the services of devops-agent.toml.
    pub scope: String,
    pub origin: Origin,
    pub file: String,
    pub line: u64,
    pub column: Option<u64>,
    /// The host-side expression as written (`8080`, `${WEB_PORT:-8080}`); empty when the port
    /// is not published on the host.
    pub expression: String,
    /// The whole entry as written, for suggestions (`"127.0.0.1:8080:80/udp"`).
    pub raw: String,
    pub target: Option<String>,
    pub protocol: String,
    pub host_ip: Option<String>,
    /// Bound on the host's own addresses (compose published ports, hostPort, nodePort, dev
    /// server ports) rather than only inside a container or cluster.
    pub published: bool,
    /// How the declaration is written in its file, for a fix in that file's own syntax.
    pub written: Written,
    /// The variable a fix for this declaration uses: its own, unless another service shares
    /// it, else a fresh name no other declaration uses (`API_PORT`, `API_9229_PORT`,
    /// `WEB_NODE_PORT`).
    pub fix_var: String,
}

/// The file-specific shape of a declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A compose entry: the short syntax at `line:column`, or the long syntax's `published:`.
    Compose { long: bool },
    /// A `hostPort:`/`nodePort:` value, and whether it is a quoted string.
    K8s { quoted: bool },
    /// One word of an `EXPOSE` instruction, with the `ARG`/`ENV` values in scope.
    Dockerfile {
        words: Vec<String>,
        index: usize,
        continued: bool,
        defaults: BTreeMap<String, String>,
    },
    /// A port pinned in an npm script: the script, its command and the value's byte offset.
    Script {
        name: String,
        command: std::sync::Arc<str>,
        offset: usize,
        test_only: bool,
    },
    /// `port = "…"` of a `[services.NAME]` table.
    Config,
}

/// How a host-side expression gets its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortExpr {
    /// A fixed port or range.
    Literal,
    /// From a variable with a default: the configurable form.
    EnvWithDefault { var: String, default: String },
    /// From a variable that must be set (`${VAR:?msg}`): configurable, and required.
    EnvRequired { var: String },
    /// From a variable with no default: unset means an empty, invalid port.
    EnvNoDefault { var: String },
    /// Not a valid interpolation expression.
    Invalid(String),
}

impl PortDecl {
    /// Classify the host-side expression. In a Dockerfile, `${PORT}` takes the default of the
    /// `ARG PORT=3000` or `ENV PORT=3000` in scope, as Docker substitutes it.
    pub fn expr(&self) -> PortExpr {
        let expr = classify(&self.expression);
        if let (PortExpr::EnvNoDefault { var }, Written::Dockerfile { defaults, .. }) =
            (&expr, &self.written)
            && let Some(default) = defaults.get(var).filter(|d| !d.is_empty())
            && self.plain_reference()
        {
            return PortExpr::EnvWithDefault {
                var: var.clone(),
                default: default.clone(),
            };
        }
        expr
    }

    /// Whether the expression is a bare `$VAR`/`${VAR}` (what `envsubst` and a Dockerfile's
    /// `ARG` default substitute), not `${VAR:+x}` or text around it.
    pub(crate) fn plain_reference(&self) -> bool {
        Template::parse(&self.expression).is_ok_and(|t| {
            matches!(t.segments(), [crate::interp::Segment::Var(v)] if v.modifier == Modifier::None)
        })
    }

    /// A Kubernetes `${VAR}` value rendered by `envsubst`: unset, the field is empty and the
    /// cluster picks a node port (or publishes no host port), so it needs no default.
    pub(crate) fn is_envsubst_reference(&self) -> bool {
        matches!(self.written, Written::K8s { quoted: false }) && self.plain_reference()
    }

    /// `file:line` for people.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// Interpolate the host side against the project's environment: the first and last port.
    pub fn effective(&self, project: &Project) -> Result<Option<(u16, u16)>, EffectiveError> {
        if self.expression.is_empty() {
            return Ok(None);
        }
        if let PortExpr::EnvNoDefault { var } = self.expr()
            && self.is_envsubst_reference()
            && project.env.get(&var).is_none_or(|v| v.is_empty())
        {
            return Ok(None);
        }
        let template = Template::parse(&self.expression)?;
        let value = template.render(&|name| project.env.get(name))?;
        match parse_range(&value) {
            Some(range) => Ok(Some(range)),
            None => Err(EffectiveError::NotAPort { value }),
        }
    }

    /// The report's view of this declaration.
    pub fn assignment(&self, project: &Project) -> PortAssignment {
        let (variable, default) = match self.expr() {
            PortExpr::EnvWithDefault { var, default } => {
                (Some(var), parse_range(&default).map(|(a, _)| a))
            }
            PortExpr::EnvRequired { var } | PortExpr::EnvNoDefault { var } => (Some(var), None),
            PortExpr::Literal | PortExpr::Invalid(_) => (None, None),
        };
        let effective = self.effective(project).ok().flatten();
        PortAssignment {
            service: self.service.clone(),
            expression: self.expression.clone(),
            variable,
            default,
            effective: effective.map(|(a, _)| a),
            effective_end: effective.and_then(|(a, b)| (a != b).then_some(b)),
            target: self.target.as_deref().and_then(parse_range).map(|(a, _)| a),
            protocol: self.protocol.clone(),
            host_ip: self.host_ip.clone(),
            source: self.location(),
        }
    }
}

/// Classify a host-side port expression.
pub fn classify(expression: &str) -> PortExpr {
    let template = match Template::parse(expression) {
        Ok(t) => t,
        Err(e) => return PortExpr::Invalid(e.to_string()),
    };
    if template.is_literal() {
        return PortExpr::Literal;
    }
    let Some(var) = template.vars().into_iter().next() else {
        return PortExpr::Literal;
    };
    match &var.modifier {
        Modifier::DefaultIfUnsetOrEmpty(_) | Modifier::DefaultIfUnset(_) => {
            match var.literal_default() {
                Some(default) if !default.is_empty() => PortExpr::EnvWithDefault {
                    var: var.name.clone(),
                    default,
                },
                _ => PortExpr::EnvNoDefault {
                    var: var.name.clone(),
                },
            }
        }
        Modifier::ErrorIfUnsetOrEmpty(_) | Modifier::ErrorIfUnset(_) => PortExpr::EnvRequired {
            var: var.name.clone(),
        },
        Modifier::None | Modifier::AltIfSetNonEmpty(_) | Modifier::AltIfSet(_) => {
            PortExpr::EnvNoDefault {
                var: var.name.clone(),
            }
        }
    }
}

/// `3000` → (3000, 3000); `8000-8010` → (8000, 8010). Port 0 and reversed ranges are invalid.
pub(crate) fn parse_range(text: &str) -> Option<(u16, u16)> {
    let text = text.trim();
    let (a, b) = if let Some((a, b)) = text.split_once('-') {
        (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)
    } else {
        let p = text.parse::<u16>().ok()?;
        (p, p)
    };
    (a > 0 && a <= b).then_some((a, b))
}

/// Everything the ports gate read: declarations, files it could not read, and templates it
/// did not evaluate.
#[derive(Debug, Clone, Default)]
pub struct Declarations {
    pub ports: Vec<PortDecl>,
    pub errors: Vec<FileError>,
    /// Files read (relative paths), for evidence.
    pub files: Vec<String>,
    /// Helm templates left unevaluated.
    pub templates: Vec<String>,
}

/// Port declarations from compose files, Kubernetes manifests, Dockerfiles, package.json
/// scripts and devops-agent.toml: read on the first call, then shared by every gate of the run
/// (they depend on the files and the config, not on the environment).
pub fn collect(project: &Project) -> &Declarations {
    project.port_decls.get_or_init(|| read_all(project))
}

fn read_all(project: &Project) -> Declarations {
    let mut out = Declarations::default();
    let root = &project.root;
    let detected = &project.detected;

    let compose_paths: Vec<_> = detected
        .compose
        .iter()
        .filter(|p| !project.ignored(&project.relative(p)))
        .cloned()
        .collect();
    let (sets, errors) = crate::project::compose_group(root, &compose_paths);
    out.errors.extend(errors);
    for set in sets {
        for file in &set.files {
            out.files.push(file.path.clone());
            for (service, ports) in &file.services {
                for port in ports {
                    out.ports
                        .push(from_compose(&set.name, &file.path, service, port));
                }
            }
        }
    }

    for path in &detected.k8s {
        let rel = project.relative(path);
        if project.ignored(&rel) {
            continue;
        }
        match k8s_read(root, path) {
            Ok(manifest) if manifest.template => out.templates.push(manifest.path),
            Ok(manifest) => {
                out.files.push(manifest.path.clone());
                for port in manifest.ports {
                    let name = port.object.rsplit('/').next().unwrap_or("").to_owned();
                    let service = if port.container.is_empty() || port.container == name {
                        name
                    } else {
                        format!("{name}/{}", port.container)
                    };
                    out.ports.push(PortDecl {
                        service,
                        scope: "kubernetes".to_owned(),
                        origin: Origin::K8s(port.kind),
                        file: manifest.path.clone(),
                        line: port.line,
                        column: None,
                        expression: port.value.clone(),
                        raw: format!("{}: {}", port.kind.as_str(), port.value),
                        target: None,
                        protocol: port.protocol,
                        host_ip: None,
                        published: port.kind.is_published(),
                        written: Written::K8s {
                            quoted: port.quoted,
                        },
                        fix_var: String::new(),
                    });
                }
            }
            Err(e) => out.errors.push(e),
        }
    }

    for path in &detected.dockerfiles {
        let rel = project.relative(path);
        if project.ignored(&rel) {
            continue;
        }
        match dockerfile_read(root, path) {
            Ok(dockerfile) => {
                out.files.push(dockerfile.path.clone());
                let service = path
                    .parent()
                    .filter(|d| *d != root.as_path())
                    .and_then(|d| d.file_name())
                    .map_or_else(
                        || project.name.clone(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                for expose in dockerfile.exposes {
                    let (value, protocol) = match expose.value.split_once('/') {
                        Some((v, p)) => (v.to_owned(), p.to_ascii_lowercase()),
                        None => (expose.value.clone(), "tcp".to_owned()),
                    };
                    out.ports.push(PortDecl {
                        service: service.clone(),
                        scope: "dockerfile".to_owned(),
                        origin: Origin::Dockerfile,
                        file: dockerfile.path.clone(),
                        line: expose.line,
                        column: None,
                        expression: value,
                        raw: format!("EXPOSE {}", expose.value),
                        target: None,
                        protocol,
                        host_ip: None,
                        published: false,
                        written: Written::Dockerfile {
                            words: expose.words,
                            index: expose.index,
                            continued: expose.continued,
                            defaults: expose.defaults,
                        },
                        fix_var: String::new(),
                    });
                }
            }
            Err(e) => out.errors.push(e),
        }
    }

    for path in &detected.package_json {
        let rel = project.relative(path);
        if project.ignored(&rel) {
            continue;
        }
        match package_json_read(root, path) {
            Ok(pkg) => {
                out.files.push(pkg.path.clone());
                let service = pkg.service_name();
                for port in pkg.ports {
                    out.ports.push(PortDecl {
                        service: service.clone(),
                        scope: "npm scripts".to_owned(),
                        origin: Origin::Script,
                        file: pkg.path.clone(),
                        line: port.line,
                        column: None,
                        expression: port.value.clone(),
                        raw: format!(
                            "{} script: {}{}",
                            port.script,
                            port.form,
                            spaced(&port.form, &port.value)
                        ),
                        target: None,
                        protocol: "tcp".to_owned(),
                        host_ip: None,
                        // A test run's server is thrown away with the run: nothing to publish.
                        published: !port.test_only,
                        written: Written::Script {
                            name: port.script,
                            command: port.command,
                            offset: port.offset,
                            test_only: port.test_only,
                        },
                        fix_var: String::new(),
                    });
                }
            }
            Err(e) => out.errors.push(e),
        }
    }

    if let Some((path, text)) = &project.config_file {
        let rel = project.relative(path);
        let index = crate::project::LineIndex::new(text);
        for (name, service) in &project.config.services {
            if let Some(port) = &service.port {
                let (line, column) = index.line_col(text, port.span().start);
                out.ports.push(PortDecl {
                    service: name.clone(),
                    scope: "devops-agent.toml".to_owned(),
                    origin: Origin::Config,
                    file: rel.clone(),
                    line,
                    column: Some(column),
                    expression: port.get_ref().clone(),
                    raw: format!("port = \"{}\"", port.get_ref()),
                    target: None,
                    protocol: "tcp".to_owned(),
                    host_ip: None,
                    published: true,
                    written: Written::Config,
                    fix_var: String::new(),
                });
            }
        }
    }
    name_fix_vars(&mut out.ports);
    out
}

/// Give every declaration the variable its fix uses. A declaration keeps its own variable
/// unless a different service (or a different port of its own) reads it too; otherwise it gets
/// the first free name of `{SERVICE}_PORT`, `{SERVICE}_{TARGET}_PORT`, `{SERVICE}_{TARGET}_{N}_PORT`
/// (Kubernetes: `_NODE_PORT`, `_HOST_PORT`). A name is free when no declaration reads it and no
/// earlier fix took it, or when it stands for the same service and value (one service started
/// two ways, e.g. by compose and by its `dev` script).
fn name_fix_vars(decls: &mut [PortDecl]) {
    // Every variable read anywhere, with who reads it for which value.
    let mut owners: HashMap<String, (String, String)> = HashMap::new();
    let mut shared: HashMap<String, bool> = HashMap::new();
    let exprs: Vec<PortExpr> = decls.iter().map(PortDecl::expr).collect();
    for (decl, expr) in decls.iter().zip(&exprs) {
        if let Some(var) = expr_var(expr) {
            let identity = (decl.service.clone(), decl.expression.clone());
            match owners.get(var) {
                Some(existing) if *existing != identity => {
                    shared.insert(var.to_owned(), true);
                }
                Some(_) => {}
                None => {
                    owners.insert(var.to_owned(), identity);
                }
            }
        }
    }
    for (decl, expr) in decls.iter_mut().zip(&exprs) {
        if let Some(var) = expr_var(expr)
            && !shared.get(var).copied().unwrap_or(false)
        {
            var.clone_into(&mut decl.fix_var);
            continue;
        }
        let value = expr_value(expr, decl);
        let identity = (decl.service.clone(), value.clone());
        let base = upper_ident(&decl.service);
        let suffix = match decl.origin {
            Origin::K8s(crate::project::K8sPortKind::NodePort) => "NODE_PORT",
            Origin::K8s(crate::project::K8sPortKind::HostPort) => "HOST_PORT",
            _ => "PORT",
        };
        let qualifier: String = decl
            .target
            .as_deref()
            .unwrap_or(&value)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        // Generated lazily: the first candidate is nearly always free.
        let name = [
            format!("{base}_{suffix}"),
            format!("{base}_{qualifier}_{suffix}"),
        ]
        .into_iter()
        .chain((2..1000).map(|n| format!("{base}_{qualifier}_{n}_{suffix}")))
        .find(|c| owners.get(c).is_none_or(|o| *o == identity))
        .unwrap_or_else(|| format!("{base}_{suffix}"));
        owners.insert(name.clone(), identity);
        decl.fix_var = name;
    }
}

fn expr_var(expr: &PortExpr) -> Option<&str> {
    match expr {
        PortExpr::EnvWithDefault { var, .. }
        | PortExpr::EnvRequired { var }
        | PortExpr::EnvNoDefault { var } => Some(var),
        PortExpr::Literal | PortExpr::Invalid(_) => None,
    }
}

/// The port a declaration stands for, for naming: its literal value or its default.
fn expr_value(expr: &PortExpr, decl: &PortDecl) -> String {
    match expr {
        PortExpr::EnvWithDefault { default, .. } => default.clone(),
        _ => decl.expression.clone(),
    }
}

/// `web-app/x` → `WEB_APP_X`; a leading digit gets a `_` so the result is a valid name.
pub(crate) fn upper_ident(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn spaced(form: &str, value: &str) -> String {
    if form.ends_with('=') {
        value.to_owned()
    } else {
        format!(" {value}")
    }
}

fn from_compose(set: &str, file: &str, service: &str, port: &ComposePort) -> PortDecl {
    PortDecl {
        service: service.to_owned(),
        scope: format!("compose:{set}"),
        origin: Origin::Compose,
        file: file.to_owned(),
        line: port.line,
        column: (port.column > 0).then_some(port.column),
        expression: port.published.clone().unwrap_or_default(),
        raw: port.raw.clone(),
        target: Some(port.target.clone()),
        protocol: port.protocol.clone(),
        host_ip: port.host_ip.clone(),
        published: port.published.is_some(),
        written: Written::Compose { long: port.long },
        fix_var: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_forms() {
        assert_eq!(classify("8080"), PortExpr::Literal);
        assert_eq!(
            classify("${WEB_PORT:-8080}"),
            PortExpr::EnvWithDefault {
                var: "WEB_PORT".into(),
                default: "8080".into()
            }
        );
        assert_eq!(
            classify("${WEB_PORT}"),
            PortExpr::EnvNoDefault {
                var: "WEB_PORT".into()
            }
        );
        assert_eq!(
            classify("${WEB_PORT:?set it}"),
            PortExpr::EnvRequired {
                var: "WEB_PORT".into()
            }
        );
        assert!(matches!(classify("${WEB_PORT"), PortExpr::Invalid(_)));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("3000"), Some((3000, 3000)));
        assert_eq!(parse_range("8000-8010"), Some((8000, 8010)));
        assert_eq!(parse_range("0"), None);
        assert_eq!(parse_range("9-1"), None);
        assert_eq!(parse_range("http"), None);
    }
}
