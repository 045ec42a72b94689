//! The engine's test world: a [`MemoryStorage`] store holding the test's clients, a
//! [`ManualClock`] at [`start`], an ES256 [`LocalSigner`], and the password connector
//! [`Users`] (jane/secret, with refresh), plus the helpers the engine tests share.
//!
//! A test binary builds its world with [`Parts::new`] (its own clients), picks connectors
//! ([`Parts::users_connector`] or its own), and finishes with [`Parts::engine`] and a
//! settings closure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxidex_core::clock::{Clock, ManualClock};
use oxidex_core::connector::{Connector, PasswordConnector, PasswordLogin, RefreshConnector};
use oxidex_core::jose::verify_compact;
use oxidex_core::model::{Client, ConnectorRecord, Identity, Scopes};
use oxidex_core::oauth::{
    AuthorizationResponse, AuthorizeParams, ClientCredentials, ConnectorSet, Engine, LoginStart,
    Next, OpenedConnector, PasswordOutcome, Settings, TokenRequest,
};
use oxidex_core::secret::ClientSecret;
use oxidex_core::signer::{LocalSigner, LocalSignerConfig, Signer, SigningAlgorithm};
use oxidex_core::storage::Store;
use oxidex_storage::MemoryStorage;

pub(crate) const ISSUER: &str = "https://issuer.example/dex";
pub(crate) const REDIRECT: &str = "https://app.example/callback";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// When every world's clock starts.
pub(crate) fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

/// A local signer over `store`, signing with `algorithm`.
pub(crate) async fn local_signer(
    store: &Store,
    clock: Arc<dyn Clock>,
    algorithm: SigningAlgorithm,
) -> Arc<LocalSigner> {
    Arc::new(
        LocalSigner::open(
            store.clone(),
            clock,
            LocalSignerConfig {
                algorithm,
                ..LocalSignerConfig::default()
            },
        )
        .await
        .unwrap(),
    )
}

/// The user the password connector knows.
pub(crate) fn jane() -> Identity {
    Identity {
        user_id: "jane-id".into(),
        username: "Jane Doe".into(),
        preferred_username: "jane".into(),
        email: "jane@example.com".into(),
        email_verified: true,
        groups: vec!["admins".into()],
        connector_data: Some(b"upstream".to_vec()),
    }
}

/// Accepts jane/secret; refresh can be made to fail, and counts its upstream round trips.
pub(crate) struct Users {
    pub(crate) refuse_refresh: AtomicBool,
    pub(crate) refreshes: AtomicUsize,
}

#[async_trait]
impl PasswordConnector for Users {
    fn prompt(&self) -> &str {
        "Username"
    }
    async fn login(&self, _: Scopes, u: &str, p: &str) -> oxidex_core::Result<PasswordLogin> {
        Ok(if u == "jane" && p == "secret" {
            PasswordLogin::Authenticated(jane())
        } else {
            PasswordLogin::InvalidCredentials
        })
    }
}

#[async_trait]
impl RefreshConnector for Users {
    async fn refresh(&self, _: Scopes, mut identity: Identity) -> oxidex_core::Result<Identity> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        // An upstream round trip, so concurrent requests overlap.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if self.refuse_refresh.load(Ordering::SeqCst) {
            return Err(oxidex_core::Error::Connector {
                connector_id: "users".into(),
                message: "user disabled upstream".into(),
                source: None,
            });
        }
        identity.groups.push("refreshed".into());
        Ok(identity)
    }
}

/// Shares one [`Users`] between the engine and the test.
struct SharedUsers(Arc<Users>);

#[async_trait]
impl PasswordConnector for SharedUsers {
    fn prompt(&self) -> &str {
        self.0.prompt()
    }
    async fn login(&self, s: Scopes, u: &str, p: &str) -> oxidex_core::Result<PasswordLogin> {
        self.0.login(s, u, p).await
    }
}

#[async_trait]
impl RefreshConnector for SharedUsers {
    async fn refresh(&self, s: Scopes, i: Identity) -> oxidex_core::Result<Identity> {
        self.0.refresh(s, i).await
    }
}

/// The relying parties most tests use: `app` (confidential, redirecting to [`REDIRECT`]),
/// `kubectl` (public) and `kubernetes`, which trusts `app`.
pub(crate) fn clients() -> Vec<Client> {
    vec![
        Client {
            id: "app".into(),
            secret: ClientSecret::new("app-secret"),
            redirect_uris: vec![REDIRECT.into()],
            name: "The App".into(),
            ..Client::default()
        },
        Client {
            id: "kubectl".into(),
            public: true,
            name: "kubectl".into(),
            ..Client::default()
        },
        Client {
            id: "kubernetes".into(),
            secret: ClientSecret::new("k8s-secret"),
            trusted_peers: vec!["app".into()],
            ..Client::default()
        },
    ]
}

/// An engine over real storage, and what the tests look at behind it.
pub(crate) struct World {
    pub(crate) engine: Engine,
    pub(crate) store: Store,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) signer: Arc<LocalSigner>,
    pub(crate) users: Arc<Users>,
}

/// Everything of a [`World`] but the engine.
pub(crate) struct Parts {
    pub(crate) store: Store,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) signer: Arc<LocalSigner>,
    pub(crate) users: Arc<Users>,
}

impl Parts {
    /// Memory storage holding `clients`, the clock at [`start`], an ES256 signer.
    pub(crate) async fn new(clients: impl IntoIterator<Item = Client>) -> Self {
        Self::signing_with(clients, SigningAlgorithm::Es256).await
    }

    /// Like [`Parts::new`], the signer using `algorithm`.
    pub(crate) async fn signing_with(
        clients: impl IntoIterator<Item = Client>,
        algorithm: SigningAlgorithm,
    ) -> Self {
        let store = Store::new(Arc::new(MemoryStorage::new()));
        let clock = Arc::new(ManualClock::new(start()));
        for client in clients {
            store.create(&client).await.unwrap();
        }
        let signer = local_signer(&store, clock.clone(), algorithm).await;
        let users = Arc::new(Users {
            refuse_refresh: false.into(),
            refreshes: 0.into(),
        });
        Self {
            store,
            clock,
            signer,
            users,
        }
    }

    /// The [`Users`] password connector (with refresh) as connector `id`, allowing
    /// `grant_types` (empty: all).
    pub(crate) fn users_connector(&self, id: &str, grant_types: &[&str]) -> OpenedConnector {
        OpenedConnector {
            record: ConnectorRecord {
                id: id.into(),
                connector_type: "test".into(),
                name: id.into(),
                resource_version: String::new(),
                config: serde_json::Value::Null,
                grant_types: grant_types.iter().map(|g| (*g).to_owned()).collect(),
            },
            connector: Connector::password(SharedUsers(self.users.clone()))
                .with_refresh()
                .build(),
        }
    }

    /// The engine over these parts with `connectors`, its settings [`Settings::new`] for
    /// [`ISSUER`] changed by `settings`.
    pub(crate) fn engine(
        self,
        connectors: impl IntoIterator<Item = OpenedConnector>,
        settings: impl FnOnce(&mut Settings),
    ) -> World {
        self.engine_for(ISSUER, connectors, settings)
    }

    /// Like [`Parts::engine`], for the issuer URL `issuer`.
    pub(crate) fn engine_for(
        self,
        issuer: &str,
        connectors: impl IntoIterator<Item = OpenedConnector>,
        settings: impl FnOnce(&mut Settings),
    ) -> World {
        let mut s = Settings::new(issuer);
        settings(&mut s);
        let engine = Engine::new(
            s,
            self.store.clone(),
            self.signer.clone(),
            self.clock.clone(),
            ConnectorSet::new(connectors),
        );
        World {
            engine,
            store: self.store,
            clock: self.clock,
            signer: self.signer,
            users: self.users,
        }
    }
}

/// Client credentials; `secret` `None` for a public client.
pub(crate) fn creds(id: &str, secret: Option<&str>) -> Option<ClientCredentials> {
    Some(ClientCredentials {
        id: id.into(),
        secret: secret.map(str::to_owned),
    })
}

/// `app`'s credentials.
pub(crate) fn app() -> Option<ClientCredentials> {
    creds("app", Some("app-secret"))
}

/// A token request with the form `pairs`.
pub(crate) fn token_request(
    pairs: &[(&str, &str)],
    client: Option<ClientCredentials>,
) -> TokenRequest {
    TokenRequest {
        params: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        client,
    }
}

/// `app`'s authorization request for `scope`, with state, nonce and PKCE.
pub(crate) fn params(scope: &str) -> AuthorizeParams {
    AuthorizeParams {
        client_id: "app".into(),
        redirect_uri: REDIRECT.into(),
        response_type: "code".into(),
        scope: scope.into(),
        state: "xyz state".into(),
        nonce: "n-0S6".into(),
        code_challenge: CHALLENGE.into(),
        code_challenge_method: "S256".into(),
        ..AuthorizeParams::default()
    }
}

/// A parameter of `url`'s query or fragment, form-decoded.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once(['?', '#'])?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| form_decode(v))
    })
}

fn form_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Where a browser login ended.
pub(crate) struct Approved {
    /// The client name the approval page showed.
    pub(crate) client_name: String,
    /// Where the browser was sent after answering it.
    pub(crate) url: String,
}

/// The browser leg for `p` through password connector `connector`: a wrong password is
/// refused, jane's is accepted, and the approval page (shown by default) is answered with
/// `approve`.
pub(crate) async fn browser_login(
    w: &World,
    p: &AuthorizeParams,
    connector: &str,
    approve: bool,
) -> Approved {
    let validated = w.engine.validate_authorize(p).await.unwrap();
    let LoginStart::Password { state } = w.engine.begin_login(&validated, connector).await.unwrap()
    else {
        panic!("password connector");
    };
    assert_eq!(
        w.engine
            .password_login(&state, connector, "jane", "wrong")
            .await
            .unwrap(),
        PasswordOutcome::Invalid
    );
    let PasswordOutcome::LoggedIn(cont) = w
        .engine
        .password_login(&state, connector, "jane", "secret")
        .await
        .unwrap()
    else {
        panic!("logged in");
    };
    let Next::Approval(prompt) = w
        .engine
        .continue_login(&cont.req, &cont.hmac)
        .await
        .unwrap()
    else {
        panic!("approval expected by default");
    };
    let AuthorizationResponse::Redirect(url) = w
        .engine
        .decide_approval(&prompt.req, &prompt.hmac, approve)
        .await
        .unwrap()
    else {
        panic!("redirect");
    };
    Approved {
        client_name: prompt.client_name,
        url,
    }
}

/// The verified claims of a token the world's signer issued.
pub(crate) async fn claims(w: &World, token: &str) -> serde_json::Value {
    let keys = w.signer.validation_keys().await.unwrap();
    let verified = verify_compact(token, &keys, &[SigningAlgorithm::Es256]).unwrap();
    serde_json::from_slice(&verified.payload).unwrap()
}
