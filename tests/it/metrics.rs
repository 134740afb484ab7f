//! Metrics end to end. `mcpctl dev` writes its access log with the same code as the Lambda, EMF
//! included; the test reads the EMF lines back and checks them against the EMF rules. It then
//! puts them into moto's CloudWatch the way CloudWatch Logs extracts them (moto has no EMF
//! extraction) and reads them back through `mcpctl metrics` and `mcpctl status`.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::{
    primitives::DateTime,
    types::{Dimension, MetricDatum, StandardUnit, StateValue},
};
use e2e::{DevServer, mcpctl};
use serde_json::{Value, json};

use crate::ops::MotoStage;

/// The EMF lines of a log, each checked against the specification's rules: every metric a
/// directive names has a number, every dimension a string, at most 30 dimensions per set.
fn emf_lines(logs: &str) -> Vec<Value> {
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    for line in &lines {
        let aws = &line["_aws"];
        assert!(aws["Timestamp"].is_i64(), "{line}");
        for directive in aws["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(directive["Namespace"], "mcpctl", "{line}");
            for set in directive["Dimensions"].as_array().unwrap() {
                let set = set.as_array().unwrap();
                assert!(!set.is_empty() && set.len() <= 30, "{line}");
                for dimension in set {
                    assert!(
                        line[dimension.as_str().unwrap()].is_string(),
                        "{dimension}: {line}"
                    );
                }
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(line[name].is_number(), "{name}: {line}");
            }
        }
    }
    lines
}

/// A metric datum: name, dimensions, value, unit, timestamp (epoch milliseconds).
type Datum = (String, Vec<(String, String)>, f64, String, i64);

/// What CloudWatch makes of EMF lines: one datum per metric and dimension set.
fn datums(lines: &[Value]) -> Vec<Datum> {
    let mut out = Vec::new();
    for line in lines {
        let timestamp = line["_aws"]["Timestamp"].as_i64().unwrap();
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for set in directive["Dimensions"].as_array().unwrap() {
                let dimensions: Vec<(String, String)> = set
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        let d = d.as_str().unwrap();
                        (d.to_owned(), line[d].as_str().unwrap().to_owned())
                    })
                    .collect();
                for metric in directive["Metrics"].as_array().unwrap() {
                    let name = metric["Name"].as_str().unwrap();
                    out.push((
                        name.to_owned(),
                        dimensions.clone(),
                        line[name].as_f64().unwrap(),
                        metric["Unit"].as_str().unwrap().to_owned(),
                        timestamp,
                    ));
                }
            }
        }
    }
    out
}

/// Sums per metric and dimension set, `Name{Dim=value,...}`, without the Stack dimension.
fn sums(lines: &[Value]) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for (name, dimensions, value, _, _) in datums(lines) {
        let dims: Vec<String> = dimensions
            .iter()
            .filter(|(k, _)| k != "Stack")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        *sums
            .entry(format!("{name}{{{}}}", dims.join(",")))
            .or_insert(0.0) += value;
    }
    sums
}

#[tokio::test]
async fn emf_lines_become_metrics_that_mcpctl_metrics_and_status_read_back() {
    let server = DevServer::start_with_env(
        &["--auto-approve"],
        &[("MCP_METRICS", "emf"), ("MCP_STACK_NAME", "mcpctl-dev")],
    );
    let url = server.mcp_url();
    let (code, stdout, stderr) = mcpctl(&["token", "--url", &url, "--output", "json"], &[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let token = serde_json::from_str::<Value>(&stdout).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let call = |method: &str, params: Value, bearer: &str| {
        let mut params = params;
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "metrics-test", "version": "1"}});
        let mut request = http
            .post(&url)
            .bearer_auth(bearer)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", method);
        if let Some(name) = params["name"].as_str() {
            request = request.header("Mcp-Name", name);
        }
        request
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
    };
    for _ in 0..2 {
        let response = call(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
            &token,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
    }
    // isError: the sum of two huge numbers is not finite.
    let overflow = call(
        "tools/call",
        json!({"name": "add", "arguments": {"a": 1e308, "b": 1e308}}),
        &token,
    )
    .await
    .unwrap();
    assert!(overflow.text().await.unwrap().contains("\"isError\":true"));
    // A stranger's made-up names must not become metrics of their own.
    let made_up = "made_up_tool_7f3a";
    call(
        "tools/call",
        json!({"name": made_up, "arguments": {}}),
        &token,
    )
    .await
    .unwrap();
    call("made/up_method_7f3a", json!({}), &token)
        .await
        .unwrap();
    let rejected = call("tools/list", json!({}), "not-a-token").await.unwrap();
    assert_eq!(rejected.status(), 401);
    let registered = http
        .post(server.issuer() + "/dcr")
        .json(&json!({"client_name": "metrics-test", "redirect_uris": ["http://127.0.0.1:9/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);

    let lines = emf_lines(&server.logs());
    let sums = sums(&lines);
    let get = |key: &str| sums.get(key).copied().unwrap_or(0.0);
    assert_eq!(get("ToolCalls{Tool=echo}"), 2.0, "{sums:#?}");
    assert_eq!(get("ToolErrors{Tool=echo}"), 0.0, "{sums:#?}");
    assert_eq!(get("ToolCalls{Tool=add}"), 1.0, "{sums:#?}");
    assert_eq!(get("ToolErrors{Tool=add}"), 1.0, "{sums:#?}");
    assert_eq!(get("ToolCalls{Tool=other}"), 1.0, "{sums:#?}");
    assert_eq!(get("ToolErrors{Tool=other}"), 1.0, "{sums:#?}");
    assert_eq!(get("ToolCalls{}"), 4.0, "{sums:#?}");
    assert_eq!(get("McpRequests{McpMethod=tools/call}"), 4.0, "{sums:#?}");
    assert_eq!(get("McpRequests{McpMethod=other}"), 1.0, "{sums:#?}");
    assert_eq!(
        get("TokenRejections{}"),
        1.0,
        "{sums:#?}\n{}",
        lines
            .iter()
            .filter(|l| l.get("TokenRejections").is_some())
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(get("Registrations{}") >= 2.0, "{sums:#?}"); // the token's machine client, and ours
    assert!(
        get("TokenGrants{GrantType=client_credentials}") >= 1.0,
        "{sums:#?}"
    );
    assert!(
        sums.keys()
            .any(|k| k.starts_with("TokenGrants{") && k.contains(",ClientId=")),
        "client_credentials grants name their (operator-created) client: {sums:#?}"
    );
    assert!(
        !sums.keys().any(|k| k.contains("7f3a")),
        "a made-up name became a dimension: {sums:#?}"
    );
    for line in &lines {
        assert_eq!(line["Stack"], "mcpctl-dev");
        assert!(!line.to_string().contains(&token), "a token in a log line");
    }

    // CloudWatch's side, in moto.
    let stage = MotoStage::deploy("dev").await;
    let sdk = stage.moto.sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let all = datums(&lines);
    for chunk in all.chunks(500) {
        let data: Vec<MetricDatum> = chunk
            .iter()
            .map(|(name, dimensions, value, unit, timestamp)| {
                MetricDatum::builder()
                    .metric_name(name)
                    .set_dimensions(Some(
                        dimensions
                            .iter()
                            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                            .collect(),
                    ))
                    .value(*value)
                    .unit(StandardUnit::from(unit.as_str()))
                    .timestamp(DateTime::from_millis(*timestamp))
                    .build()
            })
            .collect();
        cloudwatch
            .put_metric_data()
            .namespace("mcpctl")
            .set_metric_data(Some(data))
            .send()
            .await
            .unwrap();
    }
    cloudwatch
        .put_metric_alarm()
        .alarm_name("mcpctl-dev-tool-errors")
        .namespace("mcpctl")
        .metric_name("ToolErrors")
        .dimensions(
            Dimension::builder()
                .name("Stack")
                .value("mcpctl-dev")
                .build(),
        )
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .send()
        .await
        .unwrap();
    cloudwatch
        .set_alarm_state()
        .alarm_name("mcpctl-dev-tool-errors")
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed: 2 datapoints")
        .send()
        .await
        .unwrap();

    let env = stage.moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stdout, stderr) = mcpctl(&["metrics", "--stage", "dev", "--output", "json"], &env);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let view: Value = serde_json::from_str(&stdout).unwrap();
    let tool = |name: &str| {
        view["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tool"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no tool {name} in {view}"))
    };
    assert_eq!(tool("echo")["calls"]["total"], 2.0, "{view}");
    assert_eq!(tool("add")["errors"]["total"], 1.0, "{view}");
    assert!(
        tool("echo")["latency_avg_ms"].as_f64().unwrap() > 0.0,
        "{view}"
    );
    assert_eq!(view["mcp_requests"]["total"], 5.0, "{view}");
    assert_eq!(view["methods"]["tools/call"]["total"], 4.0, "{view}");
    assert_eq!(view["oauth"]["TokenRejections"]["total"], 1.0, "{view}");
    assert!(
        view["grants"]["client_credentials"]["total"]
            .as_f64()
            .unwrap()
            >= 1.0,
        "{view}"
    );
    assert_eq!(
        view["machine_clients"].as_object().unwrap().len(),
        1,
        "{view}"
    );
    let points = view["mcp_requests"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 30, "{view}");
    assert_eq!(points.iter().map(|p| p.as_f64().unwrap()).sum::<f64>(), 5.0);
    assert_eq!(view["alarms"][0]["state"], "ALARM", "{view}");

    let (code, text, stderr) = mcpctl(&["metrics", "--stage", "dev", "--since", "2h"], &env);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(text.contains("mcpctl-dev: last 120 min"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("echo") && l.contains('█')),
        "{text}"
    );
    assert!(
        text.contains("ALARM") && text.contains("mcpctl-dev-tool-errors"),
        "{text}"
    );

    let (code, stdout, stderr) = mcpctl(&["status", "--stage", "dev", "--output", "json"], &env);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["last_hour"]["tool_calls"], 4.0, "{status}");
    assert_eq!(status["last_hour"]["tool_errors"], 2.0, "{status}");
    assert_eq!(
        status["last_hour"]["alarms_firing"][0], "mcpctl-dev-tool-errors",
        "{status}"
    );
}
