//! Sign-in through an upstream OpenID provider (`oidc` identity), against a scripted provider on
//! loopback that can misbehave on demand: every ID token that must be refused (wrong issuer,
//! wrong audience, expired, bad signature, missing or replayed nonce), and every failure page
//! (upstream denied, expired or replayed sign-in, unknown state, another browser, not allowed).
//! The happy path against a certified provider (npm `oidc-provider`) is in the e2e tests.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_lc_rs::digest;
use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response as AxumResponse},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcpctl_handler::{
    config::{IdentityMode, OidcSettings, Secret},
    keys::SigningKey,
};
use serde_json::{Value, json};

use crate::support::{BASE, Pkce, REDIRECT, Response, START, TestServer};

const CLIENT_ID: &str = "mcp-server";
const CLIENT_SECRET: &str = "upstream-secret";

/// How the scripted provider answers the next token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misbehaviour {
    None,
    WrongIssuer,
    WrongAudience,
    Expired,
    BadSignature,
    NoNonce,
    /// Return the ID token of the previous sign-in (its nonce belongs to another sign-in).
    Replay,
    NoIdToken,
}

struct Provider {
    issuer: String,
    key: SigningKey,
    foreign_key: SigningKey,
    misbehaviour: Misbehaviour,
    /// code → (nonce, PKCE challenge)
    codes: HashMap<String, (Option<String>, String)>,
    last_id_token: Option<String>,
    groups: Vec<String>,
    token_requests: usize,
}

type Shared = Arc<Mutex<Provider>>;

struct ScriptedProvider {
    shared: Shared,
    issuer: String,
}

impl ScriptedProvider {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Provider {
            issuer: issuer.clone(),
            key: SigningKey::generate().unwrap(),
            foreign_key: SigningKey::generate().unwrap(),
            misbehaviour: Misbehaviour::None,
            codes: HashMap::new(),
            last_id_token: None,
            groups: vec!["mcp-users".into()],
            token_requests: 0,
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { shared, issuer }
    }

    fn misbehave(&self, how: Misbehaviour) {
        self.shared.lock().unwrap().misbehaviour = how;
    }

    fn settings(&self) -> OidcSettings {
        let mut settings = OidcSettings::new(self.issuer.clone(), CLIENT_ID);
        settings.client_secret = Some(Secret(CLIENT_SECRET.into()));
        settings
    }
}

async fn discovery(State(shared): State<Shared>) -> Json<Value> {
    let issuer = shared.lock().unwrap().issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(shared): State<Shared>) -> Json<Value> {
    Json(json!({ "keys": [shared.lock().unwrap().key.public_jwk()] }))
}

/// Signs the user in at once (no page): answers the redirect URI with a code, or with
/// `error=access_denied` when the login hint says so.
async fn authorize(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> AxumResponse {
    let redirect = query["redirect_uri"].clone();
    let state = query.get("state").cloned().unwrap_or_default();
    if query.get("login_hint").map(String::as_str) == Some("deny") {
        return Redirect::to(&format!(
            "{redirect}?error=access_denied&error_description=the+user+cancelled&state={state}"
        ))
        .into_response();
    }
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["scope"].split(' ').any(|s| s == "openid"));
    let code = mcpctl_handler::crypto::random_token(16).unwrap();
    shared.lock().unwrap().codes.insert(
        code.clone(),
        (query.get("nonce").cloned(), query["code_challenge"].clone()),
    );
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

async fn token(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> AxumResponse {
    let mut provider = shared.lock().unwrap();
    provider.token_requests += 1;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if basic != expected {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some((nonce, challenge)) = provider.codes.remove(&form["code"]) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "unknown code"})),
        )
            .into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    if computed != challenge {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": "invalid_grant", "error_description": "PKCE verification failed"}),
            ),
        )
            .into_response();
    }
    let how = provider.misbehaviour;
    let mut claims = json!({
        "iss": provider.issuer,
        "sub": "alice-0001",
        "aud": CLIENT_ID,
        "iat": START,
        "exp": START + 300,
        "email": "alice@example.com",
        "email_verified": true,
        "name": "Alice Liddell",
        "groups": provider.groups,
    });
    if let Some(nonce) = &nonce {
        claims["nonce"] = json!(nonce);
    }
    match how {
        Misbehaviour::WrongIssuer => claims["iss"] = json!("https://evil.example"),
        Misbehaviour::WrongAudience => claims["aud"] = json!("someone-else"),
        Misbehaviour::Expired => {
            claims["iat"] = json!(START - 7200);
            claims["exp"] = json!(START - 3600);
        }
        Misbehaviour::NoNonce => {
            claims.as_object_mut().unwrap().remove("nonce");
        }
        _ => {}
    }
    let signer = if how == Misbehaviour::BadSignature {
        // Another key under the provider's kid: the signature cannot verify.
        &provider.foreign_key
    } else {
        &provider.key
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(provider.key.kid().to_owned());
    let der = base64::engine::general_purpose::STANDARD
        .decode(signer.to_pkcs8_base64())
        .unwrap();
    let id_token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&der),
    )
    .unwrap();
    let id_token = match (how, provider.last_id_token.clone()) {
        (Misbehaviour::Replay, Some(previous)) => previous,
        _ => id_token,
    };
    provider.last_id_token = Some(id_token.clone());
    let mut body =
        json!({"access_token": "upstream-at", "token_type": "Bearer", "expires_in": 300});
    if how != Misbehaviour::NoIdToken {
        body["id_token"] = json!(id_token);
    }
    Json(body).into_response()
}

fn server(provider: &ScriptedProvider, adjust: impl FnOnce(&mut OidcSettings)) -> TestServer {
    let mut settings = provider.settings();
    adjust(&mut settings);
    TestServer::with(|c| {
        c.identity = IdentityMode::Oidc(Box::new(settings));
        c.set_groups_scope("groups".into());
    })
}

/// A second server on the same tables, with other sign-in settings: what an operator's
/// configuration change does to people who signed in before it.
fn reconfigured(
    provider: &ScriptedProvider,
    before: &TestServer,
    adjust: impl FnOnce(&mut OidcSettings),
) -> TestServer {
    let mut settings = provider.settings();
    adjust(&mut settings);
    TestServer::with_stores(before.state.stores.clone(), |c| {
        c.identity = IdentityMode::Oidc(Box::new(settings));
        c.set_groups_scope("groups".into());
    })
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The `name=value` part of the response's `Set-Cookie`.
fn cookie_of(response: &Response) -> String {
    let set_cookie = response.header("set-cookie").unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Follows our redirect to the provider, which signs the user in at once and answers with our
/// callback URL: returns its path and query.
async fn through_provider(upstream: impl reqwest::IntoUrl) -> String {
    let answer = http().get(upstream).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()["location"].to_str().unwrap();
    location.strip_prefix(BASE).unwrap().to_owned()
}

/// One sign-in as far as our callback: authorize (→ provider) → provider (→ callback URL).
struct Started {
    cookie: String,
    callback: String,
    pkce: Pkce,
    client: crate::support::Client,
}

async fn start(server: &TestServer, hint: Option<&str>) -> Started {
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let query = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "client-state"),
        ("scope", "mcp email profile groups"),
    ];
    let response = server.authorize_raw(&query).await;
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.text());
    let set_cookie = response.header("set-cookie").unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = cookie_of(&response);
    let mut upstream = url::Url::parse(&response.header("location").unwrap()).unwrap();
    let params: HashMap<String, String> = upstream.query_pairs().into_owned().collect();
    assert_eq!(params["redirect_uri"], format!("{BASE}/oauth/callback"));
    assert!(params.contains_key("nonce") && params.contains_key("state"));
    if let Some(hint) = hint {
        upstream.query_pairs_mut().append_pair("login_hint", hint);
    }
    let callback = through_provider(upstream).await;
    Started {
        cookie,
        callback,
        pkce,
        client,
    }
}

async fn callback(server: &TestServer, started: &Started) -> Response {
    server
        .get(&started.callback, &[("cookie", started.cookie.as_str())])
        .await
}

fn hidden(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no hidden field {name} in {html}"))
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

async fn decide(
    server: &TestServer,
    cookie: &str,
    page: &Response,
    extra: &[(&str, &str)],
) -> Response {
    let html = page.text();
    let pending = hidden(&html, "pending");
    let csrf = hidden(&html, "csrf");
    let mut form = vec![("pending", pending.as_str()), ("csrf", csrf.as_str())];
    form.extend_from_slice(extra);
    let request = axum::http::Request::post("/oauth/authorize")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(axum::body::Body::from(
            serde_urlencoded::to_string(&form).unwrap(),
        ))
        .unwrap();
    server.send(request).await
}

fn code_of(response: &Response) -> String {
    let location = url::Url::parse(&response.header("location").unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "client-state");
    assert_eq!(params["iss"], BASE);
    params["code"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_in_upstream_consents_and_carries_the_claims_into_tokens() {
    let provider = ScriptedProvider::start().await;
    let server = server(&provider, |_| {});
    let started = start(&server, None).await;
    let page = callback(&server, &started).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(
        html.contains("Alice Liddell (alice@example.com)") && html.contains("Test App"),
        "{html}"
    );
    assert!(!html.contains("<script"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
    assert!(
        !html.contains("name=\"remember\""),
        "remembering is off by default"
    );

    // A forged decision (wrong CSRF tag, or no cookie) is refused and does not burn the pending
    // sign-in: the genuine one still goes through.
    let forged_page = Response {
        status: page.status,
        headers: page.headers.clone(),
        body: html.replace(&hidden(&html, "csrf"), "forged").into_bytes(),
    };
    let forged = decide(
        &server,
        &started.cookie,
        &forged_page,
        &[("decision", "approve")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text());
    let no_cookie = decide(&server, "other=1", &page, &[("decision", "approve")]).await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);
    let approved = decide(&server, &started.cookie, &page, &[("decision", "approve")]).await;
    assert_eq!(
        approved.status,
        StatusCode::SEE_OTHER,
        "{}",
        approved.text()
    );
    let replayed = decide(&server, &started.cookie, &page, &[("decision", "approve")]).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "a consent is single use"
    );
    let code = code_of(&approved);
    let tokens = server
        .exchange_code(&started.client, &code, &started.pkce.verifier)
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    let tokens = tokens.json();
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = server
        .get(
            "/oauth/userinfo",
            &[("authorization", &format!("Bearer {access}"))],
        )
        .await
        .json();
    assert_eq!(
        userinfo["sub"],
        format!("{}#alice-0001", provider.issuer),
        "the subject is namespaced by the provider's issuer"
    );
    assert_eq!(userinfo["email"], "alice@example.com");
    assert_eq!(userinfo["name"], "Alice Liddell");
    assert_eq!(userinfo["groups"], json!(["mcp-users"]));

    // The claims survive a refresh.
    let refreshed = server
        .refresh(&started.client, tokens["refresh_token"].as_str().unwrap())
        .await
        .json();
    let access = refreshed["access_token"].as_str().unwrap();
    let userinfo = server
        .get(
            "/oauth/userinfo",
            &[("authorization", &format!("Bearer {access}"))],
        )
        .await
        .json();
    assert_eq!(userinfo["groups"], json!(["mcp-users"]));
    assert_eq!(userinfo["email"], "alice@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_that_must_be_refused_are_refused() {
    let provider = ScriptedProvider::start().await;
    let server = server(&provider, |_| {});
    // One good sign-in first, so that `Replay` has a token to replay.
    let started = start(&server, None).await;
    assert_eq!(callback(&server, &started).await.status, StatusCode::OK);

    for (how, reason) in [
        // First, while the last token issued is the good one with another sign-in's nonce.
        (Misbehaviour::Replay, "nonce mismatch"),
        (Misbehaviour::WrongIssuer, "issuer"),
        (Misbehaviour::WrongAudience, "audience"),
        (Misbehaviour::Expired, "expired"),
        (Misbehaviour::BadSignature, "signature"),
        (Misbehaviour::NoNonce, "nonce"),
        (Misbehaviour::NoIdToken, "no ID token"),
    ] {
        provider.misbehave(how);
        let started = start(&server, None).await;
        let page = callback(&server, &started).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{how:?}: {}",
            page.text()
        );
        let html = page.text();
        assert!(
            html.contains("Your sign-in could not be verified"),
            "{how:?}: {html}"
        );
        assert!(
            html.to_lowercase().contains(&reason.to_lowercase()),
            "{how:?} should name `{reason}`: {html}"
        );
        assert!(!html.contains("pending"), "{how:?}: no consent form");
        // The page offers the way back to the application, with access_denied and its state.
        let back = html
            .split("href=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let back = html_escape::decode_html_entities(back).into_owned();
        assert!(
            back.starts_with(REDIRECT)
                && back.contains("error=access_denied")
                && back.contains("state=client-state"),
            "{back}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_pages_a_person_can_act_on() {
    let provider = ScriptedProvider::start().await;
    let server = server(&provider, |_| {});

    // The provider says the user cancelled.
    let started = start(&server, Some("deny")).await;
    let page = callback(&server, &started).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.text().contains("Sign-in was not completed") && page.text().contains("access_denied"),
        "{}",
        page.text()
    );

    // A replayed callback, an unknown state and a missing state.
    let started = start(&server, None).await;
    assert_eq!(callback(&server, &started).await.status, StatusCode::OK);
    let replay = callback(&server, &started).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.text().contains("expired or was already used"));
    let unknown = server
        .get(
            "/oauth/callback?code=x&state=not-ours",
            &[("cookie", &started.cookie)],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.text().contains("expired or was already used"));
    let missing = server.get("/oauth/callback?code=x", &[]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.text().contains("no state"));

    // The callback in another browser (no cookie, or another one) is refused, and does not cancel
    // the sign-in of the browser that started it.
    let started = start(&server, None).await;
    let elsewhere = server.get(&started.callback, &[]).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    assert!(elsewhere.text().contains("another browser"));
    let genuine = callback(&server, &started).await;
    assert_eq!(genuine.status, StatusCode::OK, "{}", genuine.text());
    assert!(
        genuine
            .header("set-cookie")
            .is_some_and(|c| c.starts_with(&format!("{};", started.cookie))),
        "the consent stage renews the browser cookie"
    );
    let started = start(&server, None).await;
    let elsewhere = server
        .get(&started.callback, &[("cookie", "mcp_signin=someone-else")])
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);

    // A sign-in left waiting past its 10 minutes.
    let started = start(&server, None).await;
    server.clock.advance(601);
    let late = callback(&server, &started).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert!(late.text().contains("expired"));

    // The answer names another issuer (RFC 9207 mix-up defence).
    let started = start(&server, None).await;
    let mixed = server
        .get(
            &format!("{}&iss=https%3A%2F%2Fevil.example", started.callback),
            &[("cookie", &started.cookie)],
        )
        .await;
    assert_eq!(mixed.status, StatusCode::BAD_REQUEST);
    assert!(mixed.text().contains("wrong provider"));
    for page in [&late, &mixed] {
        assert!(!page.text().contains("<script"));
        assert!(
            page.header("content-security-policy")
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_is_a_page_not_a_redirect() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut settings = OidcSettings::new(issuer, CLIENT_ID);
    settings.client_secret = Some(Secret(CLIENT_SECRET.into()));
    let server = TestServer::with(|c| c.identity = IdentityMode::Oidc(Box::new(settings)));
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let page = server
        .authorize_raw(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text());
    assert!(page.text().contains("cannot be reached"));
    assert!(!page.text().contains(CLIENT_SECRET));
}

/// Issue 10: the allow-lists cannot be bypassed through any grant. A refresh re-applies the
/// allow-lists of today; client_credentials is closed to anonymous clients; deleting a client
/// forgets the consents people gave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_hold_on_every_grant_and_consents_die_with_their_client() {
    let provider = ScriptedProvider::start().await;
    let server = server(&provider, |s| {
        s.remember_consent = Some(Duration::from_secs(30 * 24 * 3600));
        s.allowed_email_domains = vec!["example.com".into()];
        s.allowed_groups = vec!["mcp-users".into()];
    });
    let started = start(&server, None).await;
    let page = callback(&server, &started).await;
    let approved = decide(
        &server,
        &started.cookie,
        &page,
        &[("decision", "approve"), ("remember", "yes")],
    )
    .await;
    let tokens = server
        .exchange_code(&started.client, &code_of(&approved), &started.pkce.verifier)
        .await
        .json();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Tightened allow-lists end the sign-in at its next refresh, on either list.
    for tightened in [
        reconfigured(&provider, &server, |s| {
            s.allowed_email_domains = vec!["other.test".into()];
        }),
        reconfigured(&provider, &server, |s| {
            s.allowed_groups = vec!["admins".into()];
        }),
    ] {
        let refused = tightened.refresh(&started.client, &refresh).await;
        assert_eq!(refused.error(), "invalid_grant", "{}", refused.text());
    }
    // Untouched settings: the refresh works (the refusals above burned nothing).
    let rotated = server.refresh(&started.client, &refresh).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text());

    // No grant walks around the allow-lists: an anonymous client cannot ask for
    // client_credentials, at registration or at the token endpoint.
    let machine = server
        .post_json(
            "/dcr",
            &json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}),
        )
        .await;
    assert_eq!(machine.error(), "invalid_client_metadata");
    let public = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &started.client.id),
            ],
            None,
        )
        .await;
    assert_eq!(public.error(), "unauthorized_client");

    // The remembered consent exists, then goes with its client.
    let key = mcpctl_handler::crypto::hash_secret(&format!(
        "{}#alice-0001\n{}",
        provider.issuer, started.client.id
    ));
    let now = mcpctl_handler::clock::Clock::now(server.clock.as_ref());
    assert!(
        server
            .state
            .stores
            .sign_ins
            .consent(&key, now)
            .await
            .unwrap()
            .is_some()
    );
    let deleted = server
        .send(
            axum::http::Request::delete(format!("/clients/{}", started.client.id))
                .header(
                    "authorization",
                    format!("Bearer {}", started.client.registration_token),
                )
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(
        server
            .state
            .stores
            .sign_ins
            .consent(&key, now)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_and_remembered_consent() {
    let provider = ScriptedProvider::start().await;

    let strict = server(&provider, |s| s.allowed_groups = vec!["admins".into()]);
    let started = start(&strict, None).await;
    let page = callback(&strict, &started).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.text().contains("not in a group allowed"),
        "{}",
        page.text()
    );

    let by_domain = server(&provider, |s| {
        s.allowed_email_domains = vec!["other.test".into()]
    });
    let started = start(&by_domain, None).await;
    let page = callback(&by_domain, &started).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.text()
            .contains("alice@example.com is not in a domain allowed")
    );

    let remembering = server(&provider, |s| {
        s.remember_consent = Some(Duration::from_secs(30 * 24 * 3600));
        s.allowed_email_domains = vec!["example.com".into()];
    });
    let started = start(&remembering, None).await;
    let page = callback(&remembering, &started).await;
    assert!(page.text().contains("Remember this decision for 30 days"));
    let approved = decide(
        &remembering,
        &started.cookie,
        &page,
        &[("decision", "approve"), ("remember", "yes")],
    )
    .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    // Same user, same client, same scopes: straight back to the application with a code.
    let again = {
        let client = &started.client;
        let pkce = Pkce::new();
        let response = remembering
            .authorize_raw(&[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "client-state"),
                ("scope", "mcp email"),
            ])
            .await;
        let callback = through_provider(response.header("location").unwrap()).await;
        remembering
            .get(&callback, &[("cookie", &cookie_of(&response))])
            .await
    };
    assert_eq!(again.status, StatusCode::FOUND, "{}", again.text());
    code_of(&again);

    // A denial is never remembered, and goes back as access_denied.
    let started = start(&remembering, None).await;
    let page = callback(&remembering, &started).await;
    let denied = decide(
        &remembering,
        &started.cookie,
        &page,
        &[("decision", "deny")],
    )
    .await;
    assert!(denied.status.is_redirection());
    assert!(
        denied
            .header("location")
            .unwrap()
            .contains("error=access_denied")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_sign_in_reveals_nothing_usable() {
    let provider = ScriptedProvider::start().await;
    let dir = std::env::temp_dir().join(format!(
        "mcpctl-oidc-{}",
        mcpctl_handler::crypto::random_token(6).unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("store.json");
    let stores = mcpctl_handler::state::Stores::memory(Arc::new(
        mcpctl_handler::store::memory::MemoryStore::persistent(&file).unwrap(),
    ));
    let settings = provider.settings();
    let server = TestServer::with_stores(stores, |c| {
        c.identity = IdentityMode::Oidc(Box::new(settings));
        c.set_groups_scope("groups".into());
    });
    let started = start(&server, None).await;
    let state: HashMap<String, String> = url::Url::parse(&format!("{BASE}{}", started.callback))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let dump = std::fs::read_to_string(&file).unwrap();
    let cookie_value = started.cookie.split('=').nth(1).unwrap();
    for secret in [
        state["state"].as_str(),
        state["code"].as_str(),
        cookie_value,
        CLIENT_SECRET,
    ] {
        assert!(!dump.contains(secret), "the store holds a usable value");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The federated flow on the DynamoDB store (moto): what each step costs, and a dump of the
/// tables holds neither the upstream state, nor the browser cookie, nor our code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federated_sign_in_on_dynamodb_costs_and_reveals_nothing() {
    let moto = e2e::Moto::start();
    let store = crate::dynamo::fresh_store(&moto.endpoint).await;
    let provider = ScriptedProvider::start().await;
    let mut settings = provider.settings();
    settings.remember_consent = Some(Duration::from_secs(24 * 3600));
    let server = TestServer::with_stores(crate::dynamo::stores(&store), |c| {
        c.identity = IdentityMode::Oidc(Box::new(settings));
        c.set_groups_scope("groups".into());
    });
    let calls = || store.calls().total();
    let client = server.register_public().await;
    let mut costs = Vec::new();

    let sign_in = |client: &crate::support::Client| {
        let pkce = Pkce::new();
        let query: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client.id.clone()),
            ("redirect_uri".into(), REDIRECT.into()),
            ("code_challenge".into(), pkce.challenge.clone()),
            ("code_challenge_method".into(), "S256".into()),
            ("state".into(), "client-state".into()),
        ];
        (pkce, query)
    };
    let (_pkce, query) = sign_in(&client);
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let before = calls();
    let response = server.authorize_raw(&query).await;
    costs.push(("authorize → provider", calls() - before));
    let cookie = cookie_of(&response);
    let callback_path = through_provider(response.header("location").unwrap()).await;
    let before = calls();
    let page = server.get(&callback_path, &[("cookie", &cookie)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    costs.push(("callback → consent page", calls() - before));
    let before = calls();
    let approved = decide(
        &server,
        &cookie,
        &page,
        &[("decision", "approve"), ("remember", "yes")],
    )
    .await;
    let code = code_of(&approved);
    costs.push(("consent → code", calls() - before));

    let before = calls();
    // The same browser comes back: it sends its cookie, as a browser would.
    let response = server
        .get(
            &format!(
                "/oauth/authorize?{}",
                serde_urlencoded::to_string(&query).unwrap()
            ),
            &[("cookie", &cookie)],
        )
        .await;
    assert!(
        response
            .header("set-cookie")
            .is_some_and(|c| c.starts_with(&format!("{cookie};"))),
        "the browser keeps its cookie, renewed for another 10 minutes"
    );
    let callback_path = through_provider(response.header("location").unwrap()).await;
    let remembered = server.get(&callback_path, &[("cookie", &cookie)]).await;
    assert_eq!(
        remembered.status,
        StatusCode::FOUND,
        "{}",
        remembered.text()
    );
    costs.push(("whole sign-in, consent remembered", calls() - before));

    println!("DynamoDB requests per federated step: {costs:?}");
    assert_eq!(
        costs,
        vec![
            ("authorize → provider", 2),
            ("callback → consent page", 4),
            ("consent → code", 4),
            ("whole sign-in, consent remembered", 6),
        ]
    );

    let mut dump = String::new();
    for (_, name) in mcpctl_handler::store::dynamo::schema::tables(store.tables()) {
        let scan = store.client().scan().table_name(name).send().await.unwrap();
        dump.push_str(&format!("{:?}", scan.items()));
    }
    let upstream_state: HashMap<String, String> =
        url::Url::parse(&format!("{BASE}{callback_path}"))
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
    for secret in [
        upstream_state["state"].as_str(),
        cookie.split('=').nth(1).unwrap(),
        code.as_str(),
        CLIENT_SECRET,
    ] {
        assert!(!dump.contains(secret), "a table dump holds a usable value");
    }
}
