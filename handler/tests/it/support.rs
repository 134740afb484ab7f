//! A test server on the real router with a manual clock, and helpers for each protocol step.

use std::sync::Arc;

use aws_lc_rs::digest;
use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode, header},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use http_body_util::BodyExt;
use mcpctl_handler::{
    AppState,
    clock::ManualClock,
    config::{HandlerConfig, IdentityMode},
    keys::KeyMaterial,
    state::Stores,
    store::memory::MemoryStore,
};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const BASE: &str = "http://127.0.0.1:8787";
pub const REDIRECT: &str = "http://127.0.0.1:33418/callback";
pub const START: u64 = 1_800_000_000;
/// The operator's RFC 7591 §3 initial access token every test server accepts at `/dcr`.
pub const INITIAL_ACCESS_TOKEN: &str = "iat-for-tests-0123456789abcdefghijklmnopqrstuvwxyz";

pub struct TestServer {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    router: Router,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

pub struct Client {
    pub id: String,
    pub secret: Option<String>,
    pub registration_token: String,
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = mcpctl_handler::crypto::random_token(40).unwrap();
        let challenge =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

impl TestServer {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(adjust: impl FnOnce(&mut HandlerConfig)) -> Self {
        Self::with_stores(Stores::memory(Arc::new(MemoryStore::new())), adjust)
    }

    /// A server answering `/mcp` with `server` instead of the hello example.
    pub fn serving<S>(server: S) -> Self
    where
        S: rmcp::ServerHandler + Clone + Send + Sync + 'static,
    {
        Self::build(Stores::memory(Arc::new(MemoryStore::new())), |_| {}, server)
    }

    pub fn with_stores(stores: Stores, adjust: impl FnOnce(&mut HandlerConfig)) -> Self {
        Self::build(stores, adjust, example_hello::Hello::new())
    }

    /// A server in gateway mode: `/mcp` forwarded through `gateway`, whose assertions are
    /// signed by `assertion_key` (returned, with the server).
    pub async fn gateway(
        gateway: mcpctl_handler::gateway::GatewayConfig,
    ) -> (Self, mcpctl_handler::keys::SigningKey) {
        let key = mcpctl_handler::keys::SigningKey::generate().unwrap();
        let jwks = json!({ "keys": [key.public_jwk()] });
        let mut server = Self::with(|config| config.gateway_jwks = Some(jwks));
        let gateway = mcpctl_handler::gateway::Gateway::connect(gateway, key.clone())
            .await
            .unwrap();
        server.router = mcpctl_handler::gateway_router(server.state.clone(), gateway);
        (server, key)
    }

    fn build<S>(stores: Stores, adjust: impl FnOnce(&mut HandlerConfig), server: S) -> Self
    where
        S: rmcp::ServerHandler + Clone + Send + Sync + 'static,
    {
        let mut config = HandlerConfig::new(url::Url::parse(BASE).unwrap());
        config.identity = IdentityMode::Dev { auto_approve: true };
        config.allowed_origins = vec!["http://localhost:*".into()];
        config.allowed_hosts = vec![];
        config.initial_access_token_hashes =
            vec![mcpctl_handler::crypto::hash_secret(INITIAL_ACCESS_TOKEN)];
        adjust(&mut config);
        let clock = Arc::new(ManualClock::new(START));
        let state = AppState::new(
            config,
            KeyMaterial::generate().unwrap(),
            stores,
            clock.clone(),
        );
        Self {
            router: mcpctl_handler::router(state.clone(), server),
            state,
            clock,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut builder = Request::get(path);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        self.send(builder.body(Body::empty()).unwrap()).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Response {
        let body = serde_urlencoded::to_string(form).unwrap();
        let mut builder =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            let enc = |s: &str| serde_urlencoded::to_string([("", s)]).unwrap()[1..].to_owned();
            builder = builder.header(
                header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
                ),
            );
        }
        self.send(builder.body(Body::from(body)).unwrap()).await
    }

    pub async fn post_json_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut builder = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        self.send(builder.body(Body::from(body.to_string())).unwrap())
            .await
    }

    pub async fn register(&self, metadata: Value) -> Client {
        let response = self.post_json("/dcr", &metadata).await;
        Self::registered(response)
    }

    /// Registers through `/dcr` as the operator (with the initial access token).
    pub async fn register_as_operator(&self, metadata: Value) -> Client {
        let bearer = format!("Bearer {INITIAL_ACCESS_TOKEN}");
        let response = self
            .post_json_with("/dcr", &metadata, &[("authorization", &bearer)])
            .await;
        Self::registered(response)
    }

    fn registered(response: Response) -> Client {
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        let body = response.json();
        Client {
            id: body["client_id"].as_str().unwrap().to_owned(),
            secret: body["client_secret"].as_str().map(str::to_owned),
            registration_token: body["registration_access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        }
    }

    pub async fn register_public(&self) -> Client {
        self.register(json!({
            "client_name": "Test App",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none"
        }))
        .await
    }

    /// A machine client, registered by the operator.
    pub async fn register_confidential(&self) -> Client {
        self.register_as_operator(json!({
            "client_name": "Service",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic"
        }))
        .await
    }

    /// GET /oauth/authorize with the given query; returns the raw response.
    pub async fn authorize_raw(&self, query: &[(&str, &str)]) -> Response {
        self.get(
            &format!(
                "/oauth/authorize?{}",
                serde_urlencoded::to_string(query).unwrap()
            ),
            &[],
        )
        .await
    }

    /// GET /oauth/authorize for `client_id` with a fresh PKCE challenge and `extra` parameters;
    /// returns the raw response (a consent page, an error page, or a redirect).
    pub async fn start_authorization(&self, client_id: &str, extra: &[(&str, &str)]) -> Response {
        let pkce = Pkce::new();
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        query.extend_from_slice(extra);
        self.authorize_raw(&query).await
    }

    /// A successful authorization (auto-approve): returns the code.
    pub async fn authorize(&self, client: &Client, pkce: &Pkce) -> String {
        self.authorize_with(client, pkce, &[]).await
    }

    /// [`Self::authorize`] with extra query parameters (e.g. `scope`).
    pub async fn authorize_with(
        &self,
        client: &Client,
        pkce: &Pkce,
        extra: &[(&str, &str)],
    ) -> String {
        let resource = format!("{BASE}/mcp");
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
            ("resource", resource.as_str()),
        ];
        query.extend_from_slice(extra);
        let response = self.authorize_raw(&query).await;
        assert_eq!(response.status, StatusCode::FOUND, "{}", response.text());
        let location = url::Url::parse(&response.header("location").unwrap()).unwrap();
        let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "xyz");
        assert_eq!(params["iss"], BASE);
        params["code"].clone()
    }

    pub async fn exchange_code(&self, client: &Client, code: &str, verifier: &str) -> Response {
        self.post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
                ("client_id", &client.id),
                ("resource", &format!("{BASE}/mcp")),
            ],
            None,
        )
        .await
    }

    pub async fn refresh(&self, client: &Client, refresh_token: &str) -> Response {
        self.post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", &client.id),
            ],
            None,
        )
        .await
    }

    /// Full code flow: returns the token response JSON.
    pub async fn login(&self, client: &Client) -> Value {
        self.login_with(client, &[]).await
    }

    /// Full code flow asking for `scope`.
    pub async fn login_with_scope(&self, client: &Client, scope: &str) -> Value {
        self.login_with(client, &[("scope", scope)]).await
    }

    async fn login_with(&self, client: &Client, extra: &[(&str, &str)]) -> Value {
        let pkce = Pkce::new();
        let code = self.authorize_with(client, &pkce, extra).await;
        let response = self.exchange_code(client, &code, &pkce.verifier).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()
    }

    pub async fn client_credentials(&self, client: &Client) -> String {
        let response = self
            .post_form(
                "/oauth/token",
                &[("grant_type", "client_credentials")],
                Some((&client.id, client.secret.as_deref().unwrap())),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// Any method on /mcp with a bearer token and extra headers.
    pub async fn mcp_method(&self, method: &str, token: &str, extra: &[(&str, &str)]) -> Response {
        let mut builder = Request::builder()
            .method(method)
            .uri("/mcp")
            .header(header::ACCEPT, "text/event-stream")
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        for (k, v) in extra {
            builder = builder.header(*k, *v);
        }
        self.send(builder.body(Body::empty()).unwrap()).await
    }

    /// POST /mcp with a JSON-RPC body.
    pub async fn mcp(&self, token: Option<&str>, body: &str, extra: &[(&str, &str)]) -> Response {
        let mut builder = Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header(header::HOST, "127.0.0.1:8787");
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let mut request = builder.body(Body::from(body.to_owned())).unwrap();
        for (k, v) in extra {
            request.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        self.send(request).await
    }
}
