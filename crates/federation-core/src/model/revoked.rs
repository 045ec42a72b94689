use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An access token revoked before its expiry (RFC 7009), by its `jti`. Userinfo and
/// introspection refuse a token listed here; garbage collection removes the entry once the
/// token would have expired anyway. Not in Dex, which cannot revoke access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub id: String,
    /// The token's `exp`: after it, the entry is no longer needed.
    pub expiry: DateTime<Utc>,
}
