//! The JSON Schema of the report, generated from the wire types. A copy is committed at
//! `schema/report.schema.json`; a test fails when the two drift apart.
//!
//! A check's `evidence` is typed per check id: each check's evidence struct (beside the code
//! that fills it) gets a definition `evidence.<check id>` with `additionalProperties: false`,
//! and `Check` ties its `evidence` to it with one `if id == … then evidence: $ref` per check.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Value, json};

use super::model::Report;
use crate::check::CheckId;
use crate::gates::{build, deps, integration, ports, startup};

/// The schema as pretty-printed JSON with a trailing newline.
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

/// The report's schema with one evidence definition per check id.
fn schema() -> Schema {
    let mut generator = SchemaGenerator::default();
    // What an integration check that did not run still carries.
    generator.subschema_for::<integration::TargetEvidence>();
    let evidence: Vec<(CheckId, Schema)> = CheckId::ALL
        .iter()
        .map(|&id| (id, evidence_schema(&mut generator, id)))
        .collect();
    let mut schema = generator.into_root_schema_for::<Report>();
    let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) else {
        return schema;
    };
    let mut rules = Vec::new();
    for (id, typed) in evidence {
        let name = format!("evidence.{}", id.as_str());
        let not_run = if id.gate() == crate::check::GateId::Integration {
            json!({ "$ref": "#/$defs/TargetEvidence" })
        } else {
            json!({ "type": "object", "maxProperties": 0 })
        };
        defs.insert(
            name.clone(),
            json!({
                "description": format!(
                    "Evidence of `{}`: what it measured, or, when it did not run (skipped \
                     before measuring anything), {}.",
                    id.as_str(),
                    if id.gate() == crate::check::GateId::Integration {
                        "only the integration gate's target"
                    } else {
                        "an empty object"
                    }
                ),
                "anyOf": [typed.to_value(), not_run],
            }),
        );
        rules.push(json!({
            "if": {
                "properties": { "id": { "const": id.as_str() } },
                "required": ["id"],
            },
            "then": {
                "properties": { "evidence": { "$ref": format!("#/$defs/{name}") } },
            },
        }));
    }
    if let Some(check) = defs.get_mut("Check").and_then(Value::as_object_mut) {
        check.insert("allOf".to_owned(), Value::Array(rules));
        if let Some(evidence) = check
            .get_mut("properties")
            .and_then(|p| p.get_mut("evidence"))
            .and_then(Value::as_object_mut)
        {
            evidence.remove("additionalProperties");
            evidence.insert(
                "description".to_owned(),
                "Check-specific measured facts: one definition per check id \
                 (`evidence.<id>`), tied to `id` by `allOf`."
                    .into(),
            );
        }
    }
    schema
}

/// The schema of check `id`'s evidence struct (a `$ref` into the generator's definitions).
/// No wildcard: a new check id does not compile until its evidence has a type.
fn evidence_schema(generator: &mut SchemaGenerator, id: CheckId) -> Schema {
    fn of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<T>()
    }
    match id {
        CheckId::DepsPackagesInstalled
        | CheckId::DepsLockfileValid
        | CheckId::DepsNoVersionConflicts
        | CheckId::DepsPeerDependencies => of::<deps::DepsEvidence>(generator),
        CheckId::BuildDevBuild | CheckId::BuildProdBuild => of::<build::BuildEvidence>(generator),
        CheckId::BuildNoBlockingWarnings => of::<build::WarningsEvidence>(generator),
        CheckId::BuildBundleSize => of::<build::BundleSizeEvidence>(generator),
        CheckId::BuildAssetsGenerated => of::<build::AssetsEvidence>(generator),
        CheckId::StartupDevMode | CheckId::StartupProdMode => {
            of::<startup::StartEvidence>(generator)
        }
        CheckId::StartupEnvVars => of::<startup::EnvVarsEvidence>(generator),
        CheckId::StartupDatabaseConnections => of::<startup::DatabasesEvidence>(generator),
        CheckId::StartupExternalServices => of::<startup::ExternalEvidence>(generator),
        CheckId::StartupHealthChecks => of::<startup::HealthChecksEvidence>(generator),
        CheckId::IntegrationFrontendBackend => {
            of::<integration::FrontendBackendEvidence>(generator)
        }
        CheckId::IntegrationApiProxy => of::<integration::ApiProxyEvidence>(generator),
        CheckId::IntegrationCors => of::<integration::CorsEvidence>(generator),
        CheckId::IntegrationWebsocket => of::<integration::WebsocketEvidence>(generator),
        CheckId::IntegrationStaticAssets => of::<integration::StaticAssetsEvidence>(generator),
        CheckId::IntegrationCdn => of::<integration::CdnEvidence>(generator),
        CheckId::PortsEnvConfigured => of::<ports::EnvConfiguredEvidence>(generator),
        CheckId::PortsNoConflicts => of::<ports::NoConflictsEvidence>(generator),
    }
}
