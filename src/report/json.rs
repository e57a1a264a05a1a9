//! The `json` format: the report as one pretty-printed JSON document.

use super::model::Report;

/// Render the report; serializing plain data structures cannot fail, but if it ever did the
/// output is still one valid JSON document describing the failure.
pub fn render(report: &Report) -> String {
    match serde_json::to_string_pretty(report) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        Err(e) => format!(
            "{{\"errors\":[{{\"message\":{}}}]}}\n",
            serde_json::Value::String(format!("could not serialize the report: {e}"))
        ),
    }
}
