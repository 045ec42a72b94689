//! `grpc.addr` on a real `oxidex serve`: a client created through Dex's admin API is usable at
//! the token endpoint of the same process at once, and a listener reachable from other
//! machines without client certificates is refused at start-up.
#![cfg(feature = "grpc")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use common::{Oxidex, SQLITE_ISSUER, STATIC_PASSWORDS, free_port};
use oxidex_issuer_http::grpc::DexClient;
use oxidex_issuer_http::grpc::proto::{Client, CreateClientReq, VersionReq};

fn config(grpc_port: u16) -> String {
    format!(
        "{SQLITE_ISSUER}{STATIC_PASSWORDS}grpc:\n  addr: 127.0.0.1:{grpc_port}\n  reflection: true\n\
         oauth2:\n  grantTypes: [authorization_code, refresh_token, client_credentials]\n"
    )
}

async fn connect(port: u16) -> DexClient<tonic::transport::Channel> {
    for _ in 0..100 {
        if let Ok(client) = DexClient::connect(format!("http://127.0.0.1:{port}")).await {
            return client;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the admin API did not come up");
}

#[tokio::test]
async fn a_client_created_through_the_admin_api_works_at_once() {
    let grpc_port = free_port();
    let server = Oxidex::start(&config(grpc_port)).await;
    let mut api = connect(grpc_port).await;

    let version = api.get_version(VersionReq {}).await.unwrap().into_inner();
    assert_eq!(version.server, env!("CARGO_PKG_VERSION"));

    let created = api
        .create_client(CreateClientReq {
            client: Some(Client {
                id: "robot".into(),
                secret: "robot-secret".into(),
                name: "Robot".into(),
                ..Client::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!created.already_exists);

    let (status, body, _) = server
        .post(
            "/token",
            Some(("robot", "robot-secret")),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "openid profile"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());
}

#[tokio::test]
async fn server_reflection_lists_the_admin_api() {
    use futures_util::StreamExt;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let grpc_port = free_port();
    let _server = Oxidex::start(&config(grpc_port)).await;
    connect(grpc_port).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc_port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(futures_util::stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.iter().any(|n| n == "api.Dex"), "{names:?}");
}

#[test]
fn an_unauthenticated_admin_api_beyond_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = config(free_port())
        .replace("addr: 127.0.0.1:", "addr: 0.0.0.0:")
        .replace("{port}", &port.to_string())
        .replace("{dir}", &dir.path().display().to_string());
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oxidex"))
        .arg("serve")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("grpc.tlsClientCA is not set") && err.contains("--grpc-allow-unauthenticated"),
        "{err}"
    );
}
