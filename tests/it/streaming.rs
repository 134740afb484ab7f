//! Streamed responses: a long `tools/call` (examples/hello's `count`) sends its progress on the
//! call's SSE stream while it runs, in the 2025-11-25 and the 2026-07-28 shapes, through
//! `mcpctl dev --emulate-api-gateway` and through the real `bootstrap` under the Lambda runtime
//! emulator (`run_with_streaming_response`, invoked as API Gateway's `STREAM` integration does),
//! and the official TypeScript SDK client receives it on both.
//!
//! Streaming is told from buffering by time, never by count: a buffered answer delivers every
//! notification together with the result, so each check asks the first notification to arrive
//! well before the result.

use std::time::Duration;

use axum::{body::Body, extract::Request, response::Response};
use e2e::{DevServer, mcpctl, require_harness, run_tool};
use serde_json::{Value, json};

use crate::lambda_emulator::{Function, Stack, rest_event};

/// Four steps 300 ms apart: the first progress leaves about 900 ms before the result.
const COUNT: &str = r#"{"to":4,"interval_ms":300}"#;
/// Half the lead a streamed answer has: a buffered one has none.
const MIN_LEAD: Duration = Duration::from_millis(450);

/// The JSON-RPC messages of an SSE body, each with the arrival time of the chunk that completed
/// it (`chunks`: the body as it came, with times).
fn events(chunks: &[(Duration, String)]) -> Vec<(Duration, Value)> {
    let mut events = Vec::new();
    let mut pending = String::new();
    for (at, chunk) in chunks {
        pending.push_str(&chunk.replace("\r\n", "\n"));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .collect();
            if let Ok(message) = serde_json::from_str::<Value>(&data) {
                events.push((*at, message));
            }
        }
    }
    events
}

/// Checks a streamed `count` answer: four progress notifications, then the result, the first
/// notification at least [`MIN_LEAD`] before it.
fn assert_streamed(events: &[(Duration, Value)], what: &str) {
    let progress: Vec<&(Duration, Value)> = events
        .iter()
        .filter(|(_, m)| m["method"] == "notifications/progress")
        .collect();
    let (result_at, result) = events
        .iter()
        .find(|(_, m)| m.get("result").is_some())
        .unwrap_or_else(|| panic!("{what}: no result in {events:?}"));
    assert_eq!(progress.len(), 4, "{what}: {events:?}");
    let steps: Vec<f64> = progress
        .iter()
        .map(|(_, m)| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(steps, [1.0, 2.0, 3.0, 4.0], "{what}");
    assert!(
        progress.iter().all(|(at, _)| at <= result_at),
        "{what}: {events:?}"
    );
    let lead = *result_at - progress[0].0;
    assert!(
        lead >= MIN_LEAD,
        "{what}: the first progress came only {lead:?} before the result (buffered?): {events:?}"
    );
    assert_eq!(result["result"]["isError"], false, "{what}: {result}");
}

/// The `tools/call` of `count` with a progress token, and its headers, in the shape of `version`.
fn count_call(version: &str, token: &str) -> (Value, String) {
    let mut meta = json!({"progressToken": "p1"});
    let mut headers = json!({
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Authorization": format!("Bearer {token}"),
        "MCP-Protocol-Version": version,
    });
    if version == "2026-07-28" {
        meta["io.modelcontextprotocol/protocolVersion"] = json!(version);
        meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
        meta["io.modelcontextprotocol/clientInfo"] =
            json!({"name": "streaming-test", "version": "1"});
        headers["Mcp-Method"] = json!("tools/call");
        headers["Mcp-Name"] = json!("count");
    }
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "count", "arguments": serde_json::from_str::<Value>(COUNT).unwrap(), "_meta": meta}});
    (headers, body.to_string())
}

/// POSTs `body` to `url` and keeps each chunk of the answer with its arrival time.
async fn post_streamed(
    url: &str,
    headers: &Value,
    body: String,
) -> (u16, String, Vec<(Duration, String)>) {
    let mut request = reqwest::Client::new()
        .post(url)
        .timeout(Duration::from_secs(60));
    for (name, value) in headers.as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let start = std::time::Instant::now();
    let mut response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut chunks = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        chunks.push((
            start.elapsed(),
            String::from_utf8_lossy(&chunk).into_owned(),
        ));
    }
    (status, kind, chunks)
}

/// A bearer token from `mcpctl token` for a dev server.
fn dev_token(server: &DevServer) -> String {
    let (code, stdout, stderr) = mcpctl(&["token", "--url", &server.mcp_url()], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    stdout.trim().lines().last().unwrap().to_owned()
}

/// The TypeScript SDK client's streamed `count` call to `url` (tests/harness/progress-client.mjs):
/// four notifications, the first at least [`MIN_LEAD`] before the result.
fn progress_client(url: &str, token: &str) -> e2e::ToolRun {
    let lead = MIN_LEAD.as_millis().to_string();
    run_tool(
        "node",
        &[
            "progress-client.mjs",
            "--url",
            url,
            "--token",
            token,
            "--args",
            COUNT,
            "--min-progress",
            "4",
            "--min-lead-ms",
            &lead,
        ],
        Duration::from_secs(120),
    )
}

fn emulated_gateway() -> DevServer {
    DevServer::start(&["--base-path", "/prod", "--emulate-api-gateway"])
}

#[tokio::test]
async fn both_protocol_shapes_stream_progress_through_the_emulated_gateway() {
    let server = emulated_gateway();
    let token = dev_token(&server);
    for version in ["2025-11-25", "2026-07-28"] {
        let (headers, body) = count_call(version, &token);
        let (status, kind, chunks) = post_streamed(&server.mcp_url(), &headers, body).await;
        assert_eq!(status, 200, "{version}: {chunks:?}");
        assert!(kind.starts_with("text/event-stream"), "{version}: {kind}");
        let events = events(&chunks);
        assert_streamed(&events, version);
        if version == "2026-07-28" {
            assert_eq!(events.last().unwrap().1["result"]["resultType"], "complete");
        }
    }
    // Without a progress token nothing is sent on the way: one JSON answer, as before.
    let (headers, body) = count_call("2025-11-25", &token);
    let mut quiet: Value = serde_json::from_str(&body).unwrap();
    quiet["params"]["_meta"] = json!({});
    quiet["params"]["arguments"] = json!({"to": 1, "interval_ms": 0});
    let (status, kind, chunks) =
        post_streamed(&server.mcp_url(), &headers, quiet.to_string()).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/json"), "{kind}: {chunks:?}");
}

#[test]
fn the_typescript_sdk_client_gets_progress_while_the_call_runs_through_the_emulated_gateway() {
    require_harness();
    let server = emulated_gateway();
    let token = dev_token(&server);
    progress_client(&server.mcp_url(), &token)
        .assert_clean("the TypeScript SDK client's streamed call through the emulated gateway");
}

/// API Gateway's `STREAM` integration in front of one emulated function: each request becomes
/// a REST proxy event, and the function's streamed answer is passed on as it comes.
async fn stream_integration(invoke_url: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move |request: Request| {
        let invoke_url = invoke_url.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 10 * 1024 * 1024).await.unwrap();
            let path = parts.uri.path().strip_prefix("/prod").unwrap_or("/");
            let mut headers = serde_json::Map::new();
            for (name, value) in &parts.headers {
                // The event carries the API's own Host; hop-by-hop headers stay here.
                if !matches!(
                    name.as_str(),
                    "host" | "content-length" | "connection" | "transfer-encoding"
                ) {
                    headers.insert(
                        name.as_str().to_owned(),
                        json!(value.to_str().unwrap_or_default()),
                    );
                }
            }
            let text = String::from_utf8_lossy(&body);
            let event = rest_event(
                parts.method.as_str(),
                path,
                Value::Object(headers),
                (!text.is_empty()).then_some(&*text),
            );
            let answer = reqwest::Client::new()
                .post(&invoke_url)
                .json(&event)
                .send()
                .await
                .unwrap();
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                if !matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                ) {
                    response = response.header(name.as_str(), value.as_bytes());
                }
            }
            response.body(Body::from_stream(drained(answer))).unwrap()
        }
    });
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{address}/prod/mcp"), server)
}

/// The function's stream, read to its end whatever the client does, as API Gateway reads it: a
/// client that drops an answer unread (the SDK does with the 405 to its GET) must not leave the
/// invocation open, which in cargo-lambda's one-at-a-time emulator would hold every later one.
fn drained(
    answer: reqwest::Response,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, reqwest::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut answer = answer;
        loop {
            match answer.chunk().await {
                Ok(Some(chunk)) => {
                    // A client that went away no longer reads: keep draining regardless.
                    let _ = sender.send(Ok(chunk));
                }
                Ok(None) => break,
                Err(error) => {
                    let _ = sender.send(Err(error));
                    break;
                }
            }
        }
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_bootstrap_streams_progress_under_the_lambda_emulator() {
    require_harness();
    let stack = Stack::create().await;
    let mcp = Function::start("mcpctl-emulator-streaming", &stack.verify_only_env("mcp"));
    let token = stack.person_token("mcp");
    for version in ["2025-11-25", "2026-07-28"] {
        let (headers, body) = count_call(version, &token);
        let streamed = mcp.stream_http("POST", "/mcp", headers, Some(&body)).await;
        assert_eq!(
            streamed.status,
            200,
            "{version}: {:?}\n{}",
            streamed.chunks,
            mcp.output()
        );
        assert!(
            streamed.headers["content-type"]
                .as_str()
                .is_some_and(|k| k.starts_with("text/event-stream")),
            "{version}: {}",
            streamed.headers
        );
        assert_streamed(&events(&streamed.chunks), &format!("bootstrap, {version}"));
    }

    // The TypeScript SDK client, through a STREAM integration in front of the same function.
    let (url, integration) = stream_integration(mcp.invoke_url()).await;
    let run = tokio::task::spawn_blocking(move || progress_client(&url, &token))
        .await
        .unwrap();
    integration.abort();
    run.assert_clean(&format!(
        "the TypeScript SDK client's streamed call to the real bootstrap\n{}",
        mcp.output()
    ));
}
