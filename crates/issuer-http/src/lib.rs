//! # oxidex-issuer-http: the HTTP face of oxidex
//!
//! This crate will hold the axum `Router` builder that serves Dex's endpoints (discovery,
//! `/keys`, `/auth`, `/callback`, `/approval`, `/token`, `/userinfo`, ...) over the protocol
//! engine of `oxidex-core`, the page templates, and the one function that maps engine errors
//! to RFC 6749/6750 responses. It is built in the next step of the roadmap ("A working,
//! Dex-compatible OIDC issuer"); until then it only fixes the crate's place in the workspace:
//! `oxidex-core` ← `oxidex-storage`, `oxidex-connectors` ← `oxidex-issuer-http` ← binaries.
