//! HTTP probes of a running MCP server, shared by `smoke-test` and `doctor`: a JSON-RPC POST to
//! the MCP endpoint the way a Streamable HTTP client makes it, a GET of a metadata document, and
//! latencies in milliseconds.

use std::{sync::Mutex, time::Duration};

use reqwest::{Client, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// What MCP clients accept from `POST /mcp` (Streamable HTTP: a JSON body or an SSE stream).
pub(crate) const MCP_ACCEPT: &str = "application/json, text/event-stream";

/// The header API Gateway puts on the answers it gives itself (not the function behind it).
const API_GATEWAY_ERROR_TYPE: &str = "x-amzn-errortype";

/// `duration` in milliseconds, to a hundredth.
pub(crate) fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 100_000.0).round() / 100.0
}

/// Why a document could not be read.
#[derive(Debug)]
pub(crate) struct FetchError {
    /// Whether API Gateway answered itself (`x-amzn-ErrorType`), not the function behind it:
    /// on a stage's default URL, the sign of a path outside the stage.
    pub(crate) from_api_gateway: bool,
    /// What happened, naming the URL.
    pub(crate) message: String,
}

/// Whether an answer's `Access-Control-Allow-Origin` lets a page at `origin` read it.
pub(crate) fn allows_origin(headers: &header::HeaderMap, origin: &str) -> bool {
    headers
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "*" || v.eq_ignore_ascii_case(origin))
}

/// The comma-separated values of every `name` header, lower case.
pub(crate) fn listed(headers: &header::HeaderMap, name: header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

/// GETs `url` and reads its JSON body as `T`.
pub(crate) async fn fetch_json<T: DeserializeOwned>(
    http: &Client,
    url: &str,
) -> Result<T, FetchError> {
    let response = http.get(url).send().await.map_err(|e| FetchError {
        from_api_gateway: false,
        message: format!("GET {url}: {e}"),
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError {
            from_api_gateway: response.headers().contains_key(API_GATEWAY_ERROR_TYPE),
            message: format!("GET {url}: HTTP {status}"),
        });
    }
    response.json::<T>().await.map_err(|e| FetchError {
        from_api_gateway: false,
        message: format!("GET {url}: not the expected document: {e}"),
    })
}

/// [`fetch_json`] with the failure as one sentence.
pub(crate) async fn get_json<T: DeserializeOwned>(http: &Client, url: &str) -> Result<T, String> {
    fetch_json(http, url).await.map_err(|e| e.message)
}

/// The `_meta` every 2026-07-28 (stateless) request carries, from the client named `client`.
pub(crate) fn meta_2026(client: &str) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": client, "version": env!("CARGO_PKG_VERSION")}
    })
}

/// A JSON-RPC client of one MCP endpoint: posts requests with a bearer token and sends back the
/// `Mcp-Session-Id` a stateful server hands out at `initialize`, as real clients do.
pub(crate) struct McpClient {
    http: Client,
    session: Mutex<Option<String>>,
}

impl McpClient {
    /// A client with no session yet.
    pub(crate) fn new(http: Client) -> Self {
        Self {
            http,
            session: Mutex::default(),
        }
    }

    /// POSTs `body` to `url` with `token` and the `extra` headers; returns the status and the
    /// JSON-RPC answer (`Null` for an empty body, e.g. the 202 to a notification).
    pub(crate) async fn post(
        &self,
        url: &str,
        token: &str,
        body: Value,
        extra: &[(&str, &str)],
    ) -> Result<(StatusCode, Value), String> {
        self.send(url, token, body, extra)
            .await
            .map(|answer| (answer.status, answer.body))
    }

    /// [`McpClient::post`], with the response headers too.
    pub(crate) async fn send(
        &self,
        url: &str,
        token: &str,
        body: Value,
        extra: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let mut request = self
            .http
            .post(url)
            .bearer_auth(token)
            .header(header::ACCEPT, MCP_ACCEPT)
            .json(&body);
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let initialize = body["method"] == "initialize";
        let session = self.session.lock().ok().and_then(|s| s.clone());
        if let Some(session) = session.filter(|_| !initialize) {
            request = request.header("mcp-session-id", session);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        if initialize && let Ok(mut session) = self.session.lock() {
            *session = headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        let text = response.text().await.map_err(|e| e.to_string())?;
        if text.trim().is_empty() {
            return Ok(Answer {
                status,
                headers,
                body: Value::Null,
            });
        }
        // A JSON body, or an SSE stream whose last data line is the response.
        let json = serde_json::from_str(&text).or_else(|_| {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v.get("id").is_some())
                .ok_or_else(|| {
                    format!(
                        "HTTP {status}: not JSON-RPC: {}",
                        text.chars().take(200).collect::<String>()
                    )
                })
        })?;
        Ok(Answer {
            status,
            headers,
            body: json,
        })
    }
}

/// What an MCP endpoint answered.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The response headers.
    pub(crate) headers: header::HeaderMap,
    /// The JSON-RPC message (`Null` for an empty body).
    pub(crate) body: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_rounded_to_a_hundredth_of_a_millisecond() {
        assert_eq!(ms(Duration::from_micros(1_234_567)), 1234.57);
        assert_eq!(ms(Duration::ZERO), 0.0);
    }

    #[test]
    fn the_2026_meta_names_the_client_and_the_version() {
        let meta = meta_2026("mcpctl-doctor");
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        assert_eq!(
            meta["io.modelcontextprotocol/clientInfo"]["name"],
            "mcpctl-doctor"
        );
    }
}
