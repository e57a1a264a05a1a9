//! Port declarations gathered from every source the ports gate reads, in one shape.

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
    /// Classify the host-side expression.
    pub fn expr(&self) -> PortExpr {
        classify(&self.expression)
    }

    /// The variable name the suggestion uses: `BACKEND_PORT`, or `BACKEND_5672_PORT` for a
    /// service's second port.
    pub fn suggested_var(&self, index_in_service: usize) -> String {
        let base: String = self
            .service
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        match (&self.target, index_in_service) {
            (Some(target), i) if i > 0 => format!("{base}_{}_PORT", target.replace('-', "_")),
            _ => format!("{base}_PORT"),
        }
    }

    /// `file:line` for people.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// Interpolate the host side against the project's environment: the first and last port.
    pub fn effective(&self, project: &Project) -> Result<Option<(u16, u16)>, String> {
        if self.expression.is_empty() {
            return Ok(None);
        }
        let template = Template::parse(&self.expression).map_err(|e| e.to_string())?;
        let value = template
            .render(&|name| project.env.get(name))
            .map_err(|e| e.to_string())?;
        parse_range(&value)
            .map(Some)
            .ok_or_else(|| format!("`{value}` is not a port or port range"))
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
                for port in &pkg.ports {
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
                        published: true,
                    });
                }
            }
            Err(e) => out.errors.push(e),
        }
    }

    if let Some((path, text)) = &project.config_file {
        let rel = project.relative(path);
        for (name, service) in &project.config.services {
            if let Some(port) = &service.port {
                let (line, column) = crate::project::line_col(text, port.span().start);
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
                });
            }
        }
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
        column: Some(port.column),
        expression: port.published.clone().unwrap_or_default(),
        raw: port.raw.clone(),
        target: Some(port.target.clone()),
        protocol: port.protocol.clone(),
        host_ip: port.host_ip.clone(),
        published: port.published.is_some(),
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
