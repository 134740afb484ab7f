//! `mcpctl cost` end to end: the Lambda and API Gateway metrics a stage would have are put into
//! moto's CloudWatch with the real SDK, and the estimate reads them back: measured durations,
//! invocations per call from the measured ratio, and the money that follows from them.

use aws_sdk_cloudwatch::{
    primitives::DateTime,
    types::{Dimension, MetricDatum, StandardUnit},
};
use e2e::mcpctl;
use serde_json::Value;

use crate::ops::MotoStage;

fn datum(name: &str, dimensions: &[(&str, &str)], value: f64, unit: StandardUnit) -> MetricDatum {
    #[expect(
        clippy::disallowed_methods,
        reason = "CloudWatch stores the points at wall-clock time, as the command reads them"
    )]
    // A few seconds back: the command's window ends at its start, in whole seconds.
    let now = std::time::SystemTime::now() - std::time::Duration::from_secs(5);
    MetricDatum::builder()
        .metric_name(name)
        .set_dimensions(Some(
            dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                .collect(),
        ))
        .value(value)
        .unit(unit)
        .timestamp(DateTime::from(now))
        .build()
}

#[tokio::test]
async fn cost_reads_the_measured_durations_and_prices_them() {
    let stage = MotoStage::deploy("dev").await;
    let sdk = stage.moto.sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    // 1000 MCP calls of 12 ms; 20 auth requests of 30 ms; 100 authorizer runs of 4 ms.
    for (function, invocations, ms) in [
        ("mcpctl-dev-mcp", 1000.0, 12.0),
        ("mcpctl-dev-auth", 20.0, 30.0),
        ("mcpctl-dev-authorizer", 100.0, 4.0),
    ] {
        let dimensions = [("FunctionName", function)];
        cloudwatch
            .put_metric_data()
            .namespace("AWS/Lambda")
            .metric_data(datum(
                "Invocations",
                &dimensions,
                invocations,
                StandardUnit::Count,
            ))
            .metric_data(datum(
                "Duration",
                &dimensions,
                ms,
                StandardUnit::Milliseconds,
            ))
            .send()
            .await
            .unwrap();
    }

    let env = stage.moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stdout, stderr) = mcpctl(
        &[
            "cost",
            "--stage",
            "dev",
            "--calls-per-month",
            "1000000",
            "--since",
            "1h",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["deployed"], true, "{report}");
    assert_eq!(report["calls_per_month"]["value"], 1_000_000.0);
    let function = |role: &str| {
        report["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["role"] == role)
            .unwrap_or_else(|| panic!("no {role} in {report}"))
            .clone()
    };
    let close = |a: &Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-6 * b.max(1.0);
    let mcp = function("mcp");
    assert_eq!(mcp["average_ms"]["basis"], "measured", "{mcp}");
    assert!(close(&mcp["average_ms"]["value"], 12.0), "{mcp}");
    // 1M calls × 12 ms × 256 MB = 3000 GB-s.
    assert!(
        close(&mcp["gb_seconds"], 1_000_000.0 * 0.012 * 0.25),
        "{mcp}"
    );
    let auth = function("auth");
    assert_eq!(auth["invocations_per_call"]["basis"], "measured", "{auth}");
    assert!(
        close(&auth["invocations_per_call"]["value"], 0.02),
        "{auth}"
    );
    assert!(close(&auth["average_ms"]["value"], 30.0), "{auth}");
    let authorizer = function("authorizer");
    assert!(
        close(&authorizer["invocations_per_call"]["value"], 0.1),
        "{authorizer}"
    );
    // The money: Lambda compute at the arm64 price, and a total that is the sum of its lines.
    let items = report["line_items"].as_array().unwrap();
    let compute = items
        .iter()
        .find(|i| i["item"].as_str().unwrap().starts_with("mcp compute"))
        .unwrap();
    assert!(
        close(&compute["monthly_usd"], 3000.0 * 0.000_013_333_4),
        "{compute}"
    );
    let sum: f64 = items
        .iter()
        .map(|i| i["monthly_usd"].as_f64().unwrap())
        .sum();
    assert!(close(&report["total_usd"], sum), "{report}");

    // The same estimate as text, and signing: kms adds its lines.
    let (code, text, stderr) = mcpctl(
        &[
            "cost",
            "--stage",
            "dev",
            "--calls-per-month",
            "1000000",
            "--since",
            "1h",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        text.contains("mcp compute") && text.contains("measured"),
        "{text}"
    );
    assert!(!text.contains("KMS"), "{text}");
    let mut kms_env = env.clone();
    kms_env.push(("MCPCTL_SIGNING", "kms"));
    let (code, text, stderr) = mcpctl(
        &[
            "cost",
            "--stage",
            "dev",
            "--calls-per-month",
            "1000000",
            "--no-measure",
        ],
        &kms_env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(text.contains("KMS") && text.contains("Sign"), "{text}");

    // Bad input names the flag and the fix, and exits non-zero.
    for bad in [
        &["--calls-per-month", "-5"][..],
        &["--calls-per-month", "abc"],
        &["--since", "0"],
    ] {
        let args: Vec<&str> = ["cost", "--stage", "dev"]
            .iter()
            .chain(bad)
            .copied()
            .collect();
        let (code, stdout, stderr) = mcpctl(&args, &env);
        assert_eq!(code, Some(2), "{bad:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(bad[0]) || stdout.contains(bad[0]),
            "{bad:?}: {stderr}"
        );
    }
}
