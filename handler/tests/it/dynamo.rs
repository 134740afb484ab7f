//! The DynamoDB store over the real wire protocol (moto_server on loopback, the real SDK): the
//! same contract suite as the memory store, faults injected by a proxy, the cost of each flow,
//! and what a dump of the tables reveals.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response as AxumResponse},
    routing::post,
};
use e2e::Moto;
use mcpctl_handler::{
    state::Stores,
    store::dynamo::{DynamoStore, TableNames, client, schema},
};
use serde_json::json;

use crate::{store_contract, support::*};

pub async fn fresh_store(endpoint: &str) -> DynamoStore {
    let prefix = format!(
        "t{}",
        mcpctl_handler::crypto::random_token(6)
            .unwrap()
            .replace(['-', '_'], "x")
    );
    let names = TableNames::with_prefix(&prefix);
    let client = client(Some(endpoint)).await;
    schema::ensure_tables(&client, &names).await.unwrap();
    DynamoStore::new(client, names)
}

pub fn stores(store: &DynamoStore) -> Stores {
    Stores::dynamo(store.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamo_store_meets_the_contract() {
    let moto = Moto::start();
    store_contract::run_all(|| async { stores(&fresh_store(&moto.endpoint).await) }).await;
}

#[tokio::test]
async fn tables_have_the_documented_keys_ttl_and_index() {
    let moto = Moto::start();
    let store = fresh_store(&moto.endpoint).await;
    for (spec, name) in schema::tables(store.tables()) {
        let table = store
            .client()
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        assert_eq!(table.key_schema()[0].attribute_name(), spec.partition_key);
        let indexes: Vec<&str> = table
            .global_secondary_indexes()
            .iter()
            .filter_map(|i| i.index_name())
            .collect();
        assert_eq!(
            indexes,
            spec.indexes.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        );
        let ttl = store
            .client()
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .unwrap();
        let attribute = ttl
            .time_to_live_description()
            .and_then(|d| d.attribute_name())
            .map(str::to_owned);
        assert_eq!(attribute.as_deref(), spec.ttl_attribute, "{name}");
    }
    // Creating again is a no-op.
    assert!(
        schema::ensure_tables(store.client(), store.tables())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Runs every flow once and returns the DynamoDB requests each one cost.
#[tokio::test]
async fn calls_per_flow_and_a_table_dump_reveals_no_secret() {
    let moto = Moto::start();
    let store = fresh_store(&moto.endpoint).await;
    let server = TestServer::with_stores(stores(&store), |_| {});
    let calls = || store.calls().total();
    let mut costs = Vec::new();

    let before = calls();
    let public = server.register_public().await;
    costs.push(("dcr", calls() - before));
    let pkce = Pkce::new();
    let before = calls();
    let code = server.authorize(&public, &pkce).await;
    costs.push(("authorize", calls() - before));
    let before = calls();
    let tokens = server
        .exchange_code(&public, &code, &pkce.verifier)
        .await
        .json();
    costs.push(("code exchange", calls() - before));
    let before = calls();
    let rotated = server
        .refresh(&public, tokens["refresh_token"].as_str().unwrap())
        .await
        .json();
    costs.push(("refresh", calls() - before));
    let confidential = server.register_confidential().await;
    let before = calls();
    let service_token = server.client_credentials(&confidential).await;
    costs.push(("client credentials", calls() - before));
    let before = calls();
    let call = server.mcp(Some(&service_token), r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#, &[]).await;
    assert_eq!(call.status, StatusCode::OK);
    costs.push(("mcp tools/call", calls() - before));

    println!(
        "DynamoDB requests per flow: {costs:?} ({:?})",
        store.calls().by_operation()
    );
    assert_eq!(
        costs,
        vec![
            ("dcr", 1),
            ("authorize", 2),
            ("code exchange", 3),
            ("refresh", 3),
            ("client credentials", 1),
            ("mcp tools/call", 0)
        ]
    );

    // Dump every table: no usable code, token or secret in it.
    let mut dump = String::new();
    for (_, name) in schema::tables(store.tables()) {
        let scan = store.client().scan().table_name(name).send().await.unwrap();
        dump.push_str(&format!("{:?}", scan.items()));
    }
    let secrets = [
        code.as_str(),
        tokens["refresh_token"].as_str().unwrap(),
        rotated["refresh_token"].as_str().unwrap(),
        confidential.secret.as_deref().unwrap(),
        public.registration_token.as_str(),
        confidential.registration_token.as_str(),
    ];
    for secret in secrets {
        let secret_part = secret.rsplit('.').next().unwrap();
        assert!(
            !dump.contains(secret_part),
            "a table dump contains a usable secret"
        );
    }
}

/// A loopback proxy in front of moto that fails chosen DynamoDB operations.
#[derive(Clone)]
struct FaultProxy {
    target: String,
    faults: Arc<Mutex<Vec<(String, StatusCode, String)>>>,
    seen: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    http: reqwest::Client,
}

impl FaultProxy {
    async fn start(target: &str) -> (Self, String) {
        let proxy = Self {
            target: target.to_owned(),
            faults: Arc::default(),
            seen: Arc::default(),
            http: reqwest::Client::new(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/", post(forward))
            .with_state(proxy.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (proxy, endpoint)
    }

    /// Fail every `operation` with `status` and the DynamoDB error type `error`.
    fn fail(&self, operation: &str, status: StatusCode, error: &str) {
        self.faults
            .lock()
            .unwrap()
            .push((operation.to_owned(), status, error.to_owned()));
    }

    fn heal(&self) {
        self.faults.lock().unwrap().clear();
    }
}

async fn forward(State(proxy): State<FaultProxy>, headers: HeaderMap, body: Bytes) -> AxumResponse {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split('.').nth(1))
        .unwrap_or("")
        .to_owned();
    if let Ok(request) = serde_json::from_slice(&body) {
        proxy
            .seen
            .lock()
            .unwrap()
            .push((operation.clone(), request));
    }
    let fault = proxy
        .faults
        .lock()
        .unwrap()
        .iter()
        .find(|(op, ..)| *op == operation)
        .cloned();
    if let Some((_, status, error)) = fault {
        let body = json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{error}"), "message": "injected by the test" });
        return (
            status,
            [
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-errortype", error.as_str()),
            ],
            body.to_string(),
        )
            .into_response();
    }
    let mut request = proxy.http.post(&proxy.target).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    let bytes = response.bytes().await.unwrap();
    let mut out = (StatusCode::from_u16(status.as_u16()).unwrap(), bytes).into_response();
    if let Some(content_type) = content_type {
        out.headers_mut().insert("content-type", content_type);
    }
    out
}

#[tokio::test]
async fn throttling_and_outages_become_503_with_retry_after_and_nothing_half_written() {
    let moto = Moto::start();
    let (proxy, endpoint) = FaultProxy::start(&moto.endpoint).await;
    let store = fresh_store(&endpoint).await;
    let server = TestServer::with_stores(stores(&store), |_| {});

    // Registration throttled (after the SDK's own retries): 503, Retry-After, nothing stored.
    proxy.fail(
        "PutItem",
        StatusCode::BAD_REQUEST,
        "ProvisionedThroughputExceededException",
    );
    let before = store.calls().total();
    let response = server
        .post_json(
            "/dcr",
            &json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.text()
    );
    assert_eq!(response.header("retry-after").as_deref(), Some("1"));
    assert_eq!(response.error(), "temporarily_unavailable");
    assert_eq!(
        store.calls().total() - before,
        1,
        "one store call; the SDK retried inside it"
    );
    proxy.heal();

    // The refresh-token write fails during a code exchange: no token is returned at all.
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let code = server.authorize(&client, &pkce).await;
    proxy.fail(
        "TransactWriteItems",
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
    );
    let exchange = server.exchange_code(&client, &code, &pkce.verifier).await;
    assert_eq!(
        exchange.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        exchange.text()
    );
    assert!(
        exchange.json().get("access_token").is_none(),
        "no half-issued grant"
    );
    proxy.heal();

    // A rotation that fails leaves the old refresh token usable: nothing was written.
    let tokens = server.login(&client).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    proxy.fail(
        "TransactWriteItems",
        StatusCode::BAD_REQUEST,
        "ThrottlingException",
    );
    assert_eq!(
        server.refresh(&client, refresh).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    proxy.heal();
    let retried = server.refresh(&client, refresh).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text());

    // The store unreachable altogether: 503, not 500.
    proxy.fail(
        "GetItem",
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
    );
    let response = server
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some(("someone", "secret")),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.text()
    );
}

#[tokio::test]
async fn a_failing_conditional_write_is_the_right_oauth_error() {
    let moto = Moto::start();
    let (proxy, endpoint) = FaultProxy::start(&moto.endpoint).await;
    let store = fresh_store(&endpoint).await;
    let server = TestServer::with_stores(stores(&store), |_| {});
    let client = server.register_public().await;
    let pkce = Pkce::new();
    let code = server.authorize(&client, &pkce).await;
    // The conditional update that marks the code used fails (as when another request consumed
    // it first).
    proxy.fail(
        "UpdateItem",
        StatusCode::BAD_REQUEST,
        "ConditionalCheckFailedException",
    );
    let exchange = server.exchange_code(&client, &code, &pkce.verifier).await;
    assert_eq!(
        (exchange.status, exchange.error()),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    proxy.heal();

    // The rotation transaction is cancelled by its condition (already used elsewhere).
    let tokens = server.login(&client).await;
    proxy.fail(
        "TransactWriteItems",
        StatusCode::BAD_REQUEST,
        "TransactionCanceledException",
    );
    let refresh = server
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refresh.error(), "invalid_grant", "{}", refresh.text());
}

/// Checks one operation's request the way DynamoDB does where moto is lax (see
/// `../shared/tools/awslocal/FINDINGS.md`: moto accepts unused expression values, answers 500 for
/// undefined ones, accepts wrong key types).
fn check_request(
    operation: &str,
    request: &serde_json::Value,
    reserved: &std::collections::HashSet<String>,
) {
    let expressions: Vec<&str> = [
        "ConditionExpression",
        "UpdateExpression",
        "KeyConditionExpression",
        "FilterExpression",
        "ProjectionExpression",
    ]
    .iter()
    .filter_map(|k| request.get(*k).and_then(|v| v.as_str()))
    .collect();
    let tokens = |prefix: char| -> std::collections::BTreeSet<String> {
        expressions
            .iter()
            .flat_map(|e| {
                e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '#'))
            })
            .filter(|t| t.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    };
    let defined = |field: &str| -> std::collections::BTreeSet<String> {
        request
            .get(field)
            .and_then(|v| v.as_object())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        tokens(':'),
        defined("ExpressionAttributeValues"),
        "{operation}: every :value used and defined: {request}"
    );
    assert_eq!(
        tokens('#'),
        defined("ExpressionAttributeNames"),
        "{operation}: every #name used and defined: {request}"
    );
    for expression in &expressions {
        for word in expression
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '#'))
        {
            let bare = !word.is_empty()
                && !word.starts_with([':', '#'])
                && !word.chars().all(|c| c.is_ascii_digit());
            let function = [
                "attribute_exists",
                "attribute_not_exists",
                "AND",
                "OR",
                "NOT",
                "SET",
                "REMOVE",
                "ADD",
                "DELETE",
            ];
            if bare && !function.contains(&word) {
                assert!(
                    !reserved.contains(&word.to_uppercase()),
                    "{operation}: `{word}` is a DynamoDB reserved word; use #names: {request}"
                );
            }
        }
    }
    if let Some(key) = request.get("Key").and_then(|k| k.as_object()) {
        for (name, value) in key {
            let text = value.get("S").and_then(|s| s.as_str());
            assert!(
                text.is_some_and(|t| !t.is_empty()),
                "{operation}: key {name} must be a non-empty string: {request}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_is_valid_where_moto_is_lax() {
    let reserved_file = e2e::harness()
        .join(".venv-aws/lib/python3.11/site-packages/moto/dynamodb/parsing/reserved_keywords.txt");
    let reserved: std::collections::HashSet<String> = std::fs::read_to_string(&reserved_file)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run tests/harness/install.sh",
                reserved_file.display()
            )
        })
        .lines()
        .map(|l| l.trim().to_uppercase())
        .collect();
    let moto = Moto::start();
    let (proxy, endpoint) = FaultProxy::start(&moto.endpoint).await;
    store_contract::run_all(|| async { stores(&fresh_store(&endpoint).await) }).await;
    let seen = proxy.seen.lock().unwrap().clone();
    let operations: std::collections::BTreeSet<&str> =
        seen.iter().map(|(op, _)| op.as_str()).collect();
    for expected in [
        "PutItem",
        "GetItem",
        "DeleteItem",
        "UpdateItem",
        "Query",
        "TransactWriteItems",
        "TransactGetItems",
    ] {
        assert!(
            operations.contains(expected),
            "the contract suite never sent {expected}"
        );
    }
    for (operation, request) in &seen {
        match request.get("TransactItems").and_then(|t| t.as_array()) {
            Some(items) => {
                assert!(items.len() <= 100, "{operation}: too many items");
                let mut keys = std::collections::HashSet::new();
                for item in items {
                    let actions: Vec<(&String, &serde_json::Value)> =
                        item.as_object().unwrap().iter().collect();
                    assert_eq!(
                        actions.len(),
                        1,
                        "{operation}: one action per transaction item: {item}"
                    );
                    let (action, inner) = actions[0];
                    check_request(&format!("{operation}.{action}"), inner, &reserved);
                    let key = inner.get("Key").cloned().or_else(|| {
                        inner
                            .get("Item")
                            .and_then(|i| i.get("pk").or_else(|| i.get("client_id")))
                            .cloned()
                    });
                    assert!(
                        keys.insert(format!("{}{}", inner["TableName"], key.unwrap_or_default())),
                        "{operation}: two actions on one item: {request}"
                    );
                }
            }
            None => check_request(operation, request, &reserved),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_defaults_on_dynamodb() {
    let moto = Moto::start();
    crate::secure_defaults::run_all(|| async { stores(&fresh_store(&moto.endpoint).await) }).await;
}
