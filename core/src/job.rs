//! Jobs: `started` on start, `progress` and `metric` events while running, and one final
//! event whose metrics the core measures itself (duration, CPU, peak memory), so that every
//! language reports the same numbers the same way.

use std::time::Instant;

use serde_json::{json, Map, Value};

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
pub struct Job {
    client: Client,
    id: String,
    entity: Value,
    metadata: Map<String, Value>,
    metrics: Map<String, Value>,
    started: Instant,
    usage_at_start: Usage,
}

impl Job {
    pub(crate) fn start(client: Client, name: &str, options: JobOptions) -> Result<Job> {
        if name.is_empty() {
            return Err(Error::invalid("name", "a job needs a name"));
        }
        let id = new_uuid_v7(now_micros()).to_string();
        let entity = json!({
            "type": options.entity_type.as_deref().unwrap_or("job"),
            "id": id,
            "parent_id": options.parent_id,
            "business_key": options.business_key,
            "sub_key": options.sub_key,
        });
        let mut metadata = Map::new();
        metadata.insert("job_name".into(), Value::String(name.to_owned()));
        let job = Job {
            client,
            id,
            entity,
            metadata,
            metrics: Map::new(),
            started: Instant::now(),
            usage_at_start: process_usage(),
        };
        job.emit(Kind::Started, Status::Running, None, None, Map::new())?;
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
        self.emit(Kind::Progress, Status::Running, Some(percent), message, Map::new())
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
        let mut one = Map::new();
        one.insert(name.to_owned(), json!(value));
        self.emit(Kind::Metric, Status::Running, None, None, one)?;
        self.metrics.insert(name.to_owned(), json!(value));
        Ok(())
    }

    /// Adds a metadata entry to every later event of the job (emits nothing).
    pub fn metadata(&mut self, key: &str, value: Value) {
        self.metadata.insert(key.to_owned(), value);
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
        metrics.insert("duration_s".into(), json!(round(self.started.elapsed().as_secs_f64())));
        metrics.insert("cpu_user_s".into(), json!(round((now.user_s - self.usage_at_start.user_s).max(0.0))));
        metrics.insert(
            "cpu_system_s".into(),
            json!(round((now.system_s - self.usage_at_start.system_s).max(0.0))),
        );
        metrics.insert("mem_max_mb".into(), json!(round(now.max_rss_mb)));
        self.emit(kind, status, None, message, metrics)
    }

    fn emit(
        &self,
        kind: Kind,
        status: Status,
        progress: Option<f64>,
        message: Option<&str>,
        metrics: Map<String, Value>,
    ) -> Result<()> {
        let event = json!({
            "entity": self.entity,
            "event": {
                "kind": kind.as_str(),
                "status": status.as_str(),
                "progress": progress,
                "message": message,
                "metrics": metrics,
                "metadata": self.metadata,
            }
        });
        self.client.emit(event.to_string().as_bytes())
    }
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
