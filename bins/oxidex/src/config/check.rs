//! Rules a read configuration must follow (Dex's `Config.Validate` and the checks in
//! `dex serve`, plus refusals of unsafe settings), and warnings for development-only ones.
//!
//! Every rule runs, so all problems are reported together. A section that could not be read
//! is skipped, so its defaults do not cause follow-on errors.

use std::collections::BTreeSet;
use std::time::Duration;

use super::error::{Issues, KeyPath};
use super::hash::DEX_EXAMPLE_HASH;
use super::net::{check_cidr, check_listen_addr, is_loopback_host, parse_issuer};
use super::schema::{Config, MfaKind, Storage, grant};

/// Checks `config`, skipping the sections in `failed`.
pub(crate) fn check(config: &Config, failed: &BTreeSet<&str>, issues: &mut Issues) {
    let ok = |section: &str| !failed.contains(section);
    if ok("issuer") {
        issuer(config, issues);
    }
    if ok("storage") {
        storage(config, issues);
    }
    if ok("web") {
        web(config, issues);
    }
    if ok("grpc") {
        grpc(config, issues);
    }
    if ok("telemetry") {
        telemetry(config, issues);
    }
    if ok("web") && ok("grpc") && ok("telemetry") {
        distinct_addresses(config, issues);
    }
    if ok("frontend") {
        frontend(config, issues);
    }
    if ok("logger") {
        logger(config, issues);
    }
    if ok("oauth2") {
        oauth2(config, ok("connectors"), issues);
    }
    if ok("expiry") {
        expiry(config, issues);
    }
    if ok("connectors") {
        connectors(config, issues);
    }
    if ok("staticClients") {
        clients(config, ok("connectors"), issues);
    }
    if ok("staticPasswords") {
        passwords(config, issues);
    }
    if ok("sessions") {
        sessions(config, issues);
    }
    if ok("mfa") {
        mfa(config, ok("staticClients"), issues);
    }
}

fn path(keys: &[&str]) -> KeyPath {
    keys.iter().fold(KeyPath::root(), |p, k| p.key(*k))
}

fn issuer(config: &Config, issues: &mut Issues) {
    let at = path(&["issuer"]);
    if config.issuer.is_empty() {
        issues.error(
            &at,
            "is required: the public URL of this server exactly as clients will use it, \
             e.g. https://dex.example.com/dex",
        );
        return;
    }
    match parse_issuer(&config.issuer) {
        Err(message) => issues.error(&at, message),
        Ok(url) if !url.https && !is_loopback_host(&url.host) => issues.warn(
            &at,
            format!(
                "uses plain http on `{}`, which is not a loopback address: tokens and passwords \
                 cross the network in clear unless a proxy in front terminates TLS; use https \
                 in production",
                url.host
            ),
        ),
        Ok(_) => {}
    }
}

fn storage(config: &Config, issues: &mut Issues) {
    if config.storage == Storage::Memory {
        issues.warn(
            &path(&["storage", "type"]),
            "memory storage forgets everything (refresh tokens, signing keys, clients and \
             passwords added through the API) on restart and cannot be shared by replicas: \
             development only; use sqlite3",
        );
    }
    let plaintext = match &config.storage {
        Storage::Postgres(db) if db.ssl.mode == "disable" => Some(db_host(&db.host)),
        Storage::Mysql(db) if db.ssl.mode == "false" => Some(db_host(&db.host)),
        Storage::Etcd(etcd) if etcd.ssl.ca_file.is_empty() => etcd
            .endpoints
            .iter()
            .map(|e| db_host(e.trim_start_matches("http://")))
            .find(|host| !is_loopback_host(host)),
        _ => None,
    };
    if let Some(host) = plaintext.filter(|host| !is_loopback_host(host)) {
        issues.warn(
            &path(&["storage", "config"]),
            format!(
                "talks to `{host}` without TLS: refresh tokens and signing keys cross the network \
                 in clear; enable TLS (`ssl`) unless the network path is private"
            ),
        );
    }
}

/// The host part of `host`, `host:port` or `[v6]:port`; empty means localhost.
fn db_host(addr: &str) -> String {
    let addr = addr.split('/').next().unwrap_or_default();
    let host = match addr.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None if addr.matches(':').count() == 1 => addr.split(':').next().unwrap_or_default(),
        None => addr,
    };
    if host.is_empty() {
        "localhost".to_owned()
    } else {
        host.to_owned()
    }
}

fn tls_versions(section: &str, min: &str, max: &str, issues: &mut Issues) {
    let check = |key: &str, value: &str, issues: &mut Issues| match value {
        "" | "1.2" | "1.3" => true,
        "1.0" | "1.1" | "1" => {
            issues.error(
                &path(&[section, key]),
                format!(
                    "TLS {value} is refused: it has known weaknesses and no longer receives \
                     security fixes; set `{key}` to 1.2 or 1.3 (or remove it for the default, 1.2)"
                ),
            );
            false
        }
        other => {
            issues.error(
                &path(&[section, key]),
                format!("`{other}` is not a TLS version oxidex supports; use 1.2 or 1.3"),
            );
            false
        }
    };
    let min_ok = check("tlsMinVersion", min, issues);
    let max_ok = check("tlsMaxVersion", max, issues);
    if min_ok && max_ok && !min.is_empty() && !max.is_empty() && min > max {
        issues.error(
            &path(&[section, "tlsMinVersion"]),
            format!("{min} is higher than tlsMaxVersion {max}"),
        );
    }
}

fn listen_addr(at: &KeyPath, addr: &str, issues: &mut Issues) {
    if !addr.is_empty()
        && let Err(message) = check_listen_addr(addr)
    {
        issues.error(at, message);
    }
}

fn web(config: &Config, issues: &mut Issues) {
    let web = &config.web;
    if web.http.is_empty() && web.https.is_empty() {
        issues.error(
            &path(&["web"]),
            "set `web.http` or `web.https`: the address to listen on, e.g. 127.0.0.1:5556",
        );
    }
    listen_addr(&path(&["web", "http"]), &web.http, issues);
    listen_addr(&path(&["web", "https"]), &web.https, issues);
    if !web.https.is_empty() {
        for (key, what) in [
            ("tlsCert", (&web.tls_cert, "the PEM certificate chain")),
            ("tlsKey", (&web.tls_key, "the PEM private key")),
        ] {
            if what.0.is_empty() {
                issues.error(
                    &path(&["web", key]),
                    format!(
                        "is required with `web.https`: the file with {}. Or serve `web.http` \
                         behind a proxy that terminates TLS",
                        what.1
                    ),
                );
            }
        }
    } else {
        for (key, value) in [("tlsCert", &web.tls_cert), ("tlsKey", &web.tls_key)] {
            if !value.is_empty() {
                issues.warn(&path(&["web", key]), "is ignored: `web.https` is not set");
            }
        }
    }
    tls_versions("web", &web.tls_min_version, &web.tls_max_version, issues);
    let remote = &web.client_remote_ip;
    for (i, range) in remote.trusted_proxies.iter().enumerate() {
        if let Err(message) = check_cidr(range) {
            issues.error(
                &path(&["web", "clientRemoteIP", "trustedProxies"]).index(i),
                message,
            );
        }
    }
    if !remote.header.is_empty() && remote.trusted_proxies.is_empty() {
        issues.warn(
            &path(&["web", "clientRemoteIP", "header"]),
            "is ignored without `trustedProxies` (otherwise any client could forge its address); \
             list the proxies' address ranges",
        );
    }
}

fn grpc(config: &Config, issues: &mut Issues) {
    let grpc = &config.grpc;
    listen_addr(&path(&["grpc", "addr"]), &grpc.addr, issues);
    if grpc.addr.is_empty() && (!grpc.tls_cert.is_empty() || !grpc.tls_key.is_empty()) {
        issues.error(
            &path(&["grpc", "addr"]),
            "is required when grpc.tlsCert or grpc.tlsKey is set",
        );
    }
    if grpc.tls_cert.is_empty() != grpc.tls_key.is_empty() {
        let missing = if grpc.tls_cert.is_empty() {
            "tlsCert"
        } else {
            "tlsKey"
        };
        issues.error(
            &path(&["grpc", missing]),
            "is required: set both grpc.tlsCert and grpc.tlsKey, or neither",
        );
    }
    if grpc.tls_cert.is_empty() && !grpc.tls_client_ca.is_empty() {
        issues.error(
            &path(&["grpc", "tlsClientCA"]),
            "needs grpc.tlsCert and grpc.tlsKey: client certificates are checked only over TLS",
        );
    }
    tls_versions("grpc", &grpc.tls_min_version, &grpc.tls_max_version, issues);
    if !grpc.addr.is_empty() && grpc.tls_client_ca.is_empty() {
        issues.warn(
            &path(&["grpc", "addr"]),
            "the admin API (it creates clients and passwords) has no client authentication \
             without `tlsClientCA`: anyone who can reach this address can use it; set tlsCert, \
             tlsKey and tlsClientCA",
        );
    }
}

fn telemetry(config: &Config, issues: &mut Issues) {
    listen_addr(
        &path(&["telemetry", "http"]),
        &config.telemetry.http,
        issues,
    );
    if config.telemetry.enable_profiling {
        issues.warn(
            &path(&["telemetry", "enableProfiling"]),
            "exposes profiling endpoints on the telemetry address: development only",
        );
    }
}

fn distinct_addresses(config: &Config, issues: &mut Issues) {
    let listeners = [
        (["web", "http"], &config.web.http),
        (["web", "https"], &config.web.https),
        (["telemetry", "http"], &config.telemetry.http),
        (["grpc", "addr"], &config.grpc.addr),
    ];
    for (i, (keys, addr)) in listeners.iter().enumerate() {
        if addr.is_empty() {
            continue;
        }
        if let Some((first, _)) = listeners[..i].iter().find(|(_, other)| other == addr) {
            issues.error(
                &path(keys),
                format!(
                    "`{addr}` is also {}: each listener needs its own address",
                    path(first)
                ),
            );
        }
    }
}

fn frontend(config: &Config, issues: &mut Issues) {
    let frontend = &config.frontend;
    match frontend.theme.as_str() {
        "" | "light" | "dark" => {}
        "coreos" | "tectonic" => issues.warn(
            &path(&["frontend", "theme"]),
            format!(
                "`{}` is an old name of the `light` theme; write `light`",
                frontend.theme
            ),
        ),
        other if frontend.dir.is_empty() => issues.error(
            &path(&["frontend", "theme"]),
            format!(
                "unknown theme `{other}`; the built-in themes are light and dark (a theme of \
                 your own needs `frontend.dir`)"
            ),
        ),
        _ => {}
    }
}

fn logger(config: &Config, issues: &mut Issues) {
    let level = config.logger.level.to_ascii_lowercase();
    if !matches!(level.as_str(), "" | "debug" | "info" | "warn" | "error") {
        issues.error(
            &path(&["logger", "level"]),
            format!(
                "unknown level `{}`; use debug, info, warn or error",
                config.logger.level
            ),
        );
    }
    let format = config.logger.format.to_ascii_lowercase();
    if !matches!(format.as_str(), "" | "text" | "json") {
        issues.error(
            &path(&["logger", "format"]),
            format!(
                "unknown format `{}`; use text or json",
                config.logger.format
            ),
        );
    }
}

/// The response types Dex accepts, spelled exactly so (`reference/dex.md` §2.1).
const RESPONSE_TYPES: [&str; 7] = [
    "code",
    "token",
    "id_token",
    "code token",
    "code id_token",
    "id_token token",
    "code id_token token",
];

fn oauth2(config: &Config, connectors_ok: bool, issues: &mut Issues) {
    let oauth2 = &config.oauth2;
    for (i, grant_type) in oauth2.grant_types.iter().enumerate() {
        if !grant::ALL.contains(&grant_type.as_str()) {
            issues.error(
                &path(&["oauth2", "grantTypes"]).index(i),
                format!(
                    "unknown grant type `{grant_type}`; use {}",
                    grant::ALL.join(", ")
                ),
            );
        }
    }
    for (i, response_type) in oauth2.response_types.iter().enumerate() {
        if !RESPONSE_TYPES.contains(&response_type.as_str()) {
            issues.error(
                &path(&["oauth2", "responseTypes"]).index(i),
                format!(
                    "unknown response type `{response_type}`; use one of: {}",
                    RESPONSE_TYPES.join(", ")
                ),
            );
        }
    }
    for (i, method) in oauth2
        .pkce
        .code_challenge_methods_supported
        .iter()
        .enumerate()
    {
        if !matches!(method.as_str(), "S256" | "plain") {
            issues.error(
                &path(&["oauth2", "pkce", "codeChallengeMethodsSupported"]).index(i),
                format!("unknown PKCE method `{method}`; use S256 or plain"),
            );
        }
    }
    if oauth2.skip_approval_screen {
        issues.warn(
            &path(&["oauth2", "skipApprovalScreen"]),
            "users are never asked before a client receives their identity: acceptable only \
             when every client is trusted",
        );
    }
    let wants_password = oauth2.grant_types.iter().any(|g| g == grant::PASSWORD);
    if oauth2.password_connector.is_empty() {
        if wants_password {
            issues.warn(
                &path(&["oauth2", "grantTypes"]),
                "lists `password`, but the password grant stays off until \
                 `oauth2.passwordConnector` names the connector that checks passwords",
            );
        }
    } else if connectors_ok
        && !config
            .connectors
            .iter()
            .any(|c| c.id == oauth2.password_connector)
    {
        issues.warn(
            &path(&["oauth2", "passwordConnector"]),
            format!(
                "`{}` is not a connector in this file; password grants fail unless it exists in \
                 storage",
                oauth2.password_connector
            ),
        );
    }
}

fn expiry(config: &Config, issues: &mut Issues) {
    let expiry = &config.expiry;
    for (key, value) in [
        ("idTokens", expiry.id_tokens),
        ("authRequests", expiry.auth_requests),
        ("deviceRequests", expiry.device_requests),
        ("signingKeys", expiry.signing_keys),
    ] {
        if value == Some(Duration::ZERO) {
            issues.error(&path(&["expiry", key]), "must be longer than 0");
        }
    }
}

fn connectors(config: &Config, issues: &mut Issues) {
    for (i, connector) in config.connectors.iter().enumerate() {
        let what = match connector.connector_type.as_str() {
            "mockCallback" => "logs anyone in as a fixed test user without asking for a password",
            "mockPassword" => "accepts one username and password written in this file",
            _ => continue,
        };
        issues.warn(
            &path(&["connectors"]).index(i),
            format!(
                "`{}` ({}) {what}: development only",
                connector.id, connector.connector_type
            ),
        );
    }
}

fn clients(config: &Config, connectors_ok: bool, issues: &mut Issues) {
    for (i, client) in config.static_clients.iter().enumerate() {
        let at = path(&["staticClients"]).index(i);
        let mut unused = Vec::new();
        if !client.post_logout_redirect_uris.is_empty() {
            unused.push("postLogoutRedirectURIs");
        }
        if !client.backchannel_logout_uri.is_empty() {
            unused.push("backchannelLogoutURI");
        }
        if client.refresh_token_lifetime == "session" {
            unused.push("refreshTokenLifetime: session");
        }
        if client.mfa_chain.is_some() {
            unused.push("mfaChain");
        }
        if client.sso_shared_with.is_some() {
            unused.push("ssoSharedWith");
        }
        if !unused.is_empty() {
            issues.warn(
                &at,
                format!(
                    "client `{}`: {} need Dex's sessions, which oxidex has not built yet; kept, \
                     but without effect",
                    client.client.id,
                    unused.join(", ")
                ),
            );
        }
        if connectors_ok {
            for (j, id) in client.client.allowed_connectors.iter().enumerate() {
                if !config.connectors.iter().any(|c| &c.id == id) {
                    issues.warn(
                        &at.key("allowedConnectors").index(j),
                        format!("`{id}` is not a connector in this file"),
                    );
                }
            }
        }
    }
}

fn passwords(config: &Config, issues: &mut Issues) {
    for (i, password) in config.static_passwords.iter().enumerate() {
        if password.hash == DEX_EXAMPLE_HASH {
            issues.warn(
                &path(&["staticPasswords"]).index(i).key("hash"),
                format!(
                    "is Dex's published example hash, of the password `password`: anyone can log \
                     in as {}. Development only",
                    password.email
                ),
            );
        }
    }
}

fn not_built_warning(section: &str, config: &Config) -> String {
    let mut message = format!(
        "is checked, but oxidex has not built Dex's {section} yet: these settings have no effect"
    );
    if !config.feature_flags.sessions_enabled {
        message.push_str(" (Dex itself refuses them unless DEX_SESSIONS_ENABLED=true)");
    }
    message
}

fn sessions(config: &Config, issues: &mut Issues) {
    let Some(sessions) = &config.sessions else {
        return;
    };
    issues.warn(&path(&["sessions"]), not_built_warning("sessions", config));
    let key_len = sessions.cookie_encryption_key.expose().len();
    if !matches!(key_len, 0 | 16 | 24 | 32) {
        issues.error(
            &path(&["sessions", "cookieEncryptionKey"]),
            format!("must be 16, 24 or 32 bytes long (an AES key); it is {key_len}"),
        );
    }
    for (key, value) in [
        ("absoluteLifetime", sessions.absolute_lifetime),
        ("validIfNotUsedFor", sessions.valid_if_not_used_for),
    ] {
        if value == Some(Duration::ZERO) {
            issues.error(&path(&["sessions", key]), "must be longer than 0");
        }
    }
    if sessions.valid_if_not_used_for() > sessions.absolute_lifetime() {
        issues.error(
            &path(&["sessions", "validIfNotUsedFor"]),
            "must not be longer than `absoluteLifetime`",
        );
    }
    if !matches!(
        sessions.sso_shared_with_default.as_str(),
        "" | "none" | "all"
    ) {
        issues.error(
            &path(&["sessions", "ssoSharedWithDefault"]),
            format!(
                "unknown value `{}`; use none or all",
                sessions.sso_shared_with_default
            ),
        );
    }
}

fn mfa(config: &Config, clients_ok: bool, issues: &mut Issues) {
    let Some(mfa) = &config.mfa else {
        return;
    };
    issues.warn(&path(&["mfa"]), not_built_warning("MFA", config));
    let list = path(&["mfa", "authenticators"]);
    let mut ids = BTreeSet::new();
    for (i, authenticator) in mfa.authenticators.iter().enumerate() {
        if !ids.insert(authenticator.id.as_str()) {
            issues.error(
                &list.index(i).key("id"),
                format!("`{}` is used twice; ids must be unique", authenticator.id),
            );
        }
        if let MfaKind::WebAuthn(webauthn) = &authenticator.kind {
            let config_path = list.index(i).key("config");
            for (key, value, allowed) in [
                (
                    "attestationPreference",
                    &webauthn.attestation_preference,
                    &["none", "indirect", "direct"][..],
                ),
                (
                    "userVerification",
                    &webauthn.user_verification,
                    &["required", "preferred", "discouraged"][..],
                ),
                (
                    "authenticatorAttachment",
                    &webauthn.authenticator_attachment,
                    &["platform", "cross-platform"][..],
                ),
            ] {
                if !value.is_empty() && !allowed.contains(&value.as_str()) {
                    issues.error(
                        &config_path.key(key),
                        format!("unknown value `{value}`; use {}", allowed.join(", ")),
                    );
                }
            }
        }
    }
    for (i, id) in mfa.default_mfa_chain.iter().enumerate() {
        if !ids.contains(id.as_str()) {
            issues.error(
                &path(&["mfa", "defaultMFAChain"]).index(i),
                format!("`{id}` is not an authenticator id in mfa.authenticators"),
            );
        }
    }
    if clients_ok {
        for (i, client) in config.static_clients.iter().enumerate() {
            for (j, id) in client.mfa_chain.iter().flatten().enumerate() {
                if !ids.contains(id.as_str()) {
                    issues.error(
                        &path(&["staticClients"]).index(i).key("mfaChain").index(j),
                        format!("`{id}` is not an authenticator id in mfa.authenticators"),
                    );
                }
            }
        }
    }
}
