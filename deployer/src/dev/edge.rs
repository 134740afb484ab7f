//! The outside of `mcpctl dev`, in front of the router: the `Host` check (DNS rebinding, see
//! [`super::host_guard`]), then the whole request body read, as API Gateway reads it before it
//! invokes the Lambda (see [`super::apigw`]).
//!
//! One hand-written tower service rather than two `from_fn` layers each wrapped in a `Router`:
//! every such layer boxes a future, clones a boxed inner service and dispatches once more per
//! request, on the path of every `tools/call` (bench/RESULTS.md).

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{Router, extract::Request, response::Response};
use tower::Service;

use super::{apigw, host_guard::AllowedHosts};

/// The dev server's router behind the `Host` check and the whole-body read.
#[derive(Clone)]
pub(crate) struct Edge {
    hosts: AllowedHosts,
    inner: Router,
}

impl Edge {
    /// `inner`, answering only requests addressed to one of `hosts`.
    pub(crate) fn new(inner: Router, hosts: AllowedHosts) -> Self {
        Self { hosts, inner }
    }
}

impl Service<Request> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A `Router` is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let hosts = self.hosts.clone();
        let mut inner = self.inner.clone();
        Box::pin(async move {
            if !hosts.allows(&request) {
                return Ok(hosts.refuse(request).await);
            }
            match apigw::whole_body(request).await {
                Ok(request) => inner.call(request).await,
                Err(too_large) => Ok(too_large),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::{
        body::{Body, to_bytes},
        http::{StatusCode, header},
        routing::post,
    };
    use tower::ServiceExt;

    use super::*;
    use crate::dev::host_guard::allowed_hosts;

    fn edge() -> Edge {
        let echo = Router::new().route(
            "/echo",
            post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        );
        Edge::new(echo, AllowedHosts::new(allowed_hosts(8787, None)))
    }

    fn post_echo(host: &str, body: Vec<u8>) -> Request {
        Request::post("/echo")
            .header(header::HOST, host)
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn a_body_within_api_gateway_s_limit_reaches_the_router_whole() {
        let response = edge()
            .oneshot(post_echo("127.0.0.1:8787", vec![b'x'; 1 << 20]))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = to_bytes(response.into_body(), 64).await.unwrap();
        assert_eq!(body, (1usize << 20).to_string().as_bytes());
    }

    #[tokio::test]
    async fn a_body_over_api_gateway_s_limit_gets_its_413() {
        let response = edge()
            .oneshot(post_echo(
                "127.0.0.1:8787",
                vec![b'x'; 10 * 1024 * 1024 + 1],
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            response.headers().get("x-amzn-errortype").unwrap(),
            "GatewayResponse"
        );
        let body = to_bytes(response.into_body(), 1024).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("Request Too Long"));
    }

    #[tokio::test]
    async fn another_host_is_refused_before_the_body_is_buffered_or_routed() {
        let response = edge()
            .oneshot(post_echo("rebound.example:8787", b"{}".to_vec()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("DNS rebinding protection"));
    }
}
