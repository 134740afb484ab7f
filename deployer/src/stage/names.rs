//! The names `mcpctl deploy`, `status` and the other commands rely on: the template's deploy-time
//! parameters and its outputs. The renderer refuses templates that lack any of them.

/// Parameters without a default: `mcpctl deploy` passes them on every deploy.
pub(crate) mod parameter {
    /// S3 bucket holding the Lambda zip.
    pub(crate) const CODE_BUCKET: &str = "CodeBucket";
    /// S3 key of the Lambda zip.
    pub(crate) const CODE_KEY: &str = "CodeKey";
    /// ARN of the Secrets Manager secret with the ES256 private key and the MAC secret.
    pub(crate) const SIGNING_KEY_SECRET_ARN: &str = "SigningKeySecretArn";
    /// The public JWKS (`{"keys":[...]}`) for the verify-only functions.
    pub(crate) const JWKS_JSON: &str = "JwksJson";
    /// The KMS keys the auth function may sign with (`signing: kms`), comma-separated.
    pub(crate) const SIGNING_KMS_KEY_ARNS: &str = "SigningKmsKeyArns";
    /// S3 key of the upstream function's zip (gateway mode with `upstream.function.source`
    /// only, so not in [`DEPLOY_TIME`]; the renderer adds it, and `mcpctl deploy` passes it
    /// when the template has it).
    pub(crate) const UPSTREAM_CODE_KEY: &str = "UpstreamCodeKey";
    /// Gateway mode only (added by the renderer, passed by `mcpctl deploy` when present): the
    /// secret with the key that signs identity assertions, apart from the access tokens' key.
    pub(crate) const GATEWAY_KEY_SECRET_ARN: &str = "GatewayKeySecretArn";
    /// Gateway mode only: that key's public JWKS, served for upstreams by the auth function.
    pub(crate) const GATEWAY_JWKS_JSON: &str = "GatewayJwksJson";
    /// All of them.
    pub(crate) const DEPLOY_TIME: [&str; 5] = [
        CODE_BUCKET,
        CODE_KEY,
        SIGNING_KEY_SECRET_ARN,
        JWKS_JSON,
        SIGNING_KMS_KEY_ARNS,
    ];
}

/// Stack outputs.
pub(crate) mod output {
    /// The default stage URL, `https://<api>.execute-api.<region>.amazonaws.com/<stage>`.
    pub(crate) const API_URL: &str = "ApiUrl";
    /// `<issuer>/mcp`, the URL MCP clients use.
    pub(crate) const MCP_URL: &str = "McpUrl";
    /// The issuer: the custom domain's `https://<domain>` when configured, else the API URL.
    pub(crate) const ISSUER: &str = "Issuer";
    /// Clients table name.
    pub(crate) const CLIENTS_TABLE_NAME: &str = "ClientsTableName";
    /// Codes table name.
    pub(crate) const CODES_TABLE_NAME: &str = "CodesTableName";
    /// Refresh-tokens table name.
    pub(crate) const REFRESH_TOKENS_TABLE_NAME: &str = "RefreshTokensTableName";
    /// The OAuth + discovery function.
    pub(crate) const AUTH_FUNCTION_NAME: &str = "AuthFunctionName";
    /// The `/mcp` function.
    pub(crate) const MCP_FUNCTION_NAME: &str = "McpFunctionName";
    /// The TOKEN authorizer function.
    pub(crate) const AUTHORIZER_FUNCTION_NAME: &str = "AuthorizerFunctionName";
    /// Log group of the auth function.
    pub(crate) const AUTH_LOG_GROUP_NAME: &str = "AuthLogGroupName";
    /// Log group of the MCP function.
    pub(crate) const MCP_LOG_GROUP_NAME: &str = "McpLogGroupName";
    /// Log group of the authorizer function.
    pub(crate) const AUTHORIZER_LOG_GROUP_NAME: &str = "AuthorizerLogGroupName";
    /// API Gateway access log group.
    pub(crate) const ACCESS_LOG_GROUP_NAME: &str = "AccessLogGroupName";
    /// SNS topic the alarms notify.
    pub(crate) const ALARM_TOPIC_ARN: &str = "AlarmTopicArn";
    /// The `CodeKey` parameter of the last deploy (the zip's content hash is in the key).
    pub(crate) const CODE_KEY: &str = "CodeKey";
    /// The Cognito user pool of `identity.mode: cognito` (conditional, so not in [`REQUIRED`]).
    #[cfg(feature = "aws")]
    pub(crate) const COGNITO_USER_POOL_ID: &str = "CognitoUserPoolId";
    /// The tools' table of `mcp_function.table` (only with one, so not in [`REQUIRED`]).
    pub(crate) const APP_TABLE_NAME: &str = "AppTableName";
    /// The upstream function of gateway mode (`upstream.function` only, so not in [`REQUIRED`]).
    pub(crate) const UPSTREAM_FUNCTION_NAME: &str = "UpstreamFunctionName";
    /// Its log group.
    pub(crate) const UPSTREAM_LOG_GROUP_NAME: &str = "UpstreamLogGroupName";
    /// Every output the template must have (`CustomDomainTarget` and the Cognito outputs are
    /// extra and conditional).
    pub(crate) const REQUIRED: [&str; 15] = [
        API_URL,
        MCP_URL,
        ISSUER,
        CLIENTS_TABLE_NAME,
        CODES_TABLE_NAME,
        REFRESH_TOKENS_TABLE_NAME,
        AUTH_FUNCTION_NAME,
        MCP_FUNCTION_NAME,
        AUTHORIZER_FUNCTION_NAME,
        AUTH_LOG_GROUP_NAME,
        MCP_LOG_GROUP_NAME,
        AUTHORIZER_LOG_GROUP_NAME,
        ACCESS_LOG_GROUP_NAME,
        ALARM_TOPIC_ARN,
        CODE_KEY,
    ];
}
