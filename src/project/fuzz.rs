//! Entry points for the fuzz targets in `fuzz/` (and the regression tests of what they found):
//! each runs one project-file parser on arbitrary input. They must never panic, hang or
//! overflow the stack; results are thrown away.

/// package.json scripts and the ports they pin.
pub fn package_json(text: &str) -> bool {
    super::package_json::parse("package.json", ".", text).is_ok()
}

/// A compose file, alone and as the override of itself (`depends_on` checked across the set).
pub fn compose(text: &str) {
    if let Ok(file) = super::compose::parse("compose.yaml", text) {
        let _ = super::compose::dependency_errors(&[file.clone(), file]);
    }
}

/// A Kubernetes manifest (multi-document YAML).
pub fn k8s(text: &str) {
    let _ = super::k8s::parse("deploy.yaml", text);
}

/// A Dockerfile's `EXPOSE` lines.
pub fn dockerfile(text: &str) {
    let _ = super::dockerfile::parse("Dockerfile", text);
}

/// devops-agent.toml.
pub fn config(text: &str) {
    let _ = super::Config::parse(text);
}
