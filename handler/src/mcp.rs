//! The `/mcp` service, on rmcp: a stateless Streamable HTTP service answering JSON, serving the
//! user's own [`ServerHandler`], mounted behind the bearer guard.

use std::{convert::Infallible, sync::Arc, task::Poll};

use axum::{body::Bytes, http};
use futures_util::future::BoxFuture;
use http_body_util::combinators::BoxBody;
use rmcp::{
    ServerHandler,
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::{SessionManager, never::NeverSessionManager},
    },
};

mod identity;

pub use identity::{Identified, ServerIdentity};

use crate::state::AppState;

/// The `/mcp` tower service for `server`. The value is cloned per request (a stateless service
/// asks its factory for a server on every request), so a server should hold its state in `Arc`s.
pub fn service<S>(state: &AppState, server: S) -> Shared<Identified<S>>
where
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    let config = &state.config;
    let mut http_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(config.max_mcp_bytes);
    // Origins are checked by our own guard (before authentication), so rmcp's check stays off;
    // the Host check guards against DNS rebinding and must list the public host behind API Gateway.
    http_config = if config.allowed_hosts.is_empty() {
        http_config.disable_allowed_hosts()
    } else {
        http_config.with_allowed_hosts(config.allowed_hosts.clone())
    };
    let server = Identified::new(server, config.server_identity.clone());
    Shared(Arc::new(StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        http_config,
    )))
}

/// rmcp's [`StreamableHttpService`] behind an `Arc`. Tower and axum clone a service for every
/// request (each middleware and the route do), and rmcp's clone copies its whole configuration,
/// the allowed-host strings among it; this one clones a pointer.
pub struct Shared<S, M = NeverSessionManager>(Arc<StreamableHttpService<S, M>>);

impl<S, M> Clone for Shared<S, M> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<B, S, M> tower::Service<http::Request<B>> for Shared<S, M>
where
    B: axum::body::HttpBody + Send + 'static,
    B::Error: std::fmt::Display,
    B::Data: Send + 'static,
    S: ServerHandler + Send + 'static,
    M: SessionManager,
{
    type Response = http::Response<BoxBody<Bytes, Infallible>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let service = Arc::clone(&self.0);
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}
