//! The `oidc` connector: log in with any OpenID Connect provider (Okta, Keycloak, Auth0,
//! Azure AD, Google as plain OIDC, another oxidex or Dex), with Dex's configuration fields.
//!
//! The browser goes to the provider with PKCE (S256) and a nonce; the code comes back to
//! `/callback` and is exchanged; the ID token is verified (signature against the provider's
//! key set, issuer, audience, expiry, nonce) and its claims, merged with user-info when
//! `getUserInfo` is set, are mapped by [`oxidex_core::connector::claims`]. The upstream
//! refresh token is kept (Dex's `{"RefreshToken": ...}` connector data) so refreshes ask the
//! provider again; ID and access tokens from other clients of the same provider can be
//! exchanged (RFC 8693). Endpoints are discovered on first use, not at start-up.
//!
//! See `docs/connectors/oidc.md` for every field.

mod config;
mod connector;
mod provider;

use std::sync::Arc;

use async_trait::async_trait;
use oxidex_core::Result;
use oxidex_core::connector::{Connector, ConnectorFactory, ConnectorRegistry, OpenContext};

pub use config::{
    ClaimMappingConfig, ClaimModifications, DiscoveryOverrides, FilterGroupClaims,
    ModifyGroupNames, NewGroupFromClaims, OidcConfig, PkceMethod, Settings,
};
pub use connector::{ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, OidcConnector};
pub use provider::{DiscoveryDocument, parse_key_set};

/// Type name of the connector.
pub const OIDC: &str = "oidc";

/// Registers the `oidc` type.
pub fn register(registry: &mut ConnectorRegistry) {
    registry.register(OIDC, Arc::new(OidcFactory));
}

/// Opens `oidc` connectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct OidcFactory;

impl OidcFactory {
    fn settings(ctx: &OpenContext, config: &serde_json::Value) -> Result<(Settings, Vec<String>)> {
        OidcConfig::parse(config.clone())
            .and_then(OidcConfig::settings)
            .map_err(crate::flow::config_error(ctx))
    }
}

#[async_trait]
impl ConnectorFactory for OidcFactory {
    async fn open(&self, ctx: &OpenContext, config: serde_json::Value) -> Result<Connector> {
        let (settings, warnings) = Self::settings(ctx, &config)?;
        let http = crate::flow::open_http(ctx, &settings.tls, warnings)?;
        let settings = Arc::new(settings);
        let provider = provider::Provider::new(settings.clone(), http);
        let connector = OidcConnector::new(ctx.id.clone(), settings, provider);
        Ok(Connector::callback(connector)
            .with_refresh()
            .with_token_identity()
            .build())
    }

    fn check(&self, ctx: &OpenContext, config: &serde_json::Value) -> Result<Vec<String>> {
        Self::settings(ctx, config).map(|(_, warnings)| warnings)
    }
}
