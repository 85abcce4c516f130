//! Jobs: `started` on start, `progress` and `metric` events while running, and one final
//! event whose metrics the core measures itself (duration, CPU, peak memory), so that every
//! language reports the same numbers the same way.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::event::encode::new_uuid_v7;
use crate::event::{now_micros, Kind, Status};
use crate::rusage::{process_usage, Usage};

/// Optional identity of a job beyond its name.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// `entity.type`; default `job`.
    pub entity_type: Option<String>,
    pub parent_id: Option<String>,
    pub business_key: Option<String>,
    pub sub_key: Option<String>,
}

/// A running job. Finish it with [`Job::finish`]; the bindings finish a dropped job for the
/// user (as `error` or `canceled`, by their language's rules).
///
/// Every event of a job is written here as JSON text directly: the entity is escaped once at
/// start, metadata values once when set, so an event costs one buffer and the usual `emit`
/// (a `serde_json::Value` tree per event cost several microseconds).
pub struct Job {
    client: Client,
    id: String,
    /// `{"business_key":...,"id":...,...}`, written once.
    entity_json: Vec<u8>,
    /// Metadata key -> value as JSON text; sorted by key, as a `serde_json::Map` was.
    metadata: BTreeMap<String, String>,
    /// Metrics reported so far, for the final event; sorted by name as before.
    metrics: BTreeMap<String, f64>,
    started: Instant,
    usage_at_start: Usage,
}

impl Job {
    pub(crate) fn start(client: Client, name: &str, options: JobOptions) -> Result<Job> {
        if name.is_empty() {
            return Err(Error::invalid("name", "a job needs a name"));
        }
        let id = new_uuid_v7(now_micros()).to_string();
        let mut entity_json = Vec::with_capacity(128);
        entity_json.extend_from_slice(b"{\"business_key\":");
        push_opt_str(&mut entity_json, options.business_key.as_deref());
        entity_json.extend_from_slice(b",\"id\":");
        push_str(&mut entity_json, &id);
        entity_json.extend_from_slice(b",\"parent_id\":");
        push_opt_str(&mut entity_json, options.parent_id.as_deref());
        entity_json.extend_from_slice(b",\"sub_key\":");
        push_opt_str(&mut entity_json, options.sub_key.as_deref());
        entity_json.extend_from_slice(b",\"type\":");
        push_str(&mut entity_json, options.entity_type.as_deref().unwrap_or("job"));
        entity_json.push(b'}');
        let mut metadata = BTreeMap::new();
        metadata.insert("job_name".to_owned(), json_string(name));
        let job = Job {
            client,
            id,
            entity_json,
            metadata,
            metrics: BTreeMap::new(),
            started: Instant::now(),
            usage_at_start: process_usage(),
        };
        job.emit(Kind::Started, Status::Running, None, None, std::iter::empty())?;
        Ok(job)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Emits `progress` (0..=100) with an optional message.
    pub fn progress(&self, percent: f64, message: Option<&str>) -> Result<()> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(Error::invalid(
                "event.progress",
                format!("progress must be within 0..100, got {percent}"),
            ));
        }
        self.emit(Kind::Progress, Status::Running, Some(percent), message, std::iter::empty())
    }

    /// Emits a `metric` event and remembers the value for the final event.
    pub fn metric(&mut self, name: &str, value: f64) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid("event.metrics", "metric names must not be empty"));
        }
        if !value.is_finite() {
            return Err(Error::invalid(
                format!("event.metrics.{name}"),
                "metric value must be a finite number",
            ));
        }
        self.emit(Kind::Metric, Status::Running, None, None, std::iter::once((name, value)))?;
        self.metrics.insert(name.to_owned(), value);
        Ok(())
    }

    /// Adds a metadata entry to every later event of the job (emits nothing).
    pub fn metadata(&mut self, key: &str, value: Value) {
        self.metadata.insert(key.to_owned(), value.to_string());
    }

    /// Ends the job: `succeeded` emits `finished`, `failed` emits `error`, `canceled` emits
    /// `canceled`, with duration, CPU time used by the process during the job, and the
    /// process's peak memory.
    pub fn finish(mut self, status: Status, message: Option<&str>) -> Result<()> {
        let kind = match status {
            Status::Succeeded => Kind::Finished,
            Status::Failed => Kind::Error,
            Status::Canceled => Kind::Canceled,
            Status::Running => {
                return Err(Error::invalid("status", "a job finishes as succeeded, failed or canceled"))
            }
        };
        let now = process_usage();
        let mut metrics = std::mem::take(&mut self.metrics);
        let round = |v: f64| (v * 1e6).round() / 1e6;
        metrics.insert("duration_s".into(), round(self.started.elapsed().as_secs_f64()));
        metrics.insert("cpu_user_s".into(), round((now.user_s - self.usage_at_start.user_s).max(0.0)));
        metrics.insert("cpu_system_s".into(), round((now.system_s - self.usage_at_start.system_s).max(0.0)));
        metrics.insert("mem_max_mb".into(), round(now.max_rss_mb));
        self.emit(kind, status, None, message, metrics.iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// Writes the event as JSON text (the same keys and values the earlier `json!` tree had)
    /// and emits it.
    fn emit<'m>(
        &self,
        kind: Kind,
        status: Status,
        progress: Option<f64>,
        message: Option<&str>,
        metrics: impl Iterator<Item = (&'m str, f64)>,
    ) -> Result<()> {
        let mut out = Vec::with_capacity(256 + self.entity_json.len() + message.map_or(0, str::len));
        out.extend_from_slice(b"{\"entity\":");
        out.extend_from_slice(&self.entity_json);
        out.extend_from_slice(b",\"event\":{\"kind\":\"");
        out.extend_from_slice(kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        push_opt_str(&mut out, message);
        out.extend_from_slice(b",\"metadata\":{");
        for (i, (k, v)) in self.metadata.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(&mut out, k);
            out.push(b':');
            out.extend_from_slice(v.as_bytes());
        }
        out.extend_from_slice(b"},\"metrics\":{");
        for (i, (name, value)) in metrics.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(&mut out, name);
            out.push(b':');
            push_number(&mut out, value);
        }
        out.extend_from_slice(b"},\"progress\":");
        match progress {
            Some(p) => push_number(&mut out, p),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(status.as_str().as_bytes());
        out.extend_from_slice(b"\"}}");
        self.client.emit(&out)
    }
}

/// A JSON string (quoted, escaped by serde_json, as `json!` wrote it) appended to `out`.
fn push_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}

fn json_string(s: &str) -> String {
    Value::from(s).to_string()
}

fn push_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A number as serde_json writes it (`null` if not finite, as `json!` did; metric values are
/// checked and measured values are finite, so that does not happen).
fn push_number(out: &mut Vec<u8>, v: f64) {
    let _ = serde_json::to_writer(out, &v);
}

/// Parses a job's final status as the C ABI and the bindings pass it.
pub fn parse_final_status(text: &str) -> Result<Status> {
    match text {
        "succeeded" => Ok(Status::Succeeded),
        "failed" => Ok(Status::Failed),
        "canceled" => Ok(Status::Canceled),
        other => {
            Err(Error::invalid("status", format!("`{other}` is not one of succeeded, failed, canceled")))
        }
    }
}
