//! Entry points for the fuzz targets in `fuzz/` (and the regression tests of what they found):
//! nginx configuration and served HTML on arbitrary input. They must never panic, hang or
//! overflow the stack; results are thrown away.

/// nginx.conf: parsed, summarised, and every `proxy_pass` target split.
pub fn nginx(text: &str) {
    if let Ok(config) = super::nginx::parse_str(text, "nginx.conf") {
        let summary = super::nginx::summarize(&config);
        for location in &summary.locations {
            if let Some((url, _)) = &location.proxy_pass {
                let _ = super::nginx::proxy_target(url);
            }
        }
        for servers in summary.upstreams.values() {
            for server in servers {
                let _ = super::nginx::host_port(&server.address);
            }
        }
    }
}

/// A served page's asset references and the Content-Type each should have.
pub fn html(text: &str) {
    for asset in super::html::asset_refs(text) {
        let _ = super::html::expected_type(&asset.url);
        let _ = super::html::is_hashed(&asset.url);
    }
}
