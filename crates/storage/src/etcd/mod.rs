//! The etcd v3 backend (`storage.type: etcd`): replicas share records through an etcd cluster.
//!
//! Every record is one etcd key, `{namespace}{kind}/{key}` (see [`layout`]), and its
//! [`Version`] is the key's `mod_revision`: the cluster-wide revision of the write that last
//! changed it. Revisions only grow, so a key deleted and created again never repeats a
//! version. Each operation is a single etcd request:
//!
//! | operation | etcd request |
//! |---|---|
//! | `create` | txn: if `create_revision == 0` then put |
//! | `get` | range of one key |
//! | `list` | range over the kind's prefix, in pages of up to 500 keys |
//! | `compare_and_swap` | txn: if `mod_revision == expected` then put, else get (to tell conflict from absence) |
//! | `delete` | delete-range of one key; `deleted == 1` is the single winner |
//! | `delete_expired` | range over the prefix, then per expired key a txn: if `mod_revision` unchanged then delete (batched as nested txns, 64 per request) |
//!
//! Connecting uses Dex's timeouts: 2 s to dial, 5 s per operation. Every failure is an
//! [`Error::Backend`] for backend `etcd` whose message names the endpoints and says what to
//! check; passwords never appear in messages.

mod connect;
mod layout;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use etcd_client::{
    Client, Compare, CompareOp, GetOptions, KeyValue, KvClient, ResponseHeader, Txn, TxnOp,
    TxnOpResponse, TxnResponse,
};
use oxidex_core::storage::{RecordData, RecordKind, Storage, StoredRecord, Version};
use oxidex_core::{Error, Result};

use self::layout::Layout;
use crate::network_config::EtcdConfig;

const BACKEND: &str = "etcd";

/// How long to wait for a TCP (and TLS) connection to a member (Dex's dial timeout).
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one request may take before it fails (Dex's request timeout).
const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// gRPC status codes (`tonic::Code`, which this crate does not name directly).
mod code {
    pub(super) const CANCELLED: i32 = 1;
    pub(super) const DEADLINE_EXCEEDED: i32 = 4;
    pub(super) const PERMISSION_DENIED: i32 = 7;
    pub(super) const RESOURCE_EXHAUSTED: i32 = 8;
    pub(super) const OUT_OF_RANGE: i32 = 11;
    pub(super) const UNAVAILABLE: i32 = 14;
    pub(super) const UNAUTHENTICATED: i32 = 16;
}

/// Keys fetched per range request when listing. Smaller pages are used automatically when a
/// page of large records would exceed [`MAX_RESPONSE_BYTES`].
const PAGE_SIZE: i64 = 500;

/// Largest response accepted from etcd. A single record is at most etcd's request limit
/// (`--max-request-bytes`, 1.5 MiB by default), so one record always fits.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Expired keys deleted per garbage-collection request (each in its own nested txn). Below
/// etcd's default `--max-txn-ops` of 128.
const GC_BATCH: usize = 64;

/// The etcd v3 storage backend.
///
/// Open it with [`EtcdStorage::open`]; dropping it closes its connections. Cheap to clone:
/// clones share the connections.
#[derive(Clone)]
pub struct EtcdStorage {
    /// Kept for its endpoint set: the client feeds the members to its load balancer, which
    /// must outlive this storage for reconnections to work.
    _client: Client,
    kv: KvClient,
    layout: Layout,
    /// The endpoints, for messages.
    endpoints: String,
    /// The user name, for messages (never the password).
    username: String,
    /// Whether the connections use TLS, for messages.
    tls: bool,
}

impl fmt::Debug for EtcdStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdStorage")
            .field("endpoints", &self.endpoints)
            .field(
                "namespace",
                &String::from_utf8_lossy(self.layout.namespace()),
            )
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why an etcd request did not return a response.
enum Failure {
    /// No answer within [`OP_TIMEOUT`].
    Timeout,
    /// The client or the server reported an error.
    Etcd(etcd_client::Error),
}

impl EtcdStorage {
    /// Connects to the cluster described by Dex's `storage.config` for `type: etcd`.
    ///
    /// Endpoints may be `host:port`, `http://host:port` or `https://host:port` (the port
    /// defaults to 2379); TLS is used when any `ssl` setting is present, and then needs
    /// `ssl.caFile`. Each member gets 2 s to accept a connection; then one read (a
    /// linearizable get inside the namespace) proves that the cluster has a leader, that the
    /// credentials work and that the user may read the namespace.
    ///
    /// Fails with an [`Error::Backend`] naming the endpoints tried and what to fix: no
    /// endpoint reachable, a TLS or authentication failure, missing permissions, or no
    /// answer within 5 s.
    pub async fn open(config: &EtcdConfig) -> Result<Self> {
        let tls = connect::tls_options(&config.ssl)?;
        let uses_tls = tls.is_some();
        let endpoints = connect::endpoints(config, tls.is_some())?;
        let options = connect::connect_options(config, tls)?;
        connect::probe(&endpoints).await?;
        let list = connect::endpoint_list(&endpoints);
        let urls: Vec<&str> = endpoints.iter().map(|e| e.url.as_str()).collect();
        let layout = Layout::new(&config.namespace);
        let cannot = |detail: String| Error::Backend {
            backend: BACKEND,
            message: format!("cannot connect to {list}: {detail}"),
            source: None,
        };
        // Authentication, when configured, happens inside `connect`.
        let client = match tokio::time::timeout(
            DIAL_TIMEOUT + OP_TIMEOUT,
            Client::connect(urls, Some(options)),
        )
        .await
        {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                let detail = describe(&e, &config.username, &layout, uses_tls);
                return Err(Error::backend(
                    BACKEND,
                    format!("cannot connect to {list}: {detail}"),
                    e,
                ));
            }
            Err(_) => return Err(cannot(timeout_advice(DIAL_TIMEOUT + OP_TIMEOUT))),
        };
        let storage = Self {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            _client: client,
            layout,
            endpoints: list.clone(),
            username: config.username.clone(),
            tls: uses_tls,
        };
        let probe_key = storage
            .layout
            .key(RecordKind::Keys, oxidex_core::model::SigningKeys::KEY);
        let mut kv = storage.kv.clone();
        match run(kv.get(probe_key, Some(GetOptions::new().with_count_only()))).await {
            Ok(_) => Ok(storage),
            Err(Failure::Timeout) => Err(cannot(timeout_advice(OP_TIMEOUT))),
            Err(Failure::Etcd(e)) => {
                let detail = describe(&e, &config.username, &storage.layout, uses_tls);
                Err(Error::backend(
                    BACKEND,
                    format!("cannot connect to {list}: {detail}"),
                    e,
                ))
            }
        }
    }

    /// The namespace every key starts with.
    pub fn namespace(&self) -> &str {
        // The namespace came from a `&str`, so it is valid UTF-8.
        std::str::from_utf8(self.layout.namespace()).unwrap_or_default()
    }

    fn error(&self, what: &str, failure: Failure) -> Error {
        match failure {
            Failure::Timeout => Error::Backend {
                backend: BACKEND,
                message: format!(
                    "{what} at {}: {}",
                    self.endpoints,
                    timeout_advice(OP_TIMEOUT)
                ),
                source: None,
            },
            Failure::Etcd(e) => {
                let detail = describe(&e, &self.username, &self.layout, self.tls);
                Error::backend(
                    BACKEND,
                    format!("{what} at {}: {detail}", self.endpoints),
                    e,
                )
            }
        }
    }

    fn corrupt(kind: RecordKind, key: &str, message: impl Into<String>) -> Error {
        Error::Corrupt {
            kind,
            key: key.to_owned(),
            message: message.into(),
        }
    }

    async fn txn(&self, what: &str, txn: Txn) -> Result<TxnResponse> {
        let mut kv = self.kv.clone();
        run(kv.txn(txn)).await.map_err(|f| self.error(what, f))
    }

    /// One page of the range `[start, end)`, at most `*limit` keys; halves `*limit` (down to
    /// one key) while a page is too large to receive. Returns the keys and whether more follow.
    async fn page(
        &self,
        what: &str,
        start: &[u8],
        end: &[u8],
        limit: &mut i64,
    ) -> Result<(Vec<KeyValue>, bool)> {
        loop {
            let options = GetOptions::new()
                .with_range(end.to_vec())
                .with_limit(*limit);
            let mut kv = self.kv.clone();
            match run(kv.get(start.to_vec(), Some(options))).await {
                Ok(mut response) => return Ok((response.take_kvs(), response.more())),
                Err(Failure::Etcd(e)) if *limit > 1 && too_large(&e) => *limit /= 2,
                Err(f) => return Err(self.error(what, f)),
            }
        }
    }

    /// The next page of a [`Scan`], or `None` once the range is exhausted.
    async fn next_page(&self, scan: &mut Scan, what: &str) -> Result<Option<Vec<KeyValue>>> {
        if scan.done {
            return Ok(None);
        }
        let (kvs, more) = self
            .page(what, &scan.start, &scan.end, &mut scan.limit)
            .await?;
        match kvs.last() {
            Some(last) if more => {
                // The next page starts just after the last key seen.
                scan.start = last.key().to_vec();
                scan.start.push(0);
            }
            _ => scan.done = true,
        }
        Ok(Some(kvs).filter(|kvs| !kvs.is_empty()))
    }

    /// The record key of an etcd key of `kind`.
    fn record_key(&self, kind: RecordKind, kv: &KeyValue) -> Result<String> {
        let prefix = self.layout.kind_prefix(kind);
        let lossy = || String::from_utf8_lossy(kv.key()).into_owned();
        let rest = kv
            .key()
            .strip_prefix(prefix.as_slice())
            .ok_or_else(|| Self::corrupt(kind, &lossy(), "key outside the kind's prefix"))?;
        String::from_utf8(rest.to_vec())
            .map_err(|_| Self::corrupt(kind, &lossy(), "the key is not valid UTF-8"))
    }

    fn stored(&self, kind: RecordKind, key: String, kv: &KeyValue) -> Result<StoredRecord> {
        let envelope = layout::decode(kv.value()).map_err(|m| Self::corrupt(kind, &key, m))?;
        let version = version(kv.mod_revision()).map_err(|m| Self::corrupt(kind, &key, m))?;
        Ok(StoredRecord {
            value: envelope.value.to_vec(),
            key,
            version,
        })
    }
}

/// A walk over the range of one kind, page by page. Not a snapshot: records written while
/// it runs may or may not be seen, but none is seen twice.
struct Scan {
    start: Vec<u8>,
    end: Vec<u8>,
    limit: i64,
    done: bool,
}

impl Scan {
    fn new(layout: &Layout, kind: RecordKind) -> Self {
        let start = layout.kind_prefix(kind);
        Self {
            end: layout::prefix_end(&start),
            start,
            limit: PAGE_SIZE,
            done: false,
        }
    }
}

/// Runs one request under the operation timeout.
async fn run<T>(
    request: impl Future<Output = std::result::Result<T, etcd_client::Error>>,
) -> std::result::Result<T, Failure> {
    match tokio::time::timeout(OP_TIMEOUT, request).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(Failure::Etcd(e)),
        Err(_) => Err(Failure::Timeout),
    }
}

fn version(revision: i64) -> std::result::Result<Version, String> {
    u64::try_from(revision)
        .ok()
        .filter(|&r| r > 0)
        .map(Version::new)
        .ok_or_else(|| format!("etcd reported the invalid revision {revision}"))
}

/// The revision a write produced: the response header's revision.
fn written_version(header: Option<&ResponseHeader>) -> Result<Version> {
    let revision = header
        .map(ResponseHeader::revision)
        .ok_or_else(|| Error::Backend {
            backend: BACKEND,
            message: "etcd answered a write without a response header".to_owned(),
            source: None,
        })?;
    version(revision).map_err(|message| Error::Backend {
        backend: BACKEND,
        message,
        source: None,
    })
}

fn timeout_advice(waited: Duration) -> String {
    format!(
        "no answer from etcd within {} s: check that the cluster is healthy and has a leader \
         (`etcdctl endpoint health`), that these are its client URLs, and, with TLS, that \
         `ssl.caFile` and `ssl.serverName` match the members' certificates",
        waited.as_secs()
    )
}

/// `true` when a response was refused for its size, so a smaller page may succeed.
fn too_large(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(status) => {
            matches!(
                i32::from(status.code()),
                code::OUT_OF_RANGE | code::RESOURCE_EXHAUSTED
            ) && (status.message().contains("too large")
                || status.message().contains("larger than max"))
        }
        _ => false,
    }
}

/// What an etcd error means for an operator, with what to change.
fn describe(e: &etcd_client::Error, username: &str, layout: &Layout, tls: bool) -> String {
    let user = if username.is_empty() {
        "the client (no `username` is set; with client certificates etcd takes the \
         certificate's common name as the user)"
            .to_owned()
    } else {
        format!("user {username:?}")
    };
    match e {
        etcd_client::Error::GRpcStatus(status) => {
            let message = status.message();
            let full = format!("{message}{}", source_chain(status, message));
            match i32::from(status.code()) {
                _ if message.contains("authentication failed") => format!(
                    "authentication as {user} failed ({message}): check `storage.config.username` \
                     and `password`"
                ),
                _ if message.contains("authentication is not enabled") => format!(
                    "{message}: the cluster has authentication disabled, so remove `username` and \
                     `password` from the configuration (or enable auth on the cluster)"
                ),
                code::UNAUTHENTICATED => format!(
                    "{user} is not authenticated ({message}): the cluster requires \
                     authentication, so set `storage.config.username` and `password`"
                ),
                code::PERMISSION_DENIED => format!(
                    "{user} may not use the namespace ({message}): grant it a role with readwrite \
                     permission on the prefix {:?}",
                    String::from_utf8_lossy(layout.namespace())
                ),
                _ if message.contains("request is too large")
                    || message.contains("received message larger than max") =>
                {
                    format!(
                        "{message}: the record exceeds the cluster's request size limit \
                     (`--max-request-bytes`, 1.5 MiB by default)"
                    )
                }
                _ if message.contains("too many operations in txn") => format!(
                    "{message}: raise the cluster's `--max-txn-ops` to at least {}",
                    GC_BATCH
                ),
                code::DEADLINE_EXCEEDED | code::CANCELLED if message.contains("Timeout") => {
                    timeout_advice(OP_TIMEOUT)
                }
                _ if full.contains("certificate") || full.contains("handshake") => format!(
                    "the TLS handshake failed ({full}): check that `ssl.caFile` is the CA that \
                     signed the members' certificates and that the endpoint host (or \
                     `ssl.serverName`) is a name in them"
                ),
                code::UNAVAILABLE | code::DEADLINE_EXCEEDED | code::CANCELLED => format!(
                    "etcd is unavailable ({full}): check that the members are running and have a \
                     leader{}",
                    if tls {
                        ", that `ssl.caFile` and `ssl.serverName` match their certificates, and \
                         that `ssl.certFile` and `ssl.keyFile` are set if the cluster requires \
                         client certificates"
                    } else {
                        ""
                    }
                ),
                _ => format!("{:?}: {full}", status.code()),
            }
        }
        other => format!("{other}{}", source_chain(other, &other.to_string())),
    }
}

/// `": cause: cause of cause"` for an error's sources (where transport errors keep the
/// interesting part), leaving out any already said in `said`.
fn source_chain(e: &dyn std::error::Error, said: &str) -> String {
    let mut seen = said.to_owned();
    let mut out = String::new();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // Layers often repeat their cause's text; say each thing once.
        if !seen.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
            seen.push_str(&text);
        }
        next = cause.source();
    }
    out
}

#[async_trait]
impl Storage for EtcdStorage {
    async fn create(&self, kind: RecordKind, key: &str, data: RecordData) -> Result<Version> {
        let k = self.layout.key(kind, key);
        let txn = Txn::new()
            .when([Compare::create_revision(k.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                k,
                layout::encode(&data.value, data.expiry),
                None,
            )]);
        let response = self.txn("create", txn).await?;
        if !response.succeeded() {
            return Err(Error::already_exists(kind, key));
        }
        written_version(response.header())
    }

    async fn get(&self, kind: RecordKind, key: &str) -> Result<StoredRecord> {
        let mut kv = self.kv.clone();
        let mut response = run(kv.get(self.layout.key(kind, key), None))
            .await
            .map_err(|f| self.error("get", f))?;
        let kvs = response.take_kvs();
        let found = kvs.first().ok_or_else(|| Error::not_found(kind, key))?;
        self.stored(kind, key.to_owned(), found)
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StoredRecord>> {
        let mut records = Vec::new();
        let mut scan = Scan::new(&self.layout, kind);
        while let Some(kvs) = self.next_page(&mut scan, "list").await? {
            for kv in &kvs {
                records.push(self.stored(kind, self.record_key(kind, kv)?, kv)?);
            }
        }
        Ok(records)
    }

    async fn compare_and_swap(
        &self,
        kind: RecordKind,
        key: &str,
        expected: Version,
        data: RecordData,
    ) -> Result<Version> {
        let k = self.layout.key(kind, key);
        // Revisions are positive; a missing key compares as mod_revision 0, so 0 (or a number
        // etcd cannot hold) must never reach the comparison, or a swap could create the key.
        let expected = i64::try_from(expected.get()).ok().filter(|&r| r > 0);
        let Some(expected) = expected else {
            return match self.get(kind, key).await {
                Ok(_) => Err(Error::conflict(kind, key)),
                Err(e) => Err(e),
            };
        };
        let txn = Txn::new()
            .when([Compare::mod_revision(k.clone(), CompareOp::Equal, expected)])
            .and_then([TxnOp::put(
                k.clone(),
                layout::encode(&data.value, data.expiry),
                None,
            )])
            .or_else([TxnOp::get(k, Some(GetOptions::new().with_keys_only()))]);
        let response = self.txn("compare-and-swap", txn).await?;
        if response.succeeded() {
            return written_version(response.header());
        }
        let exists = response.op_responses().iter().any(|op| match op {
            TxnOpResponse::Get(get) => !get.kvs().is_empty(),
            _ => false,
        });
        Err(if exists {
            Error::conflict(kind, key)
        } else {
            Error::not_found(kind, key)
        })
    }

    async fn delete(&self, kind: RecordKind, key: &str) -> Result<()> {
        let mut kv = self.kv.clone();
        let response = run(kv.delete(self.layout.key(kind, key), None))
            .await
            .map_err(|f| self.error("delete", f))?;
        // etcd applies deletes one at a time: of concurrent deletes, one sees the key.
        if response.deleted() == 0 {
            return Err(Error::not_found(kind, key));
        }
        Ok(())
    }

    async fn delete_expired(&self, kind: RecordKind, now: DateTime<Utc>) -> Result<u64> {
        let mut removed = 0u64;
        let mut scan = Scan::new(&self.layout, kind);
        while let Some(kvs) = self.next_page(&mut scan, "garbage collection").await? {
            // Each expired key is deleted only if it is unchanged since this read, so a
            // record refreshed in between survives.
            let mut expired = Vec::new();
            for kv in &kvs {
                let envelope = layout::decode(kv.value()).map_err(|message| {
                    let key = self
                        .record_key(kind, kv)
                        .unwrap_or_else(|_| String::from_utf8_lossy(kv.key()).into_owned());
                    Self::corrupt(kind, &key, message)
                })?;
                if envelope.expiry.is_some_and(|expiry| expiry < now) {
                    expired.push((kv.key(), kv.mod_revision()));
                }
            }
            for batch in expired.chunks(GC_BATCH) {
                let guarded: Vec<TxnOp> = batch
                    .iter()
                    .map(|&(key, revision)| {
                        TxnOp::txn(
                            Txn::new()
                                .when([Compare::mod_revision(key, CompareOp::Equal, revision)])
                                .and_then([TxnOp::delete(key, None)]),
                        )
                    })
                    .collect();
                let response = self
                    .txn("garbage collection", Txn::new().and_then(guarded))
                    .await?;
                removed += deleted_in(&response);
            }
        }
        Ok(removed)
    }
}

/// Keys deleted by the nested txns of a garbage-collection request.
fn deleted_in(response: &TxnResponse) -> u64 {
    response
        .op_responses()
        .iter()
        .map(|op| match op {
            TxnOpResponse::Txn(inner) if inner.succeeded() => inner
                .op_responses()
                .iter()
                .map(|op| match op {
                    TxnOpResponse::Delete(d) => u64::try_from(d.deleted()).unwrap_or(0),
                    _ => 0,
                })
                .sum(),
            _ => 0,
        })
        .sum()
}
