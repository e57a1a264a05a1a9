//! The evidence contract, written out a second time: one mirror struct per check id with
//! `deny_unknown_fields`, parsed from every report the tests produce ([`assert_evidence`] runs
//! inside `common::assert_valid`). A field renamed, added or retyped in a check's evidence
//! struct fails here even when the schema was regenerated to match — the schema follows the
//! code, this file follows the consumers.
//!
//! A mirror field is an `Option` only where the check leaves the field out (or writes `null`)
//! on some path; the rest must be present.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde::de::IgnoredAny;
use serde_json::Value;

/// A JSON value whose shape this file does not pin (a nested record the check's own tests
/// assert on); present, any type.
type Any = IgnoredAny;

/// Parse every check's evidence in `report` with its mirror; panic naming the check and the
/// field when one does not match.
pub(crate) fn assert_evidence(report: &Value) {
    for gate in report["gates"].as_array().into_iter().flatten() {
        for check in gate["checks"].as_array().into_iter().flatten() {
            let id = check["id"].as_str().unwrap_or_default();
            let evidence = &check["evidence"];
            if let Err(e) = parse(id, evidence) {
                panic!("{id}: evidence does not match its mirror: {e}\n{evidence:#}");
            }
        }
    }
}

/// Parse `evidence` with the mirror of check `id`. An empty object is the evidence of a check
/// that did not run; an integration check that did not run carries only the gate's target.
fn parse(id: &str, evidence: &Value) -> Result<(), String> {
    if evidence.as_object().is_some_and(serde_json::Map::is_empty) {
        return Ok(());
    }
    let mirror = mirror(id).ok_or_else(|| format!("no mirror for check id {id:?}"))?;
    mirror(evidence).or_else(|e| {
        if id.starts_with("integration.") && strict::<IntegrationTarget>(evidence).is_ok() {
            Ok(())
        } else {
            Err(e)
        }
    })
}

fn strict<T: DeserializeOwned>(evidence: &Value) -> Result<(), String> {
    T::deserialize(evidence)
        .map(drop)
        .map_err(|e| e.to_string())
}

type Mirror = fn(&Value) -> Result<(), String>;

/// The mirror of each check id.
fn mirror(id: &str) -> Option<Mirror> {
    Some(match id {
        "deps.packages_installed"
        | "deps.lockfile_valid"
        | "deps.no_version_conflicts"
        | "deps.peer_dependencies" => strict::<Deps>,
        "build.dev_build" | "build.prod_build" => strict::<Build>,
        "build.no_blocking_warnings" => strict::<BuildWarnings>,
        "build.bundle_size" => strict::<BundleSize>,
        "build.assets_generated" => strict::<AssetsGenerated>,
        "startup.dev_mode" | "startup.prod_mode" => strict::<Start>,
        "startup.env_vars" => strict::<EnvVars>,
        "startup.database_connections" => strict::<Databases>,
        "startup.external_services" => strict::<External>,
        "startup.health_checks" => strict::<HealthChecks>,
        "integration.frontend_backend" => strict::<FrontendBackend>,
        "integration.api_proxy" => strict::<ApiProxy>,
        "integration.cors" => strict::<Cors>,
        "integration.websocket" => strict::<Websocket>,
        "integration.static_assets" => strict::<StaticAssets>,
        "integration.cdn" => strict::<IntegrationCdn>,
        "ports.env_configured" => strict::<PortsEnvConfigured>,
        "ports.no_conflicts" => strict::<PortsNoConflicts>,
        _ => return None,
    })
}

/// A field that must be present and may be `null` (serde would otherwise take a missing
/// `Option` for `None`: with `deserialize_with` it is required).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

/// What the integration gate adds to each of its checks when it resolved what to probe.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct IntegrationTarget {
    target_mode: Option<TargetMode>,
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum TargetMode {
    Local,
    Remote,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Deps {
    manifests: Vec<Any>,
    checked: u64,
    problems: Vec<Any>,
    problems_total: u64,
    fix: Vec<String>,
    unreadable: Vec<String>,
    unverified: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Build {
    builds: Vec<Any>,
    not_run: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct BuildWarnings {
    warnings: u64,
    by_tool: BTreeMap<String, u64>,
    #[serde(deserialize_with = "present")]
    limit: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct BundleSize {
    outputs: Vec<Any>,
    not_measured: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct AssetsGenerated {
    outputs: Vec<Any>,
    not_checked: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Start {
    services: Vec<Any>,
    not_started: Vec<Any>,
    stability_window_configured_ms: u64,
    #[serde(deserialize_with = "present")]
    stability_window_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct EnvVars {
    required: Vec<String>,
    present: Vec<String>,
    missing: Vec<String>,
    empty: Vec<String>,
    optional_with_defaults: Vec<String>,
    documented_but_unread: Vec<String>,
    documented_in: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Databases {
    connections: Vec<Any>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct External {
    services: Vec<Any>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct HealthChecks {
    endpoints: Vec<HealthEndpoint>,
    p95_threshold_ms: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct HealthEndpoint {
    service: String,
    mode: String,
    endpoint: String,
    rule: String,
    samples: u64,
    samples_ms: Vec<f64>,
    failed: u64,
    #[serde(deserialize_with = "present")]
    p50_ms: Option<f64>,
    #[serde(deserialize_with = "present")]
    p95_ms: Option<f64>,
    #[serde(deserialize_with = "present")]
    max_ms: Option<f64>,
    #[serde(deserialize_with = "present")]
    avg_ms: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct FrontendBackend {
    #[serde(deserialize_with = "present")]
    api_base: Option<ApiBase>,
    #[serde(deserialize_with = "present")]
    mode: Option<String>,
    #[serde(deserialize_with = "present")]
    frontend_origin: Option<String>,
    #[serde(deserialize_with = "present")]
    backend_url: Option<String>,
    #[serde(deserialize_with = "present")]
    points_at_backend: Option<bool>,
    #[serde(deserialize_with = "present")]
    request: Option<Any>,
    target_mode: Option<TargetMode>,
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct ApiBase {
    variable: String,
    value: String,
    source: String,
    #[serde(deserialize_with = "present")]
    line: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct ApiProxy {
    #[serde(deserialize_with = "present")]
    nginx_configs: Option<Vec<String>>,
    #[serde(deserialize_with = "present")]
    nginx_listens: Option<Vec<String>>,
    proxy_prefix: String,
    #[serde(deserialize_with = "present")]
    nginx_targets: Option<Vec<Any>>,
    #[serde(deserialize_with = "present")]
    runtime: Option<ProxyRuntime>,
    target_mode: Option<TargetMode>,
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct ProxyRuntime {
    through_proxy: Any,
    #[serde(deserialize_with = "present")]
    direct: Option<Any>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Cors {
    origin: String,
    origins_tried: Vec<OriginTried>,
    url: String,
    preflights: Vec<Any>,
    actual_request: Any,
    unrelated_origin: UnrelatedOrigin,
    null_origin_allowed: bool,
    target_mode: Option<TargetMode>,
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct OriginTried {
    origin: String,
    why: String,
    allowed: bool,
    #[serde(deserialize_with = "present")]
    problem: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct UnrelatedOrigin {
    origin: String,
    reflected: bool,
    #[serde(deserialize_with = "present")]
    access_control_allow_origin: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Websocket {
    endpoints: Vec<String>,
    detected_from: String,
    #[serde(deserialize_with = "present")]
    origin: Option<String>,
    round_trips: Vec<RoundTrip>,
    target_mode: Option<TargetMode>,
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct RoundTrip {
    path: String,
    route: String,
    url: String,
    status: u16,
    accept_valid: bool,
    echoed: bool,
    pong: bool,
    #[serde(deserialize_with = "present")]
    protocol: Option<String>,
    #[serde(deserialize_with = "present")]
    subprotocol: Option<String>,
    handshake_ms: f64,
    #[serde(deserialize_with = "present")]
    roundtrip_ms: Option<f64>,
    #[serde(deserialize_with = "present")]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct StaticAssets {
    index: Index,
    #[serde(deserialize_with = "present")]
    assets: Option<Vec<Asset>>,
    #[serde(deserialize_with = "present")]
    compression: Option<BTreeMap<String, u64>>,
    #[serde(deserialize_with = "present")]
    other_origin_assets: Option<Vec<String>>,
    #[serde(deserialize_with = "present")]
    spa_fallback: Option<SpaFallback>,
    target_mode: Option<TargetMode>,
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Index {
    url: String,
    #[serde(deserialize_with = "present")]
    status: Option<u16>,
    #[serde(deserialize_with = "present")]
    content_type: Option<String>,
    #[serde(deserialize_with = "present")]
    content_encoding: Option<String>,
    #[serde(deserialize_with = "present")]
    ms: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Asset {
    url: String,
    referenced_as: String,
    kind: String,
    line: u64,
    #[serde(deserialize_with = "present")]
    status: Option<u16>,
    #[serde(deserialize_with = "present")]
    content_type: Option<String>,
    #[serde(deserialize_with = "present")]
    content_encoding: Option<String>,
    #[serde(deserialize_with = "present")]
    bytes: Option<u64>,
    #[serde(deserialize_with = "present")]
    ms: Option<f64>,
    ok: bool,
}

#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
enum SpaFallback {
    Probed {
        url: String,
        #[serde(deserialize_with = "present")]
        status: Option<u16>,
        #[serde(deserialize_with = "present")]
        content_type: Option<String>,
        returns_index: bool,
        because: String,
    },
    NotAnSpa {
        skipped: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct IntegrationCdn {
    #[serde(deserialize_with = "present")]
    cdn_url: Option<String>,
    build_dir: String,
    assets: Vec<Any>,
    target_mode: Option<TargetMode>,
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct PortsEnvConfigured {
    declarations: u64,
    from_env: u64,
    hard_coded: u64,
    test_script_ports: Vec<String>,
    files: Vec<String>,
    templates_not_evaluated: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct PortsNoConflicts {
    checked_ports: BTreeMap<String, Vec<u16>>,
    listening_sockets_scanned: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::SPEC_CHECK_IDS;

    /// Every check id of SPEC.md has a mirror, and no mirror is for an id SPEC.md lacks.
    #[test]
    fn every_check_id_has_a_mirror() {
        for id in SPEC_CHECK_IDS {
            assert!(
                mirror(id).is_some(),
                "{id} has no mirror in tests/cli/contract.rs"
            );
        }
        assert!(mirror("ports.unknown").is_none());
    }

    /// The mirrors are strict: an extra field and a missing required field both fail.
    #[test]
    fn a_renamed_or_extra_field_fails() {
        let good =
            serde_json::json!({"checked_ports": {"tcp": [80]}, "listening_sockets_scanned": 3});
        assert!(parse("ports.no_conflicts", &good).is_ok());
        let renamed = serde_json::json!({"checked_ports": {"tcp": [80]}, "listening_sockets": 3});
        assert!(parse("ports.no_conflicts", &renamed).is_err());
        let mut extra = good.clone();
        extra["surprise"] = true.into();
        assert!(parse("ports.no_conflicts", &extra).is_err());
        // A field that may be null must still be there.
        let limit = serde_json::json!({"warnings": 0, "by_tool": {}, "limit": null});
        assert!(parse("build.no_blocking_warnings", &limit).is_ok());
        let no_limit = serde_json::json!({"warnings": 0, "by_tool": {}});
        assert!(parse("build.no_blocking_warnings", &no_limit).is_err());
        // An integration check that did not run carries only the gate's target.
        let target = serde_json::json!({"target_mode": "local"});
        assert!(parse("integration.cors", &target).is_ok());
        assert!(parse("ports.no_conflicts", &target).is_err());
    }

    /// The committed schema has an evidence definition for every check id, tied to the id.
    #[test]
    fn the_schema_types_every_checks_evidence() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json"),
        )
        .unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        let rules = schema["$defs"]["Check"]["allOf"].as_array().unwrap();
        for id in SPEC_CHECK_IDS {
            let def = &schema["$defs"][format!("evidence.{id}")];
            assert!(def.is_object(), "no evidence.{id} in the schema");
            assert!(
                rules
                    .iter()
                    .any(|r| r["if"]["properties"]["id"]["const"] == *id),
                "Check does not tie evidence.{id} to its id"
            );
        }
        // A report whose evidence has a field its check does not define is invalid.
        let check = |evidence: Value| {
            serde_json::json!({
                "id": "ports.no_conflicts", "title": "t", "status": "passed", "message": "m",
                "required": true, "started_ms": null, "duration_ms": 0, "findings": [],
                "evidence": evidence,
            })
        };
        let check_schema = serde_json::json!({"$defs": schema["$defs"], "$ref": "#/$defs/Check"});
        let validator = jsonschema::validator_for(&check_schema).unwrap();
        let good = serde_json::json!({"checked_ports": {}, "listening_sockets_scanned": 0});
        assert!(validator.is_valid(&check(good)));
        assert!(validator.is_valid(&check(serde_json::json!({}))));
        let extra =
            serde_json::json!({"checked_ports": {}, "listening_sockets_scanned": 0, "x": 1});
        assert!(!validator.is_valid(&check(extra)));
    }
}
