//! `oxidex serve CONFIG`: read a Dex configuration file unchanged, assemble the issuer, and
//! serve it until SIGTERM or SIGINT, then drain in-flight requests and exit.

mod assemble;
mod connectors;
#[cfg(feature = "grpc")]
mod grpc;
pub(crate) mod keys;
mod listen;
mod startup;
mod telemetry;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{self, Environment};

/// Command-line overrides of the configuration (Dex's `serve` flags).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ServeArgs {
    /// The Dex configuration file.
    pub(crate) config: PathBuf,
    /// Overrides `web.http`.
    #[arg(long)]
    pub(crate) web_http_addr: Option<String>,
    /// Overrides `web.https`.
    #[arg(long)]
    pub(crate) web_https_addr: Option<String>,
    /// Overrides `telemetry.http`.
    #[arg(long)]
    pub(crate) telemetry_addr: Option<String>,
    /// Overrides `grpc.addr` (the admin API).
    #[arg(long)]
    pub(crate) grpc_addr: Option<String>,
    /// Serve the admin API beyond loopback without client certificates (`grpc.tlsClientCA`),
    /// because something else protects the port. Refused otherwise.
    #[arg(long)]
    pub(crate) grpc_allow_unauthenticated: bool,
}

/// How often expired requests, codes and device records are removed (Dex: 5 minutes).
const GC_EVERY: Duration = Duration::from_secs(300);
/// How often the signer checks whether its keys are due: Dex's 30 seconds, or a quarter of a
/// shorter rotation period (never below 100 ms), so short periods rotate on time.
fn rotation_check_every(period: Duration) -> Duration {
    (period / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
}

fn init_logging(logger: &config::Logger) -> Result<(), String> {
    let level = if logger.level.is_empty() {
        "info"
    } else {
        logger.level.as_str()
    };
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{level},sqlx=warn,hyper=warn"))
        .map_err(|e| format!("logger.level {level:?}: {e}"))?;
    // Logs go to stderr, as Dex's do; stdout stays free for command output.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = if logger.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|e| format!("logger: {e}"))
}

/// Runs the server; returns the process exit code (2 for configuration errors, as Dex).
pub(crate) async fn run(args: ServeArgs) -> u8 {
    let env = Environment::from_process();
    let loaded = match config::load_file(&args.config, &env) {
        Ok(l) => l,
        Err(e) => {
            for line in e.errors() {
                eprintln!("{line}");
            }
            return 2;
        }
    };
    let mut config = loaded.config;
    if let Some(a) = args.web_http_addr {
        config.web.http = a;
    }
    if let Some(a) = args.web_https_addr {
        config.web.https = a;
    }
    if let Some(a) = args.telemetry_addr {
        config.telemetry.http = a;
    }
    if let Some(a) = args.grpc_addr {
        config.grpc.addr = a;
    }
    #[cfg(feature = "grpc")]
    if let Err(e) = grpc::refuse_unsafe(&config.grpc, args.grpc_allow_unauthenticated) {
        eprintln!("oxidex: {e}");
        return 2;
    }
    #[cfg(not(feature = "grpc"))]
    if !config.grpc.addr.is_empty() {
        eprintln!("grpc: this oxidex was built without the `grpc` feature; remove grpc.addr");
        return 2;
    }
    if let Err(e) = init_logging(&config.logger) {
        eprintln!("{e}");
        return 2;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), config = %args.config.display(), "oxidex starting");
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    match serve(config).await {
        Ok(()) => {
            tracing::info!("oxidex stopped");
            0
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("oxidex: {e}");
            1
        }
    }
}

async fn serve(config: config::Config) -> Result<(), String> {
    // Before anything can take a while: SIGUSR1's default action would end the process.
    let mut check_now = check_keys_signal();
    let metrics = telemetry::Metrics::new();
    let slot = startup::AppSlot::default();
    let readiness = startup::Readiness::default();
    let app = slot.router();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();

    // Listeners first: a port in use fails at once, and while storage is unreachable the
    // issuer answers 503 and readiness says why.
    if !config.web.http.is_empty() {
        let listener = listen::bind("web.http", &config.web.http).await?;
        tracing::info!(addr = %config.web.http, issuer = %config.issuer, "listening (http)");
        tasks.spawn(listen::serve_http(listener, app.clone(), stop_rx.clone()));
    }
    if !config.web.https.is_empty() {
        let tls = listen::tls_config(
            &config.web.tls_cert,
            &config.web.tls_key,
            &config.web.tls_min_version,
            &config.web.tls_max_version,
        )?;
        let listener = listen::bind("web.https", &config.web.https).await?;
        tracing::info!(addr = %config.web.https, issuer = %config.issuer, "listening (https)");
        tasks.spawn(listen::serve_https(
            listener,
            tls,
            app.clone(),
            stop_rx.clone(),
        ));
    }
    if !config.telemetry.http.is_empty() {
        let router = telemetry::router(metrics.clone(), readiness.clone());
        let listener = listen::bind("telemetry.http", &config.telemetry.http).await?;
        tracing::info!(addr = %config.telemetry.http, "listening (telemetry)");
        tasks.spawn(listen::serve_http(listener, router, stop_rx.clone()));
    }

    #[cfg(feature = "grpc")]
    let grpc_listener = if config.grpc.addr.is_empty() {
        None
    } else {
        Some(grpc::bind(&config.grpc).await?)
    };

    let assembled = tokio::select! {
        assembled = startup::assemble_with_retry(&config, &readiness) => assembled,
        _ = shutdown_signal() => {
            tracing::info!("shutdown signal received before storage was reachable");
            return drain(stop_tx, tasks, None).await;
        }
        Some(done) = tasks.join_next() => return drain(stop_tx, tasks, listener_failure(done)).await,
    };
    let assembled = match assembled {
        Ok(a) => a,
        Err(e) => return drain(stop_tx, tasks, Some(e)).await,
    };
    slot.install(
        assembled
            .issuer
            .app()
            .layer(axum::middleware::from_fn_with_state(
                metrics.clone(),
                telemetry::observe,
            )),
    );
    tracing::info!("issuer ready");

    #[cfg(feature = "grpc")]
    if let Some(listener) = grpc_listener {
        let algorithm =
            match oxidex_core::signer::Signer::signing_key(assembled.signer.as_ref()).await {
                Ok(key) => key.algorithm(),
                Err(e) => return drain(stop_tx, tasks, Some(format!("grpc: {e}"))).await,
            };
        let (store, settings, stop) = (
            assembled.store.clone(),
            assemble::settings(&config),
            stop_rx.clone(),
        );
        tasks.spawn(async move { listener.serve(store, &settings, algorithm, stop).await });
    }

    // Background upkeep: key rotation and garbage collection.
    let signer = assembled.signer.clone();
    let check_every = rotation_check_every(match &config.signer {
        config::Signer::Local(local) => local.keys_rotation_period,
        #[allow(unreachable_patterns, reason = "more signer types will come")]
        _ => Duration::from_secs(30),
    });
    let mut stop = stop_rx.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(check_every);
        loop {
            let outcome = tokio::select! {
                _ = tick.tick() => signer.tick().await,
                Some(()) = check_now.recv() => {
                    tracing::info!("SIGUSR1: checking the stored signing keys now");
                    signer.check_stored().await
                }
                _ = listen::stopped(&mut stop) => break,
            };
            match outcome {
                Ok(oxidex_core::signer::RotationOutcome::NotDue) => {}
                Ok(outcome) => tracing::info!(?outcome, "signing keys rotated"),
                Err(e) => tracing::error!(error = %e, "key rotation failed"),
            }
        }
    });
    tokio::spawn(connectors::keep_in_step(
        assembled.store.clone(),
        assembled.registry.clone(),
        assembled.connectors.clone(),
        connectors::CHECK_EVERY,
        stop_rx.clone(),
    ));
    let (store, clock) = (assembled.store.clone(), assembled.clock.clone());
    let mut stop = stop_rx.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(GC_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => match store.garbage_collect(clock.now()).await {
                    Ok(r) if r.total() > 0 => tracing::info!(
                        auth_requests = r.auth_requests, auth_codes = r.auth_codes,
                        device_requests = r.device_requests, device_tokens = r.device_tokens,
                        "garbage collection"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "garbage collection failed"),
                },
                _ = listen::stopped(&mut stop) => break,
            }
        }
    });

    let failed = tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutdown signal received; draining");
            None
        }
        Some(done) = tasks.join_next() => listener_failure(done),
    };
    drain(stop_tx, tasks, failed).await
}

type Listeners = tokio::task::JoinSet<Result<(), String>>;

fn listener_failure(done: Result<Result<(), String>, tokio::task::JoinError>) -> Option<String> {
    match done {
        Ok(Err(e)) => Some(e),
        Ok(Ok(())) => None,
        Err(e) => Some(format!("listener task: {e}")),
    }
}

/// Stops the listeners, lets in-flight requests finish (up to [`listen::DRAIN`]), and
/// reports `failed` if something went wrong.
async fn drain(
    stop_tx: watch::Sender<bool>,
    mut tasks: Listeners,
    failed: Option<String>,
) -> Result<(), String> {
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(listen::DRAIN, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// SIGUSR1 asks for an immediate signing-key check (after `oxidex keys rotate`), instead of
/// waiting for the next periodic one.
fn check_keys_signal() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::user_defined1()) {
            Ok(mut usr1) => {
                tokio::spawn(async move {
                    while usr1.recv().await.is_some() {
                        let _ = tx.try_send(());
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGUSR1"),
        }
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_checks_keep_up_with_short_periods() {
        assert_eq!(
            rotation_check_every(Duration::from_secs(6 * 3600)),
            Duration::from_secs(30)
        );
        assert_eq!(
            rotation_check_every(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        assert_eq!(
            rotation_check_every(Duration::from_millis(10)),
            Duration::from_millis(100)
        );
    }
}
