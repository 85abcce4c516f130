//! The HTTP client shared by the HTTP backends: one keep-alive agent per backend, timeouts,
//! and one rule for which answers are worth a retry.

use std::time::Duration;

use super::DeliveryError;
use crate::error::{Error, Result};

pub(crate) struct HttpSender {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
}

pub(crate) struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl HttpSender {
    pub fn new(url: &str, timeout_ms: u64, headers: Vec<(String, String)>) -> Result<Self> {
        let parsed: ureq::http::Uri =
            url.parse().map_err(|e| Error::config("url", format!("`{url}` is not a valid URL: {e}")))?;
        if !matches!(parsed.scheme_str(), Some("http") | Some("https")) {
            return Err(Error::config("url", format!("`{url}` must be an http:// or https:// URL")));
        }
        let timeout = Some(Duration::from_millis(timeout_ms.max(1)));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(timeout)
            .max_idle_connections_per_host(4)
            .user_agent(concat!("monitoring/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(HttpSender { agent, url: url.to_owned(), headers })
    }

    /// POSTs `body` as JSON. Transport errors and timeouts are retryable.
    pub fn post_json(
        &self,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> std::result::Result<HttpAnswer, DeliveryError> {
        let mut req = self.agent.post(&self.url).header("Content-Type", "application/json");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let mut resp =
            req.send(body).map_err(|e| DeliveryError::Retryable(format!("POST {}: {e}", self.url)))?;
        let status = resp.status().as_u16();
        // Read the whole answer so the connection can be reused.
        let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
        Ok(HttpAnswer { status, body })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The one rule for HTTP answers: 2xx delivered; 408, 429 and 5xx retried; other codes refused.
pub(crate) fn classify(url: &str, answer: &HttpAnswer) -> std::result::Result<(), DeliveryError> {
    let status = answer.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&answer.body[..answer.body.len().min(512)]).into_owned();
    let reason = format!("POST {url}: HTTP {status}: {text}");
    if status == 408 || status == 429 || status >= 500 {
        Err(DeliveryError::Retryable(reason))
    } else {
        Err(DeliveryError::Permanent(reason))
    }
}
