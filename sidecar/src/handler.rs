//! One HTTP request: route, check the token and the size, read the body within the limits,
//! hand the events to the core, answer. Nothing here can panic on any input, and everything a
//! request holds is bounded (`max_body_mb`, `max_buffered_mb`, `max_batch_size`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use monitoring_core::Error;
use serde::Serialize;
use serde_json::json;

use crate::ingest::{self, Shape};
use crate::metrics::{Endpoint, Metrics};
use crate::state::{BufferGuard, Generation, State};

/// What every request needs.
pub struct Agent {
    pub state: Arc<State>,
    pub metrics: Metrics,
}

impl Agent {
    pub fn new(state: Arc<State>) -> Agent {
        let metrics = Metrics::new(state.clone());
        Agent { state, metrics }
    }
}

pub type Answer = Response<Full<Bytes>>;

/// Seconds a client should wait after a 429.
const RETRY_AFTER_S: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Route {
    Ingest(Endpoint, Option<Shape>),
    Health,
    Metrics,
}

fn route(path: &str) -> Option<Route> {
    Some(match path {
        "/v1/ingest/events" => Route::Ingest(Endpoint::events, None),
        "/v1/ingest/batch" => Route::Ingest(Endpoint::batch, Some(Shape::Object)),
        "/v1/ingest/events:batch" => Route::Ingest(Endpoint::events_batch, Some(Shape::Array)),
        "/v1/ingest/managed" => Route::Ingest(Endpoint::managed, Some(Shape::Managed)),
        "/health" | "/v1/healthz" => Route::Health,
        "/metrics" => Route::Metrics,
        _ => return None,
    })
}

/// What the connection that carried a request is told of it (the server keeps its idle time).
pub trait Carrier {
    /// The request arrived; `false` if the connection is being closed: the request is then
    /// answered 503 without being handled, so that the client may send it again.
    fn begin(&self) -> bool;
    /// Its answer was ready at `end`.
    fn end(&self, end: Instant);
}

#[cfg(test)]
impl Carrier for () {
    fn begin(&self) -> bool {
        true
    }
    fn end(&self, _: Instant) {}
}

/// The service function: never fails, every outcome is an answer.
#[cfg(test)]
pub async fn handle<B>(agent: Arc<Agent>, req: Request<B>) -> Result<Answer, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    answer(agent, req, ()).await
}

/// The service function: never fails, every outcome is an answer.
///
/// Routing and the checks on the headers are done at once; the future keeps only what reading
/// the body and queueing its events need, not the request (hyper moves the future into place
/// for every request: its size is copied each time).
pub fn answer<B, C>(
    agent: Arc<Agent>,
    req: Request<B>,
    carrier: C,
) -> impl Future<Output = Result<Answer, Infallible>>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
    C: Carrier,
{
    let start = Instant::now();
    let (endpoint, work) = dispatch(&agent, req, !carrier.begin());
    async move {
        let answer = match work {
            Work::Done(answer) => answer,
            Work::Ingest(ingest) => ingest.run(&agent).await,
        };
        let end = Instant::now();
        agent.metrics.observe(endpoint, answer.status(), end.saturating_duration_since(start));
        carrier.end(end);
        Ok(answer)
    }
}

/// What a request needs once its headers are checked.
enum Work<B> {
    Done(Answer),
    Ingest(Ingest<B>),
}

fn dispatch<B>(agent: &Agent, req: Request<B>, closing: bool) -> (Endpoint, Work<B>)
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let Some(r) = route(req.uri().path()) else {
        let msg = format!("no such endpoint: {}", req.uri().path());
        return (Endpoint::other, Work::Done(error(StatusCode::NOT_FOUND, &msg, None)));
    };
    let m = req.method();
    let answer = match r {
        Route::Ingest(endpoint, _) if closing => (endpoint, connection_closing()),
        Route::Health | Route::Metrics if closing => (Endpoint::other, connection_closing()),
        Route::Ingest(endpoint, shape) => {
            if m != Method::POST {
                return (endpoint, Work::Done(not_allowed("POST")));
            }
            return (endpoint, Ingest::check(agent, req, shape));
        }
        Route::Health if m == Method::GET || m == Method::HEAD => (Endpoint::health, health(agent)),
        Route::Metrics if m == Method::GET || m == Method::HEAD => (Endpoint::metrics, metrics(agent)),
        Route::Health => (Endpoint::health, not_allowed("GET, HEAD")),
        Route::Metrics => (Endpoint::metrics, not_allowed("GET, HEAD")),
    };
    (answer.0, Work::Done(answer.1))
}

/// An ingest request whose headers passed: the body is still to read.
struct Ingest<B> {
    generation: Arc<Generation>,
    body: B,
    shape: Option<Shape>,
    declared: Option<u64>,
}

impl<B> Ingest<B>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    /// The token, the encoding and the declared size: the answer when they do not pass.
    fn check(agent: &Agent, req: Request<B>, shape: Option<Shape>) -> Work<B> {
        let generation = agent.state.current();
        let headers = req.headers();
        if !generation.authorized(headers) {
            let mut a = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token (ingest.token)", None);
            a.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"monitoring-sidecar\""),
            );
            return Work::Done(a);
        }
        // One pass over the headers (a few), instead of a hashed lookup for each name.
        let mut length = None;
        for (name, value) in headers {
            if name == header::CONTENT_LENGTH {
                length = length.or(Some(value));
            } else if name == header::CONTENT_ENCODING && !value.as_bytes().eq_ignore_ascii_case(b"identity")
            {
                return Work::Done(error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Content-Encoding is not supported; send plain JSON",
                    None,
                ));
            }
        }
        let declared = match length.map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok())) {
            None => None,
            Some(Some(n)) => Some(n),
            Some(None) => {
                return Work::Done(closing(error(StatusCode::BAD_REQUEST, "invalid Content-Length", None)))
            }
        };
        let max = generation.max_body;
        if declared.is_some_and(|n| n > max as u64) {
            return Work::Done(too_large(max));
        }
        Work::Ingest(Ingest { generation, body: req.into_body(), shape, declared })
    }

    async fn run(self, agent: &Agent) -> Answer {
        let Ingest { generation, body, shape, declared } = self;
        let max = generation.max_body;
        let timeout = generation.config.ingest.body_timeout();
        let (body, _buffer) = match read_body(body, max, declared, &agent.state, timeout).await {
            Ok(b) => b,
            Err(ReadError::TooLarge) => return too_large(max),
            Err(ReadError::Timeout) => {
                return closing(error(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body did not arrive in time (ingest.body_timeout_ms)",
                    None,
                ))
            }
            Err(ReadError::Busy) => {
                return throttled(
                    &agent.metrics,
                    0,
                    "the agent holds too many request bodies (ingest.max_buffered_mb); retry",
                )
            }
            Err(ReadError::Read(e)) => {
                return closing(error(StatusCode::BAD_REQUEST, &format!("reading the body: {e}"), None))
            }
        };
        match shape {
            None => single(agent, generation, &body).await,
            Some(shape) => batch(agent, generation, &body, shape).await,
        }
    }
}

async fn single(agent: &Agent, generation: Arc<Generation>, body: &[u8]) -> Answer {
    let m = &agent.metrics;
    m.received.inc();
    let Some(admission) = generation.admit(1) else {
        return throttled(m, 1, "queue full; retry later");
    };
    let result = emit(agent, &generation, body);
    drop(admission);
    match result {
        Ok(()) => {
            m.accepted.inc();
            if !generation.durable().await {
                return not_durable(m);
            }
            json_static(StatusCode::ACCEPTED, br#"{"accepted":1}"#)
        }
        Err(Error::QueueFull) => throttled(m, 1, "queue full; retry later"),
        Err(e @ Error::InvalidArgument { .. }) => {
            m.rejected.inc();
            error(StatusCode::BAD_REQUEST, &e.to_string(), e.field())
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
    }
}

#[derive(Serialize)]
struct BatchAnswer<'a> {
    accepted: usize,
    rejected: Vec<Rejected<'a>>,
}

#[derive(Serialize)]
struct Rejected<'a> {
    index: usize,
    error: String,
    field: Option<&'a str>,
}

async fn batch(agent: &Agent, generation: Arc<Generation>, body: &[u8], shape: Shape) -> Answer {
    let m = &agent.metrics;
    if !generation.has_room() {
        return throttled(m, 0, "queue full: no event of this batch was accepted; retry it whole");
    }
    let max = generation.config.ingest.max_batch_size;
    let env = match ingest::parse(body, shape, max) {
        Ok(env) => env,
        Err(ingest::BodyError::TooMany(max)) => {
            let msg = format!("more than {max} events in one batch (ingest.max_batch_size)");
            return closing(error(StatusCode::PAYLOAD_TOO_LARGE, &msg, Some("events")));
        }
        Err(ingest::BodyError::Invalid { field, message }) => {
            return error(StatusCode::BAD_REQUEST, &message, field.as_deref());
        }
    };
    let n = env.events.len();
    m.received.inc_by(n as u64);
    // All or nothing: room for every event is held before the first is queued.
    let Some(admission) = generation.admit(n) else {
        return throttled(m, n, "queue full: no event of this batch was accepted; retry it whole");
    };
    let mut errors: Vec<(usize, Error)> = Vec::new();
    let mut accepted = 0usize;
    for (index, event) in env.events.iter().enumerate() {
        let filled = env.site_id.as_deref().and_then(|site| ingest::with_site_id(event, site));
        let bytes = filled.as_deref().unwrap_or(event.get()).as_bytes();
        match emit(agent, &generation, bytes) {
            Ok(()) => accepted += 1,
            Err(e) => errors.push((index, e)),
        }
    }
    drop(admission);
    m.accepted.inc_by(accepted as u64);
    m.rejected.inc_by(errors.len() as u64);
    if let Some(source) = &env.source {
        tracing::debug!(source = %source, site_id = ?env.site_id, events = n, accepted, "managed batch");
    }
    if accepted > 0 && !generation.durable().await {
        return not_durable(m);
    }
    let answer = BatchAnswer {
        accepted,
        rejected: errors
            .iter()
            .map(|(index, e)| Rejected { index: *index, error: e.to_string(), field: e.field() })
            .collect(),
    };
    match serde_json::to_vec(&answer) {
        Ok(body) => json_bytes(StatusCode::ACCEPTED, body),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}

/// Queues one event. If a reload shut this generation down while the request was reading its
/// body (past the reload deadline), the event goes to the current one instead.
fn emit(agent: &Agent, generation: &Arc<Generation>, bytes: &[u8]) -> monitoring_core::Result<()> {
    match generation.client.emit(bytes) {
        Err(Error::Shutdown) => {
            let current = agent.state.current();
            if Arc::ptr_eq(&current, generation) {
                Err(Error::Shutdown)
            } else {
                current.client.emit(bytes)
            }
        }
        other => other,
    }
}

#[derive(Debug)]
enum ReadError {
    TooLarge,
    Timeout,
    Busy,
    Read(String),
}

/// Reads a body of at most `max` bytes within `timeout`, taking its size from the agent's body
/// budget first (the declared length up front, or chunk by chunk). The limit is enforced as the
/// bytes arrive, not after. A body that arrived with its headers (the usual small request) is
/// taken without arming the timer.
async fn read_body<B>(
    body: B,
    max: usize,
    declared: Option<u64>,
    state: &State,
    timeout: Duration,
) -> Result<(Bytes, BufferGuard<'_>), ReadError>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let declared = declared.map(|n| n as usize);
    let guard = state.take_buffer(declared.unwrap_or(0)).ok_or(ReadError::Busy)?;
    let mut acc = Accumulator {
        guard: Some(guard),
        reserved: declared.unwrap_or(0),
        declared,
        max,
        ..Accumulator::default_for()
    };
    let mut body = pin!(body);
    // One poll without a timer: the whole body is usually there already.
    let first = std::future::poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await;
    match first {
        Poll::Ready(None) => return Ok(acc.finish()),
        Poll::Ready(Some(frame)) => {
            acc.push(frame.map_err(|e| ReadError::Read(e.to_string()))?)?;
            if body.is_end_stream() {
                return Ok(acc.finish());
            }
        }
        Poll::Pending => {}
    }
    let rest = async {
        while let Some(frame) = body.as_mut().frame().await {
            acc.push(frame.map_err(|e| ReadError::Read(e.to_string()))?)?;
        }
        Ok::<_, ReadError>(())
    };
    // Boxed: the timer would make the future of every request larger, and most never get here.
    match Box::pin(tokio::time::timeout(timeout, rest)).await {
        Ok(Ok(())) => Ok(acc.finish()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ReadError::Timeout),
    }
}

/// The body read so far: one chunk kept as is, or several joined.
struct Accumulator<'a> {
    guard: Option<BufferGuard<'a>>,
    reserved: usize,
    declared: Option<usize>,
    max: usize,
    total: usize,
    first: Option<Bytes>,
    joined: Option<BytesMut>,
}

impl<'a> Accumulator<'a> {
    fn default_for() -> Accumulator<'a> {
        Accumulator { guard: None, reserved: 0, declared: None, max: 0, total: 0, first: None, joined: None }
    }

    fn push(&mut self, frame: http_body::Frame<Bytes>) -> Result<(), ReadError> {
        let Ok(data) = frame.into_data() else { return Ok(()) }; // trailers: ignored
        self.total += data.len();
        if self.total > self.max {
            return Err(ReadError::TooLarge);
        }
        if self.total > self.reserved {
            let grown = self.guard.as_mut().is_some_and(|g| g.grow(self.total - self.reserved));
            if !grown {
                return Err(ReadError::Busy);
            }
            self.reserved = self.total;
        }
        if let Some(j) = self.joined.as_mut() {
            j.extend_from_slice(&data);
        } else if let Some(f) = self.first.take() {
            let mut j = BytesMut::with_capacity(self.declared.unwrap_or(2 * self.total).max(self.total));
            j.extend_from_slice(&f);
            j.extend_from_slice(&data);
            self.joined = Some(j);
        } else {
            self.first = Some(data);
        }
        Ok(())
    }

    fn finish(&mut self) -> (Bytes, BufferGuard<'a>) {
        let bytes = self.joined.take().map(BytesMut::freeze).or(self.first.take()).unwrap_or_default();
        (bytes, self.guard.take().unwrap_or_else(BufferGuard::none))
    }
}

fn health(agent: &Agent) -> Answer {
    let generation = agent.state.current();
    let stats = generation.client.stats();
    let total = stats.backends.len();
    let open = stats.backends.values().filter(|b| b.breaker == "open").count();
    let all_closed = stats.backends.values().all(|b| b.breaker == "closed");
    let stopping = agent.state.stopping.load(std::sync::atomic::Ordering::Acquire);
    let (status, code) = if stopping {
        ("stopping", StatusCode::SERVICE_UNAVAILABLE)
    } else if total > 0 && open == total {
        ("unhealthy", StatusCode::SERVICE_UNAVAILABLE)
    } else if all_closed {
        ("healthy", StatusCode::OK)
    } else {
        ("degraded", StatusCode::OK)
    };
    let backends: serde_json::Map<String, serde_json::Value> = stats
        .backends
        .iter()
        .map(|(name, b)| {
            let v = json!({
                "type": b.backend_type, "breaker": b.breaker, "delivered": b.delivered,
                "failed": b.failed, "dropped": b.dropped, "retried": b.retried,
            });
            (name.clone(), v)
        })
        .collect();
    let body = json!({
        "status": status,
        "backends": backends,
        "queue_depth": stats.queue_depth,
        "queue_capacity": generation.config.core.queue.capacity,
        "version": monitoring_core::VERSION,
    });
    json_bytes(code, body.to_string().into_bytes())
}

fn metrics(agent: &Agent) -> Answer {
    match agent.metrics.encode() {
        Ok(text) => {
            let mut a = Response::new(Full::new(Bytes::from(text)));
            a.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            );
            a
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the metrics", None),
    }
}

fn json_static(code: StatusCode, body: &'static [u8]) -> Answer {
    let mut a = Response::new(Full::new(Bytes::from_static(body)));
    *a.status_mut() = code;
    a.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    a
}

fn json_bytes(code: StatusCode, body: Vec<u8>) -> Answer {
    let mut a = Response::new(Full::new(Bytes::from(body)));
    *a.status_mut() = code;
    a.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    a
}

/// `{"error": "...", "field": "..." | null}`
fn error(code: StatusCode, message: &str, field: Option<&str>) -> Answer {
    json_bytes(code, json!({"error": message, "field": field}).to_string().into_bytes())
}

fn not_allowed(allow: &'static str) -> Answer {
    let mut a = error(StatusCode::METHOD_NOT_ALLOWED, &format!("method not allowed; use {allow}"), None);
    a.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    a
}

fn too_large(max: usize) -> Answer {
    let msg = format!("body over ingest.max_body_mb ({max} bytes)");
    closing(error(StatusCode::PAYLOAD_TOO_LARGE, &msg, None))
}

fn throttled(m: &Metrics, events: usize, message: &str) -> Answer {
    m.throttled.inc_by(events as u64);
    let mut a = error(StatusCode::TOO_MANY_REQUESTS, message, None);
    a.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_S));
    a
}

/// `spool.durable_ack`: queued, but not delivered or fsynced to the spool in time.
fn not_durable(m: &Metrics) -> Answer {
    m.not_durable.inc();
    let msg = "events queued but not yet durable (spool.durable_ack); retry";
    let mut a = error(StatusCode::SERVICE_UNAVAILABLE, msg, None);
    a.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_S));
    a
}

/// The answer to a request that arrived on a connection being closed (idle past
/// `ingest.header_timeout_ms`, or the agent stopping): nothing was done with it.
fn connection_closing() -> Answer {
    let msg = "the connection is closing; send the request again";
    closing(error(StatusCode::SERVICE_UNAVAILABLE, msg, None))
}

/// The body may be left unread: the connection is closed after the answer.
fn closing(mut a: Answer) -> Answer {
    a.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    a
}

#[cfg(test)]
mod tests;
