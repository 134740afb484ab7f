//! The happy paths, end to end through the router.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn code_flow_refresh_and_mcp_call() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let tokens = server.login(&client).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "mcp");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let who = server.mcp(Some(access), r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#, &[]).await;
    assert_eq!(who.status, StatusCode::OK, "{}", who.text());
    let caller = &who.json()["result"]["structuredContent"];
    assert_eq!(caller["client_id"], client.id.as_str());
    assert_eq!(caller["subject"], "dev-user");
    assert_eq!(caller["kind"], "person");
    assert!(
        caller.get("email").is_none() && caller.get("name").is_none(),
        "identity claims are released by scope only: {caller}"
    );
    assert_eq!(caller["scopes"], json!(["mcp"]));

    let rotated = server.refresh(&client, refresh).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text());
    let rotated = rotated.json();
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    let echo = server
        .mcp(rotated["access_token"].as_str(), r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#, &[])
        .await;
    assert_eq!(echo.json()["result"]["content"][0]["text"], "hi");
}

#[tokio::test]
async fn client_credentials_with_basic_and_post() {
    let server = TestServer::new();
    let client = server.register_confidential().await;
    let token = server.client_credentials(&client).await;
    let add = server.mcp(Some(&token), r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3.5}}}"#, &[]).await;
    assert_eq!(add.json()["result"]["content"][0]["text"], "5.5");
    let who = server.mcp(Some(&token), r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#, &[]).await;
    let caller = &who.json()["result"]["structuredContent"];
    assert_eq!(caller["kind"], "machine");
    assert_eq!(caller["subject"], client.id.as_str());
    assert!(
        caller.get("name").is_none(),
        "a client's self-chosen name is never shown as a person's: {caller}"
    );

    let post_client = server
        .register_as_operator(json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}))
        .await;
    let post = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &post_client.id),
                ("client_secret", post_client.secret.as_deref().unwrap()),
            ],
            None,
        )
        .await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.text());
    assert_eq!(post.header("cache-control").as_deref(), Some("no-store"));
}

#[tokio::test]
async fn registration_management_with_the_registration_token() {
    let server = TestServer::new();
    let client = server.register_confidential().await;
    let path = format!("/clients/{}", client.id);
    let bearer = format!("Bearer {}", client.registration_token);

    assert_eq!(
        server.get(&path, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server
            .get(&path, &[("authorization", "Bearer wrong")])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let read = server.get(&path, &[("authorization", &bearer)]).await;
    assert_eq!(read.status, StatusCode::OK);
    let info = read.json();
    assert_eq!(info["client_id"], client.id.as_str());
    assert!(
        info.get("client_secret").is_none(),
        "GET must never return the secret"
    );
    assert_eq!(info["redirect_uris"], json!([]));

    let delete = server
        .send(
            axum::http::Request::delete(&path)
                .header("authorization", &bearer)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);
    let token = server
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(
        token.status,
        StatusCode::UNAUTHORIZED,
        "a deleted client cannot get tokens"
    );
}

#[tokio::test]
async fn deleting_a_client_revokes_its_refresh_tokens() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let tokens = server.login(&client).await;
    let bearer = format!("Bearer {}", client.registration_token);
    let path = format!("/clients/{}", client.id);
    server
        .send(
            axum::http::Request::delete(&path)
                .header("authorization", &bearer)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    let refresh = server
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        refresh.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refresh.text()
    );
    assert_eq!(
        refresh.error(),
        "invalid_grant",
        "a deleted client's app must sign in again, not give up on a client error"
    );
}

#[tokio::test]
async fn revocation_revokes_the_family() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let tokens = server.login(&client).await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let second = server.refresh(&client, first).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = server
        .post_form(
            "/oauth/revoke",
            &[("token", &second), ("client_id", &client.id)],
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::OK);
    assert_eq!(
        server.refresh(&client, &second).await.error(),
        "invalid_grant"
    );
    // Unknown tokens are also 200 (RFC 7009 §2.2).
    assert_eq!(
        server
            .post_form(
                "/oauth/revoke",
                &[("token", "nope"), ("client_id", &client.id)],
                None
            )
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn userinfo_returns_the_subject_claims() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let tokens = server.login(&client).await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let info = server
        .get("/oauth/userinfo", &[("authorization", &bearer)])
        .await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.json()["sub"], "dev-user");
    assert_eq!(info.json()["kind"], "person");
    assert!(
        info.json().get("name").is_none(),
        "no `profile` scope, no name"
    );
    assert_eq!(
        server.get("/oauth/userinfo", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn consent_page_approve_and_csrf() {
    let server = TestServer::with(|c| {
        c.identity = mcpctl_handler::config::IdentityMode::Dev {
            auto_approve: false,
        }
    });
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let query = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "s1"),
    ];
    let page = server.authorize_raw(&query).await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("default-src 'none'")
            && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:33418"),
        "{csp}"
    );
    let html = page.text();
    assert!(html.contains("Test App") && html.contains("Approve") && !html.contains("<script"));
    // Issue 10, point 6: who vouches for the app, the full redirect origin, what is released.
    assert!(html.contains("unverified application"), "{html}");
    assert!(
        html.contains("<code>http://127.0.0.1:33418</code>"),
        "the full origin, port included: {html}"
    );
    assert!(
        html.contains("only an identifier for your account"),
        "scope `mcp` releases no name or e-mail: {html}"
    );
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    let mut form: Vec<(&str, &str)> = query.to_vec();
    form.push(("scope", "mcp"));
    form.push(("resource", "http://127.0.0.1:8787/mcp"));
    form.push(("decision", "approve"));
    let submit = |cookie: Option<String>, csrf: String| {
        let mut form = form.clone();
        let csrf = csrf.clone();
        form.push(("csrf", &csrf));
        let body = serde_urlencoded::to_string(&form).unwrap();
        let mut builder = axum::http::Request::post("/oauth/authorize")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            builder = builder.header("cookie", cookie);
        }
        builder.body(axum::body::Body::from(body)).unwrap()
    };
    let forged = server.send(submit(None, csrf.clone())).await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "no cookie: CSRF must fail"
    );
    let forged = server
        .send(submit(Some(cookie_pair.clone()), "AAAA".into()))
        .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "bad token: CSRF must fail"
    );
    let approved = server.send(submit(Some(cookie_pair), csrf)).await;
    assert_eq!(
        approved.status,
        StatusCode::SEE_OTHER,
        "{}",
        approved.text()
    );
    let location = approved.header("location").unwrap();
    assert!(
        location.starts_with(REDIRECT)
            && location.contains("code=")
            && location.contains("state=s1"),
        "{location}"
    );
}

#[tokio::test]
async fn the_consent_page_lists_the_claims_the_scope_releases() {
    let server = TestServer::with(|c| {
        c.identity = mcpctl_handler::config::IdentityMode::Dev {
            auto_approve: false,
        }
    });
    let client = server.register_public().await;
    let page = server
        .start_authorization(&client.id, &[("scope", "mcp profile email")])
        .await;
    let html = page.text();
    assert!(
        html.contains("name (Local Developer)") && html.contains("e-mail (dev@localhost)"),
        "{html}"
    );
}
