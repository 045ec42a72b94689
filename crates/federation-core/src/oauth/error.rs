//! OAuth 2.0 error codes (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; RFC 8628 §3.5; RFC 8693 §2.2.2)
//! and the engine's error value. The HTTP layer turns an [`OAuthError`] into a response in
//! exactly one place.

use std::borrow::Cow;
use std::fmt;

/// The `error` values oxidex sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client` (HTTP 401).
    InvalidClient,
    /// `invalid_grant`.
    InvalidGrant,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `access_denied`.
    AccessDenied,
    /// `unsupported_response_type`.
    UnsupportedResponseType,
    /// `request_not_supported` (OIDC Core §6.1: the `request` parameter).
    RequestNotSupported,
    /// `invalid_token` (RFC 6750 §3.1).
    InvalidToken,
    /// `server_error`.
    ServerError,
    /// `login_required` (OIDC Core §3.1.2.6: `prompt=none` without a session).
    LoginRequired,
    /// `authorization_pending` (RFC 8628 §3.5).
    AuthorizationPending,
    /// `slow_down` (RFC 8628 §3.5).
    SlowDown,
    /// `expired_token` (RFC 8628 §3.5).
    ExpiredToken,
    /// `unsupported_token_type` (RFC 7009 §2.2.1).
    UnsupportedTokenType,
    /// `invalid_target` (RFC 8693 §2.2.2).
    InvalidTarget,
}

impl ErrorCode {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::ServerError => "server_error",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidTarget => "invalid_target",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error: the code and description a client sees, and internal detail that is only
/// logged (never sent).
#[derive(Debug)]
pub struct OAuthError {
    /// The `error` value.
    pub code: ErrorCode,
    /// The `error_description` value, safe to show.
    pub description: Option<Cow<'static, str>>,
    /// What really happened, for logs.
    pub internal: Option<crate::Error>,
}

impl OAuthError {
    /// An error with a client-facing description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: Some(description.into()),
            internal: None,
        }
    }

    /// `server_error` hiding `internal` from the client.
    pub fn server(internal: crate::Error) -> Self {
        Self {
            code: ErrorCode::ServerError,
            description: None,
            internal: Some(internal),
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        if let Some(e) = &self.internal {
            write!(f, " ({e})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OAuthError {}

impl From<crate::Error> for OAuthError {
    fn from(e: crate::Error) -> Self {
        OAuthError::server(e)
    }
}
