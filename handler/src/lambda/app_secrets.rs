//! The secrets of the stage config's `mcp_function.secrets`, read once per container at cold
//! start: `MCP_APP_SECRETS` is `{"NAME": "ARN"}`, each ARN a Secrets Manager secret or an SSM
//! parameter. Reads run concurrently; a failure stops the start naming the secret, never a value.

use std::collections::HashMap;

use aws_sdk_ssm::error::DisplayErrorContext;
use lambda_http::Error;

use super::keys::{fetch_secret, secrets_client};
use crate::tool_env::SecretSource;

/// `mcp_function.secrets` of the stage config, as JSON.
const APP_SECRETS_VAR: &str = "MCP_APP_SECRETS";

/// The secrets this container's tools may read.
pub(crate) async fn load(lookup: &impl Fn(&str) -> Option<String>) -> Result<SecretSource, Error> {
    let Some(json) = lookup(APP_SECRETS_VAR).filter(|v| !v.trim().is_empty()) else {
        return Ok(SecretSource::Environment);
    };
    let arns: HashMap<String, String> = serde_json::from_str(&json).map_err(|e| {
        format!("{APP_SECRETS_VAR} is not a JSON object of NAME: ARN (the stack sets it from mcp_function.secrets): {e}")
    })?;
    let mut reads = tokio::task::JoinSet::new();
    for (name, arn) in arns {
        reads.spawn(async move {
            let value = read(&name, &arn).await;
            (name, value)
        });
    }
    let mut values = HashMap::new();
    while let Some(joined) = reads.join_next().await {
        let (name, value) = joined?;
        values.insert(name, value?);
    }
    Ok(SecretSource::Loaded(values))
}

async fn read(name: &str, arn: &str) -> Result<String, Error> {
    let what = format!("secret {name}");
    // arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE
    let service = arn.split(':').nth(2);
    if arn.starts_with("arn:") && service == Some("secretsmanager") {
        return fetch_secret(secrets_client().await, arn, &what, APP_SECRETS_VAR).await;
    }
    if arn.starts_with("arn:") && service == Some("ssm") {
        let output = ssm_client()
            .await
            .get_parameter()
            .name(arn)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read the {what} {arn} ({APP_SECRETS_VAR}): {}; the MCP function's role needs ssm:GetParameter on it (and kms:Decrypt for a customer-managed key)",
                    DisplayErrorContext(&e)
                )
            })?;
        return output
            .parameter
            .and_then(|p| p.value)
            .ok_or_else(|| format!("the {what} {arn} has no value").into());
    }
    Err(format!(
        "{APP_SECRETS_VAR}: {name} names `{arn}`, which is neither a Secrets Manager secret ARN nor an SSM parameter ARN"
    )
    .into())
}

/// The SSM client, built once per container with the same bounded retries as the others.
async fn ssm_client() -> &'static aws_sdk_ssm::Client {
    static CLIENT: tokio::sync::OnceCell<aws_sdk_ssm::Client> = tokio::sync::OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            let config = crate::store::dynamo::bounded_config_loader().load().await;
            aws_sdk_ssm::Client::new(&config)
        })
        .await
}
