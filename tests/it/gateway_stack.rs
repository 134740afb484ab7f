//! Gateway mode (`upstream:`) deployed against moto: a project with no Rust crate, only a stage
//! file and an upstream server directory (`run.sh` and one Python file), deployed with
//! `mcpctl deploy`; the real SDK then finds the upstream function with the gateway's contract,
//! the MCP function pointing at it, and GET /mcp behind the authorizer. A second deploy with the
//! same upstream changes nothing (its zip keeps its content-hash key).
//!
//! moto's CloudFormation drops a function's `Layers` (and `Architectures`), so the web adapter
//! layer is checked in the template CloudFormation got.

use std::os::unix::fs::PermissionsExt;

use e2e::{Moto, mcpctl_in};
use serde_json::Value;

use crate::deploy::zip_of;

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// A project directory: `config/gw.yaml` and `upstream/` with an executable `run.sh`.
fn project() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("mcpctl-gateway-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::create_dir_all(root.join("upstream")).unwrap();
    let run = root.join("upstream/run.sh");
    std::fs::write(&run, "#!/bin/sh\nexec python3 server.py\n").unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        root.join("upstream/server.py"),
        "from http.server import HTTPServer, BaseHTTPRequestHandler\nHTTPServer(('127.0.0.1', 8000), BaseHTTPRequestHandler).serve_forever()\n",
    )
    .unwrap();
    std::fs::write(
        root.join("config/gw.yaml"),
        "\
stack_name: mcpctl-gw
identity:
  mode: dev
oauth:
  scopes: [notes:write]
upstream:
  function:
    source: upstream
    runtime: python3.12
    handler: run.sh
    port: 8000
    path: /mcp
    environment:
      GREETING: hello
  tools: [echo, save_note]
  tool_scopes: {save_note: notes:write}
",
    )
    .unwrap();
    root
}

fn variables(
    configuration: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> std::collections::HashMap<String, String> {
    configuration
        .environment()
        .and_then(|environment| environment.variables())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_gateway_stage_with_an_upstream_function_deploys() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let root = project();
    let env: Vec<(&str, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let main_zip = zip_of(b"bootstrap of the gateway");
    let config_dir = root.join("config");
    let args = [
        "deploy",
        "--stage",
        "gw",
        "--config-dir",
        config_dir.to_str().unwrap(),
        "--artifact",
        main_zip.to_str().unwrap(),
        "--yes",
        "--output",
        "json",
    ];
    let (code, stdout, stderr) = mcpctl_in(&root, &args, &env);
    assert_eq!(code, Some(0), "{stderr}");
    let deployed = json(&stdout);
    assert_eq!(deployed["status"], "CREATE_COMPLETE", "{deployed}");
    let upstream_key = deployed["upstream_code_key"].as_str().unwrap().to_owned();
    assert!(upstream_key.starts_with("code/upstream-"), "{deployed}");
    assert!(stderr.contains("zipped the upstream server"), "{stderr}");
    let outputs = &deployed["outputs"];
    let issuer = outputs["Issuer"].as_str().unwrap();

    // The upstream function, with the gateway's contract.
    let name = outputs["UpstreamFunctionName"].as_str().unwrap();
    assert_eq!(name, "mcpctl-gw-upstream");
    let upstream = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap();
    assert_eq!(upstream.runtime().map(|r| r.as_str()), Some("python3.12"));
    assert_eq!(upstream.handler(), Some("run.sh"));
    let template = aws_sdk_cloudformation::Client::new(&config)
        .get_template()
        .stack_name("mcpctl-gw")
        .send()
        .await
        .unwrap();
    let body = template.template_body().unwrap();
    assert!(
        body.contains(
            "arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerArm64:25"
        ),
        "the web adapter layer"
    );
    let upstream_env = variables(&upstream);
    let expected: std::collections::HashMap<String, String> = [
        ("MCP_GATEWAY_ISSUER", issuer.to_owned()),
        (
            "MCP_GATEWAY_AUDIENCE",
            "lambda:mcpctl-gw-upstream".to_owned(),
        ),
        (
            "MCP_GATEWAY_JWKS_URL",
            format!("{issuer}/.well-known/mcpctl-gateway-jwks.json"),
        ),
        ("AWS_LAMBDA_EXEC_WRAPPER", "/opt/bootstrap".to_owned()),
        ("AWS_LWA_PORT", "8000".to_owned()),
        ("GREETING", "hello".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    assert_eq!(upstream_env, expected);
    // Its code is the zip mcpctl made of upstream/ (uploaded under its hash).
    let zip = root.join("target/lambda/arm64/mcpctl-upstream.zip");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let names: Vec<String> = (0..archive.len())
        .map(|index| archive.by_index(index).unwrap().name().unwrap().to_string())
        .collect();
    assert_eq!(names, ["run.sh", "server.py"]);
    assert_eq!(
        archive
            .by_name("run.sh")
            .unwrap()
            .unix_mode()
            .map(|mode| mode & 0o777),
        Some(0o755)
    );

    // The MCP function is the gateway in front of it.
    let mcp = lambda
        .get_function_configuration()
        .function_name(outputs["McpFunctionName"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let mcp_env = variables(&mcp);
    let get = |name: &str| mcp_env.get(name).map(String::as_str);
    assert_eq!(get("MCP_UPSTREAM_FUNCTION"), upstream.function_arn());
    assert_eq!(get("MCP_UPSTREAM_PATH"), Some("/mcp"));
    assert_eq!(
        get("MCP_UPSTREAM_AUDIENCE"),
        Some("lambda:mcpctl-gw-upstream")
    );
    assert_eq!(get("MCP_UPSTREAM_TIMEOUT_MS"), Some("25000"));
    assert_eq!(get("MCP_UPSTREAM_MAX_CONCURRENCY"), Some("64"));
    assert_eq!(get("MCP_UPSTREAM_TOOLS"), Some("echo,save_note"));
    assert_eq!(
        get("MCP_TOOL_SCOPES"),
        Some(r#"{"save_note":"notes:write"}"#)
    );
    // Its own key for the assertions, in a secret of its own: never the access tokens' key.
    assert!(
        get("MCP_ASSERTION_KEY_SECRET_ARN")
            .is_some_and(|arn| arn.contains(":secret:") && arn.contains("gateway-key")),
        "{mcp_env:?}"
    );
    assert_eq!(get("MCP_SIGNING_KEY_SECRET_ARN"), None, "{mcp_env:?}");
    assert_eq!(get("MCP_UPSTREAM_URL"), None);
    assert_eq!(mcp.timeout(), Some(29));
    assert_ne!(
        mcp.role(),
        upstream.role(),
        "each function has its own role"
    );

    // GET /mcp reaches the gateway through the authorizer, like POST.
    let api_id = outputs["ApiUrl"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://")
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let apigateway = aws_sdk_apigateway::Client::new(&config);
    let resources = apigateway
        .get_resources()
        .rest_api_id(&api_id)
        .limit(500)
        .send()
        .await
        .unwrap();
    let mcp_resource = resources
        .items()
        .iter()
        .find(|resource| resource.path() == Some("/mcp"))
        .and_then(|resource| resource.id())
        .unwrap()
        .to_owned();
    // moto keeps no AuthorizerId on methods, so GET and DELETE are compared with POST.
    let mut methods = Vec::new();
    for method in ["POST", "GET", "DELETE"] {
        let described = apigateway
            .get_method()
            .rest_api_id(&api_id)
            .resource_id(&mcp_resource)
            .http_method(method)
            .send()
            .await
            .unwrap();
        assert_eq!(described.authorization_type(), Some("CUSTOM"), "{method}");
        methods.push(described.authorizer_id().map(str::to_owned));
    }
    assert!(methods.iter().all(|id| *id == methods[0]), "{methods:?}");

    // `mcpctl logs --function upstream` reads the upstream's own log group (plain text lines).
    let group = outputs["UpstreamLogGroupName"].as_str().unwrap();
    assert_eq!(group, "/aws/lambda/mcpctl-gw-upstream");
    crate::ops::put_events(
        &config,
        group,
        "s1",
        &["upstream listening on 8000".to_owned()],
    )
    .await;
    let (code, stdout, stderr) = mcpctl_in(
        &root,
        &[
            "logs",
            "--stage",
            "gw",
            "--function",
            "upstream",
            "--since",
            "1h",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("upstream listening on 8000"), "{stdout}");

    // The same upstream again: same key, no change to the stack.
    let (code, stdout, stderr) = mcpctl_in(&root, &args, &env);
    assert_eq!(code, Some(0), "{stderr}");
    let again = json(&stdout);
    assert_eq!(again["status"], "NO_CHANGES", "{again}");
    assert_eq!(again["upstream_code_key"], upstream_key.as_str());
    assert!(
        stderr.contains(&format!("{upstream_key} is already uploaded")),
        "{stderr}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test]
async fn a_gateway_url_stage_deploys_and_refuses_its_own_api_as_upstream() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let root = std::env::temp_dir().join(format!("mcpctl-gateway-url-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("config")).unwrap();
    let stage = |url: &str| {
        std::fs::write(
            root.join("config/gwurl.yaml"),
            format!("stack_name: mcpctl-gwurl\nidentity:\n  mode: dev\nupstream:\n  url: {url}\n"),
        )
        .unwrap();
    };
    stage("https://mcp.example.com/v1/mcp");
    let env: Vec<(&str, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let main_zip = zip_of(b"bootstrap of the url gateway");
    let config_dir = root.join("config");
    let args = [
        "deploy",
        "--stage",
        "gwurl",
        "--config-dir",
        config_dir.to_str().unwrap(),
        "--artifact",
        main_zip.to_str().unwrap(),
        "--yes",
        "--output",
        "json",
    ];
    let (code, stdout, stderr) = mcpctl_in(&root, &args, &env);
    assert_eq!(code, Some(0), "{stderr}");
    let deployed = json(&stdout);
    assert!(deployed.get("upstream_code_key").is_none(), "{deployed}");
    let outputs = &deployed["outputs"];
    assert!(outputs.get("UpstreamFunctionName").is_none(), "{outputs}");
    let mcp = aws_sdk_lambda::Client::new(&config)
        .get_function_configuration()
        .function_name(outputs["McpFunctionName"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let mcp_env = variables(&mcp);
    let get = |name: &str| mcp_env.get(name).map(String::as_str);
    assert_eq!(
        get("MCP_UPSTREAM_URL"),
        Some("https://mcp.example.com/v1/mcp")
    );
    assert_eq!(
        get("MCP_UPSTREAM_AUDIENCE"),
        Some("https://mcp.example.com/v1/mcp")
    );
    assert_eq!(get("MCP_UPSTREAM_FUNCTION"), None);
    let (code, _, stderr) = mcpctl_in(
        &root,
        &["logs", "--stage", "gwurl", "--function", "upstream"],
        &env,
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("stack `mcpctl-gwurl` has no upstream function"),
        "{stderr}"
    );

    // Pointing the gateway at the stack's own /mcp would loop: refused before any change set.
    stage(outputs["McpUrl"].as_str().unwrap());
    let (code, stdout, stderr) = mcpctl_in(&root, &args, &env);
    assert_eq!(code, Some(2), "{stderr}");
    // `--output json`: the failure is a JSON object on stdout.
    let message = json(&stdout)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("upstream.url:") && message.contains("is this stack's own API"),
        "{stdout}\n{stderr}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
