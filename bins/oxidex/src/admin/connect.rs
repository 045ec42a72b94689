//! Where the admin API is and how to reach it: flags, else environment variables (clap reads
//! both), else the `grpc.addr` of a config file, else Dex's default `127.0.0.1:5557`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::{Api, Failure, output};
use crate::config;

/// Dex's example `grpc.addr`.
const DEFAULT_ADDR: &str = "127.0.0.1:5557";

/// Shown after `oxidex admin --help`.
pub(super) const CONNECTION_HELP: &str = "\
Connection flags go before the command (oxidex admin --addr HOST:PORT clients list); --json
may go anywhere.

Connection: each setting comes from its flag, else its environment variable, else (the address
only) from the grpc.addr of --config, else 127.0.0.1:5557. Without --ca-cert the connection is
plain text (oxidex serves plain text only on a loopback address, unless started with
--grpc-allow-unauthenticated); with it, TLS.

--config reads only grpc.addr: a server's own grpc.tlsCert, grpc.tlsKey and grpc.tlsClientCA
are not client credentials. With mutual TLS, pass --ca-cert (the CA that signed the server's
certificate) and --client-cert/--client-key (a certificate signed by the CA in the server's
grpc.tlsClientCA).

Exit codes: 0 done; 1 the server refused, was unreachable, or answered \"not found\" or
\"already exists\"; 2 usage error.";

/// How to reach the admin API.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// The admin API's HOST:PORT.
    #[arg(
        long,
        env = "OXIDEX_ADMIN_ADDR",
        hide_env_values = true,
        value_name = "HOST:PORT"
    )]
    addr: Option<String>,
    /// PEM CA certificate that signed the server's certificate; turns TLS on.
    #[arg(
        long,
        env = "OXIDEX_ADMIN_CA_CERT",
        hide_env_values = true,
        value_name = "FILE"
    )]
    ca_cert: Option<PathBuf>,
    /// PEM client certificate, for a server with grpc.tlsClientCA (needs --client-key).
    #[arg(
        long,
        env = "OXIDEX_ADMIN_CLIENT_CERT",
        hide_env_values = true,
        value_name = "FILE"
    )]
    client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(
        long,
        env = "OXIDEX_ADMIN_CLIENT_KEY",
        hide_env_values = true,
        value_name = "FILE"
    )]
    client_key: Option<PathBuf>,
    /// The name to expect in the server's certificate (default: the host of the address).
    #[arg(
        long,
        env = "OXIDEX_ADMIN_SERVER_NAME",
        hide_env_values = true,
        value_name = "NAME"
    )]
    server_name: Option<String>,
    /// A server config file: its grpc.addr is used when no address is given. Its TLS files
    /// are the server's, not client credentials.
    #[arg(
        long,
        env = "OXIDEX_ADMIN_CONFIG",
        hide_env_values = true,
        value_name = "CONFIG"
    )]
    config: Option<PathBuf>,
}

/// A connection plan, checked but not yet dialled.
struct Plan {
    addr: String,
    tls: Option<ClientTlsConfig>,
}

impl Connection {
    /// Connects to the admin API.
    pub(super) async fn connect(self) -> Result<Api, Failure> {
        let plan = self.plan()?;
        let scheme = if plan.tls.is_some() { "https" } else { "http" };
        let usage =
            |e: &dyn std::fmt::Display| Failure::Usage(format!("--addr {}: {e}", plan.addr));
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", plan.addr))
            .map_err(|e| usage(&e))?
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        if let Some(tls) = plan.tls.clone() {
            endpoint = endpoint.tls_config(tls).map_err(|e| {
                let mut message = format!("TLS settings: {e}");
                append_causes(&mut message, &e);
                Failure::Usage(message)
            })?;
        }
        match endpoint.connect().await {
            Ok(channel) => Ok(Api::new(channel)),
            Err(e) => {
                let mut message = format!("cannot connect to {scheme}://{}: {e}", plan.addr);
                append_causes(&mut message, &e);
                Err(Failure::Failed(message))
            }
        }
    }

    /// TLS without a client certificate: a server with `grpc.tlsClientCA` closes such
    /// connections, which clients see only as a closed or cancelled transport.
    pub(super) fn lacks_client_certificate(&self) -> bool {
        self.ca_cert.is_some() && self.client_cert.is_none()
    }

    fn plan(self) -> Result<Plan, Failure> {
        let addr = match (self.addr, &self.config) {
            (Some(addr), _) => addr,
            (None, Some(path)) => addr_from_config(path, self.ca_cert.is_some())?,
            (None, None) => DEFAULT_ADDR.to_owned(),
        };
        check_addr(&addr)?;
        let Some(ca_cert) = self.ca_cert else {
            if self.client_cert.is_some() || self.client_key.is_some() {
                return Err(Failure::Usage(
                    "--client-cert and --client-key need --ca-cert: TLS is used only with \
                     --ca-cert"
                        .to_owned(),
                ));
            }
            if self.server_name.is_some() {
                return Err(Failure::Usage(
                    "--server-name needs --ca-cert: TLS is used only with --ca-cert".to_owned(),
                ));
            }
            return Ok(Plan { addr, tls: None });
        };
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read_pem("--ca-cert", &ca_cert)?));
        match (self.client_cert, self.client_key) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(Identity::from_pem(
                    read_pem("--client-cert", &cert)?,
                    read_pem("--client-key", &key)?,
                ));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(Failure::Usage(
                    "--client-cert needs --client-key".to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err(Failure::Usage(
                    "--client-key needs --client-cert".to_owned(),
                ));
            }
        };
        if let Some(name) = self.server_name {
            tls = tls.domain_name(name);
        }
        Ok(Plan {
            addr,
            tls: Some(tls),
        })
    }
}

fn read_pem(flag: &str, path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::Usage(format!("{flag}: cannot read {}: {e}", path.display())))
}

/// `grpc.addr` of the config file at `path`, as a client on the same machine dials it.
fn addr_from_config(path: &Path, tls: bool) -> Result<String, Failure> {
    let loaded = config::load_file(path, &config::Environment::from_process())
        .map_err(|e| Failure::Usage(format!("--config: {e}")))?;
    let grpc = &loaded.config.grpc;
    if grpc.addr.is_empty() {
        return Err(Failure::Usage(format!(
            "--config {}: grpc.addr is not set, so that server has no admin API",
            path.display()
        )));
    }
    if !grpc.tls_cert.is_empty() && !tls {
        return Err(Failure::Usage(format!(
            "--config {}: the server speaks TLS (grpc.tlsCert is set): pass --ca-cert with the CA \
             that signed its certificate{} (the server's own tlsCert, tlsKey and tlsClientCA are \
             not client credentials)",
            path.display(),
            if grpc.tls_client_ca.is_empty() {
                ""
            } else {
                ", and --client-cert/--client-key signed by the CA in its grpc.tlsClientCA"
            }
        )));
    }
    Ok(dialable(&grpc.addr))
}

/// A listen address as a client dials it: the wildcard (or no host) becomes loopback.
fn dialable(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("" | "0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]" | "::", port)) => format!("[::1]:{port}"),
        _ => listen.to_owned(),
    }
}

/// `HOST:PORT`, nothing else (no scheme, no path).
fn check_addr(addr: &str) -> Result<(), Failure> {
    let bad = || {
        Failure::Usage(format!(
            "--addr {addr:?}: expected HOST:PORT, e.g. 127.0.0.1:5557"
        ))
    };
    if addr.contains("://") || addr.contains('/') {
        return Err(bad());
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}

/// The canonical gRPC name of `code` (`NOT_FOUND`, ...).
pub(super) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Appends the causes of `error` that `message` does not already say.
pub(super) fn append_causes(message: &mut String, error: &(dyn std::error::Error + 'static)) {
    let mut source = error.source();
    while let Some(cause) = source {
        let text = output::clean(&cause.to_string());
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_become_dialable() {
        assert_eq!(dialable("0.0.0.0:5557"), "127.0.0.1:5557");
        assert_eq!(dialable(":5557"), "127.0.0.1:5557");
        assert_eq!(dialable("[::]:5557"), "[::1]:5557");
        assert_eq!(dialable("10.0.0.1:5557"), "10.0.0.1:5557");
    }

    #[test]
    fn addresses_are_host_and_port() {
        for ok in [
            "127.0.0.1:5557",
            "localhost:1",
            "[::1]:5557",
            "dex.example.com:443",
        ] {
            assert!(check_addr(ok).is_ok(), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "http://127.0.0.1:5557",
            ":5557",
            "host:port",
            "h:1/x",
        ] {
            assert!(check_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_text_refuses_client_certificates() {
        let connection = Connection {
            addr: Some("127.0.0.1:1".into()),
            ca_cert: None,
            client_cert: Some("c.pem".into()),
            client_key: Some("k.pem".into()),
            server_name: None,
            config: None,
        };
        assert!(matches!(connection.plan(), Err(Failure::Usage(m)) if m.contains("--ca-cert")));
    }
}
