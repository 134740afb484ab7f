//! Client ID Metadata Documents fetched for real from a loopback server.

use axum::{Router, http::StatusCode, routing::get};
use serde_json::json;

use crate::support::*;

/// Serves `/client.json` (the document), `/big.json` (too large) and `/missing.json` (404).
async fn document_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let id = format!("{origin}/client.json");
    let document = json!({
        "client_id": id,
        "client_name": "Metadata Client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none"
    });
    let big = json!({ "client_id": format!("{origin}/big.json"), "redirect_uris": [REDIRECT], "pad": "x".repeat(10_000) });
    let app = Router::new()
        .route(
            "/client.json",
            get(move || async move { axum::Json(document) }),
        )
        .route("/big.json", get(move || async move { axum::Json(big) }))
        .route("/missing.json", get(|| async { StatusCode::NOT_FOUND }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

#[tokio::test]
async fn a_metadata_document_client_signs_in_without_registration() {
    let origin = document_server().await;
    let server = TestServer::with(|c| c.cimd.allow_insecure = true);
    let client = Client {
        id: format!("{origin}/client.json"),
        secret: None,
        registration_token: String::new(),
    };
    let tokens = server.login(&client).await;
    assert_eq!(tokens["token_type"], "Bearer");
    // The consent page says who publishes the application: the host of its client_id.
    let consenting = TestServer::with(|c| {
        c.cimd.allow_insecure = true;
        c.identity = mcpctl_handler::config::IdentityMode::Dev {
            auto_approve: false,
        };
    });
    let page = consenting.start_authorization(&client.id, &[]).await;
    assert!(
        page.text()
            .contains(&format!("published by {origin} at {origin}/client.json")),
        "{}",
        page.text()
    );
    let refreshed = server
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text());
}

#[tokio::test]
async fn bad_metadata_documents_get_an_error_page() {
    let origin = document_server().await;
    let server = TestServer::with(|c| c.cimd.allow_insecure = true);
    let pkce = Pkce::new();
    for id in [
        format!("{origin}/big.json"),
        format!("{origin}/missing.json"),
        "http://127.0.0.1:9/unreachable.json".to_owned(),
    ] {
        let response = server
            .authorize_raw(&[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", REDIRECT),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{id}: {}",
            response.text()
        );
        assert!(
            response.header("location").is_none(),
            "{id}: never redirect for an unverified client"
        );
    }
}

#[tokio::test]
async fn loopback_documents_are_refused_outside_dev() {
    let origin = document_server().await;
    let server = TestServer::new();
    let pkce = Pkce::new();
    let response = server
        .authorize_raw(&[
            ("response_type", "code"),
            ("client_id", &format!("{origin}/client.json")),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.text().contains("https"), "{}", response.text());
}
