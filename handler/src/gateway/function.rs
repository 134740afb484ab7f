//! The function target: the upstream is a Lambda function invoked through the Lambda API with
//! an API Gateway REST proxy event, the shape the AWS Lambda Web Adapter (and `lambda_http`)
//! turn back into an HTTP request. Only the gateway's role may invoke it, so the upstream needs
//! no public URL; the identity assertion still says who is calling.

use aws_sdk_lambda::primitives::Blob;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::forward::{Exchange, UpstreamError, Upstreamed};

/// Invokes one function.
#[derive(Clone)]
pub(super) struct FunctionInvoker {
    client: aws_sdk_lambda::Client,
    name: String,
    path: String,
}

impl FunctionInvoker {
    /// An invoker with the SDK's credentials and region, and no retries: a `tools/call` is not
    /// idempotent, so a timed-out or throttled call is reported, never silently run twice.
    pub(super) async fn new(name: String, path: String) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        Self {
            client: aws_sdk_lambda::Client::new(&shared),
            name,
            path,
        }
    }

    /// Sends `exchange` and reads the function's API Gateway-shaped answer.
    pub(super) async fn invoke(&self, exchange: Exchange) -> Result<Upstreamed, UpstreamError> {
        let event = rest_event(
            &exchange.method,
            &self.path,
            &exchange.headers,
            &exchange.body,
        );
        let output = self
            .client
            .invoke()
            .function_name(&self.name)
            .payload(Blob::new(event))
            .send()
            .await
            .map_err(|error| {
                let error = aws_sdk_lambda::error::DisplayErrorContext(error).to_string();
                UpstreamError::Unreachable(error)
            })?;
        if let Some(kind) = output.function_error() {
            return Err(UpstreamError::Crashed(kind.to_owned()));
        }
        let payload = output.payload().map(|p| p.as_ref()).unwrap_or_default();
        parse_answer(payload)
    }
}

/// The REST API (v1) proxy event for one request. The stage is `$default` so that
/// `lambda_http` keeps the path as given.
fn rest_event(method: &Method, path: &str, headers: &HeaderMap, body: &Bytes) -> Vec<u8> {
    let mut single = Map::new();
    let mut multi = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| Value::String(v.to_owned()))
            .collect();
        if let Some(last) = values.last() {
            single.insert(name.as_str().to_owned(), last.clone());
        }
        multi.insert(name.as_str().to_owned(), Value::Array(values));
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(STANDARD.encode(body)), true),
    };
    let event = json!({
        "resource": path,
        "path": path,
        "httpMethod": method.as_str(),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method.as_str(),
            "path": path,
            "stage": "$default",
            "requestId": "",
            "accountId": "",
            "resourceId": "",
            "apiId": "mcpctl-gateway",
            "protocol": "HTTP/1.1",
            "identity": { "sourceIp": "127.0.0.1" }
        },
        "body": if body.as_str() == Some("") { Value::Null } else { body },
        "isBase64Encoded": encoded
    });
    serde_json::to_vec(&event).unwrap_or_default()
}

/// An API Gateway proxy response.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProxyAnswer {
    status_code: u16,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    multi_value_headers: Map<String, Value>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

fn parse_answer(payload: &[u8]) -> Result<Upstreamed, UpstreamError> {
    let answer: ProxyAnswer = serde_json::from_slice(payload).map_err(|_| {
        UpstreamError::Malformed(
            "the function's answer is not an API Gateway proxy response".into(),
        )
    })?;
    let status = StatusCode::from_u16(answer.status_code)
        .map_err(|_| UpstreamError::Malformed(format!("status {}", answer.status_code)))?;
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &Value| {
        if let (Ok(name), Some(Ok(value))) = (
            HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            headers.append(name, value);
        }
    };
    for (name, values) in &answer.multi_value_headers {
        for value in values.as_array().into_iter().flatten() {
            add(name, value);
        }
    }
    for (name, value) in &answer.headers {
        if !answer.multi_value_headers.contains_key(name) {
            add(name, value);
        }
    }
    let text = answer.body.unwrap_or_default();
    let body = if answer.is_base64_encoded {
        Bytes::from(
            STANDARD
                .decode(text)
                .map_err(|_| UpstreamError::Malformed("the body is not valid base64".into()))?,
        )
    } else {
        Bytes::from(text)
    };
    Ok(Upstreamed::buffered(status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_is_one_lambda_http_reads_back_as_the_same_request() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer assertion"),
        );
        headers.insert("mcp-session-id", HeaderValue::from_static("s-1"));
        let event = rest_event(
            &Method::POST,
            "/mcp",
            &headers,
            &Bytes::from_static(b"{\"a\":1}"),
        );
        let request = lambda_http::request::from_str(std::str::from_utf8(&event).unwrap()).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/mcp");
        assert_eq!(request.headers()["authorization"], "Bearer assertion");
        assert_eq!(request.headers()["mcp-session-id"], "s-1");
        match request.body() {
            lambda_http::Body::Text(text) => assert_eq!(text, "{\"a\":1}"),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn a_proxy_answer_becomes_status_headers_and_body() {
        let answer = parse_answer(
            br#"{"statusCode":200,"headers":{"content-type":"application/json"},"multiValueHeaders":{"mcp-session-id":["s-2"]},"body":"eyJvayI6dHJ1ZX0=","isBase64Encoded":true}"#,
        )
        .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers["content-type"], "application/json");
        assert_eq!(answer.headers["mcp-session-id"], "s-2");
        assert_eq!(
            answer.into_bytes_for_test(),
            Bytes::from_static(b"{\"ok\":true}")
        );
    }

    #[test]
    fn anything_else_is_a_malformed_answer() {
        for payload in [
            &b"null"[..],
            b"{\"statusCode\":99}",
            b"{\"statusCode\":200,\"body\":\"%\",\"isBase64Encoded\":true}",
        ] {
            assert!(matches!(
                parse_answer(payload),
                Err(UpstreamError::Malformed(_))
            ));
        }
    }
}
