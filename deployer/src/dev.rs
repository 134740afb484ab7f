//! Pieces of `mcpctl dev` beyond the command itself.

pub(crate) mod apigw;
pub(crate) mod edge;
pub(crate) mod host_guard;
pub(crate) mod operator_api;
pub(crate) mod operator_token;
pub(crate) mod server_process;
pub(crate) mod state_dir;

/// `app` behind `layer`, wrapped around the whole router rather than through `Router::layer`,
/// which boxes the layer into every route: a request would clone one box per layer.
pub(crate) fn around<L>(app: axum::Router, layer: L) -> axum::Router
where
    L: tower::Layer<axum::Router>,
    L::Service: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
{
    axum::Router::new().fallback_service(layer.layer(app))
}
