//! `oxidex-bare-http`: the baseline for the discovery and `/keys` figures of
//! `docs/performance.md`. A bare hyper server (HTTP/1.1 and HTTP/2, no middleware, no
//! routing table) that answers every GET with bytes held in memory: the key set for a path
//! ending in `/keys`, the discovery document otherwise.
//!
//! ```text
//! oxidex-bare-http --listen 127.0.0.1:5600 --discovery discovery.json --keys keys.json
//! ```

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// Serves two JSON documents from memory, as fast as hyper can.
#[derive(Debug, Parser)]
#[command(name = "oxidex-bare-http", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5600")]
    listen: String,
    /// The body of every GET not ending in `/keys` (a saved discovery document).
    #[arg(long)]
    discovery: PathBuf,
    /// The body of GETs ending in `/keys` (a saved key set).
    #[arg(long)]
    keys: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let read = |p: &PathBuf| {
        std::fs::read(p)
            .map(Bytes::from)
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let (discovery, keys) = match (read(&args.discovery), read(&args.keys)) {
        (Ok(d), Ok(k)) => (d, k),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("oxidex-bare-http: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("oxidex-bare-http: listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    eprintln!("oxidex-bare-http: listening on {}", args.listen);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("oxidex-bare-http: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (discovery, keys) = (discovery.clone(), keys.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let body = if request.uri().path().ends_with("/keys") {
                    keys.clone()
                } else {
                    discovery.clone()
                };
                async move { Ok::<_, Infallible>(answer(body)) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
