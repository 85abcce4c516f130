//! `${VAR}` and `${VAR:-default}` in string values. `$${` is a literal `${`.
//! A value that is one whole `${...}` takes the type its text reads as (number, boolean),
//! so `rotate_mb: ${ROTATE_MB:-100}` is a number.

use serde_json::{Map, Value};

use super::join_path;
use super::source::Env;
use crate::error::{Error, Result};

pub(super) fn expand_document(doc: Value, env: &dyn Env) -> Result<Value> {
    expand_value(doc, env, "")
}

fn expand_value(v: Value, env: &dyn Env, path: &str) -> Result<Value> {
    Ok(match v {
        Value::String(s) if s.contains('$') => expand_string(&s, env, path)?,
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| expand_value(item, env, &format!("{path}[{i}]")))
                .collect::<Result<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, item)| {
                    let p = join_path(path, &k);
                    expand_value(item, env, &p).map(|v| (k, v))
                })
                .collect::<Result<Map<_, _>>>()?,
        ),
        other => other,
    })
}

fn expand_string(s: &str, env: &dyn Env, path: &str) -> Result<Value> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let whole_expression = s.starts_with("${") && s.find('}') == Some(s.len() - 1);
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end =
                after.find('}').ok_or_else(|| Error::config(path, format!("unterminated `${{` in `{s}`")))?;
            let expr = &after[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::config(path, format!("`${{{expr}}}` is not a valid variable reference")));
            }
            match (env.get(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(Error::config(path, format!("environment variable `{name}` is not set")))
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if whole_expression {
        if let Ok(v @ (Value::Number(_) | Value::Bool(_))) = serde_json::from_str::<Value>(out.trim()) {
            return Ok(v);
        }
    }
    Ok(Value::String(out))
}
