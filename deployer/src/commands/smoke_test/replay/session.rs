//! The MCP part of a replay: the client's requests with its headers, in its protocol-version
//! order (Claude Code sends `initialize` after a successful `server/discover`), then a tool
//! call; a browser client's answers must also pass CORS.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use super::{Check, Target};
use crate::{
    clients::ClientShape,
    probe::{Answer, McpClient, meta_2026},
};

/// The client's headers on an MCP request of `version` and `method` (naming `name`), as in
/// `clients.json`. `Accept` and `Content-Type` are left to [`McpClient`], which sends the same
/// values (a unit test holds every entry to that), and a header that carries `{name}` goes
/// only on requests that name something.
pub(super) fn headers_for(
    client: &ClientShape,
    version: &str,
    method: &str,
    name: Option<&str>,
) -> Vec<(String, String)> {
    client
        .headers
        .iter()
        .filter(|(header, _)| {
            !header.eq_ignore_ascii_case("accept") && !header.eq_ignore_ascii_case("content-type")
        })
        .filter_map(|(header, value)| {
            if value.contains("{name}") {
                name.map(|name| (header.clone(), value.replace("{name}", name)))
            } else {
                Some((header.clone(), value.clone()))
            }
        })
        .map(|(header, value)| {
            (
                header,
                value
                    .replace("{version}", version)
                    .replace("{method}", method),
            )
        })
        .chain(
            client
                .browser
                .as_ref()
                .map(|browser| ("Origin".to_owned(), browser.origin.clone())),
        )
        .collect()
}

/// The JSON-RPC request of `method` in the era of `version`.
pub(super) fn request(
    client: &ClientShape,
    version: &str,
    id: u64,
    method: &str,
    params: Value,
) -> Value {
    let mut params = params;
    if version >= "2026-07-28" {
        params["_meta"] = meta_2026(&format!("{} (mcpctl smoke-test)", client.name));
    }
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// The `initialize` parameters of `client` at `version`.
pub(super) fn initialize_params(client: &ClientShape, version: &str) -> Value {
    json!({"protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": format!("{} (mcpctl smoke-test)", client.name), "version": env!("CARGO_PKG_VERSION")}})
}

/// [`McpClient::send`] with owned header pairs.
async fn send(
    this: &McpClient,
    mcp_url: &str,
    token: &str,
    body: Value,
    headers: &[(String, String)],
) -> Result<Answer, String> {
    let extra: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    this.send(mcp_url, token, body, &extra).await
}

/// What a browser client needs of an answer: its origin allowed, the headers it reads exposed.
fn cors(client: &ClientShape, answer: &Answer) -> Result<(), String> {
    let Some(browser) = &client.browser else {
        return Ok(());
    };
    super::allows_origin(&answer.headers, &browser.origin)?;
    let exposed = crate::probe::listed(&answer.headers, header::ACCESS_CONTROL_EXPOSE_HEADERS);
    let hidden: Vec<&str> = browser
        .reads_headers
        .iter()
        .filter(|h| !exposed.iter().any(|e| e == *h || e == "*"))
        .map(String::as_str)
        .collect();
    if !hidden.is_empty() {
        return Err(format!(
            "Access-Control-Expose-Headers lacks {}: the browser hides them from {}",
            hidden.join(", "),
            client.name
        ));
    }
    Ok(())
}

/// MCP in the client's protocol-version order, then a tool call; returns the version the
/// client goes on with (the first that worked).
pub(super) async fn run(
    check: &mut Check,
    client: &ClientShape,
    target: &Target<'_>,
    token: &str,
) -> Option<String> {
    let this = McpClient::new(check.http.clone());
    let mut negotiated: Option<String> = None;
    for version in &client.protocol_versions {
        if version.as_str() >= "2026-07-28" {
            let body = request(client, version, 2, "server/discover", json!({}));
            let headers = headers_for(client, version, "server/discover", None);
            let worked = check
                .step("MCP server/discover (2026-07-28)", async {
                    let answer = send(&this, target.mcp_url, token, body, &headers).await?;
                    cors(client, &answer)?;
                    let versions = answer.body["result"]["supportedVersions"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    if versions.iter().any(|v| v == version.as_str()) {
                        Ok((true, format!("{} versions offered", versions.len())))
                    } else if answer.status.is_client_error() && answer.body["error"].is_object() {
                        Ok((
                            false,
                            format!(
                                "not spoken: {}; the client falls back",
                                answer.body["error"]["message"]
                            ),
                        ))
                    } else {
                        Err(format!("HTTP {}: {}", answer.status, answer.body))
                    }
                })
                .await;
            match worked {
                Some(true) => {
                    negotiated.get_or_insert_with(|| version.clone());
                }
                Some(false) => {}
                None => return None,
            }
        } else {
            let name = if negotiated.is_some() {
                "MCP initialize after server/discover (2025-11-25)"
            } else {
                "MCP initialize (2025-11-25)"
            };
            let body = request(
                client,
                version,
                3,
                "initialize",
                initialize_params(client, version),
            );
            let headers = headers_for(client, version, "initialize", None);
            let initialized_headers =
                headers_for(client, version, "notifications/initialized", None);
            let worked = check
                .step(name, async {
                    let answer = send(&this, target.mcp_url, token, body, &headers).await?;
                    cors(client, &answer)?;
                    let result: rmcp::model::InitializeResult =
                        serde_json::from_value(answer.body["result"].clone()).map_err(|e| {
                            format!(
                                "HTTP {}: not an initialize result ({e}): {}",
                                answer.status, answer.body
                            )
                        })?;
                    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
                    let ack =
                        send(&this, target.mcp_url, token, note, &initialized_headers).await?;
                    if ack.status != StatusCode::ACCEPTED {
                        return Err(format!(
                            "notifications/initialized answered HTTP {}, expected 202",
                            ack.status
                        ));
                    }
                    Ok((
                        (),
                        format!(
                            "{} speaks {}",
                            result.server_info.name, result.protocol_version
                        ),
                    ))
                })
                .await;
            worked?;
            negotiated.get_or_insert_with(|| version.clone());
        }
    }
    let version = negotiated?;
    let body = request(client, &version, 4, "tools/list", json!({}));
    let headers = headers_for(client, &version, "tools/list", None);
    let tools = check
        .step("tools/list", async {
            let answer = send(&this, target.mcp_url, token, body, &headers).await?;
            cors(client, &answer)?;
            let result: rmcp::model::ListToolsResult =
                serde_json::from_value(answer.body["result"].clone()).map_err(|e| {
                    format!(
                        "HTTP {}: not a tools/list result ({e}): {}",
                        answer.status, answer.body
                    )
                })?;
            let names: Vec<String> = result.tools.iter().map(|t| t.name.to_string()).collect();
            let detail = format!("{} tools, in {version}", names.len());
            Ok((names, detail))
        })
        .await?;
    let (tool, arguments, is_echo) = match &check.tool {
        Some((name, arguments)) => (name.clone(), arguments.clone(), false),
        None if tools.iter().any(|t| t == "echo") => {
            ("echo".to_owned(), json!({"text": "smoke"}), true)
        }
        None => {
            check.record(
                "tools/call",
                None,
                Ok(((), "not run: the server has no `echo` tool; pass --tool NAME [--tool-args JSON] to call one".to_owned())),
            );
            return Some(version);
        }
    };
    let body = request(
        client,
        &version,
        5,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    );
    let headers = headers_for(client, &version, "tools/call", Some(&tool));
    check
        .step("tools/call", async {
            let answer = send(&this, target.mcp_url, token, body, &headers).await?;
            cors(client, &answer)?;
            let result = &answer.body["result"];
            let echoed = result["content"][0]["text"].as_str() == Some("smoke");
            if result.is_null() || result["isError"] == true || (is_echo && !echoed) {
                return Err(format!(
                    "HTTP {}: `{tool}` answered {}",
                    answer.status, answer.body
                ));
            }
            let sent: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
            Ok(((), format!("`{tool}` answered; sent {}", sent.join(", "))))
        })
        .await;
    Some(version)
}

/// `tools/list` again, with the access token a refresh gave.
pub(super) async fn list_again(
    check: &mut Check,
    client: &ClientShape,
    target: &Target<'_>,
    version: &str,
    token: &str,
) {
    let this = McpClient::new(check.http.clone());
    let list = request(client, version, 20, "tools/list", json!({}));
    let headers = headers_for(client, version, "tools/list", None);
    check
        .step("tools/list with the refreshed token", async {
            let answer = send(&this, target.mcp_url, token, list, &headers).await?;
            if answer.status == StatusCode::OK && answer.body["result"]["tools"].is_array() {
                Ok(((), "answered".to_owned()))
            } else {
                Err(format!("HTTP {}: {}", answer.status, answer.body))
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::super::shape;
    use super::*;
    use crate::{clients, probe::MCP_ACCEPT};

    #[test]
    fn every_client_sends_the_accept_and_content_type_mcp_client_sends() {
        // `headers_for` leaves these two to `McpClient`; that is lossless only while they agree.
        for client in clients::known().unwrap() {
            for (name, value) in &client.headers {
                if name.eq_ignore_ascii_case("accept") {
                    assert_eq!(value, MCP_ACCEPT, "{}", client.id);
                }
                if name.eq_ignore_ascii_case("content-type") {
                    assert_eq!(value, "application/json", "{}", client.id);
                }
            }
        }
    }

    #[test]
    fn headers_are_filled_per_request_and_name_headers_go_only_on_named_requests() {
        let code = shape("claude-code");
        let call = headers_for(&code, "2026-07-28", "tools/call", Some("echo"));
        assert!(
            call.contains(&("Mcp-Method".into(), "tools/call".into())),
            "{call:?}"
        );
        assert!(
            call.contains(&("Mcp-Name".into(), "echo".into())),
            "{call:?}"
        );
        assert!(call.contains(&("MCP-Protocol-Version".into(), "2026-07-28".into())));
        let list = headers_for(&code, "2026-07-28", "tools/list", None);
        assert!(!list.iter().any(|(k, _)| k == "Mcp-Name"), "{list:?}");
        let inspector = shape("inspector");
        let headers = headers_for(&inspector, "2025-11-25", "tools/list", None);
        assert!(headers.contains(&("Origin".into(), "http://localhost:6274".into())));
    }
}
