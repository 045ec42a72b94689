//! Dex's `storage.config` for the networked backends: `postgres` and `mysql` share Dex's
//! `NetworkDB` keys, `etcd` has its own. Kept apart from the backends so the configuration
//! loader can name these types whichever backends a build includes.

use serde::Deserialize;

/// `storage.config` for `type: postgres` and `type: mysql` (Dex `NetworkDB` plus `ssl`).
///
/// Every field is optional in the file; what an absent field means differs between the two
/// engines (Dex's defaults), so the backends resolve them: see `PostgresStorage::open` and
/// `MysqlStorage::open`, and `docs/storage-postgres.md` and `docs/storage-mysql.md` for every
/// key, its default, the TLS modes and how the pool settings map.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct NetworkDbConfig {
    /// Database name.
    #[serde(default)]
    pub database: String,
    /// User name.
    #[serde(default)]
    pub user: String,
    /// Password (Dex expands `$VAR` references before this is read).
    #[serde(default)]
    pub password: String,
    /// Host name or address, optionally `host:port`; for PostgreSQL a path starting with `/`
    /// names a Unix socket directory.
    #[serde(default)]
    pub host: String,
    /// Port; 0 or absent means the engine's default (5432, 3306) or the port in `host`.
    #[serde(default)]
    pub port: u16,
    /// Seconds to wait for a connection; 0 or absent means the backend's default.
    #[serde(default)]
    pub connection_timeout: u64,
    /// Most connections open at once (Dex default 5).
    #[serde(default)]
    pub max_open_conns: Option<u32>,
    /// Most idle connections kept (Dex default 5 for PostgreSQL, 0 for MySQL).
    #[serde(default)]
    pub max_idle_conns: Option<u32>,
    /// Seconds after which a connection is closed and replaced; 0 or absent means never.
    #[serde(default)]
    pub conn_max_lifetime: u64,
    /// TLS settings.
    #[serde(default)]
    pub ssl: SslConfig,
}

impl std::fmt::Debug for NetworkDbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkDbConfig")
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &redacted(&self.password))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("connection_timeout", &self.connection_timeout)
            .field("max_open_conns", &self.max_open_conns)
            .field("max_idle_conns", &self.max_idle_conns)
            .field("conn_max_lifetime", &self.conn_max_lifetime)
            .field("ssl", &self.ssl)
            .finish()
    }
}

/// `storage.config.ssl` for `postgres` and `mysql`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct SslConfig {
    /// PostgreSQL: `disable`, `require`, `verify-ca`, `verify-full` (Dex default).
    /// MySQL: `true` (Dex default), `false`, `skip-verify`, `custom` (verify against `caFile`).
    #[serde(default)]
    pub mode: String,
    /// PEM file of the CA that signed the server's certificate.
    #[serde(default)]
    pub ca_file: String,
    /// PEM client certificate, for servers that require one.
    #[serde(default)]
    pub cert_file: String,
    /// PEM private key of `certFile`.
    #[serde(default)]
    pub key_file: String,
}

/// `storage.config` for `type: postgres`.
pub type PostgresConfig = NetworkDbConfig;

/// `storage.config` for `type: mysql`.
pub type MysqlConfig = NetworkDbConfig;

/// `storage.config` for `type: etcd` (Dex's keys); opened by `EtcdStorage::open`, described in
/// `docs/storage-etcd.md`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct EtcdConfig {
    /// Client URLs or `host:port` pairs of the cluster members: `host:port`,
    /// `http://host:port` or `https://host:port`, the port defaulting to 2379. `https` is used
    /// exactly when some `ssl` setting is present.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Prefix put before every key, so several issuers can share one cluster (a plain
    /// prefix, as in Dex: usually ends with `/`, and must not be a prefix of another
    /// deployment's namespace).
    #[serde(default)]
    pub namespace: String,
    /// User name, when the cluster has authentication enabled; its role needs readwrite
    /// permission on the `namespace` prefix.
    #[serde(default)]
    pub username: String,
    /// Password of `username`; never shown in messages or `Debug` output.
    #[serde(default)]
    pub password: String,
    /// TLS settings.
    #[serde(default)]
    pub ssl: EtcdSslConfig,
}

impl std::fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdConfig")
            .field("endpoints", &self.endpoints)
            .field("namespace", &self.namespace)
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("ssl", &self.ssl)
            .finish()
    }
}

/// `storage.config.ssl` for `etcd`. Setting any field turns TLS on, and then `ca_file` is
/// required (the client trusts only that CA).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct EtcdSslConfig {
    /// Name expected in the server's certificate, when it differs from the endpoint host.
    #[serde(default)]
    pub server_name: String,
    /// PEM file of the CA that signed the members' certificates.
    #[serde(default)]
    pub ca_file: String,
    /// PEM private key of `certFile`.
    #[serde(default)]
    pub key_file: String,
    /// PEM client certificate, for members started with `--client-cert-auth`; needs
    /// `keyFile`.
    #[serde(default)]
    pub cert_file: String,
}

fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() { "" } else { "<redacted>" }
}
