//! Keeps the opened connectors in step with storage, as Dex reopens a connector when its
//! `resourceVersion` changes: a connector created, updated or deleted through the admin API
//! (on this replica or another) takes effect here within one check, without a restart.
//!
//! Connectors whose records did not change are kept as they are (no reconnecting). A changed
//! connector that fails to open keeps serving with its previous settings, and the failure is
//! logged; a new one that fails to open is left out until its record changes again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use oxidex_core::connector::ConnectorRegistry;
use oxidex_core::model::ConnectorRecord;
use oxidex_core::oauth::{ConnectorSet, OpenedConnector};
use oxidex_core::storage::Store;
use tokio::sync::watch;

use super::listen;

/// How often the stored connector records are compared with the opened ones.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Runs [`reconcile`] every `every` until `stop`.
pub(crate) async fn keep_in_step(
    store: Store,
    registry: Arc<ConnectorRegistry>,
    set: ConnectorSet,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = reconcile(&store, &registry, &set).await {
                    tracing::warn!(error = %e, "could not check the connectors for changes");
                }
            }
            _ = listen::stopped(&mut stop) => break,
        }
    }
}

/// Brings `set` in line with the stored records; returns how many connectors changed.
pub(crate) async fn reconcile(
    store: &Store,
    registry: &ConnectorRegistry,
    set: &ConnectorSet,
) -> oxidex_core::Result<usize> {
    let records = store.list::<ConnectorRecord>().await?;
    let opened: BTreeMap<String, Arc<OpenedConnector>> = set
        .list()
        .into_iter()
        .map(|c| (c.record.id.clone(), c))
        .collect();
    let mut changes = opened
        .keys()
        .filter(|id| !records.iter().any(|r| &r.id == *id))
        .inspect(|id| tracing::info!(connector_id = %id, "connector removed"))
        .count();
    let mut next = Vec::with_capacity(records.len());
    for record in records {
        match opened.get(&record.id) {
            Some(current) if current.record.resource_version == record.resource_version => {
                next.push(current.clone());
            }
            previous => match registry.open(&record).await {
                Ok(connector) => {
                    tracing::info!(
                        connector_id = %record.id,
                        resource_version = %record.resource_version,
                        "connector (re)opened"
                    );
                    changes += 1;
                    next.push(Arc::new(OpenedConnector { record, connector }));
                }
                Err(e) => {
                    tracing::error!(
                        connector_id = %record.id,
                        error = %e,
                        "connector failed to open; its previous settings stay in use"
                    );
                    if let Some(previous) = previous {
                        next.push(previous.clone());
                    }
                }
            },
        }
    }
    if changes > 0 {
        set.replace(next);
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use oxidex_storage::MemoryStorage;

    use super::*;

    fn record(id: &str, version: &str, config: serde_json::Value) -> ConnectorRecord {
        ConnectorRecord {
            id: id.into(),
            connector_type: "mockCallback".into(),
            name: id.to_uppercase(),
            resource_version: version.into(),
            config,
            grant_types: vec![],
        }
    }

    #[tokio::test]
    async fn connectors_follow_their_records() {
        let store = Store::new(Arc::new(MemoryStorage::new()));
        let registry = oxidex_connectors::registry();
        let set = ConnectorSet::default();

        store
            .create(&record("a", "1", serde_json::Value::Null))
            .await
            .unwrap();
        assert_eq!(reconcile(&store, &registry, &set).await.unwrap(), 1);
        let first = set.get("a").unwrap();
        assert_eq!(reconcile(&store, &registry, &set).await.unwrap(), 0);
        assert!(
            Arc::ptr_eq(&first, &set.get("a").unwrap()),
            "unchanged: kept"
        );

        // An update (new resourceVersion) reopens it with the new settings.
        store
            .update::<ConnectorRecord, _>("a", |mut r| {
                r.name = "Renamed".into();
                r.resource_version = "2".into();
                Ok(r)
            })
            .await
            .unwrap();
        assert_eq!(reconcile(&store, &registry, &set).await.unwrap(), 1);
        assert_eq!(set.get("a").unwrap().record.name, "Renamed");

        // A change that cannot be opened keeps the previous settings in use.
        store
            .update::<ConnectorRecord, _>("a", |mut r| {
                r.connector_type = "no-such-type".into();
                r.resource_version = "3".into();
                Ok(r)
            })
            .await
            .unwrap();
        assert_eq!(reconcile(&store, &registry, &set).await.unwrap(), 0);
        assert_eq!(set.get("a").unwrap().record.resource_version, "2");

        // Deleted: gone.
        store.delete::<ConnectorRecord>("a").await.unwrap();
        assert_eq!(reconcile(&store, &registry, &set).await.unwrap(), 1);
        assert!(set.get("a").is_none());
    }
}
