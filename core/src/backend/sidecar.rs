//! The local agent (`monitoring-sidecar`): `POST /v1/ingest/batch` with `{"events": [...]}`,
//! or, agent to agent (`managed: true`), `POST /v1/ingest/managed` with
//! `{"events": [...], "source": "...", "site_id": "..."}`.
//! The agent answers which events it rejected; those alone go to the dead-letter file.

use serde::Deserialize;

use super::http::{classify, HttpSender};
use super::{Backend, Batch, DeliveryError};
use crate::config::SidecarConfig;
use crate::error::Result;

pub(crate) struct Sidecar {
    http: HttpSender,
    /// What follows the events array in the body: `}`, or the managed envelope's fields.
    tail: String,
}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    rejected: Vec<Rejected>,
}

#[derive(Deserialize)]
struct Rejected {
    index: usize,
    #[serde(default)]
    error: String,
}

impl Sidecar {
    pub fn new(cfg: &SidecarConfig) -> Result<Self> {
        let path = if cfg.managed { "managed" } else { "batch" };
        let url = format!("{}/v1/ingest/{path}", cfg.url.trim_end_matches('/'));
        let mut headers = Vec::new();
        if let Some(token) = cfg.token.as_deref().filter(|t| !t.is_empty()) {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        let mut tail = String::new();
        if cfg.managed {
            for (key, value) in [("source", &cfg.source), ("site_id", &cfg.site_id)] {
                if let Some(v) = value {
                    // Serializing a string cannot fail.
                    let v = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
                    tail.push_str(&format!(",\"{key}\":{v}"));
                }
            }
        }
        tail.push('}');
        Ok(Sidecar { http: HttpSender::new(&url, cfg.timeout_ms, headers)?, tail })
    }
}

impl Backend for Sidecar {
    fn deliver(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        let mut body = Vec::with_capacity(batch.jsonl().len() + 16 + self.tail.len());
        body.extend_from_slice(b"{\"events\":");
        body.extend_from_slice(&batch.json_array());
        body.extend_from_slice(self.tail.as_bytes());
        let answer = self.http.post_json(&body, &[("Idempotency-Key", &batch.batch_key())])?;
        classify(self.http.url(), &answer)?;
        let rejected: Vec<(usize, String)> = serde_json::from_slice::<BatchAnswer>(&answer.body)
            .map(|a| {
                a.rejected.into_iter().filter(|r| r.index < batch.len()).map(|r| (r.index, r.error)).collect()
            })
            .unwrap_or_default();
        if rejected.is_empty() {
            Ok(())
        } else {
            Err(DeliveryError::Partial { retry: Vec::new(), rejected })
        }
    }
}
