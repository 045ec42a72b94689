//! Listeners: plain HTTP through axum, HTTPS through rustls (TLS 1.2 or newer), each stopping
//! on the shutdown signal and draining in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long in-flight requests may take after a shutdown signal.
pub(crate) const DRAIN: Duration = Duration::from_secs(30);

/// Resolves once `stop` says so (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        let now = *stop.borrow_and_update();
        if now || stop.changed().await.is_err() {
            return;
        }
    }
}

/// Binds `addr`, naming it in the error.
pub(crate) async fn bind(what: &str, addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{what}: cannot listen on {addr}: {e}"))
}

/// Serves `app` over plain HTTP until `shutdown` fires, then drains.
pub(crate) async fn serve_http(
    listener: TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        stopped(&mut shutdown).await;
    })
    .await
    .map_err(|e| format!("http listener: {e}"))
}

/// TLS settings from `web.https`, `tlsCert`, `tlsKey`, `tlsMinVersion`, `tlsMaxVersion`.
pub(crate) fn tls_config(
    cert: &str,
    key: &str,
    min: &str,
    max: &str,
) -> Result<rustls::ServerConfig, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("web.tlsCert {cert:?}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("web.tlsCert {cert:?}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("web.tlsCert {cert:?}: no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("web.tlsKey {key:?}: {e}"))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match (min, max) {
        ("1.3", _) => vec![&rustls::version::TLS13],
        (_, "1.2") => vec![&rustls::version::TLS12],
        _ => vec![&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let mut config = rustls::ServerConfig::builder_with_protocol_versions(&versions)
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("web.tlsCert/tlsKey: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `app` over TLS until `shutdown` fires, then drains for up to [`DRAIN`].
pub(crate) async fn serve_https(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped(&mut shutdown) => break,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let mut stop = shutdown.clone();
        connections.spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let builder = Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}
