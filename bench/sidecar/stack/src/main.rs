//! `sidecar-stack-bench STACK WORKERS PORT DIR`: STACK is `hyper` or `axum`, WORKERS 1 (a
//! current-thread runtime) or more (a work-stealing pool). Serves POST /v1/ingest/events on
//! 127.0.0.1:PORT, storing events as JSONL under DIR through a monitoring-core client.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use monitoring_core::Client;

fn answer(client: &Client, body: &[u8]) -> (StatusCode, &'static str) {
    match client.emit(body) {
        Ok(()) => (StatusCode::ACCEPTED, "{\"accepted\":1}"),
        Err(monitoring_core::Error::QueueFull) => {
            (StatusCode::TOO_MANY_REQUESTS, "{\"error\":\"queue full\"}")
        }
        Err(_) => (StatusCode::BAD_REQUEST, "{\"error\":\"invalid\"}"),
    }
}

async fn hyper_handler(
    client: Arc<Client>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let (code, text) = answer(&client, &body);
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = code;
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    Ok(r)
}

async fn serve_hyper(client: Arc<Client>, listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let c = client.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| hyper_handler(c.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn serve_axum(client: Arc<Client>, listener: tokio::net::TcpListener) {
    use axum::extract::State;
    use axum::routing::post;
    async fn ingest(State(client): State<Arc<Client>>, body: Bytes) -> impl axum::response::IntoResponse {
        let (code, text) = answer(&client, &body);
        (code, [("content-type", "application/json")], text)
    }
    use axum::serve::ListenerExt;
    let app = axum::Router::new().route("/v1/ingest/events", post(ingest)).with_state(client);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let _ = axum::serve(listener, app).await;
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("sidecar-stack-bench: {what}: {e}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        fail("usage", "sidecar-stack-bench hyper|axum WORKERS PORT DIR");
    }
    let workers: usize = args[2].parse().unwrap_or(1);
    let config = format!(
        "{{\"direct_backends\":[{{\"type\":\"filesystem\",\"name\":\"bench\",\"path\":\"{}\",\"fsync\":\"never\"}}],\
         \"spool\":{{\"path\":\"{}/spool\"}}}}",
        args[4], args[4]
    );
    let client = Arc::new(Client::configure(Some(&config), None).unwrap_or_else(|e| fail("client", e)));
    let rt = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
    .unwrap_or_else(|e| fail("runtime", e));
    let stack = args[1].clone();
    let port = args[3].clone();
    let c = client.clone();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| fail("bind", e));
        println!("listening");
        let stop = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    term.recv().await;
                }
                Err(e) => fail("signal", e),
            }
        };
        match stack.as_str() {
            "axum" => tokio::select! { _ = serve_axum(c, listener) => {}, _ = stop => {} },
            _ => tokio::select! { _ = serve_hyper(c, listener) => {}, _ = stop => {} },
        }
    });
    let _ = client.shutdown(std::time::Duration::from_secs(10));
}
