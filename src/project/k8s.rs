//! Kubernetes manifests (multi-document YAML): the ports pods and services expose.
//!
//! Only `hostPort` and a Service's `nodePort` are published on a machine's own ports; container
//! and service ports live inside the cluster network. Manifests rendered by `envsubst` may carry
//! `${WEB_NODE_PORT}` expressions, kept here as written (with whether they were quoted). Helm templates (`{{ … }}`) are
//! not YAML until rendered and are reported as skipped rather than as errors.

use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::FileError;
use super::compose::{read_text, relative};
use super::yaml::{self, MAX_YAML_BYTES, Scalar};

/// One parsed manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Path relative to the project.
    pub path: String,
    /// True for a Helm/Go template that was not parsed.
    pub template: bool,
    pub ports: Vec<K8sPort>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K8sPortKind {
    ContainerPort,
    HostPort,
    ServicePort,
    NodePort,
}

impl K8sPortKind {
    pub fn as_str(self) -> &'static str {
        match self {
            K8sPortKind::ContainerPort => "containerPort",
            K8sPortKind::HostPort => "hostPort",
            K8sPortKind::ServicePort => "port",
            K8sPortKind::NodePort => "nodePort",
        }
    }

    /// Whether the port is bound on a node's own address (and so can collide there).
    pub fn is_published(self) -> bool {
        matches!(self, K8sPortKind::HostPort | K8sPortKind::NodePort)
    }
}

#[derive(Debug, Clone)]
pub struct K8sPort {
    /// `Deployment/web`, `Service/api`, …
    pub object: String,
    /// Container name for pod ports, empty for services.
    pub container: String,
    pub kind: K8sPortKind,
    /// The value as written.
    pub value: String,
    /// Written as a quoted YAML string: after `envsubst` it is still a string, and the API
    /// server rejects a string where it wants an integer.
    pub quoted: bool,
    pub protocol: String,
    pub line: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    kind: Option<String>,
    metadata: Option<Metadata>,
    spec: Option<Spec>,
}

#[derive(Deserialize)]
struct Metadata {
    name: Option<Scalar>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    containers: Option<Vec<Container>>,
    init_containers: Option<Vec<Container>>,
    template: Option<Box<Template>>,
    job_template: Option<Box<Template>>,
    ports: Option<Vec<ServicePort>>,
}

#[derive(Deserialize)]
struct Template {
    spec: Option<Spec>,
}

#[derive(Deserialize)]
struct Container {
    name: Option<Scalar>,
    ports: Option<Vec<ContainerPort>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[expect(
    clippy::struct_field_names,
    reason = "the fields mirror the Kubernetes API names"
)]
struct ContainerPort {
    container_port: Option<Spanned<Scalar>>,
    host_port: Option<Spanned<Scalar>>,
    protocol: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServicePort {
    port: Option<Spanned<Scalar>>,
    node_port: Option<Spanned<Scalar>>,
    protocol: Option<String>,
}

/// Read one manifest file (all its documents).
pub fn read(root: &Path, path: &Path) -> Result<Manifest, FileError> {
    let rel = relative(root, path);
    let text = read_text(&rel, path, MAX_YAML_BYTES)?;
    parse(&rel, &text)
}

pub(crate) fn parse(rel: &str, text: &str) -> Result<Manifest, FileError> {
    if text.contains("{{") {
        return Ok(Manifest {
            path: rel.to_owned(),
            template: true,
            ports: Vec::new(),
        });
    }
    let docs: Vec<Option<Doc>> = serde_saphyr::from_multiple_with_options(text, yaml::options())
        .map_err(|e| yaml::error(rel, &e))?;
    let mut ports = Vec::new();
    for doc in docs.into_iter().flatten() {
        let object = format!(
            "{}/{}",
            doc.kind.as_deref().unwrap_or("Object"),
            doc.metadata
                .and_then(|m| m.name)
                .map_or_else(|| "unnamed".to_owned(), |n| n.0)
        );
        if let Some(spec) = doc.spec {
            collect(&object, spec, &mut ports);
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    for port in &mut ports {
        let key = format!("{}:", port.kind.as_str());
        port.quoted = usize::try_from(port.line)
            .ok()
            .and_then(|l| lines.get(l.checked_sub(1)?))
            .and_then(|l| l.find(&key).map(|at| &l[at + key.len()..]))
            .is_some_and(|v| v.trim_start().starts_with(['"', '\'']));
    }
    Ok(Manifest {
        path: rel.to_owned(),
        template: false,
        ports,
    })
}

fn collect(object: &str, spec: Spec, out: &mut Vec<K8sPort>) {
    let containers = spec
        .containers
        .into_iter()
        .flatten()
        .chain(spec.init_containers.into_iter().flatten());
    for container in containers {
        let name = container.name.map(|n| n.0).unwrap_or_default();
        for port in container.ports.into_iter().flatten() {
            let protocol = port
                .protocol
                .unwrap_or_else(|| "TCP".to_owned())
                .to_ascii_lowercase();
            for (kind, value) in [
                (K8sPortKind::ContainerPort, port.container_port),
                (K8sPortKind::HostPort, port.host_port),
            ] {
                if let Some(v) = value {
                    out.push(K8sPort {
                        object: object.to_owned(),
                        container: name.clone(),
                        kind,
                        value: v.value.0,
                        quoted: false,
                        protocol: protocol.clone(),
                        line: v.defined.line(),
                    });
                }
            }
        }
    }
    for port in spec.ports.into_iter().flatten() {
        let protocol = port
            .protocol
            .unwrap_or_else(|| "TCP".to_owned())
            .to_ascii_lowercase();
        for (kind, value) in [
            (K8sPortKind::ServicePort, port.port),
            (K8sPortKind::NodePort, port.node_port),
        ] {
            if let Some(v) = value {
                out.push(K8sPort {
                    object: object.to_owned(),
                    container: String::new(),
                    kind,
                    value: v.value.0,
                    quoted: false,
                    protocol: protocol.clone(),
                    line: v.defined.line(),
                });
            }
        }
    }
    for template in [spec.template, spec.job_template].into_iter().flatten() {
        if let Some(inner) = template.spec {
            collect(object, inner, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_with_cronjob_and_service() {
        let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: NodePort\n  ports:\n    - port: 80\n      nodePort: 30080\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: job\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: c\n              ports:\n                - containerPort: \"${JOB_PORT:-9000}\"\n                  hostPort: 9000\n";
        let m = parse("k8s/app.yaml", yaml).unwrap();
        let kinds: Vec<_> = m
            .ports
            .iter()
            .map(|p| (p.kind, p.value.as_str(), p.line))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (K8sPortKind::ServicePort, "80", 8),
                (K8sPortKind::NodePort, "30080", 9),
                (K8sPortKind::ContainerPort, "${JOB_PORT:-9000}", 23),
                (K8sPortKind::HostPort, "9000", 24),
            ]
        );
        assert_eq!(m.ports[2].object, "CronJob/job");
    }

    #[test]
    fn helm_templates_are_not_parsed() {
        let m = parse(
            "chart/templates/d.yaml",
            "kind: Deployment\nspec: {{ .Values.x }}\n",
        )
        .unwrap();
        assert!(m.template);
    }
}
