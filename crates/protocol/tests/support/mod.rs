//! Validation against the published schema, shared by the protocol's tests.

use serde_json::{json, Value};

/// Whether `message` is a valid `kind` (`ClientMessage` or `ServerMessage`)
/// under `watchparty_protocol::ws_schema()`; the error says why not.
pub fn conforms(kind: &str, message: &Value) -> Result<(), String> {
    let mut schema = watchparty_protocol::ws_schema();
    if let Some(root) = schema.as_object_mut() {
        root.remove("oneOf");
        root.insert("$ref".into(), json!(format!("#/$defs/{kind}")));
    }
    let validator = jsonschema::draft202012::new(&schema).map_err(|e| e.to_string())?;
    let errors: Vec<String> = validator
        .iter_errors(message)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
