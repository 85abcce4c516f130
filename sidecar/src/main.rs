//! `monitoring-sidecar`: the monitoring agent. Applications in sidecar mode (and any HTTP
//! client) post events to it; it runs the same core as the SDK (queue, router, backends, retry,
//! circuit breaker, dead letter) with its own backends, which may be another agent.
//!
//! ```text
//! monitoring-sidecar [--config FILE] [--listen ADDR] [--check-config]
//! ```
//!
//! Signals: SIGHUP reloads the configuration without losing an event; SIGTERM and SIGINT stop
//! accepting, flush the queue within `ingest.shutdown_timeout_ms` and exit 0.
//! Logs are JSON lines on stderr (`MONITORING_SIDECAR_LOG=debug|info|warn|error`).

mod config;
mod handler;
mod ingest;
mod metrics;
mod server;
mod state;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::config::{AgentConfig, Overrides, ProcessEnv};
use crate::handler::Agent;
use crate::state::{agent_paths, Generation, State};

const USAGE: &str = "\
usage: monitoring-sidecar [--config FILE] [--listen ADDR] [--check-config]

  --config FILE    YAML or JSON configuration (default: $MONITORING_SIDECAR_CONFIG, else the
                   embedded default: listen 127.0.0.1:17000, JSONL under ./monitoring-events)
  --listen ADDR    overrides ingest.listen (e.g. 127.0.0.1:17000; port 0 picks a free one)
  --check-config   validate the configuration, print OK or the error, exit 0 or 2
  --version        print the version

environment: MONITORING_SIDECAR_CONFIG, MONITORING_SIDECAR_LISTEN, MONITORING_SIDECAR_TOKEN,
  MONITORING_SIDECAR_WORKERS, MONITORING_SITE_ID, MONITORING_INSTANCE_ID, and
  MONITORING_SIDECAR_LOG (error|warn|info|debug; default info)
signals: SIGHUP reloads the configuration; SIGTERM/SIGINT flush and exit 0
";

struct Args {
    config: Option<String>,
    overrides: Overrides,
    check: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args { config: None, overrides: Overrides::default(), check: false };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value =
            |name: &str| inline.clone().or_else(|| it.next()).ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--config" | "-c" => args.config = Some(value("--config")?),
            "--listen" => args.overrides.listen = Some(value("--listen")?),
            "--check-config" => args.check = true,
            "--help" | "-h" => {
                print!("{USAGE}");
                return Ok(None);
            }
            "--version" | "-V" => {
                println!("monitoring-sidecar {}", monitoring_core::VERSION);
                return Ok(None);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprint!("monitoring-sidecar: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cfg = match AgentConfig::load(args.config.as_deref(), &ProcessEnv, &args.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("monitoring-sidecar: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("OK");
        return ExitCode::SUCCESS;
    }
    init_logging();
    let workers = cfg.ingest.workers;
    let runtime = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cfg, args))
}

fn init_logging() {
    let level =
        match std::env::var("MONITORING_SIDECAR_LOG").unwrap_or_default().to_ascii_lowercase().as_str() {
            "error" => tracing::Level::ERROR,
            "warn" => tracing::Level::WARN,
            "debug" => tracing::Level::DEBUG,
            "trace" => tracing::Level::TRACE,
            _ => tracing::Level::INFO,
        };
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cfg: AgentConfig, args: Args) -> ExitCode {
    let addr = match cfg.ingest.listen_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "bad configuration");
            return ExitCode::from(2);
        }
    };
    let listener = match server::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %addr, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let listen = cfg.ingest.listen.clone();
    let workers = cfg.ingest.workers;
    let backends: Vec<String> =
        cfg.core.direct_backends.iter().map(|b| format!("{}:{}", b.name, b.kind.type_name())).collect();
    let first = match tokio::task::spawn_blocking(move || Generation::new(cfg)).await {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => {
            tracing::error!(error = %agent_paths(e), "cannot start the backends");
            return ExitCode::from(2);
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start the backends");
            return ExitCode::FAILURE;
        }
    };
    let state = Arc::new(State::new(first));
    let agent = Arc::new(Agent::new(state.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);

    let (mut hup, mut term, mut int) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            tracing::error!("cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let shutdown_timeout = state.current().config.ingest.shutdown_timeout();
    // Open requests get 40% of the stop budget, the flush of the queue the rest.
    let drain = shutdown_timeout.mul_f64(0.4);
    let server = tokio::spawn(server::serve(agent.clone(), listener, stop_rx, drain));
    tracing::info!(
        listen = %bound, version = monitoring_core::VERSION, workers, backends = ?backends,
        pid = std::process::id(), "monitoring-sidecar listening"
    );

    let signal_name = loop {
        tokio::select! {
            _ = hup.recv() => reload(&agent, &args, &listen, workers).await,
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
        }
    };
    let started = Instant::now();
    let timeout = state.current().config.ingest.shutdown_timeout();
    tracing::info!(signal = signal_name, "stopping: no new connections, flushing the queue");
    state.stopping.store(true, std::sync::atomic::Ordering::Release);
    let _ = stop_tx.send(true);
    let _ = server.await;
    let left = timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(250));
    let flushed = state.shutdown(left).await;
    let (totals, _) = state.totals();
    let m = &agent.metrics;
    match flushed {
        Ok(()) => tracing::info!(
            received = m.received.get(),
            accepted = m.accepted.get(),
            delivered = totals.delivered,
            failed = totals.failed,
            dropped = totals.dropped,
            "stopped: queue flushed"
        ),
        Err(e) => tracing::warn!(
            error = %e, received = m.received.get(), accepted = m.accepted.get(), delivered = totals.delivered,
            failed = totals.failed, dropped = totals.dropped,
            "stopped at the deadline: what was not delivered is in the dead-letter files"
        ),
    }
    ExitCode::SUCCESS
}

/// SIGHUP: a new generation from the file, swapped in; the old one flushed and shut down.
async fn reload(agent: &Arc<Agent>, args: &Args, listen: &str, workers: usize) {
    let started = Instant::now();
    let cfg = match AgentConfig::load(args.config.as_deref(), &ProcessEnv, &args.overrides) {
        Ok(c) => c,
        Err(e) => {
            agent.metrics.reload(false);
            tracing::error!(error = %e, "reload failed: keeping the running configuration");
            return;
        }
    };
    if cfg.ingest.listen != listen {
        tracing::warn!(listen = %cfg.ingest.listen, "ingest.listen changed: it takes effect at the next restart");
    }
    if cfg.ingest.workers != workers {
        tracing::warn!(
            workers = cfg.ingest.workers,
            "ingest.workers changed: it takes effect at the next restart"
        );
    }
    let timeout = agent.state.current().config.ingest.shutdown_timeout();
    let next = match tokio::task::spawn_blocking(move || Generation::new(cfg)).await {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => {
            agent.metrics.reload(false);
            tracing::error!(error = %agent_paths(e), "reload failed: keeping the running configuration");
            return;
        }
        Err(e) => {
            agent.metrics.reload(false);
            tracing::error!(error = %e, "reload failed: keeping the running configuration");
            return;
        }
    };
    let backends: Vec<String> = next
        .config
        .core
        .direct_backends
        .iter()
        .map(|b| format!("{}:{}", b.name, b.kind.type_name()))
        .collect();
    let result = agent.state.swap(next, timeout).await;
    agent.metrics.reload(true);
    match result {
        Ok(()) => tracing::info!(
            backends = ?backends, took_ms = started.elapsed().as_millis() as u64,
            "configuration reloaded; the previous one's queue was flushed"
        ),
        Err(e) => tracing::warn!(
            backends = ?backends, error = %e,
            "configuration reloaded; the previous one's flush hit its deadline (see its dead-letter files)"
        ),
    }
}
