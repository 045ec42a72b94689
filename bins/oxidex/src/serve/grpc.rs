//! `grpc.addr`: Dex's admin API (`api.Dex`) over gRPC, with TLS and client certificates
//! (`tlsCert`, `tlsKey`, `tlsClientCA`).
//!
//! The API creates clients and passwords, so a listener anyone can reach is refused: without
//! `tlsClientCA` it binds only to a loopback address, unless the operator says on the command
//! line that the port is protected some other way (`--grpc-allow-unauthenticated`).

use std::net::IpAddr;

use oxidex_core::oauth::Settings;
use oxidex_core::signer::SigningAlgorithm;
use oxidex_core::storage::Store;
use oxidex_issuer_http::grpc::{AdminApi, AdminOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::listen;
use crate::config;

/// Checks `grpc` before anything starts: a reachable listener needs client certificates.
pub(crate) fn refuse_unsafe(
    grpc: &config::Grpc,
    allow_unauthenticated: bool,
) -> Result<(), String> {
    if grpc.addr.is_empty() || !grpc.tls_client_ca.is_empty() || allow_unauthenticated {
        return Ok(());
    }
    if binds_loopback_only(&grpc.addr) {
        return Ok(());
    }
    Err(format!(
        "grpc.addr {} can be reached from other machines and grpc.tlsClientCA is not set: anyone \
         who reaches it could create clients and passwords. Set grpc.tlsCert, grpc.tlsKey and \
         grpc.tlsClientCA (mutual TLS), or listen on 127.0.0.1, or start with \
         --grpc-allow-unauthenticated if the port is protected some other way",
        grpc.addr
    ))
}

/// `true` if `addr` (`host:port`, `:port`, `[v6]:port`) listens on loopback only.
fn binds_loopback_only(addr: &str) -> bool {
    let host = match addr.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The bound listener and its TLS settings, ready to serve once the store is reachable.
pub(crate) struct GrpcListener {
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    addr: String,
    reflection: bool,
}

/// Binds `grpc.addr` and loads its certificates (errors name the key and file).
pub(crate) async fn bind(grpc: &config::Grpc) -> Result<GrpcListener, String> {
    let tls = if grpc.tls_cert.is_empty() {
        None
    } else {
        let read = |key: &str, path: &str| {
            std::fs::read(path).map_err(|e| format!("grpc.{key}: cannot read {path}: {e}"))
        };
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(
            read("tlsCert", &grpc.tls_cert)?,
            read("tlsKey", &grpc.tls_key)?,
        ));
        if !grpc.tls_client_ca.is_empty() {
            tls = tls.client_ca_root(Certificate::from_pem(read(
                "tlsClientCA",
                &grpc.tls_client_ca,
            )?));
        }
        Some(tls)
    };
    let listener = listen::bind("grpc.addr", &grpc.addr).await?;
    Ok(GrpcListener {
        listener,
        tls,
        addr: grpc.addr.clone(),
        reflection: grpc.reflection,
    })
}

impl GrpcListener {
    /// Serves the admin API over `store` until `stop`.
    pub(crate) async fn serve(
        self,
        store: Store,
        settings: &Settings,
        algorithm: SigningAlgorithm,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), String> {
        let api = AdminApi::new(store, settings, algorithm, AdminOptions::from_env())
            .map_err(|e| format!("grpc: {e}"))?;
        let mut builder = Server::builder();
        if let Some(tls) = self.tls {
            builder = builder
                .tls_config(tls)
                .map_err(|e| format!("grpc TLS: {e}"))?;
        }
        tracing::info!(
            addr = %self.addr,
            connectors_crud = api.options().connectors_crud,
            "listening (grpc admin API)"
        );
        let reflection = if self.reflection {
            Some(
                oxidex_issuer_http::grpc::reflection_service()
                    .map_err(|e| format!("grpc.reflection: {e}"))?,
            )
        } else {
            None
        };
        builder
            .add_service(api.into_server())
            .add_optional_service(reflection)
            .serve_with_incoming_shutdown(TcpIncoming::from(self.listener), async move {
                listen::stopped(&mut stop).await;
            })
            .await
            .map_err(|e| format!("grpc listener: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc(addr: &str, ca: &str) -> config::Grpc {
        config::Grpc {
            addr: addr.into(),
            tls_client_ca: ca.into(),
            ..config::Grpc::default()
        }
    }

    #[test]
    fn a_reachable_listener_needs_client_certificates() {
        for ok in ["127.0.0.1:5557", "localhost:5557", "[::1]:5557", ""] {
            assert!(refuse_unsafe(&grpc(ok, ""), false).is_ok(), "{ok}");
        }
        for open in ["0.0.0.0:5557", ":5557", "10.0.0.5:5557", "[::]:5557"] {
            let err = refuse_unsafe(&grpc(open, ""), false).unwrap_err();
            assert!(err.contains("grpc.tlsClientCA"), "{err}");
            assert!(refuse_unsafe(&grpc(open, "ca.pem"), false).is_ok());
            assert!(
                refuse_unsafe(&grpc(open, ""), true).is_ok(),
                "explicit override"
            );
        }
    }
}
