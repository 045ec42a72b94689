//! The browser flow: `/auth` validation, login at a connector, approval, and the response to
//! the client (`reference/dex.md` §1.4–1.7; RFC 6749 §4.1–4.2; OIDC Core §3).

use std::collections::BTreeSet;

use super::error::{ErrorCode, OAuthError};
use super::flow_mac::{self, Step};
use super::redirect::{self, ResponseMode};
use super::tokens::{self, MintRequest};
use super::{Engine, OpenedConnector, grant, pkce, scopes};
use crate::connector::{CallbackRequest, LoginMethod, PasswordLogin};
use crate::model::{
    AuthCode, AuthRequest, Claims, Client, Identity, Pkce, PkceMethod, Scopes, scope,
};
use crate::secret::TokenHash;
use crate::storage::validate_key;

/// The parameters of an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), as
/// received. Everything else a client sends is ignored, as in Dex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeParams {
    /// `client_id`.
    pub client_id: String,
    /// `redirect_uri`.
    pub redirect_uri: String,
    /// `response_type`.
    pub response_type: String,
    /// `scope`.
    pub scope: String,
    /// `state`.
    pub state: String,
    /// `nonce`.
    pub nonce: String,
    /// `code_challenge`.
    pub code_challenge: String,
    /// `code_challenge_method`.
    pub code_challenge_method: String,
    /// `connector_id` (Dex extension).
    pub connector_id: String,
    /// `request` (refused: `request_not_supported`).
    pub request: String,
    /// `approval_prompt` (`force` shows the approval page).
    pub approval_prompt: String,
    /// `prompt` (OIDC Core §3.1.2.1): `consent` shows the approval page; `none` is answered
    /// `login_required` (oxidex keeps no browser session to log in silently with); `login`
    /// and `select_account` are what every request gets anyway.
    pub prompt: String,
    /// `max_age`: a non-negative number of seconds. Every login is fresh here, so any value
    /// is met; the ID token then carries `auth_time`.
    pub max_age: String,
    /// `login_hint`: pre-fills the password form's login field.
    pub login_hint: String,
    /// `response_mode`: `query`, `fragment` or `form_post`.
    pub response_mode: String,
}

/// A validated authorization request, not yet stored.
#[derive(Debug, Clone)]
pub struct ValidatedAuthorize {
    /// The client.
    pub client: Client,
    /// The redirect URI, checked against the client.
    pub redirect_uri: String,
    /// Response-type words.
    pub response_types: Vec<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// `state`.
    pub state: String,
    /// `nonce`.
    pub nonce: String,
    /// PKCE challenge.
    pub pkce: Option<Pkce>,
    /// Show the approval page even if approval is normally skipped.
    pub force_approval: bool,
    /// A connector the client asked for.
    pub connector_id: Option<String>,
    /// How the response reaches the client.
    pub response_mode: ResponseMode,
    /// `login_hint`, for the password form.
    pub login_hint: String,
}

impl ValidatedAuthorize {
    /// The grant type this request is for: `implicit` when a token comes from `/auth`.
    pub fn grant_type(&self) -> &'static str {
        // The device flow's browser leg (a rooted path, never a client's URL; Dex matches the
        // `/device/callback` suffix too).
        if self.redirect_uri.starts_with('/') && self.redirect_uri.ends_with("/device/callback") {
            return grant::DEVICE_CODE;
        }
        if self
            .response_types
            .iter()
            .any(|r| r == "token" || r == "id_token")
        {
            grant::IMPLICIT
        } else {
            grant::AUTHORIZATION_CODE
        }
    }
}

/// Why the browser flow stopped.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Show an error page: the client or its redirect URI cannot be trusted, or the login
    /// session is broken.
    Display {
        /// HTTP status.
        status: u16,
        /// Message for the user.
        message: String,
        /// What happened, for logs only.
        internal: Option<crate::Error>,
    },
    /// Send the error to the client at its (validated) redirect URI.
    Redirect {
        /// The redirect, error parameters included.
        url: String,
        /// The error sent.
        error: OAuthError,
    },
    /// Post the error to the client's (validated) redirect URI (`response_mode=form_post`).
    FormPost(Box<PostedError>),
}

/// An error posted to the client (`response_mode=form_post`).
#[derive(Debug)]
pub struct PostedError {
    /// The redirect URI the browser posts to.
    pub action: String,
    /// The form fields: `error`, `error_description`, `state`.
    pub params: Vec<(String, String)>,
    /// The error sent.
    pub error: OAuthError,
}

impl AuthorizeError {
    fn display(status: u16, message: impl Into<String>) -> Self {
        AuthorizeError::Display {
            status,
            message: message.into(),
            internal: None,
        }
    }

    fn internal(e: crate::Error) -> Self {
        AuthorizeError::Display {
            status: 500,
            message: "Internal server error.".into(),
            internal: Some(e),
        }
    }
}

impl From<crate::Error> for AuthorizeError {
    fn from(e: crate::Error) -> Self {
        AuthorizeError::internal(e)
    }
}

/// What to do after storing the authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStart {
    /// Show the connector's password form for request `state`.
    Password {
        /// The authorization request id.
        state: String,
    },
    /// Send the browser to the upstream.
    Redirect(String),
    /// POST a SAML AuthnRequest to the IdP.
    SamlPost {
        /// IdP SSO URL.
        sso_url: String,
        /// Base64 AuthnRequest.
        saml_request: String,
        /// The authorization request id.
        relay_state: String,
    },
}

/// The next hop after a login: `/auth?req=..&hmac=..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continue {
    /// Authorization request id.
    pub req: String,
    /// MAC for [`Step::Continue`].
    pub hmac: String,
}

/// What the password form shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPrompt {
    /// The connector's label for the login field ("Email Address", "Username").
    pub prompt: String,
    /// The client's `login_hint`, to pre-fill the login field.
    pub login_hint: String,
}

/// What a password form submission led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordOutcome {
    /// Show the form again with "invalid credentials".
    Invalid,
    /// Logged in; continue.
    LoggedIn(Continue),
}

/// The approval page's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPrompt {
    /// Client display name.
    pub client_name: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Authorization request id.
    pub req: String,
    /// MAC for [`Step::Approval`].
    pub hmac: String,
}

/// After login: ask for approval, or answer the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Show the approval page.
    Approval(ApprovalPrompt),
    /// Answer the client.
    Respond(AuthorizationResponse),
}

/// The authorization response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationResponse {
    /// Redirect to the client (303).
    Redirect(String),
    /// Out-of-band client: show the code on a page.
    Oob {
        /// The authorization code.
        code: String,
    },
    /// `response_mode=form_post`: a page whose form the browser posts to the client.
    FormPost {
        /// The redirect URI the browser posts to.
        action: String,
        /// The form fields.
        params: Vec<(String, String)>,
    },
}

/// The response `params` in `mode` at `redirect_uri`.
fn answer(
    redirect_uri: &str,
    params: &[(&str, &str)],
    mode: ResponseMode,
) -> AuthorizationResponse {
    match mode {
        ResponseMode::FormPost => AuthorizationResponse::FormPost {
            action: redirect_uri.to_owned(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        },
        mode => AuthorizationResponse::Redirect(redirect::with_params(redirect_uri, params, mode)),
    }
}

/// The response mode a stored request asked for, or its response type's default.
fn response_mode_of(request: &AuthRequest) -> ResponseMode {
    ResponseMode::parse(&request.response_mode).unwrap_or_else(|| {
        ResponseMode::default_for(request.response_types.iter().map(String::as_str))
    })
}

/// The `prompt` values of OIDC Core §3.1.2.1.
const PROMPT_VALUES: [&str; 4] = ["none", "login", "consent", "select_account"];

const RESPONSE_WORDS: [&str; 3] = ["code", "id_token", "token"];

impl Engine {
    /// Validates an authorization request in Dex's order (`reference/dex.md` §1.5). Errors
    /// before the redirect URI is trusted are displayed; later ones go to the client.
    pub async fn validate_authorize(
        &self,
        p: &AuthorizeParams,
    ) -> Result<ValidatedAuthorize, AuthorizeError> {
        let client = self.client_for_display(&p.client_id).await?;
        let device_leg = self.device_callback_allowed(&client, &p.redirect_uri);
        if !redirect::is_allowed(&client, &p.redirect_uri) && !device_leg {
            return Err(AuthorizeError::display(400, "Unregistered redirect_uri."));
        }
        // Errors reach the client the way its answer would: in the response mode it asked
        // for if that is one we know, otherwise in its response type's default.
        let requested_mode = ResponseMode::parse(&p.response_mode);
        let error_mode =
            requested_mode.unwrap_or_else(|| ResponseMode::default_for(p.response_type.split(' ')));
        let fail = |code: ErrorCode, description: String| {
            let error = OAuthError::new(code, description);
            let mut params = vec![("error", error.code.as_str())];
            let description = error.description.clone().unwrap_or_default();
            params.push(("error_description", &description));
            if !p.state.is_empty() {
                params.push(("state", &p.state));
            }
            match answer(&p.redirect_uri, &params, error_mode) {
                AuthorizationResponse::FormPost { action, params } => {
                    AuthorizeError::FormPost(Box::new(PostedError {
                        action,
                        params,
                        error,
                    }))
                }
                AuthorizationResponse::Redirect(url) | AuthorizationResponse::Oob { code: url } => {
                    AuthorizeError::Redirect { url, error }
                }
            }
        };

        if !p.response_mode.is_empty() && requested_mode.is_none() {
            return Err(fail(
                ErrorCode::InvalidRequest,
                format!(
                    "Unsupported response_mode {:?}; use query, fragment or form_post.",
                    p.response_mode
                ),
            ));
        }
        let prompts: BTreeSet<&str> = p.prompt.split(' ').filter(|v| !v.is_empty()).collect();
        if let Some(unknown) = prompts.iter().find(|v| !PROMPT_VALUES.contains(v)) {
            return Err(fail(
                ErrorCode::InvalidRequest,
                format!("Unsupported prompt value {unknown:?}."),
            ));
        }
        if prompts.contains("none") && prompts.len() > 1 {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "prompt=none cannot be combined with other values.".into(),
            ));
        }
        if !p.max_age.is_empty() && p.max_age.parse::<u64>().is_err() {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "max_age must be a non-negative number of seconds.".into(),
            ));
        }

        if !p.request.is_empty() {
            return Err(fail(
                ErrorCode::RequestNotSupported,
                "Server does not support request parameter.".into(),
            ));
        }

        let pkce = if p.code_challenge.is_empty() {
            // The device flow's browser leg is redeemed by the server itself; the device's own
            // PKCE is enforced at `/device/code` and checked when it polls.
            if self.settings.pkce.enforce && !device_leg {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "PKCE is required. The code_challenge parameter must be provided.".into(),
                ));
            }
            None
        } else {
            let method = match p.code_challenge_method.as_str() {
                "" | "plain" => PkceMethod::Plain,
                "S256" => PkceMethod::S256,
                other => {
                    return Err(fail(
                        ErrorCode::InvalidRequest,
                        format!("Unsupported PKCE challenge method ({other:?})."),
                    ));
                }
            };
            if !self.settings.pkce.methods.contains(&method) {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    format!("Unsupported PKCE challenge method ({method:?})."),
                ));
            }
            if !pkce::valid_challenge(&p.code_challenge) {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "Invalid code_challenge.".into(),
                ));
            }
            Some(Pkce {
                code_challenge: p.code_challenge.clone(),
                code_challenge_method: method,
            })
        };

        let requested = scopes::parse(&p.scope);
        if !scopes::has(&requested, scope::OPENID) {
            return Err(fail(
                ErrorCode::InvalidScope,
                "Missing required scope(s) [\"openid\"].".into(),
            ));
        }
        let mut unrecognized = Vec::new();
        let mut untrusted = Vec::new();
        for s in &requested {
            if scopes::KNOWN.contains(&s.as_str()) {
                continue;
            }
            match scopes::cross_client_peer(s) {
                Some(peer) => {
                    if !tokens::peer_trusts(&self.store, &client, peer)
                        .await
                        .map_err(|e| AuthorizeError::Display {
                            status: 500,
                            message: "Internal server error.".into(),
                            internal: e.internal,
                        })?
                    {
                        untrusted.push(s.clone());
                    }
                }
                None => unrecognized.push(s.clone()),
            }
        }
        if !unrecognized.is_empty() {
            return Err(fail(
                ErrorCode::InvalidScope,
                format!("Unrecognized scope(s) {unrecognized:?}"),
            ));
        }
        if !untrusted.is_empty() {
            return Err(fail(
                ErrorCode::InvalidScope,
                format!("Client can't request scope(s) {untrusted:?}"),
            ));
        }

        let words: Vec<String> = p
            .response_type
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if words.is_empty() {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "No response_type provided".into(),
            ));
        }
        for w in &words {
            if !RESPONSE_WORDS.contains(&w.as_str()) {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    format!("Invalid response type {w:?}"),
                ));
            }
            if !self.settings.response_types.contains(w) {
                return Err(fail(
                    ErrorCode::UnsupportedResponseType,
                    format!("Unsupported response type {w:?}"),
                ));
            }
        }
        let has_code = words.iter().any(|w| w == "code");
        let has_token = words.iter().any(|w| w == "token");
        if words.len() == 1 && has_token {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "Response type 'token' must be provided with type 'id_token' and/or 'code'".into(),
            ));
        }
        let has_id_token = words.iter().any(|w| w == "id_token");
        if (!has_code || has_id_token) && p.nonce.is_empty() {
            // OIDC Core §3.2.2.1 and §3.3.2.11: whenever the authorization endpoint issues a
            // token or an ID token, except `code token` (Dex only asks when there is no code).
            return Err(fail(
                ErrorCode::InvalidRequest,
                "Response type 'token' requires a 'nonce' value.".into(),
            ));
        }
        let response_mode = requested_mode
            .unwrap_or_else(|| ResponseMode::default_for(words.iter().map(String::as_str)));
        if response_mode == ResponseMode::Query && (has_token || has_id_token) {
            // Tokens in a query string end up in logs and Referer headers (OAuth 2.0 Multiple
            // Response Type Encoding Practices §3.0).
            return Err(fail(
                ErrorCode::InvalidRequest,
                "response_mode=query cannot carry tokens; use fragment or form_post.".into(),
            ));
        }
        if has_token && p.redirect_uri == redirect::OOB {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "Cannot use response type 'token' with redirect_uri 'urn:ietf:wg:oauth:2.0:oob'."
                    .into(),
            ));
        }

        let connector_id = if p.connector_id.is_empty() {
            None
        } else {
            let allowed = self.connectors.get(&p.connector_id).is_some()
                && client.allows_connector(&p.connector_id);
            if !allowed {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "Connector ID does not match a valid Connector".into(),
                ));
            }
            Some(p.connector_id.clone())
        };

        if prompts.contains("none") {
            // Without a browser session there is nobody to authenticate silently.
            return Err(fail(
                ErrorCode::LoginRequired,
                "The user must log in: oxidex keeps no browser session for prompt=none.".into(),
            ));
        }

        Ok(ValidatedAuthorize {
            client,
            redirect_uri: p.redirect_uri.clone(),
            response_types: words,
            scopes: requested,
            state: p.state.clone(),
            nonce: p.nonce.clone(),
            pkce,
            // The device flow always asks: the user must see which device they authorize
            // (RFC 8628 §5.4), whatever `skipApprovalScreen` says.
            force_approval: p.approval_prompt == "force"
                || prompts.contains("consent")
                || device_leg,
            connector_id,
            response_mode,
            login_hint: p.login_hint.clone(),
        })
    }

    /// The connectors a client may log in with for `grant_type`, sorted by name
    /// (case-insensitively), as the chooser shows them.
    pub fn connectors_for(
        &self,
        client: &Client,
        grant_type: &str,
    ) -> Vec<std::sync::Arc<OpenedConnector>> {
        let mut list: Vec<std::sync::Arc<OpenedConnector>> = self
            .connectors
            .list()
            .into_iter()
            .filter(|c| client.allows_connector(&c.record.id) && c.allows_grant(grant_type))
            .collect();
        list.sort_by_key(|c| c.record.name.to_lowercase());
        list
    }

    /// Stores the authorization request and starts the login at `connector_id`.
    pub async fn begin_login(
        &self,
        request: &ValidatedAuthorize,
        connector_id: &str,
    ) -> Result<LoginStart, AuthorizeError> {
        let connector = self.connectors.get(connector_id).ok_or_else(|| {
            AuthorizeError::display(404, "Connector ID does not match a valid Connector")
        })?;
        if !request.client.allows_connector(connector_id) {
            return Err(AuthorizeError::display(
                403,
                "Connector is not allowed for this client.",
            ));
        }
        if !connector.allows_grant(request.grant_type()) {
            return Err(AuthorizeError::display(
                400,
                "Connector does not allow this grant type.",
            ));
        }
        if request
            .connector_id
            .as_deref()
            .is_some_and(|wanted| wanted != connector_id)
        {
            return Err(AuthorizeError::display(
                400,
                "Connector ID does not match the requested connector.",
            ));
        }
        let now = self.clock.now();
        let id = crate::ids::new_id()?;
        let mut auth_request = AuthRequest {
            id: id.clone(),
            client_id: request.client.id.clone(),
            response_types: request.response_types.clone(),
            scopes: request.scopes.clone(),
            redirect_uri: request.redirect_uri.clone(),
            nonce: request.nonce.clone(),
            state: request.state.clone(),
            force_approval_prompt: request.force_approval,
            expiry: now + self.settings.auth_request_lifetime,
            logged_in: false,
            claims: Claims::default(),
            connector_id: connector_id.to_owned(),
            connector_data: None,
            pkce: request.pkce.clone(),
            hmac_key: Some(crate::ids::random_bytes::<32>()?.to_vec()),
            response_mode: if request.response_mode
                == ResponseMode::default_for(request.response_types.iter().map(String::as_str))
            {
                String::new()
            } else {
                request.response_mode.as_str().to_owned()
            },
            login_hint: request.login_hint.clone(),
        };
        let scopes = Scopes::from_requested(&request.scopes);
        let start = match connector.connector.login() {
            LoginMethod::Password(_) => LoginStart::Password { state: id.clone() },
            LoginMethod::Callback(c) => {
                let login = c
                    .login_url(scopes, &self.settings.url("/callback"), &id)
                    .await
                    .map_err(|e| {
                        upstream_login_error(
                            e,
                            "The login could not be started at the identity provider. \
                             Try again later.",
                        )
                    })?;
                auth_request.connector_data = login.connector_data;
                LoginStart::Redirect(login.url)
            }
            LoginMethod::Saml(c) => {
                let post = c.post_data(scopes, &id).map_err(AuthorizeError::internal)?;
                LoginStart::SamlPost {
                    sso_url: post.sso_url,
                    saml_request: post.saml_request,
                    relay_state: id.clone(),
                }
            }
        };
        self.store.create(&auth_request).await?;
        Ok(start)
    }

    /// Loads a live authorization request for a login step.
    async fn login_session(&self, state: &str) -> Result<AuthRequest, AuthorizeError> {
        if validate_key(crate::storage::RecordKind::AuthRequest, state).is_err() {
            return Err(AuthorizeError::display(400, "Invalid login session."));
        }
        let request = match self.store.get::<AuthRequest>(state).await {
            Ok(r) => r.value,
            Err(e) if e.is_not_found() => {
                return Err(AuthorizeError::display(
                    400,
                    "Login session expired or not found.",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if self.clock.now() >= request.expiry {
            return Err(AuthorizeError::display(400, "Login session expired."));
        }
        Ok(request)
    }

    /// What the password form of a login session shows: the connector's prompt and the
    /// client's `login_hint`.
    pub async fn password_prompt(
        &self,
        state: &str,
        connector_id: &str,
    ) -> Result<PasswordPrompt, AuthorizeError> {
        let request = self.login_session(state).await?;
        let connector = self.session_connector(&request, connector_id)?;
        match connector.connector.login() {
            LoginMethod::Password(p) => Ok(PasswordPrompt {
                prompt: p.prompt().to_owned(),
                login_hint: request.login_hint,
            }),
            _ => Err(AuthorizeError::display(
                400,
                "This connector does not use a password form.",
            )),
        }
    }

    fn session_connector(
        &self,
        request: &AuthRequest,
        connector_id: &str,
    ) -> Result<std::sync::Arc<OpenedConnector>, AuthorizeError> {
        if request.connector_id != connector_id {
            return Err(AuthorizeError::display(
                400,
                "The login session belongs to another connector.",
            ));
        }
        self.connectors.get(connector_id).ok_or_else(|| {
            AuthorizeError::display(404, "Connector ID does not match a valid Connector")
        })
    }

    /// Checks a password form submission for login session `state`.
    pub async fn password_login(
        &self,
        state: &str,
        connector_id: &str,
        username: &str,
        password: &str,
    ) -> Result<PasswordOutcome, AuthorizeError> {
        let request = self.login_session(state).await?;
        let connector = self.session_connector(&request, connector_id)?;
        let LoginMethod::Password(p) = connector.connector.login() else {
            return Err(AuthorizeError::display(
                400,
                "This connector does not use a password form.",
            ));
        };
        let scopes = Scopes::from_requested(&request.scopes);
        match p.login(scopes, username, password).await {
            Ok(PasswordLogin::InvalidCredentials) => Ok(PasswordOutcome::Invalid),
            Ok(PasswordLogin::Authenticated(identity)) => Ok(PasswordOutcome::LoggedIn(
                self.finish_login(request, &connector, identity).await?,
            )),
            Err(e) => Err(upstream_login_error(e, "Login error.")),
        }
    }

    /// Handles the upstream's redirect back to `/callback` (or `/callback/{connector}`).
    pub async fn callback(
        &self,
        state: &str,
        path_connector: Option<&str>,
        request: &CallbackRequest,
    ) -> Result<Continue, AuthorizeError> {
        let auth_request = self.login_session(state).await?;
        let connector_id = path_connector
            .unwrap_or(&auth_request.connector_id)
            .to_owned();
        let connector = self.session_connector(&auth_request, &connector_id)?;
        let LoginMethod::Callback(c) = connector.connector.login() else {
            return Err(AuthorizeError::display(
                400,
                "This connector does not use callbacks.",
            ));
        };
        let scopes = Scopes::from_requested(&auth_request.scopes);
        let identity = c
            .handle_callback(scopes, auth_request.connector_data.as_deref(), request)
            .await
            .map_err(|e| upstream_login_error(e, "Failed to authenticate."))?;
        self.finish_login(auth_request, &connector, identity).await
    }

    /// Records the login on the request (Dex `finalizeLogin`) and keeps the connector's state
    /// for refreshing when the client asked for offline access.
    async fn finish_login(
        &self,
        request: AuthRequest,
        connector: &OpenedConnector,
        identity: Identity,
    ) -> Result<Continue, AuthorizeError> {
        let mut claims = Claims::from(&identity);
        claims.auth_time = Some(self.clock.now());
        let connector_data = identity.connector_data.clone();
        let updated = self
            .store
            .update::<AuthRequest, _>(&request.id, |mut r| {
                r.logged_in = true;
                r.claims = claims.clone();
                r.connector_data = connector_data.clone();
                Ok(r)
            })
            .await?;
        if scopes::has(&updated.scopes, scope::OFFLINE_ACCESS)
            && connector.connector.refresh().is_some()
        {
            self.remember_connector_data(
                &identity.user_id,
                &connector.record.id,
                identity.connector_data.clone(),
            )
            .await?;
        }
        tracing::info!(
            target: "audit",
            event = "login",
            client_id = %updated.client_id,
            connector_id = %connector.record.id,
            user_id = %identity.user_id,
            username = %identity.preferred_username,
            "login successful"
        );
        let key = updated.hmac_key.clone().unwrap_or_default();
        Ok(Continue {
            hmac: flow_mac::sign(&key, &updated.id, Step::Continue),
            req: updated.id,
        })
    }

    /// `/auth?req=..&hmac=..` after login: approval, or the response.
    pub async fn continue_login(&self, req: &str, mac: &str) -> Result<Next, AuthorizeError> {
        let request = self.login_session(req).await?;
        let key = request.hmac_key.clone().unwrap_or_default();
        if !request.logged_in || !flow_mac::verify(&key, req, Step::Continue, mac) {
            return Err(AuthorizeError::display(401, "Unauthorized request."));
        }
        if request.force_approval_prompt || !self.settings.skip_approval {
            let client = self.client_for_display(&request.client_id).await?;
            return Ok(Next::Approval(ApprovalPrompt {
                client_name: if client.name.is_empty() {
                    client.id
                } else {
                    client.name
                },
                scopes: request.scopes.clone(),
                hmac: flow_mac::sign(&key, req, Step::Approval),
                req: request.id,
            }));
        }
        Ok(Next::Respond(self.respond(request).await?))
    }

    /// Checks that `mac` lets request `req` show or answer the approval page.
    pub async fn approval_prompt(
        &self,
        req: &str,
        mac: &str,
    ) -> Result<ApprovalPrompt, AuthorizeError> {
        let request = self.login_session(req).await?;
        let key = request.hmac_key.clone().unwrap_or_default();
        if !request.logged_in || !flow_mac::verify(&key, req, Step::Approval, mac) {
            return Err(AuthorizeError::display(401, "Unauthorized request."));
        }
        let client = self.client_for_display(&request.client_id).await?;
        Ok(ApprovalPrompt {
            client_name: if client.name.is_empty() {
                client.id
            } else {
                client.name
            },
            scopes: request.scopes,
            req: request.id,
            hmac: mac.to_owned(),
        })
    }

    /// The user's answer on the approval page. Approval issues the response; refusal ends the
    /// request and tells the client `access_denied` (RFC 6749 §4.1.2.1; Dex shows an error page).
    pub async fn decide_approval(
        &self,
        req: &str,
        mac: &str,
        approved: bool,
    ) -> Result<AuthorizationResponse, AuthorizeError> {
        let request = self.login_session(req).await?;
        let key = request.hmac_key.clone().unwrap_or_default();
        if !request.logged_in || !flow_mac::verify(&key, req, Step::Approval, mac) {
            return Err(AuthorizeError::display(401, "Unauthorized request."));
        }
        if approved {
            return self.respond(request).await;
        }
        match self.store.delete::<AuthRequest>(&request.id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {
                return Err(AuthorizeError::display(400, "User session error."));
            }
            Err(e) => return Err(e.into()),
        }
        let mut params = vec![
            ("error", "access_denied"),
            ("error_description", "The user denied the request."),
        ];
        if !request.state.is_empty() {
            params.push(("state", &request.state));
        }
        Ok(answer(
            &request.redirect_uri,
            &params,
            response_mode_of(&request),
        ))
    }

    /// Issues the authorization response (Dex `sendCodeResponse`): the request is deleted
    /// first, so it is answered at most once.
    async fn respond(&self, request: AuthRequest) -> Result<AuthorizationResponse, AuthorizeError> {
        let now = self.clock.now();
        if now >= request.expiry {
            return Err(AuthorizeError::display(400, "User session has expired."));
        }
        match self.store.delete::<AuthRequest>(&request.id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {
                return Err(AuthorizeError::display(400, "User session error."));
            }
            Err(e) => return Err(e.into()),
        }
        let client = self.client_for_display(&request.client_id).await?;
        let words = &request.response_types;
        let has = |w: &str| words.iter().any(|x| x == w);

        let code = if has("code") {
            let code = crate::ids::new_id()?;
            self.store
                .create(&AuthCode {
                    code_hash: TokenHash::of(&code),
                    client_id: request.client_id.clone(),
                    redirect_uri: request.redirect_uri.clone(),
                    nonce: request.nonce.clone(),
                    scopes: request.scopes.clone(),
                    connector_id: request.connector_id.clone(),
                    connector_data: request.connector_data.clone(),
                    claims: request.claims.clone(),
                    expiry: now + self.settings.code_lifetime,
                    pkce: request.pkce.clone(),
                    redeemed: false,
                    issued_refresh_token: None,
                })
                .await?;
            if request.redirect_uri == redirect::OOB {
                return Ok(AuthorizationResponse::Oob { code });
            }
            Some(code)
        } else {
            None
        };

        let minted = if has("token") || has("id_token") {
            Some(
                self.mint(
                    now,
                    &MintRequest {
                        client: &client,
                        claims: &request.claims,
                        scopes: &request.scopes,
                        nonce: &request.nonce,
                        connector_id: &request.connector_id,
                        code: code.as_deref(),
                        id_token: has("id_token"),
                    },
                )
                .await
                .map_err(|e| AuthorizeError::Display {
                    status: 500,
                    message: "Internal server error.".into(),
                    internal: e.internal,
                })?,
            )
        } else {
            None
        };

        let expires_in = minted.as_ref().map(|m| m.expires_in.to_string());
        let mut params: Vec<(&str, &str)> = Vec::new();
        if let Some(code) = &code {
            params.push(("code", code));
        }
        if let (true, Some(m), Some(expires_in)) = (has("token"), &minted, &expires_in) {
            params.push(("access_token", &m.access_token));
            params.push(("token_type", "bearer"));
            params.push(("expires_in", expires_in));
        }
        if let Some(id_token) = minted.as_ref().and_then(|m| m.id_token.as_deref()) {
            params.push(("id_token", id_token));
        }
        if !request.state.is_empty() {
            params.push(("state", &request.state));
        }
        Ok(answer(
            &request.redirect_uri,
            &params,
            response_mode_of(&request),
        ))
    }

    async fn client_for_display(&self, client_id: &str) -> Result<Client, AuthorizeError> {
        if client_id.is_empty()
            || validate_key(crate::storage::RecordKind::Client, client_id).is_err()
        {
            return Err(AuthorizeError::display(404, "Invalid client_id."));
        }
        match self.store.get::<Client>(client_id).await {
            Ok(c) => Ok(c.value),
            Err(e) if e.is_not_found() => Err(AuthorizeError::display(404, "Invalid client_id.")),
            Err(e) => Err(e.into()),
        }
    }
}

/// The page for a connector's failure during login: a refusal by one of its rules (403, with
/// the connector's message for the user), or an upstream failure (500, `generic`). The cause
/// is logged by the HTTP layer from `internal`, never shown.
fn upstream_login_error(e: crate::Error, generic: &str) -> AuthorizeError {
    match &e {
        crate::Error::LoginRefused { user_message, .. } => AuthorizeError::Display {
            status: 403,
            message: (*user_message).to_owned(),
            internal: Some(e),
        },
        _ => AuthorizeError::Display {
            status: 500,
            message: generic.into(),
            internal: Some(e),
        },
    }
}
