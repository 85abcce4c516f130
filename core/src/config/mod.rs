//! Configuration: the typed sections, and `load`, which merges the sources
//! (explicit overrides > environment > file > defaults). See `source` for reading documents
//! and `expand` for `${VAR:-default}`.

mod expand;
mod source;
mod types;

pub use source::{is_inline, load_document, Env};
pub use types::*;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Environment variables that override single keys, and where they go.
pub const ENV_OVERRIDES: &[(&str, &[&str])] = &[
    ("MONITORING_MODE", &["mode"]),
    ("MONITORING_SIDECAR_URL", &["sidecar", "url"]),
    ("MONITORING_SIDECAR_TOKEN", &["sidecar", "token"]),
    ("MONITORING_APP_NAME", &["app", "name"]),
    ("MONITORING_APP_VERSION", &["app", "version"]),
    ("MONITORING_SITE_ID", &["app", "site_id"]),
    ("MONITORING_INSTANCE_ID", &["app", "instance_id"]),
];

impl Config {
    /// Loads the client configuration. `source` is a path or inline YAML/JSON (see
    /// [`is_inline`]); `None` reads `MONITORING_CONFIG` if set. `overrides` are explicit
    /// arguments (a JSON object of keys), the highest precedence.
    pub fn load(source: Option<&str>, overrides: Option<Value>) -> Result<Config> {
        Self::load_with(source, overrides, &source::ProcessEnv)
    }

    pub fn load_with(source: Option<&str>, overrides: Option<Value>, env: &dyn Env) -> Result<Config> {
        let mut doc = load_document(source, env)?;
        apply_env_overrides(&mut doc, env);
        if let Some(o) = overrides {
            merge(&mut doc, o);
        }
        Config::from_value(doc)
    }

    /// Types a merged document. Backends are typed one by one so errors carry their index.
    pub fn from_value(mut doc: Value) -> Result<Config> {
        let backends = take_key(&mut doc, "direct_backends");
        let mut cfg: Config = deserialize_at(doc, "")?;
        if let Some(list) = backends {
            cfg.direct_backends = parse_backends(list, "direct_backends")?;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Removes `key` from an object document, returning its value.
pub fn take_key(doc: &mut Value, key: &str) -> Option<Value> {
    doc.as_object_mut().and_then(|m| m.remove(key)).filter(|v| !v.is_null())
}

/// Writes the `MONITORING_*` variables that are set into `doc`.
pub fn apply_env_overrides(doc: &mut Value, env: &dyn Env) {
    for (var, path) in ENV_OVERRIDES {
        if let Some(value) = env.get(var) {
            set_path(doc, path, Value::String(value));
        }
    }
}

fn set_path(doc: &mut Value, path: &[&str], value: Value) {
    let mut node = doc;
    for (i, key) in path.iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Some(map) = node.as_object_mut() else { return };
        if i + 1 == path.len() {
            map.insert((*key).to_owned(), value);
            return;
        }
        node = map.entry(*key).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Deep-merges `top` over `base` (objects merge key by key; anything else replaces).
pub fn merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, top) => *slot = top,
    }
}

/// Deserializes `value` into `T`, naming the key path in errors: `prefix.path.to.key`.
pub fn deserialize_at<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let message = e.inner().to_string();
        let mut path = e.path().to_string();
        if path == "." {
            path.clear();
        }
        // serde_path_to_error's path ends at the unknown key already, but not at a missing one.
        if let Some(key) = message.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            path = join_path(&path, key);
        }
        Error::config(join_path(prefix, &path), message)
    })
}

/// `a` + `b` as a key path: `direct_backends[1]` + `bucket` = `direct_backends[1].bucket`.
pub fn join_path(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ if b.starts_with('[') => format!("{a}{b}"),
        _ => format!("{a}.{b}"),
    }
}

#[cfg(test)]
mod tests;
