//! Turning Dex's etcd settings into a connected client: endpoint URLs, TLS, authentication, and
//! errors that say which endpoints were tried and what to change.

use std::fmt::Write as _;
use std::time::Duration;

use etcd_client::{Certificate, ConnectOptions, Identity, TlsOptions};
use oxidex_core::{Error, Result};
use tokio::task::JoinSet;

use super::{BACKEND, DIAL_TIMEOUT, OP_TIMEOUT};
use crate::network_config::{EtcdConfig, EtcdSslConfig};

/// etcd's client port, used when an endpoint names none.
const DEFAULT_PORT: u16 = 2379;

/// Interval and timeout of HTTP/2 keep-alive pings, which notice a dead member between
/// requests. The interval stays above etcd's `--grpc-keepalive-min-time` (5 s by default), or
/// the server would close the connection for pinging too often.
const KEEP_ALIVE: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(10));

/// One configured endpoint, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// `http://host:port` or `https://host:port`, as handed to the client.
    pub(super) url: String,
    /// `host:port`, for the reachability probe.
    pub(super) authority: String,
}

/// Normalises the configured endpoints: `host:port`, `http://host:port` and
/// `https://host:port` are accepted; `https` is used exactly when `ssl` settings are present.
pub(super) fn endpoints(config: &EtcdConfig, tls: bool) -> Result<Vec<Endpoint>> {
    if config.endpoints.iter().all(|e| e.trim().is_empty()) {
        return Err(config_error(
            "no endpoints are configured: set `storage.config.endpoints` to the client URLs of \
             the cluster members, e.g. [\"http://127.0.0.1:2379\"]",
        ));
    }
    let mut out = Vec::new();
    for raw in config
        .endpoints
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
    {
        let lower = raw.to_ascii_lowercase();
        let (scheme, rest) = if lower.starts_with("https://") {
            (Some("https"), &raw["https://".len()..])
        } else if lower.starts_with("http://") {
            (Some("http"), &raw["http://".len()..])
        } else if lower.contains("://") {
            return Err(config_error(format!(
                "endpoint {raw:?}: only http:// and https:// URLs (or plain host:port) are supported"
            )));
        } else {
            (None, raw)
        };
        match (scheme, tls) {
            (Some("https"), false) => {
                return Err(config_error(format!(
                    "endpoint {raw:?} uses https, but `ssl.caFile` is not set: set it to the PEM \
                     file of the CA that signed the members' certificates"
                )));
            }
            (Some("http"), true) => {
                return Err(config_error(format!(
                    "endpoint {raw:?} uses plain http, but `ssl` settings are present: write \
                     https:// (or just host:port), or remove the `ssl` settings"
                )));
            }
            _ => {}
        }
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(config_error(format!(
                "endpoint {raw:?} is not a host:port or a URL without a path"
            )));
        }
        let authority = if has_port(authority) {
            authority.to_owned()
        } else {
            format!("{authority}:{DEFAULT_PORT}")
        };
        let scheme = if tls { "https" } else { "http" };
        let endpoint = Endpoint {
            url: format!("{scheme}://{authority}"),
            authority,
        };
        if !out.contains(&endpoint) {
            out.push(endpoint);
        }
    }
    Ok(out)
}

/// `host:port`, `[v6]:port` → true; `host`, `[v6]`, bare `v6` → false.
fn has_port(authority: &str) -> bool {
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    let host_ok = if authority.starts_with('[') {
        host.ends_with(']')
    } else {
        !host.contains(':')
    };
    host_ok && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
}

/// TLS options from `ssl`, or `None` when no `ssl` setting is present.
pub(super) fn tls_options(ssl: &EtcdSslConfig) -> Result<Option<TlsOptions>> {
    let any = [
        &ssl.server_name,
        &ssl.ca_file,
        &ssl.cert_file,
        &ssl.key_file,
    ]
    .iter()
    .any(|s| !s.is_empty());
    if !any {
        return Ok(None);
    }
    if ssl.ca_file.is_empty() {
        return Err(config_error(
            "`ssl` settings are present but `ssl.caFile` is not: set it to the PEM file of the \
             CA that signed the members' certificates (this build trusts no other CA)",
        ));
    }
    let mut tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(read_pem(&ssl.ca_file, "caFile")?))
        .timeout(DIAL_TIMEOUT);
    match (ssl.cert_file.is_empty(), ssl.key_file.is_empty()) {
        (true, true) => {}
        (false, false) => {
            tls = tls.identity(Identity::from_pem(
                read_pem(&ssl.cert_file, "certFile")?,
                read_pem(&ssl.key_file, "keyFile")?,
            ));
        }
        (false, true) => {
            return Err(config_error(
                "`ssl.certFile` is set but `ssl.keyFile` is not: a client certificate needs its \
                 private key",
            ));
        }
        (true, false) => {
            return Err(config_error(
                "`ssl.keyFile` is set but `ssl.certFile` is not: a client key needs its \
                 certificate",
            ));
        }
    }
    if !ssl.server_name.is_empty() {
        tls = tls.domain_name(ssl.server_name.clone());
    }
    Ok(Some(tls))
}

fn read_pem(path: &str, field: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::backend(BACKEND, format!("cannot read `ssl.{field}` {path}: {e}"), e)
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(config_error(format!(
            "`ssl.{field}` {path} is not a PEM file (no -----BEGIN line)"
        )));
    }
    Ok(bytes)
}

/// The client's options: timeouts, keep-alive, credentials, TLS.
pub(super) fn connect_options(
    config: &EtcdConfig,
    tls: Option<TlsOptions>,
) -> Result<ConnectOptions> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(DIAL_TIMEOUT)
        .with_timeout(OP_TIMEOUT)
        .with_keep_alive(KEEP_ALIVE.0, KEEP_ALIVE.1)
        // etcd's auth tokens expire (5 minutes for simple tokens); fetch a new one when they do.
        .with_auto_token_refresh(true);
    match (config.username.is_empty(), config.password.is_empty()) {
        (true, true) => {}
        (false, _) => options = options.with_user(&config.username, &config.password),
        (true, false) => {
            return Err(config_error(
                "`password` is set but `username` is not: set both, or neither when the \
                 cluster has authentication disabled",
            ));
        }
    }
    if let Some(tls) = tls {
        options = options.with_tls(tls);
    }
    Ok(options)
}

/// Opens a TCP connection to every endpoint at once, each within the dial timeout. Returns
/// `Ok` if at least one accepts; otherwise an error naming each endpoint and why it failed.
///
/// The etcd client connects lazily and keeps retrying unreachable members, so without this
/// a wrong address would only show up as a timeout, without the reason.
pub(super) async fn probe(endpoints: &[Endpoint]) -> Result<()> {
    let mut attempts = JoinSet::new();
    for (index, endpoint) in endpoints.iter().enumerate() {
        let authority = endpoint.authority.clone();
        attempts.spawn(async move {
            let outcome =
                match tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(authority))
                    .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!(
                        "no answer within the {} s dial timeout",
                        DIAL_TIMEOUT.as_secs()
                    )),
                };
            (index, outcome)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = attempts.join_next().await {
        match joined {
            Ok((_, Ok(()))) => return Ok(()),
            Ok((index, Err(reason))) => failures.push((index, reason)),
            Err(e) => failures.push((usize::MAX, format!("probe task failed: {e}"))),
        }
    }
    failures.sort();
    let mut message = String::from("cannot reach any etcd endpoint:");
    for (index, reason) in failures {
        let url = endpoints.get(index).map_or("(unknown)", |e| e.url.as_str());
        let _ = write!(message, " {url}: {reason};");
    }
    message.push_str(
        " check that etcd is running and that `storage.config.endpoints` lists its client URLs \
         (port 2379 by default)",
    );
    Err(Error::Backend {
        backend: BACKEND,
        message,
        source: None,
    })
}

/// The endpoints as a list for messages: `http://a:2379, http://b:2379`.
pub(super) fn endpoint_list(endpoints: &[Endpoint]) -> String {
    endpoints
        .iter()
        .map(|e| e.url.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn config_error(message: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: BACKEND,
        message: format!("invalid configuration: {message}"),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoints: &[&str]) -> EtcdConfig {
        EtcdConfig {
            endpoints: endpoints.iter().map(|s| (*s).to_owned()).collect(),
            ..EtcdConfig::default()
        }
    }

    fn urls(endpoints: &[&str], tls: bool) -> Result<Vec<String>> {
        Ok(super::endpoints(&config(endpoints), tls)?
            .into_iter()
            .map(|e| e.url)
            .collect())
    }

    #[test]
    fn endpoints_are_normalised() {
        assert_eq!(
            urls(
                &[
                    "127.0.0.1:2379",
                    "http://etcd-0:2379/",
                    " HTTP://etcd-1 ",
                    "[::1]:2381",
                    "[::1]",
                    "127.0.0.1:2379/"
                ],
                false
            )
            .unwrap(),
            [
                "http://127.0.0.1:2379",
                "http://etcd-0:2379",
                "http://etcd-1:2379",
                "http://[::1]:2381",
                "http://[::1]:2379",
            ]
        );
        assert_eq!(
            urls(&["etcd.example:2379", "https://etcd-1.example:2379"], true).unwrap(),
            ["https://etcd.example:2379", "https://etcd-1.example:2379"]
        );
    }

    #[test]
    fn bad_endpoints_say_what_to_fix() {
        for (endpoints, tls, needle) in [
            (&[][..], false, "no endpoints"),
            (&[" "][..], false, "no endpoints"),
            (&["https://e:2379"][..], false, "ssl.caFile"),
            (&["http://e:2379"][..], true, "plain http"),
            (&["unix:///run/etcd.sock"][..], false, "only http"),
            (&["e:2379/path"][..], false, "without a path"),
            (&["user:pw@e:2379"][..], false, "without a path"),
        ] {
            let err = urls(endpoints, tls).unwrap_err().to_string();
            assert!(err.contains(needle), "{endpoints:?}: {err}");
            assert!(
                err.starts_with("etcd storage: invalid configuration"),
                "{err}"
            );
        }
    }

    #[test]
    fn tls_settings_are_checked() {
        assert!(tls_options(&EtcdSslConfig::default()).unwrap().is_none());
        let ssl = |ca: &str, cert: &str, key: &str, name: &str| EtcdSslConfig {
            ca_file: ca.into(),
            cert_file: cert.into(),
            key_file: key.into(),
            server_name: name.into(),
        };
        let dir = std::env::temp_dir().join(format!("oxidex-etcd-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = dir.join("ca.pem");
        std::fs::write(
            &pem,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let not_pem = dir.join("ca.txt");
        std::fs::write(&not_pem, "hello").unwrap();
        let pem = pem.to_str().unwrap();
        let not_pem = not_pem.to_str().unwrap();

        assert!(
            tls_options(&ssl(pem, "", "", "etcd.internal"))
                .unwrap()
                .is_some()
        );
        for (ssl, needle) in [
            (ssl("", "", "", "etcd.internal"), "ssl.caFile"),
            (ssl(pem, pem, "", ""), "keyFile` is not"),
            (ssl(pem, "", pem, ""), "certFile` is not"),
            (
                ssl("/nonexistent/ca.pem", "", "", ""),
                "/nonexistent/ca.pem",
            ),
            (ssl(not_pem, "", "", ""), "not a PEM file"),
        ] {
            let err = tls_options(&ssl).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn password_without_user_is_refused() {
        let mut c = config(&["e:2379"]);
        c.password = "hunter2".into();
        let err = connect_options(&c, None).unwrap_err().to_string();
        assert!(err.contains("username"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn probe_names_every_endpoint() {
        // Bind and drop to find ports that nothing listens on.
        let mut endpoints = Vec::new();
        for _ in 0..2 {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            drop(listener);
            endpoints.push(Endpoint {
                url: format!("http://127.0.0.1:{port}"),
                authority: format!("127.0.0.1:{port}"),
            });
        }
        let err = probe(&endpoints).await.unwrap_err().to_string();
        for e in &endpoints {
            assert!(err.contains(&e.url), "{err}");
        }
        // One live endpoint is enough.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        endpoints.push(Endpoint {
            url: format!("http://127.0.0.1:{port}"),
            authority: format!("127.0.0.1:{port}"),
        });
        probe(&endpoints).await.unwrap();
    }
}
