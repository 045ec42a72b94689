//! The device authorization grant's browser side (RFC 8628 §3.1–3.3; `reference/dex.md`
//! §1.11): the device authorization request, the user-code check that sends the browser into
//! the normal authorization flow, and the callback that records the user's answer for the
//! polling device. The polling itself is the token grant in `grants/device.rs`.
//!
//! Differences from Dex (each in `docs/deviations-from-dex.md`): the client is authenticated
//! at `/device/code` (a confidential client needs its secret, RFC 8628 §3.1 / RFC 6749 §2.3)
//! and must be able to use the device callback; scopes and PKCE are checked there rather than
//! later in the browser; the device token keeps the granted claims instead of a finished token
//! response, and the tokens are minted at the poll; the device code is stored only hashed.

use serde::{Deserialize, Serialize};

use super::authorize::AuthorizeError;
use super::error::{ErrorCode, OAuthError};
use super::grants::ClientCredentials;
use super::{Engine, grant, pkce, redirect, scopes, tokens};
use crate::model::{
    Client, DeviceRequest, DeviceToken, DeviceTokenStatus, Pkce, PkceMethod, scope,
};
use crate::secret::TokenHash;

/// The letters user codes are made of (Dex's: consonants only, so no words are spelled and
/// nothing is confused with a digit).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// The polling interval a device starts with, in seconds (RFC 8628 §3.2; Dex's value).
pub const DEVICE_POLL_INTERVAL_SECONDS: u32 = 5;

/// How much `slow_down` adds to the polling interval, in seconds (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP_SECONDS: u32 = 5;

/// A device authorization request (RFC 8628 §3.1), as received at `/device/code`.
#[derive(Debug, Clone, Default)]
pub struct DeviceAuthorizationRequest {
    /// The client's credentials (HTTP Basic or form); `None` when no `client_id` was sent.
    pub client: Option<ClientCredentials>,
    /// `scope` (default `openid`).
    pub scope: String,
    /// `code_challenge`.
    pub code_challenge: String,
    /// `code_challenge_method` (`plain` when empty, as in Dex).
    pub code_challenge_method: String,
}

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorization {
    /// The code the device polls with. Only its hash is stored.
    pub device_code: String,
    /// The code the user types, `XXXX-XXXX`.
    pub user_code: String,
    /// Where the user goes: `<issuer>/device`.
    pub verification_uri: String,
    /// The same with the user code filled in.
    pub verification_uri_complete: String,
    /// Seconds until both codes lapse (`expiry.deviceRequests`).
    pub expires_in: i64,
    /// Seconds the device waits between polls.
    pub interval: u32,
}

/// What the user-code form led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCodeCheck {
    /// The code is live: send the browser to `location` (a rooted path into `/auth`), and
    /// give it `binding` in a cookie: `/device/callback` accepts the answer only from the
    /// browser that presents it.
    Continue {
        /// Where the browser goes next.
        location: String,
        /// The secret the browser keeps (in an HttpOnly cookie) until the callback.
        binding: String,
    },
    /// Unknown, expired or already answered: show the form again with a message.
    Invalid,
}

/// How the authorization flow came back to `/device/callback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceCallback<'a> {
    /// With an authorization code.
    Code(&'a str),
    /// With an `error` (e.g. `access_denied` from the approval page).
    Error(&'a str),
}

/// The user's answer, recorded for the polling device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// Approved: the device gets tokens at its next poll.
    Approved {
        /// The client's display name, for the confirmation page.
        client_name: String,
    },
    /// Denied: the device gets `access_denied`.
    Denied,
}

/// A user code in its stored form (`XXXX-XXXX`): upper case, spaces and dashes ignored, the
/// dash re-inserted. `None` if it cannot be a user code.
pub fn normalize_user_code(raw: &str) -> Option<String> {
    let letters: Vec<u8> = raw
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'-')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if letters.len() != 8 || !letters.iter().all(|b| USER_CODE_ALPHABET.contains(b)) {
        return None;
    }
    let mut out = String::with_capacity(9);
    for (i, b) in letters.iter().enumerate() {
        if i == 4 {
            out.push('-');
        }
        out.push(char::from(*b));
    }
    Some(out)
}

/// A new random user code: 8 letters of [`USER_CODE_ALPHABET`] (about 34.6 bits), chosen
/// without modulo bias.
fn new_user_code() -> crate::Result<String> {
    let mut letters = Vec::with_capacity(8);
    while letters.len() < 8 {
        for b in crate::ids::random_bytes::<16>()? {
            // 240 = 12 * 20: bytes above it would favour the first letters.
            if b < 240 && letters.len() < 8 {
                letters.push(USER_CODE_ALPHABET[usize::from(b % 20)]);
            }
        }
    }
    let text: String = letters.into_iter().map(char::from).collect();
    Ok(normalize_user_code(&text).unwrap_or(text))
}

/// The path part of the issuer URL without a trailing slash (`""` at the root).
fn issuer_path(issuer: &str) -> &str {
    let rest = issuer.split_once("://").map_or(issuer, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].trim_end_matches('/'),
        None => "",
    }
}

const INVALID_USER_CODE: &str = "Invalid or expired user code.";

impl Engine {
    /// The redirect URI of the device flow's browser leg: `<issuer-path>/device/callback`.
    pub fn device_callback_path(&self) -> String {
        format!("{}/device/callback", issuer_path(&self.settings.issuer))
    }

    /// `true` if `redirect_uri` is the device callback and `client` may use it: registered
    /// exactly, or a public client without registered redirect URIs (Dex §1.11).
    pub fn device_callback_allowed(&self, client: &Client, redirect_uri: &str) -> bool {
        redirect_uri == self.device_callback_path()
            && (client.redirect_uris.iter().any(|r| r == redirect_uri)
                || (client.public && client.redirect_uris.is_empty()))
    }

    /// `POST /device/code` (RFC 8628 §3.1–3.2): authenticates the client, checks scopes and
    /// PKCE, and stores the device request (by user code) and device token (by device-code
    /// hash).
    pub async fn device_authorization(
        &self,
        request: &DeviceAuthorizationRequest,
    ) -> Result<DeviceAuthorization, OAuthError> {
        if !self.settings.grant_enabled(grant::DEVICE_CODE) {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "The device authorization grant is not enabled.",
            ));
        }
        let Some(credentials) = request.client.as_ref() else {
            return Err(OAuthError::invalid_request("Required param: client_id."));
        };
        let client = self.authenticate_client(Some(credentials)).await?;
        if !self.device_callback_allowed(&client, &self.device_callback_path()) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!(
                    "The client may not use the device flow: register the redirect URI {:?} or make it public without redirect URIs.",
                    self.device_callback_path()
                ),
            ));
        }

        let scope_param = if request.scope.trim().is_empty() {
            scope::OPENID
        } else {
            request.scope.as_str()
        };
        let requested = scopes::parse(scope_param);
        if !scopes::has(&requested, scope::OPENID) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "Missing required scope(s) [\"openid\"].",
            ));
        }
        for s in &requested {
            if scopes::KNOWN.contains(&s.as_str()) {
                continue;
            }
            let trusted = match scopes::cross_client_peer(s) {
                Some(peer) => tokens::peer_trusts(&self.store, &client, peer).await?,
                None => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!("Unrecognized scope(s) [{s:?}]"),
                    ));
                }
            };
            if !trusted {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("Client can't request scope(s) [{s:?}]"),
                ));
            }
        }

        let pkce = self.device_pkce(request)?;

        let now = self.clock.now();
        let expiry = now + self.settings.device_request_lifetime;
        let device_code = crate::ids::new_device_code()?;
        let device_code_hash = TokenHash::of(&device_code);
        self.store
            .create(&DeviceToken {
                device_code_hash,
                client_id: client.id.clone(),
                status: DeviceTokenStatus::Pending,
                claims: None,
                scopes: Vec::new(),
                connector_id: String::new(),
                connector_data: None,
                expiry,
                last_request_time: now,
                poll_interval_seconds: DEVICE_POLL_INTERVAL_SECONDS,
                pkce,
            })
            .await?;
        // A user code has ~34 bits: collisions are rare but possible; try a few.
        let mut user_code = None;
        for _ in 0..5 {
            let candidate = new_user_code()?;
            let created = self
                .store
                .create(&DeviceRequest {
                    user_code: candidate.clone(),
                    device_code_hash,
                    client_id: client.id.clone(),
                    scopes: requested.clone(),
                    expiry,
                    browser_binding: None,
                })
                .await;
            match created {
                Ok(_) => {
                    user_code = Some(candidate);
                    break;
                }
                Err(e) if e.kind() == crate::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let Some(user_code) = user_code else {
            return Err(OAuthError::server(crate::Error::Conflict {
                kind: crate::storage::RecordKind::DeviceRequest,
                key: String::new(),
            }));
        };
        tracing::info!(
            target: "audit",
            event = "device_authorization",
            client_id = %client.id,
            "device authorization requested"
        );
        let verification_uri = self.settings.url("/device");
        Ok(DeviceAuthorization {
            device_code,
            verification_uri_complete: format!(
                "{verification_uri}?{}",
                redirect::encode_pairs(&[("user_code", &user_code)])
            ),
            user_code,
            verification_uri,
            expires_in: self.settings.device_request_lifetime.num_seconds(),
            interval: DEVICE_POLL_INTERVAL_SECONDS,
        })
    }

    /// The PKCE challenge of a device authorization request, with `/auth`'s rules.
    fn device_pkce(
        &self,
        request: &DeviceAuthorizationRequest,
    ) -> Result<Option<Pkce>, OAuthError> {
        if request.code_challenge.is_empty() {
            if self.settings.pkce.enforce {
                return Err(OAuthError::invalid_request(
                    "PKCE is required. The code_challenge parameter must be provided.",
                ));
            }
            return Ok(None);
        }
        let method = match request.code_challenge_method.as_str() {
            "" | "plain" => PkceMethod::Plain,
            "S256" => PkceMethod::S256,
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "Unsupported PKCE challenge method ({other:?})."
                )));
            }
        };
        if !self.settings.pkce.methods.contains(&method) {
            return Err(OAuthError::invalid_request(format!(
                "Unsupported PKCE challenge method ({method:?})."
            )));
        }
        if !pkce::valid_challenge(&request.code_challenge) {
            return Err(OAuthError::invalid_request("Invalid code_challenge."));
        }
        Ok(Some(Pkce {
            code_challenge: request.code_challenge.clone(),
            code_challenge_method: method,
        }))
    }

    /// Loads the live device request and its still-pending device token for a user code as
    /// typed. `None` if the code is malformed, unknown, expired or already answered.
    async fn pending_device(
        &self,
        raw_user_code: &str,
    ) -> crate::Result<Option<(DeviceRequest, crate::storage::Versioned<DeviceToken>)>> {
        let Some(user_code) = normalize_user_code(raw_user_code) else {
            return Ok(None);
        };
        let request = match self.store.get::<DeviceRequest>(&user_code).await {
            Ok(r) => r.value,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let now = self.clock.now();
        if now >= request.expiry {
            return Ok(None);
        }
        let token = match self
            .store
            .get::<DeviceToken>(&request.device_code_hash.to_key())
            .await
        {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        if token.value.status != DeviceTokenStatus::Pending || now >= token.value.expiry {
            return Ok(None);
        }
        Ok(Some((request, token)))
    }

    /// `POST /device/auth/verify_code`: a live user code sends the browser into the
    /// authorization flow for the device's client, with the device callback as redirect URI
    /// and the user code as `state` (Dex; the client secret is not put in the URL).
    pub async fn verify_user_code(
        &self,
        raw_user_code: &str,
    ) -> Result<UserCodeCheck, AuthorizeError> {
        let Some((request, _)) = self.pending_device(raw_user_code).await? else {
            return Ok(UserCodeCheck::Invalid);
        };
        let binding = crate::ids::new_id()?;
        let hash = TokenHash::of(&binding);
        match self
            .store
            .update::<DeviceRequest, _>(&request.user_code, |mut r| {
                r.browser_binding = Some(hash);
                Ok(r)
            })
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(UserCodeCheck::Invalid),
            Err(e) => return Err(e.into()),
        }
        let callback = self.device_callback_path();
        let scope = request.scopes.join(" ");
        let query = redirect::encode_pairs(&[
            ("client_id", &request.client_id),
            ("state", &request.user_code),
            ("response_type", "code"),
            ("redirect_uri", &callback),
            ("scope", &scope),
        ]);
        Ok(UserCodeCheck::Continue {
            location: format!("{}/auth?{query}", issuer_path(&self.settings.issuer)),
            binding,
        })
    }

    /// `GET /device/callback?state=<user code>&code=..|error=..`: redeems the authorization
    /// code for the device's client (it must have been issued to that client for the device
    /// callback, Dex #4928) and records the grant on the device token, once. `access_denied`
    /// records the refusal.
    pub async fn device_callback(
        &self,
        raw_user_code: &str,
        answer: DeviceCallback<'_>,
        browser_binding: &str,
    ) -> Result<DeviceOutcome, AuthorizeError> {
        let invalid = || AuthorizeError::Display {
            status: 400,
            message: INVALID_USER_CODE.into(),
            internal: None,
        };
        let (request, token) = self
            .pending_device(raw_user_code)
            .await?
            .ok_or_else(invalid)?;
        // Only the browser that entered the user code may answer for the device; anyone else
        // learns nothing (the same answer as for an unknown code) and changes nothing.
        if !request
            .browser_binding
            .is_some_and(|h| h.matches(browser_binding))
        {
            return Err(invalid());
        }
        let client = match self.store.get::<Client>(&request.client_id).await {
            Ok(c) => c.value,
            Err(e) if e.is_not_found() => return Err(invalid()),
            Err(e) => return Err(e.into()),
        };

        let code = match answer {
            DeviceCallback::Error(error) => {
                if error != ErrorCode::AccessDenied.as_str() {
                    return Err(AuthorizeError::Display {
                        status: 400,
                        message: "The authorization failed. Start again on your device.".into(),
                        internal: None,
                    });
                }
                let mut denied = token.value.clone();
                denied.status = DeviceTokenStatus::Denied;
                self.answer_device(&request, token, &denied).await?;
                tracing::info!(
                    target: "audit",
                    event = "device_denied",
                    client_id = %client.id,
                    "device authorization denied"
                );
                return Ok(DeviceOutcome::Denied);
            }
            DeviceCallback::Code(code) => code,
        };

        let redeemed = self
            .redeem_auth_code(
                &client,
                code,
                &self.device_callback_path(),
                None,
                grant::DEVICE_CODE,
            )
            .await
            .map_err(|e| match e.code {
                ErrorCode::ServerError => AuthorizeError::Display {
                    status: 500,
                    message: "Internal server error.".into(),
                    internal: e.internal,
                },
                _ => AuthorizeError::Display {
                    status: 400,
                    message: "Invalid or expired authorization code.".into(),
                    internal: None,
                },
            })?;
        let auth_code = redeemed.code;
        if !auth_code.scopes.iter().all(|s| request.scopes.contains(s)) {
            // The browser leg asked for more than the device did.
            return Err(AuthorizeError::Display {
                status: 400,
                message: "The login granted scopes the device did not ask for. Start again on your device."
                    .into(),
                internal: None,
            });
        }
        let mut complete = token.value.clone();
        complete.status = DeviceTokenStatus::Complete;
        complete.claims = Some(auth_code.claims.clone());
        complete.scopes = auth_code.scopes.clone();
        complete.connector_id = auth_code.connector_id.clone();
        complete.connector_data = auth_code.connector_data.clone();
        self.answer_device(&request, token, &complete).await?;
        tracing::info!(
            target: "audit",
            event = "device_approved",
            client_id = %client.id,
            connector_id = %auth_code.connector_id,
            user_id = %auth_code.claims.user_id,
            "device authorization approved"
        );
        Ok(DeviceOutcome::Approved {
            client_name: if client.name.is_empty() {
                client.id
            } else {
                client.name
            },
        })
    }

    /// Writes the user's answer on a pending device token and retires the user code. Polls
    /// touch the token too, so a lost compare-and-swap is retried as long as it is pending;
    /// an answer that is no longer pending is refused (the second completion).
    async fn answer_device(
        &self,
        request: &DeviceRequest,
        mut current: crate::storage::Versioned<DeviceToken>,
        answer: &DeviceToken,
    ) -> Result<(), AuthorizeError> {
        let already = || AuthorizeError::Display {
            status: 400,
            message: "This device request was already answered.".into(),
            internal: None,
        };
        for _ in 0..5 {
            if current.value.status != DeviceTokenStatus::Pending {
                return Err(already());
            }
            let mut next = answer.clone();
            // Keep what concurrent polls wrote.
            next.last_request_time = current.value.last_request_time;
            next.poll_interval_seconds = current.value.poll_interval_seconds;
            match self.store.swap(current.version, &next).await {
                Ok(_) => {
                    match self.store.delete::<DeviceRequest>(&request.user_code).await {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e.into()),
                    }
                    return Ok(());
                }
                Err(e) if e.is_conflict() => {}
                Err(e) if e.is_not_found() => return Err(already()),
                Err(e) => return Err(e.into()),
            }
            current = match self
                .store
                .get::<DeviceToken>(&answer.device_code_hash.to_key())
                .await
            {
                Ok(t) => t,
                Err(e) if e.is_not_found() => return Err(already()),
                Err(e) => return Err(e.into()),
            };
        }
        Err(already())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_normalise() {
        assert_eq!(
            normalize_user_code("wdjb-mjht").as_deref(),
            Some("WDJB-MJHT")
        );
        assert_eq!(
            normalize_user_code(" WDJB MJHT ").as_deref(),
            Some("WDJB-MJHT")
        );
        assert_eq!(
            normalize_user_code("wdjbmjht").as_deref(),
            Some("WDJB-MJHT")
        );
        assert_eq!(normalize_user_code("WDJB-MJH"), None);
        assert_eq!(
            normalize_user_code("WDJB-MJHA"),
            None,
            "vowels are not used"
        );
        assert_eq!(normalize_user_code("WDJB-MJH1"), None);
        assert_eq!(normalize_user_code(""), None);
    }

    #[test]
    fn new_user_codes_have_the_shape() {
        for _ in 0..200 {
            let code = new_user_code().unwrap_or_default();
            assert_eq!(normalize_user_code(&code).as_deref(), Some(code.as_str()));
        }
    }

    #[test]
    fn issuer_paths() {
        assert_eq!(issuer_path("https://a.example/dex"), "/dex");
        assert_eq!(issuer_path("https://a.example/dex/"), "/dex");
        assert_eq!(issuer_path("https://a.example"), "");
        assert_eq!(issuer_path("http://127.0.0.1:5556/a/b"), "/a/b");
    }
}
