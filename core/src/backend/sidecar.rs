//! The local agent (`monitoring-sidecar`): `POST /v1/ingest/batch` with `{"events": [...]}`.
//! The agent answers which events it rejected; those alone go to the dead-letter file.

use serde::Deserialize;

use super::http::{classify, HttpSender};
use super::{Backend, Batch, DeliveryError};
use crate::config::SidecarConfig;
use crate::error::Result;

pub(crate) struct Sidecar {
    http: HttpSender,
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
        let url = format!("{}/v1/ingest/batch", cfg.url.trim_end_matches('/'));
        let mut headers = Vec::new();
        if let Some(token) = cfg.token.as_deref().filter(|t| !t.is_empty()) {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        Ok(Sidecar { http: HttpSender::new(&url, cfg.timeout_ms, headers)? })
    }
}

impl Backend for Sidecar {
    fn deliver(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        let mut body = Vec::with_capacity(batch.jsonl().len() + 16);
        body.extend_from_slice(b"{\"events\":");
        body.extend_from_slice(&batch.json_array());
        body.push(b'}');
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
