//! The `ldap` connector (Dex `connector/ldap/ldap.go`): password login against an LDAP
//! directory or Active Directory, with groups and refresh.
//!
//! A login connects (LDAPS by default, StartTLS, or plain with `insecureNoSSL`), binds as the
//! service account (`bindDN`/`bindPW`, or anonymously), searches `userSearch.baseDN` with
//! `(&<filter>(<username attr>=<escaped username>))`, requires exactly one entry, and binds as
//! that entry's DN with the password. With the `groups` scope it then searches
//! `groupSearch.baseDN` once per user matcher value, following nested groups when
//! `recursionGroupAttr` is set. With `offline_access` it keeps the username and DN so
//! refresh can search the user again. Every connection and operation has a timeout
//! (`timeout`, default 10 s).
//!
//! Differences from Dex, all deliberate: `insecureNoSSL` with `startTLS` is refused (Dex
//! silently connects without TLS), `idAttr` and `emailAttr`/`emailSuffix` are required when
//! the connector is opened (Dex fails every login instead), a `kerberos` block is accepted
//! only with `enabled: false`, `groupAttr: DN` reads the group at the user's value (e.g. an
//! Active Directory `memberOf` DN), groups are de-duplicated, and the oxidex-only `timeout`
//! field exists. See `docs/connectors/ldap.md`.

mod config;
mod connector;
pub mod filter;
mod search;
mod session;

use std::sync::Arc;

use async_trait::async_trait;
use oxidex_core::connector::{Connector, ConnectorFactory, ConnectorRegistry, OpenContext};
use oxidex_core::{Error, Result};

pub use config::{
    DEFAULT_TIMEOUT, GroupSearchConfig, KerberosConfig, LdapConfig, UserMatcherConfig,
    UserSearchConfig, Usernames,
};
pub use connector::LdapConnector;

/// The type name, `ldap`.
pub const LDAP: &str = "ldap";

/// Registers the `ldap` type.
pub fn register(registry: &mut ConnectorRegistry) {
    registry.register(LDAP, Arc::new(LdapFactory));
}

/// Opens `ldap` connectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct LdapFactory;

impl LdapFactory {
    fn parse(
        ctx: &OpenContext,
        config: &serde_json::Value,
    ) -> Result<(config::Settings, Vec<String>)> {
        let to_error = |message: String| Error::ConnectorConfig {
            connector_id: ctx.id.clone(),
            message,
        };
        let (parsed, mut warnings) = config::parse_config(config).map_err(to_error)?;
        let (settings, more) = config::settings(&parsed).map_err(to_error)?;
        warnings.extend(more);
        Ok((settings, warnings))
    }
}

#[async_trait]
impl ConnectorFactory for LdapFactory {
    async fn open(&self, ctx: &OpenContext, config: serde_json::Value) -> Result<Connector> {
        let (settings, warnings) = Self::parse(ctx, &config)?;
        for warning in &warnings {
            tracing::warn!(connector = %ctx.id, "ldap: {warning}");
        }
        Ok(
            Connector::password(LdapConnector::new(ctx.id.clone(), settings))
                .with_refresh()
                .build(),
        )
    }

    fn check(&self, ctx: &OpenContext, config: &serde_json::Value) -> Result<Vec<String>> {
        Self::parse(ctx, config).map(|(_, warnings)| warnings)
    }
}
