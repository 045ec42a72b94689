//! # oxidex-connectors: upstream identity connectors
//!
//! One module and one cargo feature per connector type, each implementing the capability
//! traits of [`oxidex_core::connector`] it supports, with Dex's configuration fields.
//! [`registry`] returns a [`ConnectorRegistry`] holding every type compiled in; hosts can add
//! their own types to it.
//!
//! | type | feature | capabilities |
//! |---|---|---|
//! | `mockCallback` | `mock` | callback, refresh, token identity |
//! | `mockPassword` | `mock` | password, refresh |
//! | `ldap` | `ldap` | password, refresh |
//! | `oidc` | `oidc` | callback, refresh, token identity |
//! | `oauth` | `oauth` | callback |
//!
//! SAML and the hosted providers follow in their own modules.

#[cfg(feature = "http-client")]
mod flow;
#[cfg(feature = "http-client")]
pub mod http;
#[cfg(feature = "ldap")]
pub mod ldap;
#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "oauth")]
pub mod oauth;
#[cfg(feature = "oidc")]
pub mod oidc;
#[cfg(feature = "tls")]
pub mod tls;

use oxidex_core::connector::ConnectorRegistry;

/// A registry with every connector type compiled into this crate.
pub fn registry() -> ConnectorRegistry {
    #[allow(unused_mut, reason = "empty when no connector feature is enabled")]
    let mut registry = ConnectorRegistry::new();
    #[cfg(feature = "mock")]
    mock::register(&mut registry);
    #[cfg(feature = "ldap")]
    ldap::register(&mut registry);
    #[cfg(feature = "oidc")]
    oidc::register(&mut registry);
    #[cfg(feature = "oauth")]
    oauth::register(&mut registry);
    registry
}
