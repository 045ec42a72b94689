//! The whole-flow load driver behind the `oxidex-load` binary: drives a running OpenID
//! Connect issuer over HTTP with a number of concurrent workers for a while and reports
//! operations per second and latency percentiles.
//!
//! It talks to the issuer the way clients and browsers do and knows nothing of oxidex's
//! internals, so the same run works against Dex (or any issuer whose login form it can
//! read: a form with a password input, an optional approval form) and the figures can be
//! put side by side. See `docs/performance.md` for the method.
//!
//! [`run`] is the whole driver: the binary only parses its command line and prints the
//! [`Report`]. A failed operation (an error status, garbage instead of JSON, a login form
//! that does not let the user in) is counted as an error with its message; nothing an
//! issuer answers makes the driver panic.

mod flow;
pub mod html;
pub mod stats;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use flow::{CookieJar, Pkce};
use stats::Latencies;

/// What the workers do in a loop; each loop is one timed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// `GET {issuer}/.well-known/openid-configuration`.
    Discovery,
    /// `GET` of the discovery document's `jwks_uri`.
    Keys,
    /// A whole authorization-code flow with PKCE (S256) through the password connector:
    /// `/auth`, its redirects, the login form, the approval form if shown, the redirect
    /// back with the code, and the token exchange, in a fresh cookie jar.
    AuthCode,
    /// One `refresh_token` grant; each worker follows its own chain of refresh tokens,
    /// started with one authorization-code flow (asking for `offline_access`) before the
    /// clock starts.
    Refresh,
    /// One resource-owner password grant (RFC 6749 §4.3).
    Password,
    /// One client-credentials grant (RFC 6749 §4.4).
    ClientCredentials,
}

impl Scenario {
    /// Every scenario, in the order the driver documents them.
    pub const ALL: [Scenario; 6] = [
        Scenario::Discovery,
        Scenario::Keys,
        Scenario::AuthCode,
        Scenario::Refresh,
        Scenario::Password,
        Scenario::ClientCredentials,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Discovery => "discovery",
            Scenario::Keys => "keys",
            Scenario::AuthCode => "auth-code",
            Scenario::Refresh => "refresh",
            Scenario::Password => "password",
            Scenario::ClientCredentials => "client-credentials",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario {s:?}; one of {}", names.join(", "))
            })
    }
}

/// How to drive the issuer. [`Options::default`] matches the development configs of both
/// oxidex and Dex (`examples/config-dev.yaml`) on `http://127.0.0.1:5556/dex`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The issuer URL, as in its discovery document (no trailing slash).
    pub issuer: String,
    /// For `discovery` and `keys`: the URL to GET instead of the issuer's (a baseline server).
    pub url: Option<String>,
    /// Concurrent workers; each keeps its own connection.
    pub concurrency: usize,
    /// How long operations are measured, after the warm-up.
    pub duration: Duration,
    /// How long the workers run before measuring starts; what completes then is not counted.
    pub warmup: Duration,
    /// Timeout of each HTTP request.
    pub request_timeout: Duration,
    /// The client that logs users in or asks for tokens.
    pub client_id: String,
    /// Its secret, sent with HTTP Basic; empty for a public client (then `client_id` goes
    /// in the form).
    pub client_secret: String,
    /// A redirect URI registered for the client; nothing needs to listen there.
    pub redirect_uri: String,
    /// The login typed into the password form and sent with the password grant.
    pub username: String,
    /// The password.
    pub password: String,
    /// `connector_id` sent with the authorization request (oxidex and Dex go straight to
    /// that connector); empty to send none and pick the connector link from the page.
    pub connector: String,
    /// The scopes of the authorization-code and password grants (`refresh` adds
    /// `offline_access`; `client-credentials` asks for `openid` only).
    pub scope: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:5556/dex".to_owned(),
            url: None,
            concurrency: 32,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            request_timeout: Duration::from_secs(60),
            client_id: "example-app".to_owned(),
            client_secret: "ZXhhbXBsZS1hcHAtc2VjcmV0".to_owned(),
            redirect_uri: "http://127.0.0.1:5555/callback".to_owned(),
            username: "admin@example.com".to_owned(),
            password: "password".to_owned(),
            connector: "local".to_owned(),
            scope: "openid email profile".to_owned(),
        }
    }
}

/// The outcome of one scenario run.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was run.
    pub scenario: Scenario,
    /// The URL of the issuer (or baseline) driven.
    pub target: String,
    /// Workers.
    pub concurrency: usize,
    /// The measured window (the warm-up not included).
    pub duration: Duration,
    /// Operations that succeeded and completed in the window.
    pub ops: u64,
    /// Operations that failed and completed in the window.
    pub errors: u64,
    /// The first error seen, warm-up included.
    pub first_error: Option<String>,
    /// Latency of successful operations, 50th percentile.
    pub p50: Option<Duration>,
    /// 90th percentile.
    pub p90: Option<Duration>,
    /// 99th percentile.
    pub p99: Option<Duration>,
    /// Slowest.
    pub max: Option<Duration>,
    /// Mean.
    pub mean: Option<Duration>,
}

impl Report {
    /// Successful operations per second of the window.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.ops as f64 / secs
        } else {
            0.0
        }
    }

    /// One JSON object (latencies in milliseconds, `null` without samples).
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        serde_json::json!({
            "scenario": self.scenario.name(),
            "target": self.target,
            "concurrency": self.concurrency,
            "duration_s": self.duration.as_secs_f64(),
            "ops": self.ops,
            "ops_per_s": self.ops_per_sec(),
            "p50_ms": ms(self.p50),
            "p90_ms": ms(self.p90),
            "p99_ms": ms(self.p99),
            "max_ms": ms(self.max),
            "mean_ms": ms(self.mean),
            "errors": self.errors,
            "first_error": self.first_error,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Option<Duration>| match d {
            Some(d) => format!("{:.2} ms", d.as_secs_f64() * 1000.0),
            None => "-".to_owned(),
        };
        writeln!(
            f,
            "{} against {}: {} workers, {:.1} s",
            self.scenario,
            self.target,
            self.concurrency,
            self.duration.as_secs_f64()
        )?;
        writeln!(
            f,
            "  {:.1} ops/s ({} ops)  p50 {}  p90 {}  p99 {}  max {}",
            self.ops_per_sec(),
            self.ops,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )?;
        write!(f, "  errors {}", self.errors)?;
        if let Some(e) = &self.first_error {
            write!(f, " (first: {e})")?;
        }
        Ok(())
    }
}

/// Why a run could not start: the issuer's discovery document is unreachable or unusable,
/// or an HTTP client could not be built. (Failures of single operations are counted in the
/// [`Report`] instead.)
#[derive(Debug, Clone)]
pub struct SetupError(pub String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// The endpoints of the issuer, from its discovery document.
#[derive(Debug, Clone, Default)]
pub(crate) struct Endpoints {
    pub(crate) authorization: String,
    pub(crate) token: String,
    pub(crate) jwks: String,
}

/// What every worker shares.
pub(crate) struct Context {
    pub(crate) options: Options,
    pub(crate) endpoints: Endpoints,
    /// The URL `discovery` and `keys` GET.
    target: String,
}

/// One worker's connection and, for `refresh`, its refresh token.
struct Worker {
    client: reqwest::Client,
    refresh_token: Option<String>,
}

/// What one worker measured.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    ops: u64,
    errors: u64,
    first_error: Option<(Instant, String)>,
}

/// Runs `scenario` against the issuer of `options`: sets up the workers (for `refresh`,
/// one login each), runs them for the warm-up and then the measured duration, and
/// summarises. Operations still in flight when the duration ends are abandoned uncounted.
pub async fn run(scenario: Scenario, options: &Options) -> Result<Report, SetupError> {
    let issuer = options.issuer.trim_end_matches('/').to_owned();
    let discovery_url = format!("{issuer}/.well-known/openid-configuration");
    let needs_discovery = match scenario {
        Scenario::Discovery => false,
        Scenario::Keys => options.url.is_none(),
        _ => true,
    };
    let endpoints = if needs_discovery {
        discover(&discovery_url, options).await?
    } else {
        Endpoints::default()
    };
    let target = match (scenario, &options.url) {
        (Scenario::Discovery | Scenario::Keys, Some(url)) => url.clone(),
        (Scenario::Discovery, None) => discovery_url,
        (Scenario::Keys, None) => endpoints.jwks.clone(),
        _ => issuer,
    };
    let context = Arc::new(Context {
        options: options.clone(),
        endpoints,
        target: target.clone(),
    });

    // Set-up: a connection per worker, and for `refresh` a first refresh token.
    let concurrency = options.concurrency.max(1);
    let mut setup = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let context = context.clone();
        setup.spawn(async move {
            let client = http_client(&context.options)?;
            let mut worker = Worker {
                client,
                refresh_token: None,
            };
            if scenario == Scenario::Refresh {
                // A failure here is not fatal: the worker retries inside the run and
                // counts the failures as errors.
                worker.refresh_token = flow::first_refresh_token(&context, &worker.client)
                    .await
                    .ok();
            }
            Ok::<_, SetupError>(worker)
        });
    }
    let mut workers = Vec::with_capacity(concurrency);
    while let Some(done) = setup.join_next().await {
        match done {
            Ok(worker) => workers.push(worker?),
            Err(e) => return Err(SetupError(format!("worker set-up failed: {e}"))),
        }
    }

    let start = Instant::now();
    let measure_from = start + options.warmup;
    let end = measure_from + options.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in workers {
        let context = context.clone();
        tasks.spawn(work(context, scenario, worker, measure_from, end));
    }
    let mut total = Tally::default();
    while let Some(done) = tasks.join_next().await {
        let tally = match done {
            Ok(t) => t,
            Err(e) => Tally {
                errors: 1,
                first_error: Some((Instant::now(), format!("worker failed: {e}"))),
                ..Tally::default()
            },
        };
        total.ops += tally.ops;
        total.errors += tally.errors;
        total.latencies.merge(tally.latencies);
        total.first_error = match (total.first_error.take(), tally.first_error) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
    }
    let mut latencies = total.latencies;
    Ok(Report {
        scenario,
        target,
        concurrency,
        duration: options.duration,
        ops: total.ops,
        errors: total.errors,
        first_error: total.first_error.map(|(_, e)| e),
        p50: latencies.percentile(50.0),
        p90: latencies.percentile(90.0),
        p99: latencies.percentile(99.0),
        max: latencies.max(),
        mean: latencies.mean(),
    })
}

/// One worker's loop until `end`.
async fn work(
    context: Arc<Context>,
    scenario: Scenario,
    mut worker: Worker,
    measure_from: Instant,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let deadline = tokio::time::Instant::from_std(end);
    loop {
        let began = Instant::now();
        if began >= end {
            break;
        }
        let outcome =
            tokio::time::timeout_at(deadline, operation(&context, scenario, &mut worker)).await;
        let finished = Instant::now();
        // Cut off by the end of the run: neither a success nor an error.
        let Ok(outcome) = outcome else { break };
        let counted = finished >= measure_from && finished <= end;
        match outcome {
            Ok(Timed::Yes) => {
                if counted {
                    tally.ops += 1;
                    tally.latencies.record(finished - began);
                }
            }
            Ok(Timed::No) => {}
            Err(e) => {
                if counted {
                    tally.errors += 1;
                }
                if tally.first_error.is_none() {
                    tally.first_error = Some((finished, e));
                }
                // Do not spin on an issuer that refuses everything at once.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

/// Whether an operation is one the scenario measures (a `refresh` worker getting its first
/// token again is not).
enum Timed {
    Yes,
    No,
}

async fn operation(
    context: &Context,
    scenario: Scenario,
    worker: &mut Worker,
) -> Result<Timed, String> {
    let client = &worker.client;
    match scenario {
        Scenario::Discovery | Scenario::Keys => flow::get_json(client, &context.target)
            .await
            .map(|()| Timed::Yes),
        Scenario::AuthCode => flow::auth_code(context, client, &context.options.scope)
            .await
            .map(|_| Timed::Yes),
        Scenario::Refresh => match worker.refresh_token.take() {
            None => {
                worker.refresh_token = Some(flow::first_refresh_token(context, client).await?);
                Ok(Timed::No)
            }
            Some(token) => {
                let tokens = flow::token_request(
                    context,
                    client,
                    &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                    true,
                )
                .await?;
                // An issuer that does not rotate refresh tokens keeps the old one valid.
                worker.refresh_token = Some(tokens.refresh_token.unwrap_or(token));
                Ok(Timed::Yes)
            }
        },
        Scenario::Password => {
            let o = &context.options;
            flow::token_request(
                context,
                client,
                &[
                    ("grant_type", "password"),
                    ("username", &o.username),
                    ("password", &o.password),
                    ("scope", &o.scope),
                ],
                true,
            )
            .await
            .map(|_| Timed::Yes)
        }
        Scenario::ClientCredentials => flow::token_request(
            context,
            client,
            &[("grant_type", "client_credentials"), ("scope", "openid")],
            true,
        )
        .await
        .map(|_| Timed::Yes),
    }
}

/// An HTTP client that leaves redirects and cookies to the driver.
fn http_client(options: &Options) -> Result<reqwest::Client, SetupError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(options.request_timeout)
        .build()
        .map_err(|e| SetupError(format!("building an HTTP client: {}", flow::describe(&e))))
}

/// Reads the discovery document at `url`.
async fn discover(url: &str, options: &Options) -> Result<Endpoints, SetupError> {
    let client = http_client(options)?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| SetupError(format!("GET {url}: {}", flow::describe(&e))))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| SetupError(format!("GET {url}: {}", flow::describe(&e))))?;
    if status != reqwest::StatusCode::OK {
        return Err(SetupError(format!(
            "GET {url}: HTTP {status}: {}",
            html::snippet(&body)
        )));
    }
    let doc: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
        SetupError(format!(
            "GET {url}: not JSON ({e}): {}",
            html::snippet(&body)
        ))
    })?;
    let field = |name: &str| {
        doc.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| SetupError(format!("{url} has no {name}")))
    };
    Ok(Endpoints {
        authorization: field("authorization_endpoint")?,
        token: field("token_endpoint")?,
        jwks: field("jwks_uri")?,
    })
}

/// Parses a duration as the command line gives it: `10s`, `500ms`, `2m`, or a number of
/// seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (try 10s, 500ms, 2m)"))?;
    Duration::try_from_secs_f64(value * unit).map_err(|e| format!("not a duration: {s:?}: {e}"))
}
