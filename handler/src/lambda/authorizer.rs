//! The API Gateway REST TOKEN authorizer of `POST /mcp` (role `authorizer`).
//!
//! Why it exists: API Gateway renames a proxied `WWW-Authenticate` header, so a 401 from the MCP
//! function never shows a client where to sign in. The authorizer refuses instead, and the
//! stack's `UNAUTHORIZED` gateway response (not renamed) carries the RFC 9728 challenge.
//!
//! Decisions (docs/stack.md, "The TOKEN authorizer"):
//! - token missing, not `Bearer`, or failing [`mcp_guard::verify`] (ES256 only, known `kid`,
//!   issuer, audience = the MCP resource, `exp`/`nbf`): the error `Unauthorized`, exactly. API
//!   Gateway then answers 401 with the challenge; a Deny policy would be a bare 403.
//! - valid token: Allow, for every method of this API and stage (results are cached 300 s per
//!   token, not per method), `principalId` = the token's subject, and `client_id`, `scope`, `sub`
//!   in the context.
//! - valid token without the `mcp` scope: Allow as well, so the MCP function answers its own
//!   403 `insufficient_scope` (RFC 6750 §3.1) with the error in the body; the function verifies
//!   every token again, so this widens nothing.
//!
//! One JSON log line per decision, never with the token.

use crate::{AppState, http::mcp_guard, oauth::jwt::AccessClaims};
use lambda_http::{
    Error,
    aws_lambda_events::{
        apigw::{
            ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequest,
            ApiGatewayCustomAuthorizerResponse,
        },
        iam::{IamPolicyEffect, IamPolicyStatement},
    },
    lambda_runtime::{self, Diagnostic, LambdaEvent, service_fn},
};

/// The error message API Gateway turns into a 401 and the `UNAUTHORIZED` gateway response. Any
/// other message (or a crash) is a 500.
pub(crate) const UNAUTHORIZED: &str = "Unauthorized";

/// A valid token and the policy resource to allow, or why the caller is unauthorized.
fn decide(
    state: &AppState,
    request: &ApiGatewayCustomAuthorizerRequest,
) -> Result<(AccessClaims, String), String> {
    let token = request
        .authorization_token
        .as_deref()
        .and_then(mcp_guard::parse_bearer)
        .ok_or("no bearer token")?;
    let claims = mcp_guard::verify(state, token).map_err(|e| e.to_string())?;
    // API Gateway always sends it; without it there is nothing to allow.
    let resource = request
        .method_arn
        .as_deref()
        .and_then(api_stage_resource)
        .ok_or("the event has no valid methodArn")?;
    Ok((claims, resource))
}

/// `arn:PARTITION:execute-api:REGION:ACCOUNT:API/STAGE/*/*` for a method ARN
/// `arn:PARTITION:execute-api:REGION:ACCOUNT:API/STAGE/VERB/PATH`.
///
/// Why not the method ARN itself: API Gateway caches the policy by token (the identity source)
/// for `AuthorizerResultTtlInSeconds` (300 s) and evaluates the cached policy against whichever
/// method the next request calls. A policy naming only `POST/mcp` would turn into a 403 on any
/// other method that ever shares this authorizer. Allowing the API's methods of the same stage,
/// and nothing beyond this API, is what the token means: the holder may call this MCP server.
fn api_stage_resource(method_arn: &str) -> Option<String> {
    let parts: Vec<&str> = method_arn.splitn(6, ':').collect();
    let [arn, partition, service, region, account, path] = parts.as_slice() else {
        return None;
    };
    if *arn != "arn" || *service != "execute-api" {
        return None;
    }
    let mut segments = path.splitn(3, '/');
    let api = segments.next().filter(|s| !s.is_empty())?;
    let stage = segments.next().filter(|s| !s.is_empty())?;
    Some(format!(
        "arn:{partition}:execute-api:{region}:{account}:{api}/{stage}/*/*"
    ))
}

/// Answers one authorizer event and logs the decision.
pub(crate) fn handle(
    state: &AppState,
    event: LambdaEvent<ApiGatewayCustomAuthorizerRequest>,
) -> Result<ApiGatewayCustomAuthorizerResponse, Diagnostic> {
    let request_id = event.context.request_id.as_str();
    match decide(state, &event.payload) {
        Ok((claims, resource)) => {
            tracing::info!(
                target: "mcpctl::authorizer",
                request_id,
                decision = "allow",
                client_id = %claims.client_id,
                insufficient_scope = !claims.has_scope(&state.config.mcp_scope),
                "authorizer"
            );
            Ok(allow(claims, resource))
        }
        Err(reason) => {
            tracing::info!(
                target: "mcpctl::authorizer",
                request_id,
                decision = "unauthorized",
                reason = %reason,
                "authorizer"
            );
            Err(Diagnostic {
                error_type: UNAUTHORIZED.into(),
                error_message: UNAUTHORIZED.into(),
            })
        }
    }
}

fn allow(claims: AccessClaims, resource: String) -> ApiGatewayCustomAuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![resource];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".into());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    // Context values must be strings, numbers or booleans; the integration sees them as
    // `requestContext.authorizer.*`.
    response.context = serde_json::json!({
        "client_id": claims.client_id,
        "scope": claims.scope,
        "sub": claims.sub,
    });
    response.principal_id = Some(claims.sub);
    response.policy_document = policy;
    response
}

/// Serves authorizer events until the runtime stops the container.
pub(crate) async fn run(state: AppState) -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequest>| {
            let result = handle(&state, event);
            async move { result }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{
        clock::ManualClock,
        config::HandlerConfig,
        keys::{KeyMaterial, SigningKey, VerifyingKeys},
        oauth::jwt::{self, SubjectKind},
        state::Stores,
        store::memory::MemoryStore,
    };
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use serde_json::{Value, json};

    use super::*;

    /// `aws_lambda_events`' `example-apigw-custom-auth-request.json` (the TOKEN event shape).
    const FIXTURE: &str = r#"{
    "type":"TOKEN",
    "authorizationToken":"allow",
    "methodArn":"arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/"
}"#;
    const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/mcp";
    const NOW: u64 = 1_800_000_000;

    struct Setup {
        state: AppState,
        key: SigningKey,
    }

    fn setup() -> Setup {
        let key = SigningKey::generate().unwrap();
        let config = HandlerConfig::new(
            url::Url::parse("https://abc123.execute-api.us-east-1.amazonaws.com/prod").unwrap(),
        );
        let keys = KeyMaterial {
            signing: None,
            verifying: VerifyingKeys::from_jwks(vec![key.public_jwk().clone()]).unwrap(),
            mac: crate::crypto::MacKey::new(b""),
        };
        let state = AppState::new(
            config,
            keys,
            Stores::memory(Arc::new(MemoryStore::new())),
            Arc::new(ManualClock::new(NOW)),
        );
        Setup { state, key }
    }

    fn claims(state: &AppState) -> AccessClaims {
        AccessClaims {
            iss: state.config.issuer(),
            sub: "user-1".into(),
            aud: state.config.resource(),
            exp: NOW + 600,
            iat: NOW,
            nbf: NOW,
            jti: "jti-1".into(),
            client_id: "client-1".into(),
            kind: SubjectKind::Person,
            scope: "mcp openid".into(),
            name: None,
            email: None,
            groups: Vec::new(),
        }
    }

    /// The fixture with its token and method ARN replaced, parsed as the runtime would.
    fn event(authorization: Option<&str>) -> LambdaEvent<ApiGatewayCustomAuthorizerRequest> {
        let mut value: Value = serde_json::from_str(FIXTURE).unwrap();
        value["methodArn"] = json!(METHOD_ARN);
        match authorization {
            Some(token) => value["authorizationToken"] = json!(token),
            None => {
                value.as_object_mut().unwrap().remove("authorizationToken");
            }
        }
        let mut context = lambda_runtime::Context::default();
        context.request_id = "auth-req-1".into();
        LambdaEvent::new(serde_json::from_value(value).unwrap(), context)
    }

    fn call(setup: &Setup, claims: &AccessClaims) -> Result<Value, Diagnostic> {
        let token = jwt::sign(&setup.key, claims).unwrap();
        handle(&setup.state, event(Some(&format!("Bearer {token}"))))
            .map(|response| serde_json::to_value(response).unwrap())
    }

    fn assert_unauthorized(result: Result<Value, Diagnostic>) {
        let error = result.unwrap_err();
        assert_eq!(error.error_message, "Unauthorized");
        assert_eq!(error.error_type, "Unauthorized");
    }

    #[test]
    fn the_fixture_parses_as_a_token_event() {
        let request: ApiGatewayCustomAuthorizerRequest = serde_json::from_str(FIXTURE).unwrap();
        assert_eq!(request.type_.as_deref(), Some("TOKEN"));
        assert_eq!(request.authorization_token.as_deref(), Some("allow"));
        // Not a bearer token.
        assert_unauthorized(
            handle(
                &setup().state,
                LambdaEvent::new(request, Default::default()),
            )
            .map(|r| serde_json::to_value(r).unwrap()),
        );
    }

    #[test]
    fn a_good_token_is_allowed_for_the_api_stage_with_its_identity_in_the_context() {
        let setup = setup();
        let response = call(&setup, &claims(&setup.state)).unwrap();
        assert_eq!(
            response,
            json!({
                "principalId": "user-1",
                "policyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Action": ["execute-api:Invoke"],
                        "Effect": "Allow",
                        "Resource": ["arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"]
                    }]
                },
                "context": { "client_id": "client-1", "scope": "mcp openid", "sub": "user-1" },
                "usageIdentifierKey": null
            })
        );
        // The scheme is case-insensitive, as in the function's own guard.
        let token = jwt::sign(&setup.key, &claims(&setup.state)).unwrap();
        assert!(handle(&setup.state, event(Some(&format!("bearer {token}")))).is_ok());
    }

    #[test]
    fn an_expired_token_is_unauthorized() {
        let setup = setup();
        let mut expired = claims(&setup.state);
        expired.exp = NOW;
        assert_unauthorized(call(&setup, &expired));
        let mut early = claims(&setup.state);
        early.nbf = NOW + 60;
        assert_unauthorized(call(&setup, &early));
    }

    #[test]
    fn a_token_for_another_audience_or_issuer_is_unauthorized() {
        let setup = setup();
        let mut other = claims(&setup.state);
        other.aud = "https://elsewhere.example/mcp".into();
        assert_unauthorized(call(&setup, &other));
        let mut other = claims(&setup.state);
        other.iss = "https://elsewhere.example".into();
        assert_unauthorized(call(&setup, &other));
    }

    #[test]
    fn alg_none_and_foreign_keys_are_unauthorized() {
        let setup = setup();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&setup.state)).unwrap());
        let unsigned = format!("{header}.{body}.");
        assert_unauthorized(
            handle(&setup.state, event(Some(&format!("Bearer {unsigned}"))))
                .map(|r| serde_json::to_value(r).unwrap()),
        );
        let stranger = SigningKey::generate().unwrap();
        let token = jwt::sign(&stranger, &claims(&setup.state)).unwrap();
        assert_unauthorized(
            handle(&setup.state, event(Some(&format!("Bearer {token}"))))
                .map(|r| serde_json::to_value(r).unwrap()),
        );
    }

    #[test]
    fn a_missing_or_non_bearer_header_is_unauthorized() {
        let setup = setup();
        for authorization in [None, Some(""), Some("Bearer "), Some("Basic dXNlcjpwYXNz")] {
            assert_unauthorized(
                handle(&setup.state, event(authorization))
                    .map(|r| serde_json::to_value(r).unwrap()),
            );
        }
    }

    #[test]
    fn a_token_without_the_mcp_scope_is_allowed_for_the_function_to_answer_403() {
        let setup = setup();
        let mut openid_only = claims(&setup.state);
        openid_only.scope = "openid profile".into();
        let response = call(&setup, &openid_only).unwrap();
        assert_eq!(
            response["policyDocument"]["Statement"][0]["Effect"],
            "Allow"
        );
        assert_eq!(response["context"]["scope"], "openid profile");
    }

    #[test]
    fn the_policy_resource_is_the_api_stage_or_nothing() {
        assert_eq!(
            api_stage_resource("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/")
                .as_deref(),
            Some("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/*/*")
        );
        assert_eq!(
            api_stage_resource("arn:aws-cn:execute-api:cn-north-1:1:api/dev/POST/mcp/x").as_deref(),
            Some("arn:aws-cn:execute-api:cn-north-1:1:api/dev/*/*")
        );
        for bad in [
            "",
            "arn:aws:lambda:us-east-1:1:function:f",
            "arn:aws:execute-api:us-east-1:1:",
            "arn:aws:execute-api:us-east-1:1:api",
            "arn:aws:execute-api:us-east-1:1:api/",
        ] {
            assert_eq!(api_stage_resource(bad), None, "{bad}");
        }
        let setup = setup();
        let mut event = event(None);
        event.payload.authorization_token = Some(format!(
            "Bearer {}",
            jwt::sign(&setup.key, &claims(&setup.state)).unwrap()
        ));
        event.payload.method_arn = None;
        assert_unauthorized(handle(&setup.state, event).map(|r| serde_json::to_value(r).unwrap()));
    }
}
