//! Issue 10, "secure by default", tried as an outside attacker would: open registration never
//! yields a token without a person, machine clients come only from the operator, refresh
//! families end, and the token endpoint and `/mcp` refuse what they should. Every case is a
//! function of a [`TestServer`], so `dynamo.rs` runs the same suite on DynamoDB (moto).

use std::sync::Arc;

use axum::http::StatusCode;
use mcpctl_handler::{
    config::HandlerConfig,
    crypto::hash_secret,
    state::Stores,
    store::{ClientMetadata, ClientOrigin, ClientRecord, memory::MemoryStore},
};
use serde_json::{Value, json};

use crate::support::*;

const WHOAMI: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;

fn stranger() -> Value {
    json!({"client_name": "Stranger", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"})
}

async fn whoami(server: &TestServer, token: &str) -> Value {
    let who = server.mcp(Some(token), WHOAMI, &[]).await;
    assert_eq!(who.status, StatusCode::OK, "{}", who.text());
    who.json()["result"]["structuredContent"].clone()
}

/// The seed's attack: DCR with client_credentials, then a token, then a tool call.
pub async fn open_registration_never_hands_out_client_credentials(server: &TestServer) {
    for metadata in [
        stranger(),
        json!({"client_name": "Stranger", "grant_types": ["authorization_code", "refresh_token", "client_credentials"], "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"}),
    ] {
        let refused = server.post_json("/dcr", &metadata).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{}",
            refused.text()
        );
        assert_eq!(refused.error(), "invalid_client_metadata");
        assert!(
            refused.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("`client_credentials`"),
            "the error names the grant: {}",
            refused.text()
        );
    }
    // A bearer that is not the initial access token is refused, not read as anonymous.
    for bearer in ["Bearer guess", "Bearer ", "Basic Zm9vOmJhcg=="] {
        let wrong = server
            .post_json_with("/dcr", &stranger(), &[("authorization", bearer)])
            .await;
        assert_eq!(
            (wrong.status, wrong.error()),
            (StatusCode::UNAUTHORIZED, "invalid_token".into()),
            "{bearer}: {}",
            wrong.text()
        );
    }
    // With the operator's initial access token the same request works, and the token says machine.
    let machine = server.register_as_operator(stranger()).await;
    let token = server.client_credentials(&machine).await;
    let caller = whoami(server, &token).await;
    assert_eq!(caller["kind"], "machine");
    assert_eq!(caller["subject"], machine.id.as_str());
    assert!(
        caller.get("name").is_none(),
        "the client's self-chosen name is never presented as a person's: {caller}"
    );
}

/// A clients-table row as an older version wrote it: no `origin` (it reads as open DCR) and
/// metadata the rules of today would refuse.
fn legacy_row(id: &str, redirects: &[&str], grants: &[&str], auth_method: &str) -> ClientRecord {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    ClientRecord {
        client_id: id.into(),
        secret_hash: None,
        registration_token_hash: None,
        metadata: ClientMetadata {
            redirect_uris: strings(redirects),
            response_types: if grants.contains(&"authorization_code") {
                vec!["code".into()]
            } else {
                vec![]
            },
            grant_types: strings(grants),
            token_endpoint_auth_method: auth_method.into(),
            scope: None,
            client_name: Some("Old".into()),
            client_uri: None,
            logo_uri: None,
            contacts: vec![],
            software_id: None,
            software_version: None,
            application_type: None,
        },
        issued_at: START,
        origin: ClientOrigin::default(),
    }
}

/// Rows written before client origins existed read as anonymous DCR: their client_credentials
/// grant no longer works, whatever the stored metadata says.
pub async fn legacy_anonymous_rows_cannot_use_client_credentials(server: &TestServer) {
    let legacy = ClientRecord {
        secret_hash: Some(hash_secret("legacy-secret")),
        ..legacy_row(
            "legacy-machine",
            &[],
            &["client_credentials"],
            "client_secret_basic",
        )
    };
    server.state.stores.clients.create(legacy).await.unwrap();
    let denied = server
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some(("legacy-machine", "legacy-secret")),
        )
        .await;
    assert_eq!(
        (denied.status, denied.error()),
        (StatusCode::BAD_REQUEST, "unauthorized_client".into()),
        "{}",
        denied.text()
    );
}

/// The registered `token_endpoint_auth_method` is the only one accepted.
pub async fn the_registered_auth_method_is_enforced(server: &TestServer) {
    let basic = server.register_confidential().await;
    let secret = basic.secret.clone().unwrap();
    let as_post = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &basic.id),
                ("client_secret", &secret),
            ],
            None,
        )
        .await;
    assert_eq!(
        (as_post.status, as_post.error()),
        (StatusCode::UNAUTHORIZED, "invalid_client".into()),
        "{}",
        as_post.text()
    );
    let post = server
        .register_as_operator(json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}))
        .await;
    let as_basic = server
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some((&post.id, post.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(
        (as_basic.status, as_basic.error()),
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    // Public clients cannot be turned confidential by sending a secret.
    let public = server.register_public().await;
    let with_secret = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "a.b"),
                ("client_id", &public.id),
                ("client_secret", "made-up"),
            ],
            None,
        )
        .await;
    assert_eq!(with_secret.status, StatusCode::UNAUTHORIZED);
}

/// RFC 6749 §4.1.2: a code used twice revokes the refresh family the first use started.
pub async fn a_replayed_code_revokes_its_refresh_family(server: &TestServer) {
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let code = server.authorize(&client, &pkce).await;
    let first = server.exchange_code(&client, &code, &pkce.verifier).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let refresh = first.json()["refresh_token"].as_str().unwrap().to_owned();
    let replay = server.exchange_code(&client, &code, &pkce.verifier).await;
    assert_eq!(replay.error(), "invalid_grant");
    let after = server.refresh(&client, &refresh).await;
    assert_eq!(
        after.error(),
        "invalid_grant",
        "the family of a replayed code is revoked: {}",
        after.text()
    );
}

/// A grace replay gets the successor the first rotation stored, with that successor's scope.
pub async fn a_grace_replay_returns_the_stored_scope(server: &TestServer) {
    let client = server.register_public().await;
    let tokens = server.login_with_scope(&client, "mcp profile").await;
    let old = tokens["refresh_token"].as_str().unwrap();
    let narrowed = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", old),
                ("client_id", &client.id),
                ("scope", "mcp"),
            ],
            None,
        )
        .await;
    assert_eq!(narrowed.json()["scope"], "mcp", "{}", narrowed.text());
    let replay = server.refresh(&client, old).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.text());
    assert_eq!(
        replay.json()["refresh_token"],
        narrowed.json()["refresh_token"]
    );
    assert_eq!(
        replay.json()["scope"],
        "mcp",
        "the replay may not widen the scope back to what it asked for"
    );
    let claims = whoami(server, replay.json()["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["scopes"], json!(["mcp"]));
}

/// The absolute lifetime counts from the sign-in, whatever the rotations.
pub async fn refresh_families_end_at_their_absolute_lifetime(server: &TestServer) {
    let max = server.state.config.refresh_max_lifetime.as_secs();
    let idle = server.state.config.refresh_token_ttl.as_secs();
    assert!(
        idle < max,
        "the test server must have idle TTL < absolute lifetime"
    );
    let client = server.register_public().await;
    let mut refresh = server.login(&client).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let step = idle / 2;
    let mut elapsed = 0;
    while elapsed + step < max {
        server.clock.advance(step);
        elapsed += step;
        let rotated = server.refresh(&client, &refresh).await;
        assert_eq!(
            rotated.status,
            StatusCode::OK,
            "at {elapsed}s: {}",
            rotated.text()
        );
        refresh = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    server.clock.advance(max - elapsed);
    let ended = server.refresh(&client, &refresh).await;
    assert_eq!(ended.error(), "invalid_grant", "{}", ended.text());
}

/// Identity claims are released by scope only: `name` needs `profile`, `email` needs
/// `email`, groups need the operator's groups scope.
pub async fn identity_claims_are_released_by_scope(server: &TestServer) {
    let client = server.register_public().await;
    let bare = server.login(&client).await;
    let caller = whoami(server, bare["access_token"].as_str().unwrap()).await;
    assert_eq!(caller["kind"], "person");
    assert!(
        caller.get("name").is_none() && caller.get("email").is_none(),
        "{caller}"
    );
    let full = server.login_with_scope(&client, "mcp profile email").await;
    let caller = whoami(server, full["access_token"].as_str().unwrap()).await;
    assert_eq!(caller["name"], "Local Developer");
    assert_eq!(caller["email"], "dev@localhost");
}

/// `POST /mcp` with a body that is not JSON is a JSON-RPC parse error, in JSON.
pub async fn a_non_json_mcp_body_is_a_parse_error(server: &TestServer) {
    let client = server.register_public().await;
    let token = server.login(&client).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for body in ["this is not json", "{\"jsonrpc\":", ""] {
        let response = server.mcp(Some(&token), body, &[]).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{body:?}: {}",
            response.text()
        );
        assert_eq!(response.json()["error"]["code"], -32700, "{body:?}");
    }
}

/// The whole suite on one kind of store: `stores` makes fresh, empty tables.
pub async fn run_all<F, Fut>(stores: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let server =
        async |adjust: fn(&mut HandlerConfig)| TestServer::with_stores(stores().await, adjust);
    let defaults: fn(&mut HandlerConfig) = |_| {};
    open_registration_never_hands_out_client_credentials(&server(defaults).await).await;
    legacy_anonymous_rows_cannot_use_client_credentials(&server(defaults).await).await;
    the_registered_auth_method_is_enforced(&server(defaults).await).await;
    a_replayed_code_revokes_its_refresh_family(&server(defaults).await).await;
    a_grace_replay_returns_the_stored_scope(&server(defaults).await).await;
    refresh_families_end_at_their_absolute_lifetime(
        &server(|c| {
            c.refresh_token_ttl = std::time::Duration::from_secs(24 * 3600);
            c.refresh_max_lifetime = std::time::Duration::from_secs(3 * 24 * 3600);
        })
        .await,
    )
    .await;
    identity_claims_are_released_by_scope(&server(defaults).await).await;
    a_non_json_mcp_body_is_a_parse_error(&server(defaults).await).await;
}

#[tokio::test]
async fn secure_defaults_on_the_memory_store() {
    run_all(|| async { Stores::memory(Arc::new(MemoryStore::new())) }).await;
}

#[tokio::test]
async fn closed_registration_still_admits_the_operator() {
    let server = TestServer::with(|c| c.registration_open = false);
    let anonymous = server.post_json("/dcr", &stranger()).await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
    let public = server
        .post_json(
            "/dcr",
            &json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
        )
        .await;
    assert_eq!(public.status, StatusCode::FORBIDDEN);
    let machine = server.register_as_operator(stranger()).await;
    server.client_credentials(&machine).await;
}

#[tokio::test]
async fn without_an_initial_access_token_nobody_registers_machines_through_dcr() {
    let server = TestServer::with(|c| c.initial_access_token_hashes.clear());
    let bearer = format!("Bearer {INITIAL_ACCESS_TOKEN}");
    let response = server
        .post_json_with("/dcr", &stranger(), &[("authorization", &bearer)])
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_re_applies_the_identity_mode_of_today() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let refresh = server.login(&client).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same tables, now behind a server that signs nobody in (identity mode `none`).
    let tightened = TestServer::with_stores(server.state.stores.clone(), |c| {
        c.identity = mcpctl_handler::config::IdentityMode::Disabled;
    });
    let refused = tightened.refresh(&client, &refresh).await;
    assert_eq!(refused.error(), "invalid_grant", "{}", refused.text());
}

/// A row registered under older, laxer rules (`ms-msdt:` once passed as a private-use scheme)
/// gets no redirect: today's registration rules apply at every authorization.
#[tokio::test]
async fn redirect_uris_from_laxer_days_are_refused_at_authorization() {
    let server = TestServer::new();
    let legacy = legacy_row(
        "legacy-app",
        &["ms-msdt:/id"],
        &["authorization_code"],
        "none",
    );
    server.state.stores.clients.create(legacy).await.unwrap();
    let pkce = Pkce::new();
    let response = server
        .authorize_raw(&[
            ("response_type", "code"),
            ("client_id", "legacy-app"),
            ("redirect_uri", "ms-msdt:/id"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert!(
        response.text().contains("no longer accepted"),
        "refused for the right reason: {}",
        response.text()
    );
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert!(response.header("location").is_none());
    assert!(
        !response.text().contains("href=\"ms-msdt"),
        "no link to it either"
    );
}

/// An unvetted client's error page says where its link goes, not just the name the client
/// chose for itself.
#[tokio::test]
async fn the_return_link_of_an_unvetted_client_names_its_destination() {
    let server = TestServer::new();
    let client = server.register_public().await;
    let response = server
        .authorize_raw(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
        ])
        .await;
    let html = response.text();
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{html}");
    assert!(
        html.contains("http://127.0.0.1:33418 (unverified application: Test App)"),
        "{html}"
    );
}
