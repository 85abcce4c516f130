//! Reading a configuration document: a file (YAML or JSON by extension) or inline text
//! (sniffed), then `${VAR}` expansion.

use std::path::Path;

use serde_json::{Map, Value};

use super::expand::expand_document;
use crate::error::{Error, Result};

/// Where environment variables come from (the process, or a map in tests).
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// Text that starts with `{` or contains a newline is an inline document; anything else a path.
pub fn is_inline(text: &str) -> bool {
    text.trim_start().starts_with('{') || text.contains('\n')
}

/// Reads the document `source` names (or `MONITORING_CONFIG`, or nothing), expanded.
pub fn load_document(source: Option<&str>, env: &dyn Env) -> Result<Value> {
    let from_env = env.get("MONITORING_CONFIG").filter(|s| !s.is_empty());
    let doc = match source.or(from_env.as_deref()) {
        None => Value::Object(Map::new()),
        // `{...}` may be JSON or a YAML flow mapping: JSON first, for its clearer errors.
        Some(text) if is_inline(text) => match text.trim_start().starts_with('{') {
            true => parse_text(text, true, "inline configuration")
                .or_else(|json_err| parse_text(text, false, "inline configuration").map_err(|_| json_err))?,
            false => parse_text(text, false, "inline configuration")?,
        },
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Config { path: None, message: format!("cannot read `{path}`: {e}") })?;
            let ext = Path::new(path).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            let json = match ext.as_str() {
                "json" => true,
                "yaml" | "yml" => false,
                _ => text.trim_start().starts_with('{'),
            };
            parse_text(&text, json, path)?
        }
    };
    let doc = match doc {
        Value::Null => Value::Object(Map::new()),
        Value::Object(_) => doc,
        _ => return Err(Error::config("", "the configuration must be a mapping of keys")),
    };
    expand_document(doc, env)
}

fn parse_text(text: &str, json: bool, origin: &str) -> Result<Value> {
    let result = if json {
        serde_json::from_str::<Value>(text).map_err(|e| e.to_string())
    } else if text.trim().is_empty() {
        Ok(Value::Null)
    } else {
        // YAML 1.2 booleans only: `y`, `no` and `on` stay strings (the "Norway problem").
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| e.to_string())
    };
    result.map_err(|e| Error::Config {
        path: None,
        message: format!("{origin} is not valid {}: {e}", if json { "JSON" } else { "YAML" }),
    })
}
