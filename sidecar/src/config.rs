//! The agent's configuration: `ingest` (the HTTP side), `backends` (typed by the core, so errors
//! name `backends[1].bukcet`), and the core's `app`, `delivery`, `queue`, `retry`,
//! `circuit_breaker`, `spool` and `limits` sections, which configure the agent's own core.
//!
//! Sources, highest precedence first: command-line flags (`--listen`), the environment
//! ([`ENV_OVERRIDES`]), the file, the defaults.

use std::net::SocketAddr;
use std::time::Duration;

use monitoring_core::config::{
    deserialize_at, load_document, merge, parse_backends, take_key, BackendConfig, BackendKind, Env, Mode,
    OnFull,
};
use monitoring_core::{Config, Error, Result};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Where the agent's configuration file comes from when `--config` is not given.
pub const CONFIG_ENV: &str = "MONITORING_SIDECAR_CONFIG";

/// Environment variables that override single keys of the agent's configuration.
/// (The apps' `MONITORING_CONFIG` and `MONITORING_MODE` are not read: an agent started from an
/// application's environment stays an agent.)
pub const ENV_OVERRIDES: &[(&str, &[&str])] = &[
    ("MONITORING_SIDECAR_LISTEN", &["ingest", "listen"]),
    // The same variable the applications send their token from, so one setting serves both.
    ("MONITORING_SIDECAR_TOKEN", &["ingest", "token"]),
    ("MONITORING_SIDECAR_WORKERS", &["ingest", "workers"]),
    ("MONITORING_SITE_ID", &["app", "site_id"]),
    ("MONITORING_INSTANCE_ID", &["app", "instance_id"]),
];

/// Top-level keys of the agent's file.
const TOP_KEYS: &[&str] =
    &["ingest", "backends", "app", "delivery", "queue", "retry", "circuit_breaker", "spool", "limits"];

/// The whole agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub ingest: IngestConfig,
    /// The agent's core: `direct_backends` holds the agent's `backends`.
    pub core: Config,
}

/// `ingest:` the HTTP side of the agent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// `host:port` to listen on (an IP address; port 0 picks a free one).
    pub listen: String,
    /// Events per batch request, at most (a larger batch is answered 413).
    pub max_batch_size: usize,
    /// How long the agent's core waits before sending a partial batch to its backends
    /// (sets `queue.flush_interval_ms`): a number of milliseconds or `"500ms"`, `"2s"`, `"1m"`.
    #[serde(deserialize_with = "opt_duration_ms")]
    pub flush_interval: Option<u64>,
    /// When set, ingest endpoints require `Authorization: Bearer <token>`.
    #[serde(deserialize_with = "lenient_opt_string")]
    pub token: Option<String>,
    /// Largest request body, in MiB (fractions allowed).
    pub max_body_mb: f64,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// Request bodies held in memory at once, all connections together, in MiB.
    pub max_buffered_mb: f64,
    /// A client must send a request's headers within this time (also the idle keep-alive limit).
    pub header_timeout_ms: u64,
    /// A client must send a request's body within this time (408 otherwise).
    pub body_timeout_ms: u64,
    /// SIGTERM/SIGINT and SIGHUP: how long open requests and the flush of the queue may take.
    pub shutdown_timeout_ms: u64,
    /// Threads serving HTTP: 1 = one event-loop thread (the default, see
    /// bench/results/sidecar.md), more = a work-stealing pool of that many.
    pub workers: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            listen: "127.0.0.1:17000".into(),
            max_batch_size: 10_000,
            flush_interval: None,
            token: None,
            max_body_mb: 8.0,
            max_connections: 1024,
            max_buffered_mb: 64.0,
            header_timeout_ms: 20_000,
            body_timeout_ms: 30_000,
            shutdown_timeout_ms: 10_000,
            workers: 1,
        }
    }
}

impl IngestConfig {
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        self.listen.parse().map_err(|_| Error::Config {
            path: Some("ingest.listen".into()),
            message: format!("`{}` is not an IP address and port (like 127.0.0.1:17000)", self.listen),
        })
    }
    pub fn max_body_bytes(&self) -> usize {
        mib(self.max_body_mb)
    }
    pub fn max_buffered_bytes(&self) -> usize {
        mib(self.max_buffered_mb)
    }
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

fn mib(v: f64) -> usize {
    (v * 1024.0 * 1024.0) as usize
}

/// Environment variables from the process, except the applications' `MONITORING_CONFIG`.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        if name == "MONITORING_CONFIG" {
            return None;
        }
        std::env::var(name).ok()
    }
}

/// Command-line overrides, the highest precedence.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
}

impl AgentConfig {
    /// Loads the configuration: `path` (or `MONITORING_SIDECAR_CONFIG`, or nothing: the
    /// defaults), the environment, then `overrides`.
    pub fn load(path: Option<&str>, env: &dyn Env, overrides: &Overrides) -> Result<AgentConfig> {
        let from_env = env.get(CONFIG_ENV).filter(|s| !s.is_empty());
        let mut doc = load_document(path.or(from_env.as_deref()), &NoAppConfig(env))?;
        for (var, path) in ENV_OVERRIDES {
            if let Some(value) = env.get(var) {
                merge(&mut doc, nested(path, typed_env_value(&value)));
            }
        }
        if let Some(listen) = &overrides.listen {
            merge(&mut doc, nested(&["ingest", "listen"], Value::String(listen.clone())));
        }
        Self::from_value(doc)
    }

    /// Types a merged document.
    pub fn from_value(mut doc: Value) -> Result<AgentConfig> {
        if let Some(map) = doc.as_object() {
            if let Some(key) = map.keys().find(|k| !TOP_KEYS.contains(&k.as_str())) {
                let hint = match key.as_str() {
                    "direct_backends" => " (the agent's backends are under `backends`)",
                    "sidecar" | "mode" => " (that is an application's setting, not the agent's)",
                    _ => "",
                };
                return Err(Error::Config {
                    path: Some(key.clone()),
                    message: format!("unknown key `{key}`, expected one of {}{hint}", TOP_KEYS.join(", ")),
                });
            }
        }
        let ingest = take_key(&mut doc, "ingest").unwrap_or_else(|| Value::Object(Map::new()));
        let backends = take_key(&mut doc, "backends");
        let ingest: IngestConfig = deserialize_at(ingest, "ingest")?;
        let mut core = Config::from_value(doc)?;
        core.mode = Mode::Direct;
        // A full queue is answered with 429 before anything is queued, never by waiting.
        core.queue.on_full = OnFull::Drop;
        if let Some(ms) = ingest.flush_interval {
            core.queue.flush_interval_ms = ms;
        }
        if let Some(list) = backends {
            core.direct_backends = parse_backends(list, "backends")?;
        }
        for b in &mut core.direct_backends {
            // Agent to agent: say who forwards, unless the entry says so itself.
            if let BackendKind::Sidecar(s) = &mut b.kind {
                if s.managed {
                    if s.source.is_none() {
                        // Who this agent is, for the envelope of what it forwards.
                        s.source = Some(
                            core.app.instance_id.clone().unwrap_or_else(monitoring_core::default_instance_id),
                        );
                    }
                    if s.site_id.is_none() {
                        s.site_id = core.app.site_id.clone();
                    }
                }
            }
        }
        let cfg = AgentConfig { ingest, core };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The checks types cannot express, each naming its key.
    pub fn validate(&self) -> Result<()> {
        let i = &self.ingest;
        let bad = |path: &str, message: &str| {
            Err(Error::Config { path: Some(path.into()), message: message.into() })
        };
        i.listen_addr()?;
        if i.max_batch_size == 0 {
            return bad("ingest.max_batch_size", "must be at least 1");
        }
        if i.max_batch_size > self.core.queue.capacity {
            return bad(
                "ingest.max_batch_size",
                &format!(
                    "must be at most queue.capacity ({}): a batch is accepted whole or not at all",
                    self.core.queue.capacity
                ),
            );
        }
        if !(i.max_body_mb.is_finite() && i.max_body_mb > 0.0 && i.max_body_mb <= 1024.0) {
            return bad("ingest.max_body_mb", "must be more than 0 and at most 1024");
        }
        if !(i.max_buffered_mb.is_finite()
            && i.max_buffered_mb >= i.max_body_mb
            && i.max_buffered_mb <= 65536.0)
        {
            return bad("ingest.max_buffered_mb", "must be at least ingest.max_body_mb and at most 65536");
        }
        if i.max_connections == 0 {
            return bad("ingest.max_connections", "must be at least 1");
        }
        if i.header_timeout_ms == 0 || i.body_timeout_ms == 0 {
            return bad("ingest.header_timeout_ms", "timeouts must be at least 1 ms");
        }
        if i.workers == 0 || i.workers > 64 {
            return bad("ingest.workers", "must be between 1 and 64");
        }
        if i.token.as_deref().is_some_and(|t| t.trim() != t || t.contains(char::is_control)) {
            return bad("ingest.token", "must not contain spaces at its ends or control characters");
        }
        check_backends(&self.core.direct_backends)
    }

    /// The token the ingest endpoints require, if any (an empty one means none).
    pub fn token(&self) -> Option<&str> {
        self.ingest.token.as_deref().filter(|t| !t.is_empty())
    }
}

/// What the core checks only when it starts a backend, checked here so `--check-config` and a
/// reload catch it and name the entry: at least one enabled backend, URLs that parse.
fn check_backends(backends: &[BackendConfig]) -> Result<()> {
    if !backends.iter().any(|b| b.enabled) {
        return Err(Error::Config { path: Some("backends".into()), message: "no enabled backend".into() });
    }
    for (i, b) in backends.iter().enumerate() {
        let url = match &b.kind {
            BackendKind::Webhook(w) => &w.url,
            BackendKind::Sidecar(s) => &s.url,
            _ => continue,
        };
        let ok = url
            .parse::<http::Uri>()
            .ok()
            .is_some_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
        if !ok {
            return Err(Error::Config {
                path: Some(format!("backends[{i}].url")),
                message: format!("`{url}` is not an http:// or https:// URL"),
            });
        }
    }
    Ok(())
}

/// The core's `load_document` falls back to `MONITORING_CONFIG`, the applications' file.
struct NoAppConfig<'a>(&'a dyn Env);

impl Env for NoAppConfig<'_> {
    fn get(&self, name: &str) -> Option<String> {
        if name == "MONITORING_CONFIG" {
            return None;
        }
        self.0.get(name)
    }
}

fn nested(path: &[&str], value: Value) -> Value {
    path.iter().rev().fold(value, |inner, key| {
        let mut m = Map::new();
        m.insert((*key).to_owned(), inner);
        Value::Object(m)
    })
}

/// `MONITORING_SIDECAR_WORKERS=2` is a number; everything else stays text.
fn typed_env_value(text: &str) -> Value {
    match text.parse::<u64>() {
        Ok(n) if !text.starts_with('0') || text == "0" => Value::from(n),
        _ => Value::String(text.to_owned()),
    }
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
        Some(other) => return Err(serde::de::Error::custom(format_args!("expected a string, got {other}"))),
    })
}

/// A duration in milliseconds: a number, or text with a unit (`ms`, `s`, `m`).
fn opt_duration_ms<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    let v = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let parsed = match &v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => parse_duration_ms(s),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        serde::de::Error::custom(format_args!(
            "expected milliseconds or a duration like \"500ms\", \"2s\", got {v}"
        ))
    })
}

pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (t, 1.0)
    };
    let n: f64 = number.trim().parse().ok()?;
    (n.is_finite() && n >= 0.0 && n * scale <= u64::MAX as f64 / 2.0).then(|| (n * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<AgentConfig> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AgentConfig::load(Some(text), &env, &Overrides::default())
    }

    #[test]
    fn defaults_listen_on_loopback_with_one_filesystem_backend() {
        let env: HashMap<String, String> = HashMap::new();
        let cfg = AgentConfig::load(None, &env, &Overrides::default()).unwrap();
        assert_eq!(cfg.ingest.listen, "127.0.0.1:17000");
        assert_eq!(cfg.core.direct_backends.len(), 1);
        assert_eq!(cfg.core.direct_backends[0].kind.type_name(), "filesystem");
        assert!(cfg.token().is_none());
    }

    #[test]
    fn backend_errors_name_the_entry() {
        let text = "backends:\n  - {type: filesystem, path: /tmp/x}\n  - {type: webhook, url: 'http://a', bukcet: x}\n";
        let e = load_text(text, &[]).unwrap_err();
        assert_eq!(e.field(), Some("backends[1].bukcet"), "{e}");
        let e = load_text("ingest: {listen: 127.0.0.1:1, max_bdy_mb: 3}\n", &[]).unwrap_err();
        assert_eq!(e.field(), Some("ingest.max_bdy_mb"), "{e}");
        let e = load_text("direct_backends: []\n", &[]).unwrap_err();
        assert_eq!(e.field(), Some("direct_backends"), "{e}");
        let e = load_text("backends:\n  - {type: webhook, url: 'ftp://x'}\n", &[]).unwrap_err();
        assert_eq!(e.field(), Some("backends[0].url"), "{e}");
        let e = load_text("ingest: {listen: 'localhost'}\n", &[]).unwrap_err();
        assert_eq!(e.field(), Some("ingest.listen"), "{e}");
        let e = load_text("ingest: {max_batch_size: 100}\nqueue: {capacity: 10}\n", &[]).unwrap_err();
        assert_eq!(e.field(), Some("ingest.max_batch_size"), "{e}");
        let e = load_text("queue: {capacity: 0}\n", &[]).unwrap_err();
        assert_eq!(e.field(), Some("queue.capacity"), "{e}");
        let e = load_text("backends:\n  - {type: filesystem, enabled: false}\n", &[]).unwrap_err();
        assert_eq!(e.field(), Some("backends"), "{e}");
    }

    #[test]
    fn environment_overrides_the_file_and_flags_override_both() {
        let text = "ingest: {listen: '127.0.0.1:1', token: file}\n";
        let cfg =
            load_text(text, &[("MONITORING_SIDECAR_TOKEN", "env"), ("MONITORING_SITE_ID", "fab9")]).unwrap();
        assert_eq!(cfg.token(), Some("env"));
        assert_eq!(cfg.core.app.site_id.as_deref(), Some("fab9"));
        let env: HashMap<String, String> =
            [("MONITORING_SIDECAR_LISTEN".to_string(), "127.0.0.1:2".to_string())].into();
        let o = Overrides { listen: Some("127.0.0.1:3".into()) };
        let cfg = AgentConfig::load(Some(text), &env, &o).unwrap();
        assert_eq!(cfg.ingest.listen, "127.0.0.1:3");
        let cfg = AgentConfig::load(Some(text), &env, &Overrides::default()).unwrap();
        assert_eq!(cfg.ingest.listen, "127.0.0.1:2");
        // An application's environment does not turn the agent into something else.
        let cfg = load_text(text, &[("MONITORING_MODE", "sidecar"), ("MONITORING_CONFIG", "/nonexistent")]);
        assert!(cfg.is_ok());
    }

    #[test]
    fn flush_interval_takes_units_and_managed_forwarding_is_filled_in() {
        let text = "ingest: {flush_interval: 250ms}\napp: {site_id: fab2, instance_id: host-a}\nbackends:\n  - {type: sidecar, url: 'http://127.0.0.1:9', managed: true}\n";
        let cfg = load_text(text, &[]).unwrap();
        assert_eq!(cfg.core.queue.flush_interval_ms, 250);
        let BackendKind::Sidecar(s) = &cfg.core.direct_backends[0].kind else { panic!() };
        assert_eq!(s.source.as_deref(), Some("host-a"));
        assert_eq!(s.site_id.as_deref(), Some("fab2"));
        assert_eq!(parse_duration_ms("2s"), Some(2000));
        assert_eq!(parse_duration_ms("1.5m"), Some(90_000));
        assert_eq!(parse_duration_ms("40"), Some(40));
        assert_eq!(parse_duration_ms("x"), None);
        let e = load_text("ingest: {flush_interval: soon}\n", &[]).unwrap_err();
        assert_eq!(e.field(), Some("ingest.flush_interval"), "{e}");
    }
}
