//! One LDAP connection: connect (LDAPS, StartTLS or plain) and bind, search and read entries,
//! each operation under a timeout. Failures become [`Error::Connector`] naming the server.

use std::collections::HashMap;
use std::time::Duration;

use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, ResultEntry, Scope, SearchEntry,
    SearchOptions,
};
use oxidex_core::Error;

use super::config::Settings;
use super::filter;

/// LDAP result codes the connector tells apart (RFC 4511 appendix A).
pub(crate) mod rc {
    /// success
    pub(crate) const SUCCESS: u32 = 0;
    /// sizeLimitExceeded
    pub(crate) const SIZE_LIMIT_EXCEEDED: u32 = 4;
    /// constraintViolation (e.g. a locked account on some servers)
    pub(crate) const CONSTRAINT_VIOLATION: u32 = 19;
    /// noSuchObject
    pub(crate) const NO_SUCH_OBJECT: u32 = 32;
    /// invalidDNSyntax
    pub(crate) const INVALID_DN_SYNTAX: u32 = 34;
    /// invalidCredentials
    pub(crate) const INVALID_CREDENTIALS: u32 = 49;
}

/// A directory entry: its DN and attributes. Values that are not UTF-8 (e.g. `objectGUID`)
/// are kept as standard base64.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    pub(crate) dn: String,
    attrs: HashMap<String, Vec<String>>,
}

impl Entry {
    fn from_search(entry: SearchEntry) -> Self {
        use base64::Engine as _;
        let mut attrs = entry.attrs;
        for (name, values) in entry.bin_attrs {
            let encoded = values
                .iter()
                .map(|v| base64::engine::general_purpose::STANDARD.encode(v));
            attrs.entry(name).or_default().extend(encoded);
        }
        Self {
            dn: entry.dn,
            attrs,
        }
    }

    /// The values of `name` (compared case-insensitively, as LDAP does). `DN` means the
    /// entry's DN when the entry has no attribute of that name (Dex `getAttrs`).
    pub(crate) fn values(&self, name: &str) -> Vec<String> {
        let found = self.attrs.get(name).or_else(|| {
            self.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        });
        match found {
            Some(v) if !v.is_empty() => v.clone(),
            _ if filter::is_dn(name) => vec![self.dn.clone()],
            _ => Vec::new(),
        }
    }

    /// The first value of `name`, or `""`.
    pub(crate) fn first(&self, name: &str) -> String {
        self.values(name).into_iter().next().unwrap_or_default()
    }
}

/// How a simple bind ended, for the cases the connector treats differently.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BindOutcome {
    /// Bound.
    Ok,
    /// invalidCredentials or constraintViolation: a wrong password (Dex).
    Rejected(u32, String),
}

/// A connected, bound LDAP session.
pub(crate) struct Session<'a> {
    ldap: Ldap,
    settings: &'a Settings,
    connector_id: &'a str,
}

/// Builds the connector error for a failure talking to the server.
pub(crate) fn upstream(connector_id: &str, message: String, source: Option<LdapError>) -> Error {
    Error::Connector {
        connector_id: connector_id.to_owned(),
        message,
        source: source.map(|e| Box::new(e) as _),
    }
}

/// Result codes that mean "try again later": busy (51), unavailable (52), unwilling because
/// of load is not among them (53 is a policy answer).
pub(crate) fn temporary_code(code: u32) -> bool {
    matches!(code, 51 | 52)
}

/// Describes an [`LdapError`] for operators: the cause chain flattened.
fn describe(e: &LdapError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

impl<'a> Session<'a> {
    /// Connects and binds with the service account (or anonymously).
    pub(crate) async fn open(settings: &'a Settings, connector_id: &'a str) -> Result<Self, Error> {
        let timeout = settings.timeout;
        let mut conn_settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(settings.start_tls);
        if let Some(tls) = &settings.tls {
            conn_settings = conn_settings.set_config(tls.clone());
        }
        let how = if settings.tls.is_none() {
            "plain LDAP"
        } else if settings.start_tls {
            "LDAP with StartTLS"
        } else {
            "LDAPS"
        };
        // The connection future has its own timeout; the outer one guards against any step
        // that might not be covered (TCP connect, StartTLS, the TLS handshake).
        let connected = tokio::time::timeout(
            timeout + Duration::from_millis(500),
            LdapConnAsync::with_settings(conn_settings, &settings.url),
        )
        .await;
        let (conn, ldap) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                let cause = match &e {
                    LdapError::Timeout { .. } => format!("no answer within {timeout:?}"),
                    other => describe(other),
                };
                let certificate = cause.contains("certificate");
                let hint = if certificate {
                    "; check rootCA/rootCAData and that the server certificate names this host"
                } else {
                    ""
                };
                let message = format!(
                    "cannot connect to {} ({how}, {}): {cause}{hint}",
                    settings.address, settings.url
                );
                // A certificate the server presents will not change by itself; a refused or
                // timed-out connection may.
                return Err(if certificate {
                    upstream(connector_id, message, Some(e))
                } else {
                    Error::upstream_unavailable(connector_id, message)
                });
            }
            Err(_) => {
                return Err(Error::upstream_unavailable(
                    connector_id,
                    format!(
                        "cannot connect to {} ({how}): no answer within {timeout:?}",
                        settings.address
                    ),
                ));
            }
        };
        let address = settings.address.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(server = %address, error = %e, "ldap connection ended with an error");
            }
        });
        let mut session = Self {
            ldap,
            settings,
            connector_id,
        };
        session.bind_service().await?;
        Ok(session)
    }

    fn fail(&self, message: String, source: Option<LdapError>) -> Error {
        upstream(
            self.connector_id,
            format!("{} (server {})", message, self.settings.address),
            source,
        )
    }

    /// A temporary failure talking to the server (busy, unreachable, silent): a refresh during
    /// it answers `server_error` (retry), not `invalid_grant`.
    fn down(&self, message: String) -> Error {
        Error::upstream_unavailable(
            self.connector_id,
            format!("{} (server {})", message, self.settings.address),
        )
    }

    /// Binds (again) as the service account, or anonymously without one.
    pub(crate) async fn bind_service(&mut self) -> Result<(), Error> {
        let (dn, pw) = match &self.settings.bind {
            Some((dn, pw)) => (dn.clone(), pw.clone()),
            None => (String::new(), String::new()),
        };
        match self.simple_bind(&dn, &pw).await? {
            BindOutcome::Ok => Ok(()),
            BindOutcome::Rejected(code, text) => Err(self.fail(
                if dn.is_empty() {
                    format!("anonymous bind refused: result {code} {text}")
                } else {
                    format!("service bind as {dn:?} (bindDN) refused: result {code} {text}; check bindDN/bindPW")
                },
                None,
            )),
        }
    }

    /// A simple bind. invalidCredentials and constraintViolation are [`BindOutcome::Rejected`];
    /// other non-success codes and transport failures are errors. The password is never
    /// logged.
    pub(crate) async fn simple_bind(
        &mut self,
        dn: &str,
        password: &str,
    ) -> Result<BindOutcome, Error> {
        let timeout = self.settings.timeout;
        let result = tokio::time::timeout(
            timeout + Duration::from_millis(500),
            self.ldap.with_timeout(timeout).simple_bind(dn, password),
        )
        .await;
        let result = match result {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return Err(self.down(format!("bind as {dn:?} failed: {}", self.cause(&e))));
            }
            Err(_) => {
                return Err(self.down(format!("bind as {dn:?}: no answer within {timeout:?}")));
            }
        };
        match result.rc {
            rc::SUCCESS => Ok(BindOutcome::Ok),
            code @ (rc::INVALID_CREDENTIALS | rc::CONSTRAINT_VIOLATION) => {
                Ok(BindOutcome::Rejected(code, result.text))
            }
            code if temporary_code(code) => Err(self.down(format!(
                "bind as {dn:?} failed: result {code} {}",
                result.text
            ))),
            code => Err(self.fail(
                format!("bind as {dn:?} failed: result {code} {}", result.text),
                None,
            )),
        }
    }

    fn cause(&self, e: &LdapError) -> String {
        match e {
            LdapError::Timeout { .. } => format!("no answer within {:?}", self.settings.timeout),
            other => describe(other),
        }
    }

    /// Searches, asking the server for at most `size_limit` entries within the timeout;
    /// the entries and the result code. Result codes other than success are left to the
    /// caller, except that a failed transport is an error.
    pub(crate) async fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[String],
        size_limit: usize,
    ) -> Result<(Vec<Entry>, u32, String), Error> {
        let scope_name = match scope {
            Scope::Base => "base",
            Scope::OneLevel => "one",
            Scope::Subtree => "sub",
        };
        tracing::info!(
            connector = self.connector_id,
            base_dn = base,
            scope = scope_name,
            filter,
            "performing ldap search"
        );
        // No attributes asked for means "all"; "1.1" asks for none (RFC 4511 §4.5.1.8).
        let attrs: Vec<String> = if attrs.is_empty() {
            vec!["1.1".to_owned()]
        } else {
            attrs.to_vec()
        };
        let timeout = self.settings.timeout;
        let options = SearchOptions::new()
            .sizelimit(i32::try_from(size_limit).unwrap_or(i32::MAX))
            .timelimit(i32::try_from(timeout.as_secs().max(1)).unwrap_or(i32::MAX));
        // ldap3 decodes the answer with `expect`s (search references, entries): a broken or
        // hostile server must not take the login handler down, so the search runs as its own
        // task and a panic there is an error here.
        let mut ldap = self.ldap.clone();
        let (task_base, task_filter) = (base.to_owned(), filter.to_owned());
        let task = tokio::spawn(async move {
            ldap.with_timeout(timeout)
                .with_search_options(options)
                .search(&task_base, scope, &task_filter, attrs)
                .await
        });
        let result = tokio::time::timeout(timeout + Duration::from_millis(500), task).await;
        let ldap3::SearchResult(raw, result) = match result {
            Ok(Ok(Ok(r))) => r,
            Ok(Ok(Err(e))) => {
                return Err(self.down(format!(
                    "search under {base:?} with filter {filter:?} failed: {}",
                    self.cause(&e)
                )));
            }
            Ok(Err(_)) => {
                return Err(self.fail(
                    format!(
                        "search under {base:?} with filter {filter:?}: the server's answer is \
                         malformed"
                    ),
                    None,
                ));
            }
            Err(_) => {
                return Err(self.down(format!(
                    "search under {base:?} with filter {filter:?}: no answer within {timeout:?}"
                )));
            }
        };
        if temporary_code(result.rc) {
            return Err(self.down(format!(
                "search under {base:?} with filter {filter:?} failed: result {} {}",
                result.rc, result.text
            )));
        }
        let mut entries = Vec::with_capacity(raw.len());
        for r in raw {
            entries.push(self.construct(r)?);
        }
        Ok((entries, result.rc, result.text))
    }

    /// Decodes one search result entry. ldap3 panics on a malformed entry; a broken or
    /// hostile server must not take the login handler down, so the panic is caught here.
    fn construct(&self, raw: ResultEntry) -> Result<Entry, Error> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(raw)))
            .map(Entry::from_search)
            .map_err(|_| {
                self.fail(
                    "the server sent a malformed search result entry".into(),
                    None,
                )
            })
    }

    /// Ends the session politely; failures do not matter any more.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ldap.unbind()).await;
    }
}
