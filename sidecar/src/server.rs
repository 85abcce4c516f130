//! The accept loop: HTTP/1.1 with keep-alive (hyper), a cap on open connections, the header
//! timeout (which is also the idle keep-alive limit), and a graceful stop that lets requests in
//! flight finish.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::handler::{handle, Agent};

/// Binds `addr` (SO_REUSEADDR, a backlog that absorbs bursts of new connections).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Serves until `stop` turns true, then closes the listener and waits up to `drain` for the
/// requests in flight (idle keep-alive connections are closed at once).
pub async fn serve(
    agent: Arc<Agent>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (stream, _peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, mostly: wait a little instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let generation = agent.state.current();
        let ingest = &generation.config.ingest;
        if open.load(Acquire) >= ingest.max_connections {
            agent.metrics.connections_refused.inc();
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(ingest.header_timeout())
            .max_buf_size(64 * 1024)
            .keep_alive(true);
        drop(generation);
        let a = agent.clone();
        let conn =
            builder.serve_connection(TokioIo::new(stream), service_fn(move |req| handle(a.clone(), req)));
        let conn = graceful.watch(conn);
        let open = open.clone();
        open.fetch_add(1, AcqRel);
        agent.metrics.connections.inc();
        let a = agent.clone();
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a timeout, bad HTTP): already answered or
            // nothing to answer.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
            open.fetch_sub(1, AcqRel);
            a.metrics.connections.dec();
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(open = open.load(Acquire), "requests still open at the drain deadline");
    }
}
