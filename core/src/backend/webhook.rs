//! Any HTTP endpoint: a JSON array of events per batch, with an `Idempotency-Key` that is the
//! same on every retry of the same batch.

use super::http::{classify, HttpSender};
use super::{Backend, Batch, DeliveryError};
use crate::config::WebhookConfig;
use crate::error::Result;

pub(crate) struct Webhook {
    http: HttpSender,
}

impl Webhook {
    pub fn new(cfg: &WebhookConfig) -> Result<Self> {
        let headers = cfg.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(Webhook { http: HttpSender::new(&cfg.url, cfg.timeout_ms, headers)? })
    }
}

impl Backend for Webhook {
    fn deliver(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        let key = batch.batch_key();
        let answer = self.http.post_json(&batch.json_array(), &[("Idempotency-Key", &key)])?;
        classify(self.http.url(), &answer)
    }
}
