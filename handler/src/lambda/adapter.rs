//! The thin layer between `lambda_http` and the router (compiled into the `bootstrap` binary
//! only, so the library stays AWS-free).
//!
//! API Gateway REST events carry the stage in the path (`/prod/mcp`); routing uses the raw path
//! without the stage, so the function works whether or not `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`
//! is set. The Lambda (or API Gateway) request id becomes the request id of the access log.

use crate::http::log::RequestId;
use axum::Router;
use lambda_http::{
    RequestExt, request::RequestContext, tower::ServiceBuilder, tower::util::MapRequestLayer,
};

/// Rewrites the path of a Lambda request to its stage-free form and records its request id.
pub(crate) fn prepare(mut request: lambda_http::Request) -> lambda_http::Request {
    let id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .or_else(|| match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(context)) => context.request_id.clone(),
            _ => None,
        });
    if let Some(id) = id {
        request.extensions_mut().insert(RequestId(id));
    }
    let raw = request.raw_http_path().to_owned();
    if !raw.is_empty() && raw != request.uri().path() {
        let mut parts = request.uri().clone().into_parts();
        let path_and_query = match request.uri().query() {
            Some(query) => format!("{raw}?{query}"),
            None => raw,
        };
        if let Ok(value) = path_and_query.parse() {
            parts.path_and_query = Some(value);
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    request
}

/// The service `lambda_http::run` drives.
pub(crate) fn service(
    router: Router,
) -> impl tower::Service<
    lambda_http::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    ServiceBuilder::new()
        .layer(MapRequestLayer::new(prepare))
        .service(router)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{
        AppState,
        clock::SystemClock,
        config::{HandlerConfig, IdentityMode},
        keys::KeyMaterial,
        state::Stores,
        store::memory::MemoryStore,
    };
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;

    const HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";

    /// The stage's initial access token: machine clients are the operator's to register.
    const OPERATOR_TOKEN: &str = "operator-initial-access-token-0123456789";

    fn state() -> AppState {
        let mut config =
            HandlerConfig::new(url::Url::parse(&format!("https://{HOST}/prod")).unwrap());
        config.identity = IdentityMode::Disabled;
        config.initial_access_token_hashes = vec![crate::crypto::hash_secret(OPERATOR_TOKEN)];
        AppState::new(
            config,
            KeyMaterial::generate().unwrap(),
            Stores::memory(Arc::new(MemoryStore::new())),
            Arc::new(SystemClock),
        )
    }

    /// A REST API (v1) proxy event as API Gateway sends it for `{stage}{path}`.
    fn rest_event(method: &str, path: &str, headers: Value, body: Option<&str>) -> String {
        let mut all_headers = json!({ "Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443", "User-Agent": "test" });
        for (k, v) in headers.as_object().unwrap() {
            all_headers[k] = v.clone();
        }
        let multi: serde_json::Map<String, Value> = all_headers
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), json!([v])))
            .collect();
        json!({
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": all_headers,
            "multiValueHeaders": multi,
            "queryStringParameters": null,
            "multiValueQueryStringParameters": null,
            "pathParameters": { "proxy": path.trim_start_matches('/') },
            "stageVariables": null,
            "requestContext": {
                "resourceId": "abcdef",
                "resourcePath": "/{proxy+}",
                "httpMethod": method,
                "extendedRequestId": "ext-1",
                "requestTime": "21/Nov/2026:06:42:00 +0000",
                "path": format!("/prod{path}"),
                "accountId": "123456789012",
                "protocol": "HTTP/1.1",
                "stage": "prod",
                "domainPrefix": "abc123",
                "requestTimeEpoch": 1795243320000_i64,
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "identity": { "sourceIp": "203.0.113.7", "userAgent": "test" },
                "domainName": HOST,
                "apiId": "abc123"
            },
            "body": body,
            "isBase64Encoded": false
        })
        .to_string()
    }

    async fn call(event: String) -> (u16, axum::http::HeaderMap, Value) {
        let request = lambda_http::request::from_str(&event).unwrap();
        let response = service(crate::router(state(), crate::test_fixture::Fixture::new()))
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn discovery_documents_are_served_under_the_stage() {
        let (status, _, body) = call(rest_event(
            "GET",
            "/.well-known/oauth-protected-resource/mcp",
            json!({}),
            None,
        ))
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["resource"], format!("https://{HOST}/prod/mcp"));
        let (status, _, body) = call(rest_event(
            "GET",
            "/.well-known/openid-configuration",
            json!({}),
            None,
        ))
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["issuer"], format!("https://{HOST}/prod"));
        assert_eq!(
            body["token_endpoint"],
            format!("https://{HOST}/prod/oauth/token")
        );
    }

    #[tokio::test]
    async fn unauthenticated_mcp_gets_a_challenge_not_a_500() {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let (status, headers, _) = call(rest_event(
            "POST",
            "/mcp",
            json!({"Content-Type": "application/json"}),
            Some(body),
        ))
        .await;
        assert_eq!(status, 401);
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains(&format!(r#"resource_metadata="https://{HOST}/prod/.well-known/oauth-protected-resource/mcp""#)), "{challenge}");
    }

    #[tokio::test]
    async fn dcr_then_client_credentials_then_tools_list_through_lambda_events() {
        let registration = r#"{"client_name":"lambda-test","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}"#;
        let svc = service(crate::router(state(), crate::test_fixture::Fixture::new()));
        let anonymous = lambda_http::request::from_str(&rest_event(
            "POST",
            "/dcr",
            json!({"Content-Type": "application/json"}),
            Some(registration),
        ))
        .unwrap();
        let response = svc.clone().oneshot(anonymous).await.unwrap();
        assert_eq!(
            response.status(),
            400,
            "anonymous DCR never gets client_credentials"
        );
        let request = lambda_http::request::from_str(&rest_event(
            "POST",
            "/dcr",
            json!({"Content-Type": "application/json", "Authorization": format!("Bearer {OPERATOR_TOKEN}")}),
            Some(registration),
        ))
        .unwrap();
        let response = svc.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 201);
        let client: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str().unwrap()
        );
        let request = lambda_http::request::from_str(&rest_event(
            "POST",
            "/oauth/token",
            json!({"Content-Type": "application/x-www-form-urlencoded"}),
            Some(&form),
        ))
        .unwrap();
        let response = svc.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let tokens: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        let token = tokens["access_token"].as_str().unwrap();
        let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
        let request = lambda_http::request::from_str(&rest_event(
            "POST",
            "/mcp",
            json!({
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "Authorization": format!("Bearer {token}"),
                "MCP-Protocol-Version": "2025-11-25"
            }),
            Some(list),
        ))
        .unwrap();
        let response = svc.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        let names: Vec<&str> = body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(names == ["ping"], "{names:?}");
    }

    #[test]
    fn the_stage_is_stripped_and_the_request_id_kept() {
        let request =
            lambda_http::request::from_str(&rest_event("GET", "/oauth/userinfo", json!({}), None))
                .unwrap();
        assert_eq!(
            request.uri().path(),
            "/prod/oauth/userinfo",
            "lambda_http prepends the stage"
        );
        let prepared = prepare(request);
        assert_eq!(prepared.uri().path(), "/oauth/userinfo");
        assert_eq!(
            prepared.extensions().get::<RequestId>().unwrap().0,
            "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
        );
    }
}
