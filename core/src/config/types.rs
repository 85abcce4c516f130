//! The typed configuration sections (DESIGN.md "Configuration"). Every struct rejects unknown
//! keys; defaults are the documented ones.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{deserialize_at, join_path};
use crate::error::{Error, Result};
use crate::event::Kind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub mode: Mode,
    pub app: AppConfig,
    pub sidecar: SidecarConfig,
    /// Typed separately (see `Config::from_value`), so errors carry the entry's index.
    #[serde(skip)]
    pub direct_backends: Vec<BackendConfig>,
    pub delivery: Delivery,
    pub queue: QueueConfig,
    pub retry: RetryConfig,
    pub circuit_breaker: BreakerConfig,
    pub spool: SpoolConfig,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Direct,
            app: AppConfig::default(),
            sidecar: SidecarConfig::default(),
            direct_backends: vec![BackendConfig::default_filesystem()],
            delivery: Delivery::Fanout,
            queue: QueueConfig::default(),
            retry: RetryConfig::default(),
            circuit_breaker: BreakerConfig::default(),
            spool: SpoolConfig::default(),
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// The backends this client delivers to: the direct ones, or the agent in sidecar mode.
    pub fn effective_backends(&self) -> Vec<BackendConfig> {
        match self.mode {
            Mode::Direct => self.direct_backends.clone(),
            Mode::Sidecar => vec![BackendConfig {
                name: "sidecar".into(),
                enabled: true,
                priority: 1,
                filter: None,
                kind: BackendKind::Sidecar(self.sidecar.clone()),
            }],
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.queue.capacity == 0 {
            return Err(Error::config("queue.capacity", "must be at least 1"));
        }
        if self.queue.batch_max == 0 {
            return Err(Error::config("queue.batch_max", "must be at least 1"));
        }
        if !(self.retry.multiplier >= 1.0 && self.retry.multiplier.is_finite()) {
            return Err(Error::config("retry.multiplier", "must be a number >= 1.0"));
        }
        if self.retry.max_ms < self.retry.initial_ms {
            return Err(Error::config("retry.max_ms", "must be >= retry.initial_ms"));
        }
        if self.limits.max_event_bytes < 64 {
            return Err(Error::config("limits.max_event_bytes", "must be at least 64"));
        }
        validate_backends(&self.direct_backends, "direct_backends")
    }
}

/// Backend names must be unique: they name the spool folders, the dead-letter files and the
/// stats.
pub fn validate_backends(backends: &[BackendConfig], path: &str) -> Result<()> {
    for (i, b) in backends.iter().enumerate() {
        let safe = b.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if b.name.is_empty() || !safe || b.name == "dead-letter" || b.name.starts_with('.') {
            return Err(Error::config(
                format!("{path}[{i}].name"),
                format!(
                    "`{}` is not a usable backend name (letters, digits, `-`, `_`, `.`; not `dead-letter`)",
                    b.name
                ),
            ));
        }
        if backends[..i].iter().any(|o| o.name == b.name) {
            return Err(Error::config(
                format!("{path}[{i}].name"),
                format!("duplicate backend name `{}`", b.name),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Direct,
    Sidecar,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppConfig {
    #[serde(deserialize_with = "lenient_opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub version: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub site_id: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub instance_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SidecarConfig {
    pub url: String,
    pub timeout_ms: u64,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub token: Option<String>,
    /// Agent-to-agent forwarding: post to `/v1/ingest/managed`, with `source` and `site_id`
    /// in the envelope, instead of `/v1/ingest/batch`.
    pub managed: bool,
    /// With `managed`: who is forwarding (the agent fills in its instance id when unset).
    #[serde(deserialize_with = "lenient_opt_string")]
    pub source: Option<String>,
    /// With `managed`: the forwarding site (the agent fills in its `app.site_id` when unset).
    #[serde(deserialize_with = "lenient_opt_string")]
    pub site_id: Option<String>,
}

impl Default for SidecarConfig {
    fn default() -> Self {
        SidecarConfig {
            url: "http://127.0.0.1:17000".into(),
            timeout_ms: 5000,
            token: None,
            managed: false,
            source: None,
            site_id: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Every enabled backend gets every event (that its filter accepts).
    #[default]
    Fanout,
    /// Only the first healthy backend by priority; on failure, the next.
    Failover,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnFull {
    /// `emit` drops the event, counts it and returns QUEUE_FULL.
    #[default]
    Drop,
    /// `emit` waits for room.
    Block,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub capacity: usize,
    pub on_full: OnFull,
    pub batch_max: usize,
    pub flush_interval_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { capacity: 65536, on_full: OnFull::Drop, batch_max: 512, flush_interval_ms: 1000 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    /// A uniformly random wait in `0..=backoff` (AWS "full jitter").
    #[default]
    Full,
    /// Half the backoff plus a random half.
    Equal,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub initial_ms: u64,
    pub max_ms: u64,
    pub multiplier: f64,
    pub jitter: Jitter,
    /// Attempts per batch before the batch is given up on (dead-letter, or the next backend
    /// under `failover`). 0 = keep trying until shutdown.
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig { initial_ms: 100, max_ms: 30000, multiplier: 2.0, jitter: Jitter::Full, max_attempts: 8 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before one half-open probe.
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failure_threshold: 5, open_ms: 10000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    pub enabled: bool,
    /// Each backend spools under `<path>/<backend name>/`; dead letters go to `<path>/dead-letter/`.
    pub path: PathBuf,
    /// The bound of each backend's spool.
    pub max_mb: u64,
    pub on_full: SpoolOnFull,
    pub fsync: SpoolFsync,
    /// With `fsync: interval`, the longest a spooled event waits for its fsync.
    pub fsync_interval_ms: u64,
    /// Segment files are rotated at this size; a segment is deleted once all of it is delivered.
    pub segment_mb: u64,
    /// The agent answers 202 only once the events are fsynced to its spool.
    pub durable_ack: bool,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            enabled: true,
            path: PathBuf::from("./monitoring-spool"),
            max_mb: 1024,
            on_full: SpoolOnFull::DropOldest,
            fsync: SpoolFsync::Interval,
            fsync_interval_ms: 1000,
            segment_mb: 16,
            durable_ack: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SpoolOnFull {
    /// Drop the oldest spooled events (counted) to make room.
    #[default]
    DropOldest,
    /// Refuse new events (counted as dropped).
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SpoolFsync {
    Never,
    /// At most `fsync_interval_ms` after a write, and before a flush returns.
    #[default]
    Interval,
    /// Before every append returns.
    Always,
}

impl SpoolConfig {
    /// Where backends write what they refuse for good.
    pub fn dead_letter_dir(&self) -> PathBuf {
        self.path.join("dead-letter")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_event_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_event_bytes: 64 * 1024 }
    }
}

/// One backend entry: the keys every backend takes, and its own.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub name: String,
    pub enabled: bool,
    /// Lower is first under `failover`. Ties keep the order of the file.
    pub priority: i32,
    pub filter: Option<Filter>,
    pub kind: BackendKind,
}

#[derive(Debug, Clone)]
pub enum BackendKind {
    Filesystem(FilesystemConfig),
    Webhook(WebhookConfig),
    Sidecar(SidecarConfig),
}

impl BackendKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            BackendKind::Filesystem(_) => "filesystem",
            BackendKind::Webhook(_) => "webhook",
            BackendKind::Sidecar(_) => "sidecar",
        }
    }
}

impl BackendConfig {
    pub fn default_filesystem() -> Self {
        BackendConfig {
            name: "local".into(),
            enabled: true,
            priority: 1,
            filter: None,
            kind: BackendKind::Filesystem(FilesystemConfig::default()),
        }
    }

    /// Whether this backend takes an event of `kind` about an entity of `entity_type`.
    pub fn accepts(&self, kind: Kind, entity_type: &str) -> bool {
        match &self.filter {
            None => true,
            Some(f) => {
                (f.kinds.is_empty() || f.kinds.contains(&kind))
                    && (f.entity_types.is_empty() || f.entity_types.iter().any(|t| t == entity_type))
            }
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Filter {
    pub kinds: Vec<Kind>,
    pub entity_types: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    Never,
    /// After each batch written.
    #[default]
    Batch,
    /// After each event.
    Always,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    pub path: PathBuf,
    pub rotate_mb: u64,
    pub fsync: Fsync,
}

impl Default for FilesystemConfig {
    fn default() -> Self {
        FilesystemConfig { path: PathBuf::from("./monitoring-events"), rotate_mb: 100, fsync: Fsync::Batch }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_timeout_ms() -> u64 {
    5000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    #[serde(rename = "type")]
    backend_type: String,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    name: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "one")]
    priority: i32,
    #[serde(default)]
    filter: Option<Filter>,
}

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}

const COMMON_KEYS: &[&str] = &["type", "name", "enabled", "priority", "filter"];
pub const BACKEND_TYPES: &[&str] = &["filesystem", "webhook", "sidecar"];

/// Types a list of backend entries; `path` is where the list sits (`direct_backends`).
pub fn parse_backends(list: Value, path: &str) -> Result<Vec<BackendConfig>> {
    let Value::Array(items) = list else {
        return Err(Error::config(path, "must be a list of backends"));
    };
    let out = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_backend(item, &format!("{path}[{i}]")))
        .collect::<Result<Vec<_>>>()?;
    validate_backends(&out, path)?;
    Ok(out)
}

fn parse_backend(item: Value, path: &str) -> Result<BackendConfig> {
    let Value::Object(mut own) = item else {
        return Err(Error::config(path, "a backend must be a mapping with a `type`"));
    };
    let common: serde_json::Map<String, Value> =
        COMMON_KEYS.iter().filter_map(|k| own.remove(*k).map(|v| ((*k).to_owned(), v))).collect();
    let common: Common = deserialize_at(Value::Object(common), path)?;
    let own = Value::Object(own);
    let kind = match common.backend_type.as_str() {
        "filesystem" => BackendKind::Filesystem(deserialize_at(own, path)?),
        "webhook" => BackendKind::Webhook(deserialize_at(own, path)?),
        "sidecar" => BackendKind::Sidecar(deserialize_at(own, path)?),
        other => {
            return Err(Error::config(
                join_path(path, "type"),
                format!("unknown backend type `{other}`, expected one of {}", BACKEND_TYPES.join(", ")),
            ))
        }
    };
    Ok(BackendConfig {
        name: common.name.unwrap_or_else(|| common.backend_type.clone()),
        enabled: common.enabled,
        priority: common.priority,
        filter: common.filter,
        kind,
    })
}

/// YAML reads `version: 1.4` as a number; a string field takes it as its text.
fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format_args!("expected a string, got {other}")));
        }
    })
}
