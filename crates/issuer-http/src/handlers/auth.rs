//! The browser flow: `/auth`, `/auth/{connector}`, `/auth/{connector}/login`, `/callback`,
//! `/approval` (`reference/dex.md` §1.4–1.7).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use oxidex_core::connector::CallbackRequest;
use oxidex_core::oauth::{
    AuthorizationResponse, AuthorizeParams, LoginStart, Next, PasswordOutcome,
};

use super::{found, html, see_other};
use crate::errors;
use crate::pages::{
    ApprovalPage, ChooserPage, ConnectorButton, OobPage, PasswordPage, describe_scopes,
};
use crate::params::Params;
use crate::{State, csrf};

fn params_from(method: &Method, query: Option<&str>, body: &[u8]) -> Result<Params, String> {
    let input = if *method == Method::POST {
        body
    } else {
        query.unwrap_or_default().as_bytes()
    };
    Params::parse(input).map_err(|e| e.to_string())
}

fn authorize_params(p: &Params) -> AuthorizeParams {
    AuthorizeParams {
        client_id: p.get("client_id").into(),
        redirect_uri: p.get("redirect_uri").into(),
        response_type: p.get("response_type").into(),
        scope: p.get("scope").into(),
        state: p.get("state").into(),
        nonce: p.get("nonce").into(),
        code_challenge: p.get("code_challenge").into(),
        code_challenge_method: p.get("code_challenge_method").into(),
        connector_id: p.get("connector_id").into(),
        request: p.get("request").into(),
        approval_prompt: p.get("approval_prompt").into(),
        prompt: p.get("prompt").into(),
        max_age: p.get("max_age").into(),
        login_hint: p.get("login_hint").into(),
        response_mode: p.get("response_mode").into(),
    }
}

/// A path segment, percent-encoded.
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn encode(pairs: &[(&str, &str)]) -> String {
    oxidex_core::oauth::redirect::encode_pairs(pairs)
}

/// `GET|POST /auth`: the connector chooser, or the next step after login (`req` + `hmac`).
pub(crate) async fn auth(
    AxumState(state): AxumState<Arc<State>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = match params_from(&method, query.as_deref(), &body) {
        Ok(p) => p,
        Err(e) => return errors::page(&state, StatusCode::BAD_REQUEST, &e),
    };
    if !params.get("req").is_empty() {
        return continue_login(&state, params.get("req"), params.get("hmac")).await;
    }
    let validated = match state
        .engine
        .validate_authorize(&authorize_params(&params))
        .await
    {
        Ok(v) => v,
        Err(e) => return errors::authorize_error(&state, e),
    };
    let mut forwarded = params.0.clone();
    forwarded.remove("connector_id");
    let query: Vec<(&str, &str)> = forwarded
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let query = encode(&query);
    let connector_url = |id: &str| format!("{}/auth/{}?{}", state.issuer_path, segment(id), query);

    if let Some(id) = &validated.connector_id {
        return found(&connector_url(id));
    }
    let connectors = state
        .engine
        .connectors_for(&validated.client, validated.grant_type());
    if connectors.is_empty() {
        return errors::page(
            &state,
            StatusCode::BAD_REQUEST,
            "No connectors available for this client.",
        );
    }
    if let [only] = connectors.as_slice()
        && !state.engine.settings().always_show_login
    {
        return found(&connector_url(&only.record.id));
    }
    let page = ChooserPage {
        connectors: connectors
            .iter()
            .map(|c| ConnectorButton {
                id: c.record.id.clone(),
                name: c.record.name.clone(),
                connector_type: c.record.connector_type.clone(),
                url: connector_url(&c.record.id),
            })
            .collect(),
    };
    match state.pages.render_chooser(&page) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => render_failed(&state, e),
    }
}

fn render_failed(state: &State, e: crate::pages::PagesError) -> Response {
    tracing::error!(error = %e, "page failed to render");
    errors::page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error.",
    )
}

/// `GET /auth/{connector}`: validates the request, stores it, and starts the login.
pub(crate) async fn auth_connector(
    AxumState(state): AxumState<Arc<State>>,
    Path(connector): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return errors::page(&state, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let validated = match state
        .engine
        .validate_authorize(&authorize_params(&params))
        .await
    {
        Ok(v) => v,
        Err(e) => return errors::authorize_error(&state, e),
    };
    let several = state
        .engine
        .connectors_for(&validated.client, validated.grant_type())
        .len()
        > 1;
    match state.engine.begin_login(&validated, &connector).await {
        Ok(LoginStart::Password { state: id }) => {
            let mut pairs = vec![("state", id.as_str())];
            let mut chooser = params.0.clone();
            chooser.remove("connector_id");
            let chooser: Vec<(&str, &str)> = chooser
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let back = format!("{}/auth?{}", state.issuer_path, encode(&chooser));
            if several {
                pairs.push(("back", &back));
            }
            found(&format!(
                "{}/auth/{}/login?{}",
                state.issuer_path,
                segment(&connector),
                encode(&pairs)
            ))
        }
        Ok(LoginStart::Redirect(url)) => found(&url),
        Ok(LoginStart::SamlPost { .. }) => errors::page(
            &state,
            StatusCode::NOT_IMPLEMENTED,
            "SAML connectors are not supported yet.",
        ),
        Err(e) => errors::authorize_error(&state, e),
    }
}

/// The browser's CSRF value (and a cookie to set), or an error page.
fn csrf_token(
    state: &State,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), Box<Response>> {
    csrf::token(headers, &state.cookie_path, state.https).map_err(|e| {
        tracing::error!(error = %e, "CSRF token");
        Box::new(errors::page(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error.",
        ))
    })
}

fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET|POST /auth/{connector}/login`: the password form.
pub(crate) async fn password(
    AxumState(state): AxumState<Arc<State>>,
    Path(connector): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return errors::page(&state, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let login_state = query.get("state").to_owned();
    let back = query.0.get("back").cloned();
    let prompt = match state.engine.password_prompt(&login_state, &connector).await {
        Ok(p) => p,
        Err(e) => return errors::authorize_error(&state, e),
    };
    let (csrf_token, cookie) = match csrf_token(&state, &headers) {
        Ok(t) => t,
        Err(response) => return *response,
    };
    let post_url = format!(
        "{}/auth/{}/login?{}",
        state.issuer_path,
        segment(&connector),
        encode(&[("state", &login_state)])
    );
    let mut page = PasswordPage {
        post_url,
        username_prompt: prompt.prompt,
        username: prompt.login_hint,
        invalid: false,
        back_url: back,
        csrf_token: csrf_token.clone(),
    };
    let mut status = StatusCode::OK;
    if method == Method::POST {
        let form = match csrf::checked_form(&state, &headers, &body) {
            Ok(form) => form,
            Err(response) => return *response,
        };
        let username = form.get("login");
        match state
            .engine
            .password_login(&login_state, &connector, username, form.get("password"))
            .await
        {
            Ok(PasswordOutcome::LoggedIn(next)) => {
                return see_other(&format!(
                    "{}/auth?{}",
                    state.issuer_path,
                    encode(&[("req", &next.req), ("hmac", &next.hmac)])
                ));
            }
            Ok(PasswordOutcome::Invalid) => {
                tracing::info!(target: "audit", event = "login_failed", connector_id = %connector, "invalid credentials");
                page.invalid = true;
                page.username = username.to_owned();
                status = StatusCode::UNAUTHORIZED;
            }
            Err(e) => return errors::authorize_error(&state, e),
        }
    }
    match state.pages.render_password(&page) {
        Ok(body) => with_cookie(html(status, body), cookie),
        Err(e) => render_failed(&state, e),
    }
}

/// `GET /callback` and `GET /callback/{connector}`: the upstream's redirect back.
pub(crate) async fn callback(
    state: AxumState<Arc<State>>,
    headers: HeaderMap,
    query: RawQuery,
) -> Response {
    callback_for(state, None, headers, query).await
}

/// `GET /callback/{connector}`.
pub(crate) async fn callback_connector(
    state: AxumState<Arc<State>>,
    Path(connector): Path<String>,
    headers: HeaderMap,
    query: RawQuery,
) -> Response {
    callback_for(state, Some(connector), headers, query).await
}

async fn callback_for(
    AxumState(state): AxumState<Arc<State>>,
    connector: Option<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return errors::page(&state, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    // Dex strips proxy identity headers on the generic callback; only `/callback/{connector}`
    // (authproxy) may see them.
    let request = CallbackRequest {
        query: params
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        headers: headers
            .iter()
            .filter(|(name, _)| {
                connector.is_some() || !name.as_str().to_ascii_lowercase().starts_with("x-remote-")
            })
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|v| (name.as_str().to_owned(), v.to_owned()))
            })
            .collect(),
    };
    match state
        .engine
        .callback(params.get("state"), connector.as_deref(), &request)
        .await
    {
        Ok(next) => see_other(&format!(
            "{}/auth?{}",
            state.issuer_path,
            encode(&[("req", &next.req), ("hmac", &next.hmac)])
        )),
        Err(e) => errors::authorize_error(&state, e),
    }
}

async fn continue_login(state: &State, req: &str, mac: &str) -> Response {
    match state.engine.continue_login(req, mac).await {
        Ok(Next::Approval(prompt)) => see_other(&format!(
            "{}/approval?{}",
            state.issuer_path,
            encode(&[("req", &prompt.req), ("hmac", &prompt.hmac)])
        )),
        Ok(Next::Respond(response)) => authorization_response(state, response),
        Err(e) => errors::authorize_error(state, e),
    }
}

fn authorization_response(state: &State, response: AuthorizationResponse) -> Response {
    match response {
        AuthorizationResponse::Redirect(url) => see_other(&url),
        AuthorizationResponse::Oob { code } => match state.pages.render_oob(&OobPage { code }) {
            Ok(body) => html(StatusCode::OK, body),
            Err(e) => render_failed(state, e),
        },
        AuthorizationResponse::FormPost { action, params } => {
            crate::form_post::page(&state.issuer_path, &action, &params)
        }
    }
}

/// `GET|POST /approval`: the consent screen and its answer.
pub(crate) async fn approval(
    AxumState(state): AxumState<Arc<State>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = match params_from(&method, query.as_deref(), &body) {
        Ok(p) => p,
        Err(e) => return errors::page(&state, StatusCode::BAD_REQUEST, &e),
    };
    let (req, mac) = (params.get("req"), params.get("hmac"));
    if method == Method::POST {
        if !csrf::verify(&headers, params.get("csrf_token")) {
            return csrf::refused(&state);
        }
        let approved = params.get("approval") == "approve";
        return match state.engine.decide_approval(req, mac, approved).await {
            Ok(response) => authorization_response(&state, response),
            Err(e) => errors::authorize_error(&state, e),
        };
    }
    let prompt = match state.engine.approval_prompt(req, mac).await {
        Ok(p) => p,
        Err(e) => return errors::authorize_error(&state, e),
    };
    let (csrf_token, cookie) = match csrf_token(&state, &headers) {
        Ok(t) => t,
        Err(response) => return *response,
    };
    let page = ApprovalPage {
        client_name: prompt.client_name,
        scopes: describe_scopes(prompt.scopes.iter().map(String::as_str)),
        post_url: format!("{}/approval", state.issuer_path),
        req: prompt.req,
        hmac: prompt.hmac,
        csrf_token,
    };
    match state.pages.render_approval(&page) {
        Ok(body) => with_cookie(html(StatusCode::OK, body), cookie),
        Err(e) => render_failed(&state, e),
    }
}
