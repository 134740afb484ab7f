//! Each test is an attack that must fail.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

fn location_params(response: &Response) -> std::collections::HashMap<String, String> {
    let location = url::Url::parse(&response.header("location").expect("a redirect")).unwrap();
    location.query_pairs().into_owned().collect()
}

/// An error for an unvetted (open DCR) client after its redirect URI matched: a page with a
/// return link, never an automatic redirect (RFC 9700 §4.11.2). Returns the link's parameters.
fn return_link_params(response: &Response) -> std::collections::HashMap<String, String> {
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert!(
        response.header("location").is_none(),
        "no automatic redirect"
    );
    let html = response.text();
    let start = html.find("<a href=\"").expect("a return link") + 9;
    let end = start + html[start..].find('"').unwrap();
    let href = html[start..end].replace("&amp;", "&");
    assert!(href.starts_with(REDIRECT), "{href}");
    url::Url::parse(&href)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn pkce_missing_plain_or_wrong_verifier() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let base = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("state", "s"),
    ];

    let missing = server.authorize_raw(&base).await;
    assert_eq!(return_link_params(&missing)["error"], "invalid_request");

    let mut plain = base.to_vec();
    plain.extend([
        ("code_challenge", pkce.verifier.as_str()),
        ("code_challenge_method", "plain"),
    ]);
    assert_eq!(
        return_link_params(&server.authorize_raw(&plain).await)["error"],
        "invalid_request"
    );

    let code = server.authorize(&client, &pkce).await;
    let wrong = server
        .exchange_code(&client, &code, &Pkce::new().verifier)
        .await;
    assert_eq!(
        (wrong.status, wrong.error()),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    // The code was burned by the failed attempt.
    assert_eq!(
        server
            .exchange_code(&client, &code, &pkce.verifier)
            .await
            .error(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn code_replay_is_refused() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let code = server.authorize(&client, &pkce).await;
    assert_eq!(
        server
            .exchange_code(&client, &code, &pkce.verifier)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        server
            .exchange_code(&client, &code, &pkce.verifier)
            .await
            .error(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn concurrent_exchanges_of_one_code_give_exactly_one_token() {
    let server = std::sync::Arc::new(TestServer::new());
    let client = std::sync::Arc::new(server.register_public().await);
    let pkce = std::sync::Arc::new(Pkce::new());
    let code = server.authorize(&client, &pkce).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (server, client, pkce, code) =
                (server.clone(), client.clone(), pkce.clone(), code.clone());
            tokio::spawn(async move {
                server
                    .exchange_code(&client, &code, &pkce.verifier)
                    .await
                    .status
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn code_used_by_another_client_is_refused() {
    let server = TestServer::new();
    let victim = server.register_public().await;
    let attacker = server.register_public().await;
    let pkce = Pkce::new();
    let code = server.authorize(&victim, &pkce).await;
    assert_eq!(
        server
            .exchange_code(&attacker, &code, &pkce.verifier)
            .await
            .error(),
        "invalid_grant"
    );
    assert_eq!(
        server
            .exchange_code(&victim, &code, &pkce.verifier)
            .await
            .error(),
        "invalid_grant",
        "a misused code is burned"
    );
}

#[tokio::test]
async fn redirect_uri_mismatch_gets_an_error_page_not_a_redirect() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let pkce = Pkce::new();
    for evil in [
        "https://evil.example/cb",
        "http://127.0.0.1:33418/other",
        "http://127.0.0.1:33418/callback#x",
    ] {
        let response = server
            .authorize_raw(&[
                ("response_type", "code"),
                ("client_id", &client.id),
                ("redirect_uri", evil),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{evil}");
        assert!(
            response.header("location").is_none(),
            "never redirect to {evil}"
        );
        assert!(response.text().contains("cannot be completed"));
    }
    // Unknown client: also a page.
    let unknown = server
        .authorize_raw(&[
            ("response_type", "code"),
            ("client_id", "nope"),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.header("location").is_none());

    // A loopback redirect may use another port (RFC 8252 §7.3).
    let other_port = server
        .authorize_raw(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("redirect_uri", "http://127.0.0.1:50000/callback"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(other_port.status, StatusCode::FOUND);
    // But the token request must then repeat that exact URI.
    let code = location_params(&other_port)["code"].clone();
    assert_eq!(
        server
            .exchange_code(&client, &code, &pkce.verifier)
            .await
            .error(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn expired_code_is_refused() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let code = server.authorize(&client, &pkce).await;
    server.clock.advance(301);
    assert_eq!(
        server
            .exchange_code(&client, &code, &pkce.verifier)
            .await
            .error(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn foreign_resource_is_invalid_target() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let response = server
        .authorize_raw(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("resource", "https://other.example/mcp"),
        ])
        .await;
    assert_eq!(return_link_params(&response)["error"], "invalid_target");
}

#[tokio::test]
async fn refresh_reuse_revokes_the_family_after_the_grace_window() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let first = server.login(&client).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = server.refresh(&client, &first).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Inside the grace window a replay gets the same successor, never a new one.
    let replay = server.refresh(&client, &first).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.json()["refresh_token"], second.as_str());

    // After it, a replay is reuse: refused, and the whole family dies.
    server.clock.advance(31);
    assert_eq!(
        server.refresh(&client, &first).await.error(),
        "invalid_grant"
    );
    assert_eq!(
        server.refresh(&client, &second).await.error(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn concurrent_rotations_give_one_successor() {
    let server = std::sync::Arc::new(TestServer::new());
    let client = std::sync::Arc::new(server.register_public().await);
    let first = server.login(&client).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (server, client, first) = (server.clone(), client.clone(), first.clone());
            tokio::spawn(async move {
                server.refresh(&client, &first).await.json()["refresh_token"]
                    .as_str()
                    .map(str::to_owned)
            })
        })
        .collect();
    let mut successors = std::collections::HashSet::new();
    for task in tasks {
        if let Some(token) = task.await.unwrap() {
            successors.insert(token);
        }
    }
    assert_eq!(successors.len(), 1, "{successors:?}");
}

#[tokio::test]
async fn refresh_cannot_widen_scope_or_be_used_by_another_client() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let other = server.register_public().await;
    let refresh = server.login(&client).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wider = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &client.id),
                ("scope", "mcp email"),
            ],
            None,
        )
        .await;
    assert_eq!(wider.error(), "invalid_scope");
    assert_eq!(
        server.refresh(&other, &refresh).await.error(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn bad_client_authentication_is_401_invalid_client() {
    let server = TestServer::new();
    let client = server.register_confidential().await;
    let wrong = server
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some((&client.id, "wrong")),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.error()),
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    assert!(
        wrong
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    let unknown = server
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some(("nobody", "x")),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    // A public client cannot use client_credentials.
    let public = server.register_public().await;
    let denied = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &public.id),
            ],
            None,
        )
        .await;
    assert_eq!(denied.error(), "unauthorized_client");
}

#[tokio::test]
async fn malformed_token_requests_get_rfc_errors() {
    let server = TestServer::new();
    assert_eq!(
        server.post_form("/oauth/token", &[], None).await.error(),
        "invalid_request"
    );
    assert_eq!(
        server
            .post_form(
                "/oauth/token",
                &[("grant_type", "password"), ("client_id", "x")],
                None
            )
            .await
            .error(),
        "unsupported_grant_type"
    );
    let repeated = server.send(
        axum::http::Request::post("/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(
                "grant_type=client_credentials&grant_type=client_credentials",
            ))
            .unwrap(),
    );
    assert_eq!(repeated.await.error(), "invalid_request");
    let json_body = server
        .post_json("/oauth/token", &json!({"grant_type": "client_credentials"}))
        .await;
    assert_eq!(json_body.error(), "invalid_request");
}

#[tokio::test]
async fn oversized_and_malformed_bodies() {
    let server = TestServer::new();
    let huge = format!(
        r#"{{"client_name":"{}","redirect_uris":["https://a.example/cb"]}}"#,
        "x".repeat(20_000)
    );
    let response = server.send(
        axum::http::Request::post("/dcr")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(huge))
            .unwrap(),
    );
    assert_eq!(response.await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let bad = server.send(
        axum::http::Request::post("/dcr")
            .header("content-type", "application/json")
            .body(axum::body::Body::from("{not json"))
            .unwrap(),
    );
    let bad = bad.await;
    assert_eq!(
        (bad.status, bad.error()),
        (StatusCode::BAD_REQUEST, "invalid_client_metadata".into())
    );
    let wrong_type = server
        .post_json("/dcr", &json!({"redirect_uris": "https://a.example/cb"}))
        .await;
    assert_eq!(wrong_type.error(), "invalid_client_metadata");
    let js = server
        .post_json("/dcr", &json!({"redirect_uris": ["javascript:alert(1)"]}))
        .await;
    assert_eq!(js.error(), "invalid_redirect_uri");
}
