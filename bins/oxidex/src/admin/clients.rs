//! `oxidex admin clients ...`: `GetClient`, `ListClients`, `CreateClient`, `UpdateClient`,
//! `DeleteClient`.

use clap::{ArgGroup, Subcommand};
use serde_json::json;
use tonic::Code;

use oxidex_issuer_http::grpc::proto::{
    Client, ClientInfo, CreateClientReq, DeleteClientReq, GetClientReq, ListClientReq,
    UpdateClientReq,
};

use super::output::{self, fields, list, quoted, table};
use super::{Api, Failure, Out, status_failure};

#[derive(Debug, Subcommand)]
pub(super) enum ClientsCommand {
    /// Every client (secrets are not listed).
    List,
    /// One client; its secret only with --show-secret.
    Get {
        /// The client id.
        id: String,
        /// Print the client secret too.
        #[arg(long)]
        show_secret: bool,
    },
    /// Register a client. Without --id the server picks one; without --secret (and without
    /// --public) it generates a secret, which --show-secret prints.
    Create {
        /// The client id.
        #[arg(long)]
        id: Option<String>,
        /// The client secret (visible to other local users in the process list; omit it to
        /// have the server generate one).
        #[arg(long, conflicts_with = "public")]
        secret: Option<String>,
        /// The name shown on the approval page.
        #[arg(long)]
        name: Option<String>,
        /// An allowed redirect URI (repeatable).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A client allowed to obtain tokens for this one (repeatable).
        #[arg(long = "trusted-peer", value_name = "CLIENT_ID")]
        trusted_peers: Vec<String>,
        /// A public client (no secret; e.g. a CLI or a single-page app).
        #[arg(long)]
        public: bool,
        /// A logo shown on the approval page.
        #[arg(long, value_name = "URL")]
        logo_url: Option<String>,
        /// Print the client secret of the created client.
        #[arg(long)]
        show_secret: bool,
    },
    /// Change a client: given lists replace the stored ones, given strings replace theirs.
    /// The secret and public flag cannot be changed (delete and create again).
    #[command(group(ArgGroup::new("change").required(true).multiple(true)))]
    Update {
        /// The client id.
        id: String,
        /// The new name.
        #[arg(long, group = "change")]
        name: Option<String>,
        /// The new redirect URIs (repeatable; replaces them all).
        #[arg(long = "redirect-uri", value_name = "URI", group = "change")]
        redirect_uris: Vec<String>,
        /// The new trusted peers (repeatable; replaces them all).
        #[arg(long = "trusted-peer", value_name = "CLIENT_ID", group = "change")]
        trusted_peers: Vec<String>,
        /// The new logo URL.
        #[arg(long, value_name = "URL", group = "change")]
        logo_url: Option<String>,
    },
    /// Remove a client.
    Delete {
        /// The client id.
        id: String,
    },
}

pub(super) async fn run(api: &mut Api, command: ClientsCommand, out: &Out) -> Result<(), Failure> {
    match command {
        ClientsCommand::List => {
            let clients = api
                .list_clients(ListClientReq {})
                .await
                .map_err(|s| status_failure("list clients", &s))?
                .into_inner()
                .clients;
            out.print(
                &json!({ "clients": clients.iter().map(info_json).collect::<Vec<_>>() }),
                || {
                    let rows: Vec<Vec<String>> = clients
                        .iter()
                        .map(|c| {
                            vec![
                                c.id.clone(),
                                c.name.clone(),
                                c.public.to_string(),
                                list(&c.redirect_uris),
                                list(&c.trusted_peers),
                            ]
                        })
                        .collect();
                    table(
                        &["ID", "NAME", "PUBLIC", "REDIRECT URIS", "TRUSTED PEERS"],
                        &rows,
                    )
                },
            );
            Ok(())
        }
        ClientsCommand::Get { id, show_secret } => {
            let client = match api.get_client(GetClientReq { id: id.clone() }).await {
                Ok(response) => response.into_inner().client,
                Err(status) if status.code() == Code::NotFound => None,
                Err(status) => return Err(status_failure("get client", &status)),
            };
            let Some(client) = client else {
                return Err(not_found(&id));
            };
            out.print(&client_json(&client, show_secret), || {
                describe(&client, show_secret)
            });
            Ok(())
        }
        ClientsCommand::Create {
            id,
            secret,
            name,
            redirect_uris,
            trusted_peers,
            public,
            logo_url,
            show_secret,
        } => {
            let generated_secret = secret.is_none() && !public;
            let client = Client {
                id: id.unwrap_or_default(),
                secret: secret.unwrap_or_default(),
                redirect_uris,
                trusted_peers,
                public,
                name: name.unwrap_or_default(),
                logo_url: logo_url.unwrap_or_default(),
            };
            let asked_id = client.id.clone();
            let response = api
                .create_client(CreateClientReq {
                    client: Some(client),
                })
                .await
                .map_err(|s| status_failure("create client", &s))?
                .into_inner();
            if response.already_exists {
                return Err(Failure::Failed(format!(
                    "client {} already exists",
                    quoted(&asked_id)
                )));
            }
            let Some(created) = response.client else {
                return Err(Failure::Failed(
                    "create client: the server did not return the client".to_owned(),
                ));
            };
            out.print(&client_json(&created, show_secret), || {
                let mut text = format!("client {} created\n", quoted(&created.id));
                text.push_str(&describe(&created, show_secret));
                if generated_secret && !show_secret {
                    text.push_str(&format!(
                        "(the server generated the secret: `oxidex admin clients get {} \
                         --show-secret` prints it)\n",
                        output::clean(&created.id)
                    ));
                }
                text
            });
            Ok(())
        }
        ClientsCommand::Update {
            id,
            name,
            redirect_uris,
            trusted_peers,
            logo_url,
        } => {
            let response = api
                .update_client(UpdateClientReq {
                    id: id.clone(),
                    redirect_uris,
                    trusted_peers,
                    name: name.unwrap_or_default(),
                    logo_url: logo_url.unwrap_or_default(),
                })
                .await
                .map_err(|s| status_failure("update client", &s))?
                .into_inner();
            if response.not_found {
                return Err(not_found(&id));
            }
            out.print(&json!({ "not_found": false }), || {
                format!("client {} updated\n", quoted(&id))
            });
            Ok(())
        }
        ClientsCommand::Delete { id } => {
            let response = api
                .delete_client(DeleteClientReq { id: id.clone() })
                .await
                .map_err(|s| status_failure("delete client", &s))?
                .into_inner();
            if response.not_found {
                return Err(not_found(&id));
            }
            out.print(&json!({ "not_found": false }), || {
                format!("client {} deleted\n", quoted(&id))
            });
            Ok(())
        }
    }
}

fn not_found(id: &str) -> Failure {
    Failure::Failed(format!("client {} not found", quoted(id)))
}

fn info_json(c: &ClientInfo) -> serde_json::Value {
    json!({
        "id": c.id,
        "redirect_uris": c.redirect_uris,
        "trusted_peers": c.trusted_peers,
        "public": c.public,
        "name": c.name,
        "logo_url": c.logo_url,
    })
}

/// A client as JSON; the secret only when asked for.
fn client_json(c: &Client, show_secret: bool) -> serde_json::Value {
    let mut value = json!({
        "id": c.id,
        "redirect_uris": c.redirect_uris,
        "trusted_peers": c.trusted_peers,
        "public": c.public,
        "name": c.name,
        "logo_url": c.logo_url,
    });
    if show_secret && let Some(object) = value.as_object_mut() {
        object.insert("secret".to_owned(), json!(c.secret));
    }
    value
}

/// A client as `key  value` lines; the secret only when asked for.
fn describe(c: &Client, show_secret: bool) -> String {
    let secret = if c.public {
        String::new()
    } else if show_secret {
        c.secret.clone()
    } else {
        "(hidden; --show-secret prints it)".to_owned()
    };
    fields(&[
        ("id", c.id.clone()),
        ("name", c.name.clone()),
        ("public", c.public.to_string()),
        ("secret", secret),
        ("redirect_uris", list(&c.redirect_uris)),
        ("trusted_peers", list(&c.trusted_peers)),
        ("logo_url", c.logo_url.clone()),
    ])
}
