//! Jobs: `started` on start, `progress` and `metric` events while running, and one final
//! event whose metrics the core measures itself (duration, CPU, peak memory), so that every
//! language reports the same numbers the same way.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::event::encode::new_uuid_v7;
use crate::event::fast::{Builder, Field};
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
/// Every event of a job is written here directly in the form the queue carries (its JSON text
/// and where its fields are, see `event::fast::Builder`): the entity is escaped once at start,
/// metadata values once when set, and nothing is parsed again. (A `serde_json::Value` tree per
/// event, then `emit`'s parse of its text, cost several microseconds per call.)
pub struct Job {
    client: Client,
    id: String,
    /// `{"business_key":...,"id":...,...}`, written once.
    entity: Builder,
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
        let mut entity = Builder::with_capacity(160);
        entity.raw(b"{\"business_key\":");
        entity.opt_string(Field::BusinessKey, options.business_key.as_deref());
        entity.raw(b",\"id\":");
        entity.string(Some(Field::EntityId), &id);
        entity.raw(b",\"parent_id\":");
        entity.opt_string(Field::ParentId, options.parent_id.as_deref());
        entity.raw(b",\"sub_key\":");
        entity.opt_string(Field::SubKey, options.sub_key.as_deref());
        entity.raw(b",\"type\":");
        entity.string(Some(Field::EntityType), options.entity_type.as_deref().unwrap_or("job"));
        entity.raw(b"}");
        let mut metadata = BTreeMap::new();
        metadata.insert("job_name".to_owned(), json_string(name));
        let job = Job {
            client,
            id,
            entity,
            metadata,
            metrics: BTreeMap::new(),
            started: Instant::now(),
            usage_at_start: process_usage(),
        };
        job.emit(job.build(Kind::Started, Status::Running, None, None, std::iter::empty()))?;
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
        self.emit(self.build(Kind::Progress, Status::Running, Some(percent), message, std::iter::empty()))
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
        self.emit(self.build(Kind::Metric, Status::Running, None, None, std::iter::once((name, value))))?;
        // A metric reported again (the usual case) replaces its value without a new key.
        match self.metrics.get_mut(name) {
            Some(v) => *v = value,
            None => {
                self.metrics.insert(name.to_owned(), value);
            }
        }
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
        self.emit(self.build(kind, status, None, message, metrics.iter().map(|(k, v)| (k.as_str(), *v))))
    }

    fn emit(&self, (mut b, kind, status, progress): Built) -> Result<()> {
        self.client.emit_built(&mut b, kind, status, progress)
    }

    /// Writes the event (the same text the earlier `json!` tree made, keys in its order), with
    /// `progress` as a parse of that text reads it.
    fn build<'m>(
        &self,
        kind: Kind,
        status: Status,
        progress: Option<f64>,
        message: Option<&str>,
        metrics: impl Iterator<Item = (&'m str, f64)>,
    ) -> Built {
        let mut b = Builder::with_capacity(256 + self.entity.len() + message.map_or(0, str::len));
        b.raw(b"{\"entity\":");
        b.append(&self.entity);
        b.raw(b",\"event\":{\"kind\":\"");
        b.raw(kind.as_str().as_bytes());
        b.raw(b"\",\"message\":");
        b.opt_string(Field::Message, message);
        b.raw(b",\"metadata\":");
        let start = b.len();
        b.raw(b"{");
        for (i, (k, v)) in self.metadata.iter().enumerate() {
            if i > 0 {
                b.raw(b",");
            }
            b.string(None, k);
            b.raw(b":");
            b.raw(v.as_bytes());
        }
        b.raw(b"}");
        b.mark(Field::Metadata, start);
        b.raw(b",\"metrics\":{");
        for (i, (name, value)) in metrics.enumerate() {
            if i > 0 {
                b.raw(b",");
            }
            b.metric(name, value);
        }
        b.raw(b"},\"progress\":");
        let progress = progress.map(|p| b.number(p));
        if progress.is_none() {
            b.raw(b"null");
        }
        b.raw(b",\"status\":\"");
        b.raw(status.as_str().as_bytes());
        b.raw(b"\"}}");
        (b, kind, status, progress)
    }
}

fn json_string(s: &str) -> String {
    Value::from(s).to_string()
}

/// A job's event as written: the builder, its kind and status, and its progress.
type Built = (Builder, Kind, Status, Option<f64>);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Batch;
    use crate::event::{validate_queued, Enrichment, ParsedEvent};

    fn encoded(ev: &ParsedEvent) -> String {
        let mut batch = Batch::default();
        fastrand::seed(3);
        let enrich = Enrichment::new(Some("fab1"), Some("app"), None, "h:1");
        ev.encode(None, 1_795_334_400_000_001, &enrich, &mut batch);
        String::from_utf8_lossy(batch.jsonl()).into_owned()
    }

    /// A job's event in the queue's form, as built, is what a parse of its text gives.
    #[test]
    fn built_events_equal_their_parse() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            "{{\"direct_backends\":[{{\"type\":\"filesystem\",\"name\":\"f\",\"path\":{:?}}}],\"spool\":{{\"enabled\":false}}}}",
            dir.path().to_str().unwrap()
        );
        let client = Client::configure(Some(&cfg), None).unwrap();
        let options = JobOptions {
            entity_type: Some("lot".into()),
            parent_id: Some("p \"1\"\\ \u{e9}".into()),
            business_key: Some("LOT-42\n".into()),
            sub_key: None,
        };
        let mut job = client.job_with("etch \u{1F600}", options).unwrap();
        job.metadata("tool", serde_json::json!({"b": [1, 2.5, null], "a": "x\"y"}));
        job.metadata("n", serde_json::json!(0.1));
        let mut metrics = BTreeMap::new();
        for (name, v) in [("wafers", 25.0), ("t\"c", 21.5), ("big", 1.2345678901234567e300), ("tiny", 3e-9)] {
            metrics.insert(name.to_owned(), v);
        }
        let cases = [
            job.build(
                Kind::Progress,
                Status::Running,
                Some(33.333333333333336),
                Some("half \"way\""),
                std::iter::empty(),
            ),
            job.build(Kind::Progress, Status::Running, Some(50.0), None, std::iter::empty()),
            job.build(
                Kind::Metric,
                Status::Running,
                None,
                None,
                metrics.iter().map(|(k, v)| (k.as_str(), *v)),
            ),
            job.build(Kind::Error, Status::Failed, None, Some(""), std::iter::once(("duration_s", 0.000123))),
        ];
        for (b, _, _, progress) in cases {
            assert!(b.plain(), "{}", String::from_utf8_lossy(b.text()));
            let (parsed, at) = validate_queued(b.text(), 65536).unwrap();
            assert_eq!(at, None);
            let kind = match &parsed {
                ParsedEvent::Fast(f) => f.kind,
                ParsedEvent::Parsed(p) => p.raw().event.kind,
            };
            let status = match &parsed {
                ParsedEvent::Fast(f) => f.status,
                ParsedEvent::Parsed(p) => p.raw().event.status,
            };
            let built = ParsedEvent::Fast(b.clone().finish(kind, status, progress));
            assert_eq!(encoded(&built), encoded(&parsed));
        }
        // An empty entity type is an error, as it was: the text goes through `emit`.
        let bad = JobOptions { entity_type: Some(String::new()), ..JobOptions::default() };
        assert!(client.job_with("x", bad).is_err());
        job.finish(Status::Succeeded, None).unwrap();
        client.shutdown(std::time::Duration::from_secs(5)).unwrap();
    }
}
