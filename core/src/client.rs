//! The client: what every binding holds. Validates on the caller's thread, then queues.

use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::fast::Builder;
use crate::event::{self, Enrichment, Kind, ParsedEvent, Status};
use crate::job::{Job, JobOptions};
use crate::router::{Envelope, Runtime};
use crate::stats::StatsSnapshot;

/// A configured monitoring client. Cheap to clone; every method is safe from any thread.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    config: Config,
    /// The runtime, replaced in a forked child (see `fork`): the parent's threads do not exist
    /// there. Read through `runtime()`.
    first: Generation,
    closed: AtomicBool,
    shutdown_result: Mutex<Option<Result<()>>>,
}

impl Client {
    /// Configures a client: `source` is a path or inline YAML/JSON (None: the environment and
    /// the defaults); `overrides` are explicit keys, the highest precedence.
    pub fn configure(source: Option<&str>, overrides: Option<Value>) -> Result<Client> {
        Self::from_config(Config::load(source, overrides)?)
    }

    pub fn from_config(config: Config) -> Result<Client> {
        #[cfg(feature = "mimalloc")]
        crate::alloc::tune();
        event::init_fast_clock();
        let runtime = Runtime::start(&config, enrichment(&config))?;
        let inner = Arc::new(ClientInner {
            config,
            first: Generation::new(runtime),
            closed: AtomicBool::new(false),
            shutdown_result: Mutex::new(None),
        });
        crate::fork::register(&inner);
        Ok(Client { inner })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Validates one event (JSON text, schema v1) and queues it. Never blocks on I/O.
    pub fn emit(&self, event_json: &[u8]) -> Result<()> {
        if self.inner.closed.load(Acquire) {
            return Err(Error::Shutdown);
        }
        // First: the counter's read takes some 30 cycles, which the validation's work overlaps
        // when nothing waits for it until the event is queued.
        let emitted_at = event::now_micros();
        let runtime = self.inner.runtime();
        let max = self.inner.config.limits.max_event_bytes;
        // The runtime's address tells queues apart (see `event::validate_for_queue`).
        let queue = std::ptr::from_ref(runtime) as usize;
        let (event, at_micros) = match event::validate_for_queue(event_json, max, queue) {
            Ok(ok) => ok,
            Err(e) => {
                runtime.shared.counters.invalid.fetch_add(1, Relaxed);
                return Err(e);
            }
        };
        runtime.enqueue(Envelope { event, at_micros, emitted_at })
    }

    /// Queues an event the core wrote itself (a job's) in the queue's form, without parsing it
    /// again. Where the builder cannot vouch for that form, or the event is over
    /// `limits.max_event_bytes`, its text goes through `emit` (which then errors as it would).
    pub(crate) fn emit_built(
        &self,
        built: &mut Builder,
        kind: Kind,
        status: Status,
        progress: Option<f64>,
    ) -> Result<()> {
        if !built.plain() || built.len() > self.inner.config.limits.max_event_bytes {
            return self.emit(built.text());
        }
        if self.inner.closed.load(Acquire) {
            return Err(Error::Shutdown);
        }
        let event = ParsedEvent::Fast(built.finish(kind, Some(status), progress));
        let runtime = self.inner.runtime();
        runtime.enqueue(Envelope { event, at_micros: None, emitted_at: event::now_micros() })
    }

    /// Starts a job: emits `started` and returns the handle that reports its progress and end.
    pub fn job(&self, name: &str, entity_type: Option<&str>, parent_id: Option<&str>) -> Result<Job> {
        let options = JobOptions {
            entity_type: entity_type.map(str::to_owned),
            parent_id: parent_id.map(str::to_owned),
            ..JobOptions::default()
        };
        self.job_with(name, options)
    }

    pub fn job_with(&self, name: &str, options: JobOptions) -> Result<Job> {
        Job::start(self.clone(), name, options)
    }

    /// Waits until everything emitted before the call is delivered (or given up on).
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        if self.inner.closed.load(Acquire) {
            return Err(Error::Shutdown);
        }
        self.inner.runtime().flush(Instant::now() + timeout)
    }

    /// Stops accepting events, flushes, stops the threads. Idempotent: later calls return the
    /// first call's result at once.
    pub fn shutdown(&self, timeout: Duration) -> Result<()> {
        let Ok(mut result) = self.inner.shutdown_result.lock() else {
            return Err(Error::Internal("shutdown lock poisoned".into()));
        };
        if let Some(r) = result.as_ref() {
            return r.clone();
        }
        self.inner.closed.store(true, Release);
        let r = self.inner.runtime().stop(Instant::now() + timeout);
        *result = Some(r.clone());
        r
    }

    pub fn is_shut_down(&self) -> bool {
        self.inner.closed.load(Acquire)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.inner.runtime().stats()
    }

    /// How many more events the queue can take right now (`queue.capacity` minus what is
    /// queued). Lets a caller that must accept a group of events whole (the agent's batch
    /// endpoints) decide before queueing any of them.
    pub fn queue_room(&self) -> usize {
        self.inner.runtime().queue_room()
    }
}

/// One runtime of a client, and the one that replaced it in a forked child, if any.
///
/// `emit` finds the current runtime on every call. An `ArcSwap` did that with a thread-local
/// debt slot: an atomic swap and a compare-exchange per call (each a locked instruction, some
/// 20 cycles) and ~100 instructions more. The runtime is only ever replaced in a forked child,
/// once per fork and never given back, so a chain of write-once links serves instead: the
/// current runtime is the last link, found with one acquire load per link (a plain load on
/// x86), as many links as forks between the process that made the client and this one.
struct Generation {
    runtime: Arc<Runtime>,
    next: OnceLock<Box<Generation>>,
}

impl Generation {
    fn new(runtime: Runtime) -> Generation {
        Generation { runtime: Arc::new(runtime), next: OnceLock::new() }
    }
}

impl ClientInner {
    fn current(&self) -> &Generation {
        let mut g = &self.first;
        while let Some(next) = g.next.get() {
            g = next;
        }
        g
    }

    fn runtime(&self) -> &Runtime {
        &self.current().runtime
    }

    /// In a forked child: a fresh runtime (threads, queue, files named for this pid). The
    /// parent's runtime is leaked on purpose: its locks may be held by threads that do not
    /// exist here, and its queued events are the parent's to deliver.
    pub(crate) fn restart_after_fork(&self) {
        if self.closed.load(Acquire) {
            return;
        }
        match Runtime::start(&self.config, enrichment(&self.config)) {
            Ok(fresh) => {
                // The parent's runtime stays in the chain but is never dropped (an extra count
                // that is never given back): dropping it would disconnect its queue, taking
                // locks its threads may have held at the fork.
                let mut link = Box::new(Generation::new(fresh));
                let mut last = self.current();
                // Only one thread runs in the child, so nothing else appends a link; should
                // one have, the fresh runtime goes after it.
                while let Err(back) = last.next.set(link) {
                    link = back;
                    last = self.current();
                }
                std::mem::forget(Arc::clone(&last.runtime));
            }
            Err(e) => {
                log::error!("cannot restart in forked child: {e}");
                self.runtime().abandon_threads();
                self.closed.store(true, Release);
                // Nothing of the parent's runtime may be waited for here: shutdown is done.
                if let Ok(mut result) = self.shutdown_result.try_lock() {
                    *result = Some(Err(e));
                }
            }
        }
    }
}

/// The fields the core fills in, from configuration or from the process.
fn enrichment(cfg: &Config) -> Enrichment {
    let instance_id = cfg.app.instance_id.clone().unwrap_or_else(default_instance_id);
    Enrichment::new(
        cfg.app.site_id.as_deref(),
        cfg.app.name.clone().or_else(executable_name).as_deref(),
        cfg.app.version.as_deref(),
        &instance_id,
    )
}

fn executable_name() -> Option<String> {
    std::env::current_exe().ok()?.file_name()?.to_str().map(str::to_owned)
}

/// `host:pid`, unique per process on a site: `app.instance_id` when the configuration has none.
pub fn default_instance_id() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let host = if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "localhost".to_owned()
    };
    format!("{host}:{}", std::process::id())
}
