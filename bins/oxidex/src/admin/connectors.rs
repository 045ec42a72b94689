//! `oxidex admin connectors ...`: `ListConnectors`, `CreateConnector`, `UpdateConnector`,
//! `DeleteConnector`. The server refuses them all unless started with
//! `DEX_API_CONNECTORS_CRUD=true`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use oxidex_issuer_http::grpc::proto::{
    Connector, CreateConnectorReq, DeleteConnectorReq, ListConnectorReq, UpdateConnectorReq,
};

use super::output::{quoted, table};
use super::{Api, Failure, Out, status_failure};

#[derive(Debug, Subcommand)]
pub(super) enum ConnectorsCommand {
    /// Every connector, from the config file and from storage (configurations only with
    /// --show-config: they hold upstream secrets).
    List {
        /// Include each connector's configuration (JSON output only).
        #[arg(long)]
        show_config: bool,
    },
    /// Add a connector to storage.
    Create {
        /// The connector id (in `/auth/{id}` and in `sub` claims).
        #[arg(long)]
        id: String,
        /// The connector type: `ldap`, `oidc`, `github`, ...
        #[arg(long = "type", value_name = "TYPE")]
        connector_type: String,
        /// The name shown on the login page.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        config: ConfigSource,
    },
    /// Change a stored connector: given fields replace theirs.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)))]
    Update {
        /// The connector id.
        id: String,
        /// The new type.
        #[arg(long = "type", value_name = "TYPE", group = "change")]
        connector_type: Option<String>,
        /// The new name.
        #[arg(long, group = "change")]
        name: Option<String>,
        /// A JSON file with the new configuration.
        #[arg(
            long,
            value_name = "FILE.json",
            group = "change",
            conflicts_with = "config"
        )]
        config_file: Option<PathBuf>,
        /// The new configuration as JSON text.
        #[arg(long, value_name = "JSON", group = "change")]
        config: Option<String>,
    },
    /// Remove a stored connector.
    Delete {
        /// The connector id.
        id: String,
    },
}

/// The configuration of `create`: a file or inline JSON.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(super) struct ConfigSource {
    /// A JSON file with the connector's configuration (the `config` block of a Dex
    /// connector, as JSON).
    #[arg(long, value_name = "FILE.json")]
    config_file: Option<PathBuf>,
    /// The connector's configuration as JSON text.
    #[arg(long, value_name = "JSON")]
    config: Option<String>,
}

/// A command with its configuration read and checked.
pub(super) enum Prepared {
    List { show_config: bool },
    Create(Connector),
    Update(UpdateConnectorReq),
    Delete(String),
}

/// Reads and checks the JSON configuration, before anything is sent.
pub(super) fn prepare(command: ConnectorsCommand) -> Result<Prepared, Failure> {
    Ok(match command {
        ConnectorsCommand::List { show_config } => Prepared::List { show_config },
        ConnectorsCommand::Create {
            id,
            connector_type,
            name,
            config,
        } => Prepared::Create(Connector {
            id,
            r#type: connector_type,
            name,
            config: json_config(config.config_file, config.config)?,
        }),
        ConnectorsCommand::Update {
            id,
            connector_type,
            name,
            config_file,
            config,
        } => Prepared::Update(UpdateConnectorReq {
            id,
            new_type: connector_type.unwrap_or_default(),
            new_name: name.unwrap_or_default(),
            new_config: json_config(config_file, config)?,
        }),
        ConnectorsCommand::Delete { id } => Prepared::Delete(id),
    })
}

/// The configuration as sent: the file's or the flag's bytes, once they parse as a JSON
/// object. Empty when neither is given.
fn json_config(file: Option<PathBuf>, inline: Option<String>) -> Result<Vec<u8>, Failure> {
    let (flag, bytes) = match (file, inline) {
        (Some(path), _) => (
            format!("--config-file {}", path.display()),
            std::fs::read(&path).map_err(|e| {
                Failure::Usage(format!(
                    "--config-file: cannot read {}: {e}",
                    path.display()
                ))
            })?,
        ),
        (None, Some(text)) => ("--config".to_owned(), text.into_bytes()),
        (None, None) => return Ok(Vec::new()),
    };
    // serde_json's messages give a line and column, never the text itself.
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(_)) => Ok(bytes),
        Ok(_) => Err(Failure::Usage(format!("{flag}: expected a JSON object"))),
        Err(e) => Err(Failure::Usage(format!("{flag}: not JSON: {e}"))),
    }
}

pub(super) async fn run(api: &mut Api, command: Prepared, out: &Out) -> Result<(), Failure> {
    match command {
        Prepared::List { show_config } => {
            let connectors = api
                .list_connectors(ListConnectorReq {})
                .await
                .map_err(|s| status_failure("list connectors", &s))?
                .into_inner()
                .connectors;
            let listed: Vec<serde_json::Value> = connectors
                .iter()
                .map(|c| {
                    let mut value = json!({ "id": c.id, "type": c.r#type, "name": c.name });
                    if show_config && let Some(object) = value.as_object_mut() {
                        object.insert("config".to_owned(), config_json(&c.config));
                    }
                    value
                })
                .collect();
            out.print(&json!({ "connectors": listed }), || {
                let rows: Vec<Vec<String>> = connectors
                    .iter()
                    .map(|c| vec![c.id.clone(), c.r#type.clone(), c.name.clone()])
                    .collect();
                table(&["ID", "TYPE", "NAME"], &rows)
            });
            Ok(())
        }
        Prepared::Create(connector) => {
            let id = connector.id.clone();
            let response = api
                .create_connector(CreateConnectorReq {
                    connector: Some(connector),
                })
                .await
                .map_err(|s| status_failure("create connector", &s))?
                .into_inner();
            if response.already_exists {
                return Err(Failure::Failed(format!(
                    "connector {} already exists",
                    quoted(&id)
                )));
            }
            out.print(&json!({ "already_exists": false }), || {
                format!("connector {} created\n", quoted(&id))
            });
            Ok(())
        }
        Prepared::Update(request) => {
            let id = request.id.clone();
            let response = api
                .update_connector(request)
                .await
                .map_err(|s| status_failure("update connector", &s))?
                .into_inner();
            if response.not_found {
                return Err(not_found(&id));
            }
            out.print(&json!({ "not_found": false }), || {
                format!("connector {} updated\n", quoted(&id))
            });
            Ok(())
        }
        Prepared::Delete(id) => {
            let response = api
                .delete_connector(DeleteConnectorReq { id: id.clone() })
                .await
                .map_err(|s| status_failure("delete connector", &s))?
                .into_inner();
            if response.not_found {
                return Err(not_found(&id));
            }
            out.print(&json!({ "not_found": false }), || {
                format!("connector {} deleted\n", quoted(&id))
            });
            Ok(())
        }
    }
}

fn not_found(id: &str) -> Failure {
    Failure::Failed(format!("connector {} not found", quoted(id)))
}

/// The configuration bytes as JSON: the document itself, or (if the server sent something
/// else) the text as a string.
fn config_json(bytes: &[u8]) -> serde_json::Value {
    if bytes.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_must_be_json_objects() {
        assert_eq!(
            json_config(None, Some(r#"{"a":1}"#.into())).ok(),
            Some(br#"{"a":1}"#.to_vec())
        );
        assert!(matches!(
            json_config(None, Some("[1]".into())),
            Err(Failure::Usage(_))
        ));
        let Err(Failure::Usage(m)) = json_config(None, Some("{secret".into())) else {
            panic!("not JSON");
        };
        assert!(!m.contains("secret"), "{m}");
        assert_eq!(json_config(None, None).ok(), Some(Vec::new()));
    }
}
