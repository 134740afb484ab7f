//! `mcpctl deploy`, `diff`, `status`, `destroy` against moto (the real SDK over HTTP): the stack
//! and its resources really exist with the expected settings; a second deploy reports no
//! changes; a config change updates; `--code-only` swaps the code; a refused template fails
//! clearly. moto does not emulate rollbacks or change-set Modify details (see the awslocal
//! findings); `deployer` unit-tests what these tests cannot reach.

use std::io::Write;

use e2e::{Moto, mcpctl, workspace};
use serde_json::Value;

pub(crate) fn zip_of(content: &[u8]) -> std::path::PathBuf {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file(
            "bootstrap",
            zip::write::SimpleFileOptions::default().unix_permissions(0o755),
        )
        .unwrap();
    writer.write_all(content).unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    let path = std::env::temp_dir().join(format!(
        "mcpctl-test-{}-{}.zip",
        std::process::id(),
        content.len()
    ));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn deploy_update_code_only_status_diff_destroy() {
    let moto = Moto::start();
    let env: Vec<(&str, String)> = moto.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config_dir = workspace().join("config").display().to_string();
    let first = zip_of(b"first build of bootstrap");
    let first_arg = first.display().to_string();
    let base = ["--stage", "dev", "--config-dir", config_dir.as_str()];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };

    // 1. A first deploy creates the stack.
    let args = with(&["--artifact", &first_arg, "--yes", "--output", "json"]);
    let (code, stdout, stderr) = mcpctl(
        &[
            &["deploy"][..],
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    let deployed = json(&stdout);
    assert_eq!(deployed["status"], "CREATE_COMPLETE", "{deployed}");
    let outputs = deployed["outputs"].clone();
    for key in [
        "ApiUrl",
        "McpUrl",
        "Issuer",
        "ClientsTableName",
        "CodesTableName",
        "RefreshTokensTableName",
        "AuthFunctionName",
        "McpFunctionName",
        "AuthLogGroupName",
    ] {
        assert!(outputs[key].is_string(), "output {key} missing: {outputs}");
    }
    assert!(stderr.contains("creating the artifacts bucket"), "{stderr}");
    assert!(
        stderr.contains("created the signing key secret"),
        "{stderr}"
    );

    // The resources really exist, with the expected settings.
    let config = moto.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    for key in [
        "ClientsTableName",
        "CodesTableName",
        "RefreshTokensTableName",
    ] {
        let table = dynamodb
            .describe_table()
            .table_name(outputs[key].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        assert_eq!(
            table
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .map(|m| m.as_str()),
            Some("PAY_PER_REQUEST"),
            "{key}"
        );
    }
    let lambda = aws_sdk_lambda::Client::new(&config);
    let auth = lambda
        .get_function_configuration()
        .function_name(outputs["AuthFunctionName"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(auth.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!(auth.handler(), Some("bootstrap"));
    assert_eq!(auth.memory_size(), Some(256));
    let variables = auth
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        variables.get("MCP_HANDLER").map(String::as_str),
        Some("auth")
    );
    assert_eq!(
        variables.get("MCP_CLIENTS_TABLE").map(String::as_str),
        outputs["ClientsTableName"].as_str()
    );
    assert!(
        variables
            .get("MCP_JWKS")
            .is_some_and(|j| j.contains("\"kty\":\"EC\"") && !j.contains("\"d\"")),
        "public JWKS only: {variables:?}"
    );
    // config/dev.yaml signs users in as the dev user; no upstream provider, so no MCP_OIDC_*.
    assert_eq!(
        variables.get("MCP_IDENTITY").map(String::as_str),
        Some("dev")
    );
    assert!(
        !variables.keys().any(|name| name.starts_with("MCP_OIDC_")),
        "{variables:?}"
    );
    assert!(
        auth.role().is_some_and(|r| r.contains(":role/")),
        "the function has its role"
    );
    let mcp = lambda
        .get_function_configuration()
        .function_name(outputs["McpFunctionName"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let mcp_env = mcp
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    assert!(
        !mcp_env.contains_key("MCP_CLIENTS_TABLE")
            && !mcp_env.contains_key("MCP_SIGNING_KEY_SECRET_ARN"),
        "the MCP side gets no tables and no secret: {mcp_env:?}"
    );
    assert_ne!(auth.role(), mcp.role(), "each function has its own role");
    // The REST API: every route, proxied to the functions.
    let api_id = outputs["ApiUrl"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://")
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let apigateway = aws_sdk_apigateway::Client::new(&config);
    let api = apigateway
        .get_rest_api()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap();
    assert!(
        api.name().is_some_and(|n| n.contains("mcpctl-dev")),
        "{api:?}"
    );
    let resources = apigateway
        .get_resources()
        .rest_api_id(&api_id)
        .limit(500)
        .send()
        .await
        .unwrap();
    let paths: Vec<&str> = resources.items().iter().filter_map(|r| r.path()).collect();
    for path in [
        "/mcp",
        "/dcr",
        "/oauth/token",
        "/oauth/authorize",
        "/oauth/callback",
        "/clients/{clientId}",
    ] {
        assert!(paths.contains(&path), "route {path} missing: {paths:?}");
    }
    let stage = apigateway
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("dev")
        .send()
        .await
        .unwrap();
    assert!(
        stage
            .method_settings()
            .map(|m| !m.is_empty())
            .unwrap_or(false),
        "stage throttling is set: {stage:?}"
    );

    // 2. The same deploy again: no changes.
    let (code, stdout, stderr) = mcpctl(
        &[
            &["deploy"][..],
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["status"], "NO_CHANGES");
    assert!(stderr.contains("no changes"), "{stderr}");
    assert!(
        stderr.contains("is already uploaded"),
        "the zip is not uploaded twice: {stderr}"
    );

    // 3. A config change is an update.
    env.push(("MCPCTL_LAMBDA_MEMORY_MB", "512"));
    let (code, stdout, stderr) = mcpctl(
        &[
            &["deploy"][..],
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["status"], "UPDATE_COMPLETE", "{stdout}");
    // moto does not push updated properties into the function, so check what CloudFormation got.
    let cf = aws_sdk_cloudformation::Client::new(&config);
    let stack = cf
        .describe_stacks()
        .stack_name("mcpctl-dev")
        .send()
        .await
        .unwrap();
    let memory = stack.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("LambdaMemorySize"))
        .and_then(|p| p.parameter_value())
        .map(str::to_owned);
    assert_eq!(memory.as_deref(), Some("512"));
    let auth = lambda
        .get_function_configuration()
        .function_name(outputs["AuthFunctionName"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    // 4. --code-only replaces the code of the functions.
    let second = zip_of(b"second build of bootstrap, longer");
    let second_arg = second.display().to_string();
    let before = auth.code_sha256().map(str::to_owned);
    let code_args = with(&["--artifact", &second_arg, "--code-only", "--output", "json"]);
    let (code, stdout, stderr) = mcpctl(
        &[
            &["deploy"][..],
            &code_args.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        json(&stdout)["updated"].as_array().map(Vec::len),
        Some(3),
        "{stdout}"
    );
    let after = lambda
        .get_function_configuration()
        .function_name(outputs["AuthFunctionName"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_ne!(
        after.code_sha256().map(str::to_owned),
        before,
        "the code changed"
    );

    // 5. status reports the stack.
    let (code, stdout, stderr) = mcpctl(
        &[
            "status",
            "--stage",
            "dev",
            "--config-dir",
            &config_dir,
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    let status = json(&stdout);
    assert_eq!(status["status"], "UPDATE_COMPLETE");
    assert_eq!(status["outputs"]["McpUrl"], outputs["McpUrl"]);
    assert!(status["deployed_code_sha256"].is_string());

    // 6. diff with nothing changed.
    let diff_args = with(&["--artifact", &first_arg, "--output", "json"]);
    let (code, stdout, stderr) = mcpctl(
        &[
            &["diff"][..],
            &diff_args.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["changes"], serde_json::json!([]));

    // 7. destroy removes it.
    let (code, stdout, stderr) = mcpctl(
        &[
            "destroy",
            "--stage",
            "dev",
            "--config-dir",
            &config_dir,
            "--yes",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("deleted stack mcpctl-dev"), "{stdout}");
    assert!(
        lambda
            .get_function_configuration()
            .function_name(outputs["AuthFunctionName"].as_str().unwrap())
            .send()
            .await
            .is_err()
    );
    let (code, _, stderr) = mcpctl(
        &["status", "--stage", "dev", "--config-dir", &config_dir],
        &env,
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is not deployed"), "{stderr}");
}

const CFN_NS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

fn deploy_dev(endpoint: &str, artifact: &std::path::Path) -> (Option<i32>, String, String) {
    let env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    mcpctl(
        &[
            "deploy",
            "--stage",
            "dev",
            "--config-dir",
            &workspace().join("config").display().to_string(),
            "--artifact",
            &artifact.display().to_string(),
            "--yes",
        ],
        &env,
    )
}

#[test]
fn a_template_cloudformation_refuses_fails_clearly() {
    // moto validates no template, so CloudFormation's own answer is injected: this is the error
    // real CloudFormation returns for a dangling reference.
    let moto = Moto::start();
    let refusal = format!(
        r#"<ErrorResponse xmlns="{CFN_NS}"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Template format error: Unresolved resource dependencies [NoSuchResource] in the Outputs block of the template</Message></Error><RequestId>4af14eec-1111-2222-3333-444455556666</RequestId></ErrorResponse>"#
    );
    let proxy = e2e::QueryFaultProxy::start(
        &moto.endpoint,
        vec![e2e::CannedReply {
            action: "CreateChangeSet",
            after: None,
            status: 400,
            body: refusal,
        }],
    );
    let (code, _, stderr) = deploy_dev(&proxy.endpoint, &zip_of(b"refused"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("CloudFormation refused the change set"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Unresolved resource dependencies [NoSuchResource]"),
        "{stderr}"
    );
    assert!(
        !proxy.seen().iter().any(|a| a == "ExecuteChangeSet"),
        "nothing executed"
    );
}

#[test]
fn a_failing_deploy_names_the_resource_and_follows_the_rollback() {
    // After execution, CloudFormation reports a failed resource and a rollback (moto does not
    // emulate failures or rollbacks): the command must name the resource, its type and the reason.
    let moto = Moto::start();
    let event = |id: &str, logical: &str, kind: &str, status: &str, reason: &str, second: u32| {
        format!(
            "<member><EventId>{id}</EventId><StackName>mcpctl-dev</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/mcpctl-dev/x</StackId><LogicalResourceId>{logical}</LogicalResourceId><ResourceType>{kind}</ResourceType><Timestamp>2030-01-01T00:00:{second:02}Z</Timestamp><ResourceStatus>{status}</ResourceStatus><ResourceStatusReason>{reason}</ResourceStatusReason></member>"
        )
    };
    // Newest first, as CloudFormation lists them.
    let events = [
        event(
            "e5",
            "mcpctl-dev",
            "AWS::CloudFormation::Stack",
            "ROLLBACK_COMPLETE",
            "",
            5,
        ),
        event(
            "e4",
            "ClientsTable",
            "AWS::DynamoDB::Table",
            "DELETE_COMPLETE",
            "",
            4,
        ),
        event(
            "e3",
            "mcpctl-dev",
            "AWS::CloudFormation::Stack",
            "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [AuthFunction].",
            3,
        ),
        event(
            "e2",
            "AuthFunction",
            "AWS::Lambda::Function",
            "CREATE_FAILED",
            "Resource handler returned message: &quot;Memory size 100 is not a valid value&quot;",
            2,
        ),
        event(
            "e1",
            "ClientsTable",
            "AWS::DynamoDB::Table",
            "CREATE_COMPLETE",
            "",
            1,
        ),
    ]
    .concat();
    let events_body = format!(
        r#"<DescribeStackEventsResponse xmlns="{CFN_NS}"><DescribeStackEventsResult><StackEvents>{events}</StackEvents></DescribeStackEventsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStackEventsResponse>"#
    );
    let stacks_body = format!(
        r#"<DescribeStacksResponse xmlns="{CFN_NS}"><DescribeStacksResult><Stacks><member><StackName>mcpctl-dev</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/mcpctl-dev/x</StackId><CreationTime>2030-01-01T00:00:00Z</CreationTime><StackStatus>ROLLBACK_COMPLETE</StackStatus></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>"#
    );
    let proxy = e2e::QueryFaultProxy::start(
        &moto.endpoint,
        vec![
            e2e::CannedReply {
                action: "DescribeStackEvents",
                after: Some("ExecuteChangeSet"),
                status: 200,
                body: events_body,
            },
            e2e::CannedReply {
                action: "DescribeStacks",
                after: Some("ExecuteChangeSet"),
                status: 200,
                body: stacks_body,
            },
        ],
    );
    let (code, _, stderr) = deploy_dev(&proxy.endpoint, &zip_of(b"fails"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("ended in ROLLBACK_COMPLETE"), "{stderr}");
    assert!(stderr.contains("AuthFunction (AWS::Lambda::Function) failed: Resource handler returned message: \"Memory size 100 is not a valid value\""), "{stderr}");
    assert!(
        stderr.contains("ROLLBACK_IN_PROGRESS") && stderr.contains("DELETE_COMPLETE"),
        "the rollback is followed to its end: {stderr}"
    );
}

#[test]
fn deploy_refuses_to_prompt_without_a_terminal() {
    let moto = Moto::start();
    let env: Vec<(&str, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let artifact = zip_of(b"y");
    let (code, _, stderr) = mcpctl(
        &[
            "deploy",
            "--stage",
            "dev",
            "--config-dir",
            &workspace().join("config").display().to_string(),
            "--artifact",
            &artifact.display().to_string(),
        ],
        &env,
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
}

#[tokio::test]
async fn a_signing_kms_stage_deploys_with_its_key_in_kms_and_the_auth_function_may_only_sign() {
    let moto = Moto::start();
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("MCPCTL_SIGNING", "kms".into()));
    env.push(("MCPCTL_STACK_NAME", "mcpctl-kmsdeploy".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config_dir = workspace().join("config").display().to_string();
    let artifact = zip_of(b"bootstrap of a kms stage").display().to_string();
    let (code, stdout, stderr) = mcpctl(
        &[
            "deploy",
            "--stage",
            "dev",
            "--config-dir",
            &config_dir,
            "--artifact",
            &artifact,
            "--yes",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["status"], "CREATE_COMPLETE", "{stdout}");
    assert!(stderr.contains("the key itself is in KMS"), "{stderr}");

    let sdk = moto.sdk_config().await;
    let stored = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id("mcpctl/mcpctl-kmsdeploy/signing-key")
        .send()
        .await
        .unwrap();
    let raw = stored.secret_string().unwrap();
    assert!(!raw.contains("signing_key_pkcs8"), "{raw}");
    let secret = mcpctl_handler::keys::SigningSecret::from_json(raw).unwrap();
    let key_arn = secret.signing.kms_key_arn().unwrap().to_owned();
    let metadata = aws_sdk_kms::Client::new(&sdk)
        .describe_key()
        .key_id(&key_arn)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(
        metadata.key_spec(),
        Some(&aws_sdk_kms::types::KeySpec::EccNistP256)
    );
    assert_eq!(
        metadata.key_usage(),
        Some(&aws_sdk_kms::types::KeyUsageType::SignVerify)
    );

    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = cf
        .describe_stacks()
        .stack_name("mcpctl-kmsdeploy")
        .send()
        .await
        .unwrap();
    let parameter = |key: &str| {
        stack.stacks()[0]
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(key))
            .and_then(|p| p.parameter_value())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(parameter("SigningKmsKeyArns"), key_arn);
    // What the verifiers get is KMS's public key, under the secret's kid.
    let jwks = mcpctl_handler::keys::VerifyingKeys::from_jwks_json(&parameter("JwksJson")).unwrap();
    assert_eq!(
        jwks.kids().collect::<Vec<_>>(),
        [secret.current_kid().unwrap().as_str()]
    );
    // The second deploy finds the key and makes no other.
    let (code, _, stderr) = mcpctl(
        &[
            "deploy",
            "--stage",
            "dev",
            "--config-dir",
            &config_dir,
            "--artifact",
            &artifact,
            "--yes",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    // (moto also lists the AWS-managed key Secrets Manager encrypts with.)
    let kms = aws_sdk_kms::Client::new(&sdk);
    let mut ours = Vec::new();
    for key in kms.list_keys().send().await.unwrap().keys() {
        let metadata = kms
            .describe_key()
            .key_id(key.key_id().unwrap())
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap();
        if metadata
            .description()
            .is_some_and(|d| d.starts_with("mcpctl:"))
        {
            ours.push(metadata.arn().unwrap().to_owned());
        }
    }
    assert_eq!(ours, [key_arn], "{stderr}");
}
