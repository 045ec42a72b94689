//! `oxidex admin refresh ...`, `version` and `discovery`: `ListRefresh`, `RevokeRefresh`,
//! `GetVersion`, `GetDiscovery`.

use clap::Subcommand;
use serde_json::json;

use oxidex_issuer_http::grpc::proto::{DiscoveryReq, ListRefreshReq, RevokeRefreshReq, VersionReq};

use super::output::{fields, quoted, table, timestamp};
use super::{Api, Failure, Out, status_failure};

#[derive(Debug, Subcommand)]
pub(super) enum RefreshCommand {
    /// A user's refresh tokens.
    List {
        /// The user's `sub` claim, as in their ID tokens.
        user_sub: String,
    },
    /// Revoke a user's refresh tokens for one client.
    Revoke {
        /// The user's `sub` claim, as in their ID tokens.
        user_sub: String,
        /// The client the tokens were issued to.
        client_id: String,
    },
}

pub(super) async fn refresh(
    api: &mut Api,
    command: RefreshCommand,
    out: &Out,
) -> Result<(), Failure> {
    match command {
        RefreshCommand::List { user_sub } => {
            let tokens = api
                .list_refresh(ListRefreshReq { user_id: user_sub })
                .await
                .map_err(|s| status_failure("list refresh tokens", &s))?
                .into_inner()
                .refresh_tokens;
            let listed: Vec<serde_json::Value> = tokens
                .iter()
                .map(|t| {
                    json!({
                        "id": t.id,
                        "client_id": t.client_id,
                        "created_at": t.created_at,
                        "last_used": t.last_used,
                    })
                })
                .collect();
            out.print(&json!({ "refresh_tokens": listed }), || {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.client_id.clone(),
                            timestamp(t.created_at),
                            timestamp(t.last_used),
                        ]
                    })
                    .collect();
                table(&["ID", "CLIENT ID", "CREATED AT", "LAST USED"], &rows)
            });
            Ok(())
        }
        RefreshCommand::Revoke {
            user_sub,
            client_id,
        } => {
            let response = api
                .revoke_refresh(RevokeRefreshReq {
                    user_id: user_sub,
                    client_id: client_id.clone(),
                })
                .await
                .map_err(|s| status_failure("revoke refresh tokens", &s))?
                .into_inner();
            if response.not_found {
                return Err(Failure::Failed(format!(
                    "refresh token of that user for client {} not found",
                    quoted(&client_id)
                )));
            }
            out.print(&json!({ "not_found": false }), || {
                format!("refresh tokens for client {} revoked\n", quoted(&client_id))
            });
            Ok(())
        }
    }
}

pub(super) async fn version(api: &mut Api, out: &Out) -> Result<(), Failure> {
    let version = api
        .get_version(VersionReq {})
        .await
        .map_err(|s| status_failure("get version", &s))?
        .into_inner();
    out.print(
        &json!({ "server": version.server, "api": version.api }),
        || {
            fields(&[
                ("server", version.server.clone()),
                ("api", version.api.to_string()),
            ])
        },
    );
    Ok(())
}

pub(super) async fn discovery(api: &mut Api, out: &Out) -> Result<(), Failure> {
    let d = api
        .get_discovery(DiscoveryReq {})
        .await
        .map_err(|s| status_failure("get discovery", &s))?
        .into_inner();
    let value = json!({
        "issuer": d.issuer,
        "authorization_endpoint": d.authorization_endpoint,
        "token_endpoint": d.token_endpoint,
        "jwks_uri": d.jwks_uri,
        "userinfo_endpoint": d.userinfo_endpoint,
        "device_authorization_endpoint": d.device_authorization_endpoint,
        "introspection_endpoint": d.introspection_endpoint,
        "grant_types_supported": d.grant_types_supported,
        "response_types_supported": d.response_types_supported,
        "subject_types_supported": d.subject_types_supported,
        "id_token_signing_alg_values_supported": d.id_token_signing_alg_values_supported,
        "code_challenge_methods_supported": d.code_challenge_methods_supported,
        "scopes_supported": d.scopes_supported,
        "token_endpoint_auth_methods_supported": d.token_endpoint_auth_methods_supported,
        "claims_supported": d.claims_supported,
    });
    out.print(&value, || {
        let words = |items: &[String]| items.join(" ");
        fields(&[
            ("issuer", d.issuer.clone()),
            ("authorization_endpoint", d.authorization_endpoint.clone()),
            ("token_endpoint", d.token_endpoint.clone()),
            ("jwks_uri", d.jwks_uri.clone()),
            ("userinfo_endpoint", d.userinfo_endpoint.clone()),
            (
                "device_authorization_endpoint",
                d.device_authorization_endpoint.clone(),
            ),
            ("introspection_endpoint", d.introspection_endpoint.clone()),
            ("grant_types_supported", words(&d.grant_types_supported)),
            (
                "response_types_supported",
                words(&d.response_types_supported),
            ),
            ("subject_types_supported", words(&d.subject_types_supported)),
            (
                "id_token_signing_alg_values_supported",
                words(&d.id_token_signing_alg_values_supported),
            ),
            (
                "code_challenge_methods_supported",
                words(&d.code_challenge_methods_supported),
            ),
            ("scopes_supported", words(&d.scopes_supported)),
            (
                "token_endpoint_auth_methods_supported",
                words(&d.token_endpoint_auth_methods_supported),
            ),
            ("claims_supported", words(&d.claims_supported)),
        ])
    });
    Ok(())
}
