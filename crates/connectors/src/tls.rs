//! TLS for connections to upstreams (LDAP servers, OIDC and OAuth2 providers): one rustls
//! client configuration over ring, built from Dex's settings (`rootCA`, `rootCAData`,
//! `rootCAs`, `clientCert`/`clientKey`, `insecureSkipVerify`).

use std::sync::Arc;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Which certificates a connection to an upstream trusts, and how it identifies itself.
#[derive(Debug, Default, Clone)]
pub struct UpstreamTls {
    /// Trusted roots besides (or instead of) the system's, DER.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Also trust the operating system's roots. Dex's HTTP connectors add their `rootCAs` to the
    /// system pool; its LDAP connector trusts only `rootCA` when one is given.
    pub system_roots: bool,
    /// A client certificate chain and key (LDAP `clientCert`/`clientKey`).
    pub client_identity: Option<ClientIdentity>,
    /// Accept any server certificate (Dex `insecureSkipVerify`). Only for tests.
    pub insecure_skip_verify: bool,
}

/// A client certificate chain with its private key.
#[derive(Debug)]
pub struct ClientIdentity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl UpstreamTls {
    /// Adds every certificate of a PEM bundle to the trusted roots; `what` names the setting in
    /// the error.
    pub fn add_roots_pem(&mut self, pem: &[u8], what: &str) -> Result<(), String> {
        let before = self.extra_roots.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("{what}: not a PEM certificate bundle: {e}"))?;
            self.extra_roots.push(cert);
        }
        if self.extra_roots.len() == before {
            return Err(format!("{what}: no PEM certificate found"));
        }
        Ok(())
    }

    /// Adds a root given the way Dex's `rootCAs` entries are: PEM text, a file path, or
    /// base64-encoded PEM.
    pub fn add_root_reference(&mut self, value: &str, what: &str) -> Result<(), String> {
        let value = value.trim();
        if value.starts_with("-----BEGIN") {
            return self.add_roots_pem(value.as_bytes(), what);
        }
        match std::fs::read(value) {
            Ok(pem) => self.add_roots_pem(&pem, &format!("{what} (file {value})")),
            Err(read_error) => match base64::engine::general_purpose::STANDARD.decode(value) {
                Ok(pem) => self.add_roots_pem(&pem, &format!("{what} (base64 data)")),
                Err(_) => Err(format!(
                    "{what}: {value:?} is neither a readable file ({read_error}) nor base64 PEM data"
                )),
            },
        }
    }

    /// Sets the client identity from PEM files (certificate chain, then key).
    pub fn set_client_identity_pem(
        &mut self,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<(), String> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("clientCert: not a PEM certificate: {e}"))?;
        if chain.is_empty() {
            return Err("clientCert: no PEM certificate found".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| format!("clientKey: not a PEM private key: {e}"))?;
        self.client_identity = Some(ClientIdentity { chain, key });
        Ok(())
    }

    /// The rustls configuration: TLS 1.2 and 1.3 over ring.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let builder = if self.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        } else {
            builder.with_root_certificates(self.root_store()?)
        };
        match &self.client_identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|e| format!("clientCert/clientKey: {e}")),
            None => Ok(builder.with_no_client_auth()),
        }
    }

    fn root_store(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        if self.system_roots {
            // Unreadable entries in the system store are skipped, as Go's SystemCertPool does.
            let native = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(native.certs);
        }
        for root in &self.extra_roots {
            store
                .add(root.clone())
                .map_err(|e| format!("a configured root CA is not usable: {e}"))?;
        }
        if store.is_empty() {
            return Err(
                "no trusted root certificates: the system has none and no root CA is configured"
                    .into(),
            );
        }
        Ok(store)
    }
}

/// `insecureSkipVerify`: checks handshake signatures but trusts any certificate.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_references_name_the_setting_when_unusable() {
        let mut tls = UpstreamTls::default();
        let err = tls
            .add_root_reference("/no/such/file.pem", "rootCAs[0]")
            .unwrap_err();
        assert!(err.starts_with("rootCAs[0]:"), "{err}");
        let err = tls.add_roots_pem(b"not pem", "rootCA").unwrap_err();
        assert!(err.contains("rootCA: no PEM certificate"), "{err}");
    }

    #[test]
    fn insecure_configuration_builds_without_roots() {
        let tls = UpstreamTls {
            insecure_skip_verify: true,
            ..UpstreamTls::default()
        };
        assert!(tls.client_config().is_ok());
        let none = UpstreamTls::default();
        assert!(
            none.client_config()
                .unwrap_err()
                .contains("no trusted root")
        );
    }
}
