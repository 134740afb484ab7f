//! Discovery documents.

use axum::http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn metadata_documents_agree_with_each_other() {
    let server = TestServer::new();
    let rfc8414 = server
        .get("/.well-known/oauth-authorization-server", &[])
        .await;
    assert_eq!(rfc8414.status, StatusCode::OK);
    assert_eq!(
        rfc8414.header("content-type").as_deref(),
        Some("application/json")
    );
    let metadata = rfc8414.json();
    assert_eq!(metadata["issuer"], BASE);
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    assert!(
        metadata["token_endpoint_auth_methods_supported"]
            .to_string()
            .contains("none")
    );

    let oidc = server
        .get("/.well-known/openid-configuration", &[])
        .await
        .json();
    for field in [
        "jwks_uri",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(oidc.get(field).is_some(), "OIDC document lacks {field}");
    }
    assert_eq!(oidc["issuer"], metadata["issuer"]);

    let prm = server
        .get("/.well-known/oauth-protected-resource/mcp", &[])
        .await
        .json();
    assert_eq!(prm["resource"], format!("{BASE}/mcp"));
    assert_eq!(prm["authorization_servers"], serde_json::json!([BASE]));

    let jwks = server.get("/.well-known/jwks.json", &[]).await.json();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["crv"].as_str()
        ),
        (Some("EC"), Some("ES256"), Some("P-256"))
    );
    assert!(
        key.get("d").is_none(),
        "the JWKS must not leak the private key"
    );
}

#[tokio::test]
async fn closed_registration_is_not_advertised_and_refused() {
    let server = TestServer::with(|c| c.registration_open = false);
    let metadata = server
        .get("/.well-known/oauth-authorization-server", &[])
        .await
        .json();
    assert!(metadata.get("registration_endpoint").is_none());
    let response = server
        .post_json("/dcr", &serde_json::json!({"redirect_uris": [REDIRECT]}))
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
}
