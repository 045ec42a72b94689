//! `/.well-known/openid-configuration` (OIDC Discovery §3) with Dex's field set
//! (`reference/dex.md` §1.2), serialized once at start-up.

use serde::Serialize;

use oxidex_core::oauth::{Settings, grant};
use oxidex_core::signer::SigningAlgorithm;

#[derive(Serialize)]
struct Discovery<'a> {
    issuer: &'a str,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    userinfo_endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_authorization_endpoint: Option<String>,
    introspection_endpoint: String,
    revocation_endpoint: String,
    grant_types_supported: Vec<&'a str>,
    response_types_supported: Vec<&'a str>,
    response_modes_supported: [&'static str; 3],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
    code_challenge_methods_supported: Vec<&'static str>,
    scopes_supported: [&'static str; 5],
    token_endpoint_auth_methods_supported: [&'static str; 2],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    revocation_endpoint_auth_methods_supported: [&'static str; 2],
    claims_supported: [&'static str; 14],
}

/// The grants the engine serves; an enabled grant outside this list is not advertised.
const SERVED_GRANTS: [&str; 7] = [
    grant::AUTHORIZATION_CODE,
    grant::REFRESH_TOKEN,
    grant::PASSWORD,
    grant::IMPLICIT,
    grant::CLIENT_CREDENTIALS,
    grant::DEVICE_CODE,
    grant::TOKEN_EXCHANGE,
];

/// How clients authenticate at the token, introspection and revocation endpoints.
const CLIENT_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// The discovery document's bytes: exactly the grants that are enabled, and the device
/// authorization endpoint only when the device grant is.
pub(crate) fn document(
    settings: &Settings,
    algorithm: SigningAlgorithm,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut grant_types: Vec<&str> = settings
        .grant_types
        .iter()
        .map(String::as_str)
        .filter(|g| SERVED_GRANTS.contains(g))
        .collect();
    grant_types.sort_unstable();
    let mut response_types: Vec<&str> =
        settings.response_types.iter().map(String::as_str).collect();
    response_types.sort_unstable();
    let methods = settings
        .pkce
        .methods
        .iter()
        .map(|m| match m {
            oxidex_core::model::PkceMethod::S256 => "S256",
            oxidex_core::model::PkceMethod::Plain => "plain",
        })
        .collect();
    let doc = Discovery {
        issuer: &settings.issuer,
        authorization_endpoint: settings.url("/auth"),
        token_endpoint: settings.url("/token"),
        jwks_uri: settings.url("/keys"),
        userinfo_endpoint: settings.url("/userinfo"),
        device_authorization_endpoint: settings
            .grant_enabled(grant::DEVICE_CODE)
            .then(|| settings.url("/device/code")),
        introspection_endpoint: settings.url("/token/introspect"),
        revocation_endpoint: settings.url("/token/revoke"),
        grant_types_supported: grant_types,
        response_types_supported: response_types,
        response_modes_supported: ["query", "fragment", "form_post"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: [algorithm.as_str()],
        code_challenge_methods_supported: methods,
        scopes_supported: ["openid", "email", "groups", "profile", "offline_access"],
        token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
        introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
        revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
        claims_supported: [
            "iss",
            "sub",
            "aud",
            "iat",
            "exp",
            "auth_time",
            "email",
            "email_verified",
            "locale",
            "name",
            "preferred_username",
            "at_hash",
            "groups",
            "federated_claims",
        ],
    };
    serde_json::to_vec_pretty(&doc)
}
