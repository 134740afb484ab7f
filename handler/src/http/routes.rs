//! The router: the one seam every host (Lambda, `mcpctl dev`, tests) serves.

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, post, post_service},
};

use rmcp::ServerHandler;

use super::{consent, endpoints, log, mcp_guard, origin, signin};
use std::sync::Arc;

use crate::{
    gateway::{Gateway, forward},
    mcp,
    state::AppState,
    tool_scope::ToolScopes,
};

/// Every endpoint, at paths relative to the public URL (a host mounts it under a base path), with
/// `server` answering `POST /mcp` behind the bearer guard.
pub fn router<S>(state: AppState, server: S) -> Router
where
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    let guard = mcp_guard::GuardState {
        app: state.clone(),
        gateway: None,
    };
    let guarded_mcp = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(guard, mcp_guard::guard))
        .service(mcp::service(&state, server));
    // GET and DELETE on /mcp answer 405 without authentication (no session, no SSE stream).
    let mcp_routes = Router::new().route(
        "/mcp",
        post_service(guarded_mcp)
            .get(endpoints::mcp_method_not_allowed)
            .delete(endpoints::mcp_method_not_allowed),
    );
    finish(authorization_routes(&state).merge(mcp_routes), state)
}

/// Every endpoint, with `/mcp` (`POST`, `GET` and `DELETE`) forwarded through `gateway` to an
/// MCP server elsewhere, behind the same bearer guard, the gateway's tool scopes and allow-list.
pub fn gateway_router(state: AppState, gateway: Gateway) -> Router {
    let config = gateway.config();
    let guard = mcp_guard::GuardState {
        app: state.clone(),
        gateway: Some(mcp_guard::GatewayChecks {
            tools: ToolScopes::from_map(config.tool_scopes.clone()),
            exposed: config.exposed_tools.clone().map(Arc::new),
        }),
    };
    let forward = axum::handler::Handler::with_state(
        forward::forward,
        forward::ForwardState {
            app: state.clone(),
            gateway,
        },
    );
    let guarded = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(guard, mcp_guard::guard))
        .service(forward);
    let mcp_routes = Router::new().route(
        "/mcp",
        post_service(guarded.clone())
            .get_service(guarded.clone())
            .delete_service(guarded),
    );
    finish(authorization_routes(&state).merge(mcp_routes), state)
}

/// The authorization server alone: OAuth, client management and discovery, without `/mcp`, for
/// a host that forwards `/mcp` elsewhere (`mcpctl dev` serving a crate in its own process).
pub fn authorization_router(state: AppState) -> Router {
    finish(authorization_routes(&state), state)
}

fn authorization_routes(state: &AppState) -> Router<AppState> {
    let oauth = Router::new()
        .route("/dcr", post(endpoints::dcr_post))
        .route(
            "/clients/{client_id}",
            get(endpoints::clients_get).delete(endpoints::clients_delete),
        )
        .route(
            "/oauth/authorize",
            get(consent::authorize_get).post(consent::authorize_post),
        )
        .route("/oauth/callback", get(signin::callback))
        .route("/oauth/token", post(endpoints::token_post))
        .route("/oauth/revoke", post(endpoints::revoke_post))
        .route(
            "/oauth/userinfo",
            get(endpoints::userinfo).post(endpoints::userinfo),
        )
        .layer(DefaultBodyLimit::max(state.config.max_form_bytes));
    Router::new().merge(well_known_routes()).merge(oauth)
}

/// The layers every route shares: 404 for the rest, CORS and the access log.
fn finish(routes: Router<AppState>, state: AppState) -> Router {
    let edge = Edge::of(&state);
    edge.around(routes.fallback(endpoints::not_found).with_state(state))
}

/// The access log (outermost) and the origin layer, as one middleware.
#[derive(Clone)]
struct Edge {
    metrics: Option<Arc<crate::metrics::MetricsConfig>>,
    origins: origin::AllowedOrigins,
}

impl Edge {
    fn of(state: &AppState) -> Self {
        Self {
            metrics: state.config.metrics.clone().map(Arc::new),
            origins: origin::AllowedOrigins::new(&state.config.allowed_origins),
        }
    }

    /// `app` behind the layers. Wrapped around the whole router, not through `Router::layer`:
    /// that boxes each layer into every route, so a request clones a box per layer (and rmcp's
    /// service inside), where this clones a few `Arc`s. One `from_fn` for both jobs: each
    /// middleware costs a boxed future and a clone of the boxed inner service per request.
    fn around(self, app: Router) -> Router {
        let service = tower::ServiceBuilder::new()
            .layer(middleware::from_fn_with_state(self, Self::serve))
            .service(app);
        Router::new().fallback_service(service)
    }

    async fn serve(
        axum::extract::State(edge): axum::extract::State<Self>,
        request: axum::extract::Request,
        next: middleware::Next,
    ) -> axum::response::Response {
        log::logged(edge.metrics.as_deref(), request, |request| {
            origin::checked(&edge.origins, request, |request| next.run(request))
        })
        .await
    }
}

fn well_known_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(endpoints::authorization_server_metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(endpoints::openid_configuration),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(endpoints::protected_resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(endpoints::protected_resource_metadata),
        )
        .route("/.well-known/jwks.json", get(endpoints::jwks))
        .route(
            crate::config::GATEWAY_JWKS_PATH,
            get(endpoints::gateway_jwks),
        )
}

/// The origin-root forms of the well-known documents for a server mounted under `base_path`
/// (RFC 8414 §3.1 and RFC 9728 §3.1 insert the path after `/.well-known/...`). Hosts that own the
/// whole origin (`mcpctl dev`, a custom domain) serve these too; API Gateway's default URL cannot.
pub fn well_known_root_router(state: AppState, base_path: &str) -> Router {
    let base = base_path.trim_end_matches('/');
    Router::new()
        .route(
            &format!("/.well-known/oauth-authorization-server{base}"),
            get(endpoints::authorization_server_metadata),
        )
        .route(
            &format!("/.well-known/openid-configuration{base}"),
            get(endpoints::openid_configuration),
        )
        .route(
            &format!("/.well-known/oauth-protected-resource{base}/mcp"),
            get(endpoints::protected_resource_metadata),
        )
        // Per route (`Router::layer`), unlike `Edge::around`: hosts merge this into the main
        // router, whose fallback is the only one a merge allows.
        .layer(middleware::from_fn_with_state(
            origin::AllowedOrigins::new(&state.config.allowed_origins),
            origin::layer,
        ))
        .layer(middleware::from_fn_with_state(
            state.config.metrics.clone().map(Arc::new),
            log::access_log,
        ))
        .with_state(state)
}
