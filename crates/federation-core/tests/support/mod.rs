//! Support shared by the engine's test binaries; each `tests/*.rs` is a crate of its own and
//! declares `mod support;` (`crates/issuer-http/tests` include it by path).
//!
//! - [`world`]: the engine over memory storage, a manual clock, a local signer and a password
//!   connector, with the request helpers the tests share.
//! - [`upstream`]: an upstream OpenID provider and the connector trusting it, for token
//!   exchange.
#![allow(dead_code, reason = "each test binary uses a different part")]

pub(crate) mod upstream;
pub(crate) mod world;
