//! The JSON Schema of the report, generated from the wire types. A copy is committed at
//! `schema/report.schema.json`; a test fails when the two drift apart.

use super::model::Report;

/// The schema as pretty-printed JSON with a trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Report);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}
