//! Key rotation end to end: `mcpctl keys rotate` on `mcpctl dev --state-dir` (a token from before
//! the rotation keeps working, new tokens carry the new `kid`) and on a stage whose stack and
//! signing secret live in moto (the new key is published before it signs; the old one stays).

use e2e::{DevServer, Moto, mcpctl};
use mcpctl_handler::keys::{SigningSecret, VerifyingKeys};
use serde_json::Value;

use super::dev_server::{client_credentials, token, tools_list};

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn dev_state_dir_rotation_keeps_old_tokens_and_signs_new_ones_with_the_new_key() {
    let dir = std::env::temp_dir().join(format!("mcpctl-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port().to_string()
    };
    let dir_arg = dir.display().to_string();
    let (id, secret, before) = {
        let server = DevServer::start(&["--port", &port, "--state-dir", &dir_arg]);
        client_credentials(&server).await
    };
    let old_kid = kid(&before);

    let (code, stdout, stderr) = mcpctl(
        &[
            "keys",
            "rotate",
            "--state-dir",
            &dir_arg,
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let listed = json(&stdout);
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{listed}");
    assert_eq!(keys[0]["state"], "signing");
    assert_ne!(keys[0]["kid"], old_kid.as_str());
    assert_eq!(keys[1]["kid"], old_kid.as_str());
    assert_eq!(keys[1]["state"], "retired");
    assert!(keys[1]["published_until"].is_string(), "{listed}");
    let new_kid = keys[0]["kid"].as_str().unwrap().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "keys.json stays private to its owner");
    }

    let server = DevServer::start(&["--port", &port, "--state-dir", &dir_arg]);
    assert_eq!(
        tools_list(&server.mcp_url(), &before).await.status(),
        200,
        "a token signed before the rotation still verifies"
    );
    let after = token(&server.issuer(), &id, &secret).await;
    assert_eq!(kid(&after), new_kid, "new tokens carry the new kid");
    assert_eq!(tools_list(&server.mcp_url(), &after).await.status(), 200);
    let jwks: Value = reqwest::get(server.issuer() + "/.well-known/jwks.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new_kid.as_str(), old_kid.as_str()]);
    let (code, text, _) = mcpctl(&["keys", "list", "--state-dir", &dir_arg], &[]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains(&new_kid) && text.contains("signing") && text.contains("published until"),
        "{text}"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_stage_rotation_publishes_the_new_key_before_it_signs_and_keeps_the_old_one() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let original = SigningSecret::generate().unwrap();
    let old_kid = original.current_kid().unwrap();
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    secrets
        .create_secret()
        .name("mcpctl/mcpctl-dev/signing-key")
        .secret_string(original.to_json().unwrap())
        .send()
        .await
        .unwrap();
    // The parameters rotation touches, and one it must leave alone.
    let template = serde_json::json!({
        "Parameters": {"JwksJson": {"Type": "String"}, "CodeKey": {"Type": "String"}},
        "Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/aws/lambda/mcpctl-dev-auth"}}},
        "Outputs": {"McpUrl": {"Value": "https://api.example.com/dev/mcp"}}
    });
    let parameter = |key: &str, value: &str| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key(key)
            .parameter_value(value)
            .build()
    };
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    cf.create_stack()
        .stack_name("mcpctl-dev")
        .template_body(template.to_string())
        .parameters(parameter("JwksJson", &original.jwks_json().unwrap()))
        .parameters(parameter("CodeKey", "code/abc.zip"))
        .send()
        .await
        .unwrap();

    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stdout, stderr) = mcpctl(
        &["keys", "rotate", "--stage", "dev", "--output", "json"],
        &env,
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let listed = json(&stdout);
    let new_kid = listed["keys"][0]["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(listed["keys"][0]["published"], true, "{listed}");
    assert_eq!(listed["keys"][1]["kid"], old_kid.as_str());
    assert_eq!(listed["keys"][1]["state"], "retired");
    assert_eq!(listed["keys"][1]["published"], true, "{listed}");

    let parameters = |stack: &aws_sdk_cloudformation::types::Stack| -> std::collections::BTreeMap<String, String> {
        stack
            .parameters()
            .iter()
            .map(|p| (p.parameter_key().unwrap().to_owned(), p.parameter_value().unwrap_or_default().to_owned()))
            .collect()
    };
    let described = cf
        .describe_stacks()
        .stack_name("mcpctl-dev")
        .send()
        .await
        .unwrap();
    let now = parameters(&described.stacks()[0]);
    assert_eq!(
        now["CodeKey"], "code/abc.zip",
        "the rest of the stack is left as it was"
    );
    // What every verifier reads (MCP_JWKS) knows both keys, the new one first.
    let published = VerifyingKeys::from_jwks_json(&now["JwksJson"]).unwrap();
    assert_eq!(
        published.kids().collect::<Vec<_>>(),
        [new_kid.as_str(), old_kid.as_str()]
    );
    // The auth function, at its next cold start, signs with the new key.
    let stored = secrets
        .get_secret_value()
        .secret_id("mcpctl/mcpctl-dev/signing-key")
        .send()
        .await
        .unwrap();
    let rotated = SigningSecret::from_json(stored.secret_string().unwrap()).unwrap();
    let material = rotated.key_material().unwrap();
    assert_eq!(material.signing.as_ref().unwrap().kid(), new_kid);
    assert!(rotated.next.is_none());
    assert!(rotated.previous_until.contains_key(&old_kid));
    // The MAC secret (refresh-token successors, CSRF) is not rotated with the signing key.
    assert_eq!(rotated.mac_secret, original.mac_secret);

    // The first step alone (an interrupted rotation): the next key is published, not signing.
    let mut half = rotated.clone();
    let next = half.stage_next().unwrap();
    let halfway = half.key_material().unwrap();
    assert_eq!(halfway.signing.as_ref().unwrap().kid(), new_kid);
    assert!(halfway.verifying.get(&next).is_some());
    // A second rotation resumes and retires the second key too.
    secrets
        .put_secret_value()
        .secret_id("mcpctl/mcpctl-dev/signing-key")
        .secret_string(half.to_json().unwrap())
        .send()
        .await
        .unwrap();
    let (code, stdout, stderr) = mcpctl(
        &["keys", "rotate", "--stage", "dev", "--output", "json"],
        &env,
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let listed = json(&stdout);
    assert_eq!(
        listed["keys"][0]["kid"],
        next.as_str(),
        "the published next key was promoted: {listed}"
    );
    assert_eq!(listed["keys"].as_array().unwrap().len(), 3, "{listed}");

    // Without --stage or --state-dir: a clear error, in JSON when asked.
    let (code, stdout, _) = mcpctl(&["keys", "list", "--output", "json"], &env);
    assert_eq!(code, Some(2));
    assert!(
        json(&stdout)["message"]
            .as_str()
            .unwrap()
            .contains("--stage"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_rotation_moves_the_signing_key_into_kms_and_retires_kms_keys_it_replaces() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let original = SigningSecret::generate().unwrap();
    let old_kid = original.current_kid().unwrap();
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let parameter = |key: &str, value: &str| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key(key)
            .parameter_value(value)
            .build()
    };
    // Two stacks: one deployed by this mcpctl (it has SigningKmsKeyArns), one by an older one.
    for (stack, with_kms_parameter) in [("mcpctl-kms", true), ("mcpctl-old", false)] {
        secrets
            .create_secret()
            .name(format!("mcpctl/{stack}/signing-key"))
            .secret_string(original.to_json().unwrap())
            .send()
            .await
            .unwrap();
        let mut parameters = serde_json::json!({"JwksJson": {"Type": "String"}});
        if with_kms_parameter {
            parameters["SigningKmsKeyArns"] = serde_json::json!({"Type": "String"});
        }
        let template = serde_json::json!({
            "Parameters": parameters,
            "Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": format!("/aws/lambda/{stack}-auth")}}},
            "Outputs": {"McpUrl": {"Value": "https://api.example.com/dev/mcp"}}
        });
        let mut create = cf
            .create_stack()
            .stack_name(stack)
            .template_body(template.to_string())
            .parameters(parameter("JwksJson", &original.jwks_json().unwrap()));
        if with_kms_parameter {
            create = create.parameters(parameter("SigningKmsKeyArns", ""));
        }
        create.send().await.unwrap();
    }
    let stack_parameters = |stack: &'static str| {
        let cf = cf.clone();
        async move {
            let described = cf.describe_stacks().stack_name(stack).send().await.unwrap();
            described.stacks()[0]
                .parameters()
                .iter()
                .map(|p| {
                    (
                        p.parameter_key().unwrap().to_owned(),
                        p.parameter_value().unwrap_or_default().to_owned(),
                    )
                })
                .collect::<std::collections::BTreeMap<String, String>>()
        }
    };
    let read_secret = |stack: &'static str| {
        let secrets = secrets.clone();
        async move {
            let stored = secrets
                .get_secret_value()
                .secret_id(format!("mcpctl/{stack}/signing-key"))
                .send()
                .await
                .unwrap();
            SigningSecret::from_json(stored.secret_string().unwrap()).unwrap()
        }
    };
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("MCPCTL_SIGNING", "kms".into()));
    env.push(("MCPCTL_STACK_NAME", "mcpctl-kms".into()));
    let rotate = |env: &[(&str, String)]| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        mcpctl(
            &["keys", "rotate", "--stage", "dev", "--output", "json"],
            &env,
        )
    };

    // 1. From the secret into KMS.
    let (code, stdout, stderr) = rotate(&env);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let listed = json(&stdout);
    let first_arn = listed["keys"][0]["kms_key_arn"]
        .as_str()
        .unwrap_or_else(|| panic!("the signing key is in KMS: {listed}"))
        .to_owned();
    let kms_kid = listed["keys"][0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(listed["keys"][1]["kid"], old_kid.as_str());
    let secret = read_secret("mcpctl-kms").await;
    assert_eq!(secret.signing.kms_key_arn(), Some(first_arn.as_str()));
    let raw = secret.to_json().unwrap();
    assert!(
        !raw.contains("signing_key_pkcs8"),
        "no private key left in the secret: {raw}"
    );
    // KMS's own public key is what the stack publishes, and the only key it may sign with.
    let spki = kms
        .get_public_key()
        .key_id(&first_arn)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap();
    let jwk = mcpctl_handler::keys::p256_jwk_from_spki(spki.as_ref()).unwrap();
    assert_eq!(jwk.kid, kms_kid);
    let now = stack_parameters("mcpctl-kms").await;
    assert_eq!(now["SigningKmsKeyArns"], first_arn);
    assert_eq!(
        VerifyingKeys::from_jwks_json(&now["JwksJson"])
            .unwrap()
            .kids()
            .collect::<Vec<_>>(),
        [kms_kid.as_str(), old_kid.as_str()]
    );

    // 2. From one KMS key to another: the replaced key never signs again and is scheduled for
    // deletion (cancellable for 30 days); its public half stays published.
    let (code, stdout, stderr) = rotate(&env);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let listed = json(&stdout);
    let second_arn = listed["keys"][0]["kms_key_arn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second_arn, first_arn);
    assert!(
        listed["note"]
            .as_str()
            .unwrap()
            .contains("scheduled for deletion"),
        "{listed}"
    );
    let state = kms
        .describe_key()
        .key_id(&first_arn)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_state;
    assert_eq!(state, Some(aws_sdk_kms::types::KeyState::PendingDeletion));
    let now = stack_parameters("mcpctl-kms").await;
    assert_eq!(now["SigningKmsKeyArns"], second_arn);
    assert!(
        VerifyingKeys::from_jwks_json(&now["JwksJson"])
            .unwrap()
            .get(&kms_kid)
            .is_some()
    );
    let (code, stdout, _) = {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        mcpctl(&["keys", "list", "--stage", "dev"], &env)
    };
    assert_eq!(code, Some(0));
    assert!(stdout.contains(&format!("in KMS {second_arn}")), "{stdout}");

    // 3. A stack deployed without the parameter cannot grant kms:Sign: refused, nothing
    // promoted, and the advice says to deploy first.
    let mut old_env = env.clone();
    old_env.retain(|(k, _)| *k != "MCPCTL_STACK_NAME");
    old_env.push(("MCPCTL_STACK_NAME", "mcpctl-old".into()));
    let (code, stdout, stderr) = rotate(&old_env);
    assert_ne!(code, Some(0), "{stdout}");
    let error = json(&stdout);
    assert!(
        error["message"].as_str().unwrap().contains("signing: kms"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(
        read_secret("mcpctl-old").await.current_kid().unwrap(),
        old_kid
    );
}
