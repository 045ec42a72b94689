//! # oxidex-core: the vocabulary of oxidex
//!
//! oxidex is an OpenID Connect issuer that federates upstream identity providers and is
//! compatible with [Dex](https://dexidp.io). This crate holds what every other part agrees on,
//! and nothing that needs an HTTP server, SQL or LDAP:
//!
//! * [`model`]: the records an issuer keeps (clients, authorization requests and codes,
//!   refresh tokens and their offline sessions, local passwords, signing keys, device-flow
//!   records, connector records) and what connectors hand back ([`model::Identity`]).
//! * [`storage`]: the object-safe [`Storage`](storage::Storage) trait every backend implements
//!   (six record operations with compare-and-swap), and [`Store`](storage::Store), the typed
//!   view the protocol engine uses.
//! * [`connector`]: the small capability traits an upstream connector implements, the
//!   [`Connector`](connector::Connector) value that says which of them it has, and the
//!   [`ConnectorRegistry`](connector::ConnectorRegistry) that maps Dex's type names to factories.
//! * [`signer`]: the [`Signer`](signer::Signer) trait that signs tokens and publishes keys.
//! * [`clock`]: time is an input; [`Clock`](clock::Clock) is the only way code learns the time.
//! * [`secret`], [`ids`], [`codec`]: hashed secrets with constant-time comparison, Dex's random
//!   identifiers, and Dex's wire encodings of `sub` and refresh tokens.
//! * [`Error`]: the one error enum of this crate; [`ErrorKind`] classifies it.
//!
//! Dependencies point one way: this crate ← `oxidex-storage`, `oxidex-connectors` ←
//! `oxidex-issuer-http` ← the binaries.

pub mod clock;
pub mod codec;
pub mod connector;
mod error;
pub mod ids;
pub mod jose;
pub mod model;
pub mod oauth;
pub mod secret;
pub mod signer;
pub mod storage;

pub use error::{BoxError, Error, ErrorKind, Result};
