//! The calls of `api.Dex`, with Dex's semantics (`server/api.go` of v2.45; `reference/dex.md`
//! §8). Errors become gRPC statuses here and only here ([`storage_status`]); storage failures
//! are logged for the operator and answered with a bare `INTERNAL`. Hashes, client secrets and
//! connector configurations never reach a log line.

use oxidex_core::codec::Subject;
use oxidex_core::model::{Client, ConnectorRecord, OfflineSessions, Password, RefreshToken};
use oxidex_core::secret::ClientSecret;
use oxidex_core::storage::RecordKind;
use oxidex_core::{Error, ErrorKind, ids};
use serde::Deserialize;
use tonic::{Request, Response, Status};

use super::proto::{
    self, ClientInfo, CreateClientReq, CreateClientResp, CreateConnectorReq, CreateConnectorResp,
    CreatePasswordReq, CreatePasswordResp, DeleteClientReq, DeleteClientResp, DeleteConnectorReq,
    DeleteConnectorResp, DeletePasswordReq, DeletePasswordResp, DiscoveryReq, DiscoveryResp,
    GetClientReq, GetClientResp, ListClientReq, ListClientResp, ListConnectorReq,
    ListConnectorResp, ListPasswordReq, ListPasswordResp, ListRefreshReq, ListRefreshResp,
    RefreshTokenRef, RevokeRefreshReq, RevokeRefreshResp, UpdateClientReq, UpdateClientResp,
    UpdateConnectorReq, UpdateConnectorResp, UpdatePasswordReq, UpdatePasswordResp,
    VerifyPasswordReq, VerifyPasswordResp, VersionReq, VersionResp,
};
use super::{API_VERSION, AdminApi, CONNECTORS_CRUD_ENV};

/// bcrypt costs Dex accepts from the API (`checkCost`: at least Go's `bcrypt.DefaultCost`, at
/// most 16, above which a login would take seconds).
const MIN_BCRYPT_COST: u32 = 10;
const MAX_BCRYPT_COST: u32 = 16;

type Answer<T> = Result<Response<T>, Status>;

/// A storage error as a gRPC status. `what` names the operation for the message.
fn storage_status(what: &str, error: &Error) -> Status {
    match error.kind() {
        // The message names the record ("client \"x\" is defined in the configuration file and
        // is read-only"); Dex answers a plain error here too.
        ErrorKind::ReadOnly => Status::failed_precondition(format!("{what}: {error}")),
        ErrorKind::Invalid => Status::invalid_argument(format!("{what}: {error}")),
        ErrorKind::NotFound => Status::not_found(format!("{what}: {error}")),
        ErrorKind::Conflict => Status::aborted(format!("{what}: {error}")),
        _ => {
            // Storage errors carry no record values (hashes, secrets), only kinds and keys.
            tracing::error!(error = %error, "admin API: {what} failed");
            Status::internal(format!("{what}: storage failure"))
        }
    }
}

fn required(value: &str, message: &'static str) -> Result<(), Status> {
    if value.is_empty() {
        Err(Status::invalid_argument(message))
    } else {
        Ok(())
    }
}

/// A bcrypt hash from the wire, refused unless its cost is within Dex's bounds.
fn checked_hash(bytes: Vec<u8>) -> Result<String, Status> {
    let hash = String::from_utf8(bytes)
        .map_err(|_| Status::invalid_argument("the password hash is not a bcrypt hash"))?;
    let parts = hash
        .parse::<bcrypt::HashParts>()
        .map_err(|_| Status::invalid_argument("the password hash is not a bcrypt hash"))?;
    let cost = parts.get_cost();
    if cost < MIN_BCRYPT_COST {
        return Err(Status::invalid_argument(format!(
            "given hash cost = {cost} does not match minimum cost = {MIN_BCRYPT_COST}"
        )));
    }
    if cost > MAX_BCRYPT_COST {
        return Err(Status::invalid_argument(format!(
            "given hash cost = {cost} is higher than the maximum cost = {MAX_BCRYPT_COST}"
        )));
    }
    Ok(hash)
}

fn decode_sub(user_id: &str) -> Result<Subject, Status> {
    Subject::decode(user_id).ok_or_else(|| {
        Status::invalid_argument("user_id must be the user's `sub` claim as issued in ID tokens")
    })
}

fn to_wire(client: Client) -> proto::Client {
    proto::Client {
        secret: client.secret.expose().to_owned(),
        id: client.id,
        redirect_uris: client.redirect_uris,
        trusted_peers: client.trusted_peers,
        public: client.public,
        name: client.name,
        logo_url: client.logo_url,
    }
}

fn connector_to_wire(record: ConnectorRecord) -> Result<proto::Connector, Status> {
    let config = if record.config.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&record.config).map_err(|_| {
            Status::internal(format!(
                "connector {:?}: configuration cannot be encoded",
                record.id
            ))
        })?
    };
    Ok(proto::Connector {
        id: record.id,
        r#type: record.connector_type,
        name: record.name,
        config,
    })
}

/// The discovery fields Dex's `DiscoveryResp` carries, read back from the HTTP document.
#[derive(Deserialize)]
struct DiscoveryFields {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    userinfo_endpoint: String,
    #[serde(default)]
    device_authorization_endpoint: String,
    introspection_endpoint: String,
    grant_types_supported: Vec<String>,
    response_types_supported: Vec<String>,
    subject_types_supported: Vec<String>,
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    scopes_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<String>,
    claims_supported: Vec<String>,
}

/// `GetDiscovery`'s answer from the bytes the HTTP endpoint serves, so both always agree.
pub(super) fn discovery_response(document: &[u8]) -> Result<DiscoveryResp, serde_json::Error> {
    let d: DiscoveryFields = serde_json::from_slice(document)?;
    Ok(DiscoveryResp {
        issuer: d.issuer,
        authorization_endpoint: d.authorization_endpoint,
        token_endpoint: d.token_endpoint,
        jwks_uri: d.jwks_uri,
        userinfo_endpoint: d.userinfo_endpoint,
        device_authorization_endpoint: d.device_authorization_endpoint,
        introspection_endpoint: d.introspection_endpoint,
        grant_types_supported: d.grant_types_supported,
        response_types_supported: d.response_types_supported,
        subject_types_supported: d.subject_types_supported,
        id_token_signing_alg_values_supported: d.id_token_signing_alg_values_supported,
        code_challenge_methods_supported: d.code_challenge_methods_supported,
        scopes_supported: d.scopes_supported,
        token_endpoint_auth_methods_supported: d.token_endpoint_auth_methods_supported,
        claims_supported: d.claims_supported,
    })
}

impl AdminApi {
    fn connectors_allowed(&self) -> Result<(), Status> {
        if self.options.connectors_crud {
            Ok(())
        } else {
            Err(Status::failed_precondition(format!(
                "{CONNECTORS_CRUD_ENV} feature flag is not enabled"
            )))
        }
    }
}

#[tonic::async_trait]
impl super::Dex for AdminApi {
    async fn get_client(&self, request: Request<GetClientReq>) -> Answer<GetClientResp> {
        let id = request.into_inner().id;
        required(&id, "no client id supplied")?;
        let client = self
            .store
            .get::<Client>(&id)
            .await
            .map_err(|e| storage_status("get client", &e))?
            .value;
        Ok(Response::new(GetClientResp {
            client: Some(to_wire(client)),
        }))
    }

    async fn create_client(&self, request: Request<CreateClientReq>) -> Answer<CreateClientResp> {
        let Some(mut wire) = request.into_inner().client else {
            return Err(Status::invalid_argument("no client supplied"));
        };
        let internal = |e: Error| storage_status("create client", &e);
        if wire.id.is_empty() {
            wire.id = ids::new_id().map_err(internal)?;
        }
        if wire.secret.is_empty() && !wire.public {
            // Dex: two ids back to back, 50 characters.
            wire.secret = format!(
                "{}{}",
                ids::new_id().map_err(internal)?,
                ids::new_id().map_err(internal)?
            );
        }
        let client = Client {
            id: wire.id.clone(),
            secret: ClientSecret::new(wire.secret.clone()),
            redirect_uris: wire.redirect_uris.clone(),
            trusted_peers: wire.trusted_peers.clone(),
            public: wire.public,
            name: wire.name.clone(),
            logo_url: wire.logo_url.clone(),
            ..Client::default()
        };
        match self.store.create(&client).await {
            Ok(_) => Ok(Response::new(CreateClientResp {
                already_exists: false,
                client: Some(wire),
            })),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Response::new(CreateClientResp {
                already_exists: true,
                client: None,
            })),
            Err(e) => Err(internal(e)),
        }
    }

    async fn update_client(&self, request: Request<UpdateClientReq>) -> Answer<UpdateClientResp> {
        let req = request.into_inner();
        required(&req.id, "update client: no client id supplied")?;
        let result = self
            .store
            .update::<Client, _>(&req.id, |mut old| {
                // proto3 cannot tell an empty list from an absent one: empty keeps.
                if !req.redirect_uris.is_empty() {
                    old.redirect_uris = req.redirect_uris.clone();
                }
                if !req.trusted_peers.is_empty() {
                    old.trusted_peers = req.trusted_peers.clone();
                }
                if !req.name.is_empty() {
                    old.name = req.name.clone();
                }
                if !req.logo_url.is_empty() {
                    old.logo_url = req.logo_url.clone();
                }
                Ok(old)
            })
            .await;
        match result {
            Ok(_) => Ok(Response::new(UpdateClientResp { not_found: false })),
            Err(e) if e.is_not_found() => Ok(Response::new(UpdateClientResp { not_found: true })),
            Err(e) => Err(storage_status("update client", &e)),
        }
    }

    async fn delete_client(&self, request: Request<DeleteClientReq>) -> Answer<DeleteClientResp> {
        let id = request.into_inner().id;
        required(&id, "delete client: no client id supplied")?;
        match self.store.delete::<Client>(&id).await {
            Ok(()) => Ok(Response::new(DeleteClientResp { not_found: false })),
            Err(e) if e.is_not_found() => Ok(Response::new(DeleteClientResp { not_found: true })),
            Err(e) => Err(storage_status("delete client", &e)),
        }
    }

    async fn list_clients(&self, _request: Request<ListClientReq>) -> Answer<ListClientResp> {
        let clients = self
            .store
            .list::<Client>()
            .await
            .map_err(|e| storage_status("list clients", &e))?
            .into_iter()
            .map(|c| ClientInfo {
                id: c.id,
                redirect_uris: c.redirect_uris,
                trusted_peers: c.trusted_peers,
                public: c.public,
                name: c.name,
                logo_url: c.logo_url,
            })
            .collect();
        Ok(Response::new(ListClientResp { clients }))
    }

    async fn create_password(
        &self,
        request: Request<CreatePasswordReq>,
    ) -> Answer<CreatePasswordResp> {
        let Some(wire) = request.into_inner().password else {
            return Err(Status::invalid_argument("no password supplied"));
        };
        required(&wire.email, "no email supplied")?;
        required(&wire.user_id, "no user ID supplied")?;
        if wire.hash.is_empty() {
            return Err(Status::invalid_argument("no hash of password supplied"));
        }
        let hash = checked_hash(wire.hash)?;
        let password = Password {
            email: wire.email,
            hash,
            username: wire.username,
            user_id: wire.user_id,
            ..Password::default()
        };
        match self.store.create(&password).await {
            Ok(_) => Ok(Response::new(CreatePasswordResp {
                already_exists: false,
            })),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                Ok(Response::new(CreatePasswordResp {
                    already_exists: true,
                }))
            }
            Err(e) => Err(storage_status("create password", &e)),
        }
    }

    async fn update_password(
        &self,
        request: Request<UpdatePasswordReq>,
    ) -> Answer<UpdatePasswordResp> {
        let req = request.into_inner();
        required(&req.email, "no email supplied")?;
        if req.new_hash.is_empty() && req.new_username.is_empty() {
            return Err(Status::invalid_argument("nothing to update"));
        }
        let new_hash = if req.new_hash.is_empty() {
            None
        } else {
            Some(checked_hash(req.new_hash)?)
        };
        let result = self
            .store
            .update::<Password, _>(&req.email, |mut old| {
                if let Some(hash) = &new_hash {
                    old.hash = hash.clone();
                }
                if !req.new_username.is_empty() {
                    old.username = req.new_username.clone();
                }
                Ok(old)
            })
            .await;
        match result {
            Ok(_) => Ok(Response::new(UpdatePasswordResp { not_found: false })),
            Err(e) if e.is_not_found() => Ok(Response::new(UpdatePasswordResp { not_found: true })),
            Err(e) => Err(storage_status("update password", &e)),
        }
    }

    async fn delete_password(
        &self,
        request: Request<DeletePasswordReq>,
    ) -> Answer<DeletePasswordResp> {
        let email = request.into_inner().email;
        required(&email, "no email supplied")?;
        match self.store.delete::<Password>(&email).await {
            Ok(()) => Ok(Response::new(DeletePasswordResp { not_found: false })),
            Err(e) if e.is_not_found() => Ok(Response::new(DeletePasswordResp { not_found: true })),
            Err(e) => Err(storage_status("delete password", &e)),
        }
    }

    async fn list_passwords(&self, _request: Request<ListPasswordReq>) -> Answer<ListPasswordResp> {
        let passwords = self
            .store
            .list::<Password>()
            .await
            .map_err(|e| storage_status("list passwords", &e))?
            .into_iter()
            .map(|p| proto::Password {
                email: p.email,
                hash: p.hash.into_bytes(),
                username: p.username,
                user_id: p.user_id,
            })
            .collect();
        Ok(Response::new(ListPasswordResp { passwords }))
    }

    async fn verify_password(
        &self,
        request: Request<VerifyPasswordReq>,
    ) -> Answer<VerifyPasswordResp> {
        let req = request.into_inner();
        required(&req.email, "no email supplied")?;
        required(&req.password, "no password supplied")?;
        let record = match self.store.get::<Password>(&req.email).await {
            Ok(record) => record.value,
            Err(e) if e.is_not_found() => {
                return Ok(Response::new(VerifyPasswordResp {
                    verified: false,
                    not_found: true,
                }));
            }
            Err(e) => return Err(storage_status("verify password", &e)),
        };
        // bcrypt takes tens of milliseconds: keep it off the async workers.
        let verified =
            tokio::task::spawn_blocking(move || bcrypt::verify(req.password, &record.hash))
                .await
                .map_err(|_| Status::internal("verify password: the check did not finish"))?
                // A hash bcrypt cannot read verifies nothing (Dex: compare error → false).
                .unwrap_or(false);
        Ok(Response::new(VerifyPasswordResp {
            verified,
            not_found: false,
        }))
    }

    async fn create_connector(
        &self,
        request: Request<CreateConnectorReq>,
    ) -> Answer<CreateConnectorResp> {
        self.connectors_allowed()?;
        let Some(wire) = request.into_inner().connector else {
            return Err(Status::invalid_argument("no connector supplied"));
        };
        required(&wire.id, "no id supplied")?;
        required(&wire.r#type, "no type supplied")?;
        required(&wire.name, "no name supplied")?;
        if wire.config.is_empty() {
            return Err(Status::invalid_argument("no config supplied"));
        }
        let config: serde_json::Value = serde_json::from_slice(&wire.config)
            .map_err(|_| Status::invalid_argument("invalid config supplied"))?;
        let record = ConnectorRecord {
            id: wire.id,
            connector_type: wire.r#type,
            name: wire.name,
            resource_version: "1".to_owned(),
            config,
            grant_types: Vec::new(),
        };
        match self.store.create(&record).await {
            Ok(_) => Ok(Response::new(CreateConnectorResp {
                already_exists: false,
            })),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                Ok(Response::new(CreateConnectorResp {
                    already_exists: true,
                }))
            }
            Err(e) => Err(storage_status("create connector", &e)),
        }
    }

    async fn update_connector(
        &self,
        request: Request<UpdateConnectorReq>,
    ) -> Answer<UpdateConnectorResp> {
        self.connectors_allowed()?;
        let req = request.into_inner();
        required(&req.id, "no id supplied")?;
        if req.new_type.is_empty() && req.new_name.is_empty() && req.new_config.is_empty() {
            return Err(Status::invalid_argument("nothing to update"));
        }
        let new_config = if req.new_config.is_empty() {
            None
        } else {
            Some(
                serde_json::from_slice::<serde_json::Value>(&req.new_config)
                    .map_err(|_| Status::invalid_argument("invalid config supplied"))?,
            )
        };
        let result = self
            .store
            .update::<ConnectorRecord, _>(&req.id, |mut old| {
                if !req.new_type.is_empty() {
                    old.connector_type = req.new_type.clone();
                }
                if !req.new_name.is_empty() {
                    old.name = req.new_name.clone();
                }
                if let Some(config) = &new_config {
                    old.config = config.clone();
                }
                // Replicas reopen a connector when its resource version changes. Dex leaves a
                // version that is not a number as it is; so do we.
                let current = if old.resource_version.is_empty() {
                    "0"
                } else {
                    old.resource_version.as_str()
                };
                if let Ok(n) = current.parse::<u64>() {
                    old.resource_version = (n + 1).to_string();
                }
                Ok(old)
            })
            .await;
        match result {
            Ok(_) => Ok(Response::new(UpdateConnectorResp { not_found: false })),
            Err(e) if e.is_not_found() => {
                Ok(Response::new(UpdateConnectorResp { not_found: true }))
            }
            Err(e) => Err(storage_status("update connector", &e)),
        }
    }

    async fn delete_connector(
        &self,
        request: Request<DeleteConnectorReq>,
    ) -> Answer<DeleteConnectorResp> {
        self.connectors_allowed()?;
        let id = request.into_inner().id;
        required(&id, "no id supplied")?;
        match self.store.delete::<ConnectorRecord>(&id).await {
            Ok(()) => Ok(Response::new(DeleteConnectorResp { not_found: false })),
            Err(e) if e.is_not_found() => {
                Ok(Response::new(DeleteConnectorResp { not_found: true }))
            }
            Err(e) => Err(storage_status("delete connector", &e)),
        }
    }

    async fn list_connectors(
        &self,
        _request: Request<ListConnectorReq>,
    ) -> Answer<ListConnectorResp> {
        // Gated like the writes (as in Dex): configurations hold upstream secrets.
        self.connectors_allowed()?;
        let connectors = self
            .store
            .list::<ConnectorRecord>()
            .await
            .map_err(|e| storage_status("list connectors", &e))?
            .into_iter()
            .map(connector_to_wire)
            .collect::<Result<_, _>>()?;
        Ok(Response::new(ListConnectorResp { connectors }))
    }

    async fn get_version(&self, _request: Request<VersionReq>) -> Answer<VersionResp> {
        Ok(Response::new(VersionResp {
            server: self.options.server_version.clone(),
            api: API_VERSION,
        }))
    }

    async fn get_discovery(&self, _request: Request<DiscoveryReq>) -> Answer<DiscoveryResp> {
        Ok(Response::new(self.discovery.clone()))
    }

    async fn list_refresh(&self, request: Request<ListRefreshReq>) -> Answer<ListRefreshResp> {
        let sub = decode_sub(&request.into_inner().user_id)?;
        let key = OfflineSessions::key_for(&sub.user_id, &sub.connector_id);
        let sessions = match self.store.get::<OfflineSessions>(&key).await {
            Ok(sessions) => sessions.value,
            // No refresh token yet: an empty list, not an error (Dex).
            Err(e) if e.is_not_found() => {
                return Ok(Response::new(ListRefreshResp::default()));
            }
            Err(e) => return Err(storage_status("list refresh tokens", &e)),
        };
        let refresh_tokens = sessions
            .refresh
            .into_values()
            .map(|r| RefreshTokenRef {
                id: r.id,
                client_id: r.client_id,
                created_at: r.created_at.timestamp(),
                last_used: r.last_used.timestamp(),
            })
            .collect();
        Ok(Response::new(ListRefreshResp { refresh_tokens }))
    }

    async fn revoke_refresh(
        &self,
        request: Request<RevokeRefreshReq>,
    ) -> Answer<RevokeRefreshResp> {
        let req = request.into_inner();
        let sub = decode_sub(&req.user_id)?;
        required(&req.client_id, "no client id supplied")?;
        let key = OfflineSessions::key_for(&sub.user_id, &sub.connector_id);
        // Dex keeps one token per user and client; oxidex keeps one family per login, so every
        // family of that client goes. The updater may rerun: collect afresh each time.
        let mut revoked: Vec<String> = Vec::new();
        let result = self
            .store
            .update::<OfflineSessions, _>(&key, |mut sessions| {
                revoked.clear();
                sessions.refresh.retain(|id, r| {
                    let hit = r.client_id == req.client_id;
                    if hit {
                        revoked.push(id.clone());
                    }
                    !hit
                });
                if revoked.is_empty() {
                    return Err(Error::not_found(RecordKind::RefreshToken, &req.client_id));
                }
                Ok(sessions)
            })
            .await;
        match result {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                return Ok(Response::new(RevokeRefreshResp { not_found: true }));
            }
            Err(e) => return Err(storage_status("revoke refresh token", &e)),
        }
        for id in &revoked {
            match self.store.delete::<RefreshToken>(id).await {
                // Already gone (a concurrent revocation): the family is dead either way.
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(storage_status("revoke refresh token", &e)),
            }
        }
        Ok(Response::new(RevokeRefreshResp { not_found: false }))
    }
}
