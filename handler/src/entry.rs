//! The entry point a server crate calls from `main`. It picks its host from the environment:
//! the Lambda runtime (`AWS_LAMBDA_RUNTIME_API`, set by Lambda and its emulators) or a process of
//! `mcpctl dev` (`MCPCTL_DEV_LISTEN`, set by `mcpctl dev`).

use rmcp::ServerHandler;

use crate::{
    dev_process,
    http::log::{LogTarget, init_json_logging},
};

/// Set by Lambda (and every Lambda runtime emulator) for a custom runtime.
const LAMBDA_RUNTIME_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

/// Why a host failed to start; the message says what to change.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Serves the MCP server `factory` builds, with mcpctl's OAuth authorization server in front,
/// until the host stops the process: the whole `main` of a server crate.
///
/// `factory` runs once, inside the async runtime, so it may spawn tasks. A server that cannot
/// start logs why (one JSON line) and exits with status 1.
///
/// ```no_run
/// use rmcp::{ServerHandler, handler::server::tool::ToolRouter, tool, tool_handler, tool_router};
///
/// #[derive(Clone)]
/// struct Server {
///     tool_router: ToolRouter<Self>,
/// }
///
/// #[tool_router]
/// impl Server {
///     fn new() -> Self {
///         Self { tool_router: Self::tool_router() }
///     }
///
///     /// Answers a ping.
///     #[tool(description = "Answer with pong")]
///     async fn ping(&self) -> String {
///         "pong".into()
///     }
/// }
///
/// #[tool_handler(router = self.tool_router)]
/// impl ServerHandler for Server {}
///
/// fn main() {
///     mcpctl_handler::run(Server::new)
/// }
/// ```
pub fn run<F, S>(factory: F)
where
    F: FnOnce() -> S,
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    block_on_logged(serve_built_by(factory));
}

/// The whole `main` of a gateway-only crate (`mcpctl new NAME --gateway`): it has no tools of its
/// own, and its stage's `upstream:` says which MCP server `/mcp` is forwarded to (docs/gateway.md).
/// Its `main` is `fn main() { mcpctl_handler::run_gateway() }`:
///
/// ```no_run
/// mcpctl_handler::run_gateway()
/// ```
pub fn run_gateway() {
    block_on_logged(serve_gateway_only());
}

/// Runs `serving` on a multi-thread runtime with JSON logs; a failure is logged and exits 1.
fn block_on_logged(serving: impl std::future::Future<Output = Result<(), Error>>) {
    let local = !in_lambda() && std::env::var_os(dev_process::LISTEN_VAR).is_some();
    // Lambda's log group reads stdout; under `mcpctl dev` stdout carries the ready line.
    init_json_logging(if local {
        LogTarget::Stderr
    } else {
        LogTarget::Stdout
    });
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::from)
        .and_then(|runtime| runtime.block_on(serving));
    // A failed init is a Lambda `Runtime.ExitError` whose cause is only in the log: write it as
    // a JSON line like every other, then exit non-zero.
    if let Err(error) = result {
        tracing::error!(error = %error, "the function could not start");
        std::process::exit(1);
    }
}

/// [`run`] for a `main` that already has a tokio runtime: serves `server` on the host the
/// environment names. Logging is the caller's to set up.
///
/// ```no_run
/// # #[derive(Clone)]
/// # struct Server;
/// # impl rmcp::ServerHandler for Server {}
/// #[tokio::main]
/// async fn main() -> Result<(), mcpctl_handler::Error> {
///     // Your own tracing subscriber, metrics exporter, ... go here.
///     mcpctl_handler::serve(Server).await
/// }
/// ```
pub async fn serve<S>(server: S) -> Result<(), Error>
where
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    serve_built_by(move || server).await
}

/// Serves the server `factory` builds where it is needed: the MCP function and a dev process.
/// The auth function and the authorizer never build it, so no tool code runs next to the
/// signing key (and a server's start-up cost is not theirs).
async fn serve_built_by<F, S>(factory: F) -> Result<(), Error>
where
    F: FnOnce() -> S,
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    // Lambda first: a deployed function is never a dev process, whatever its variables say.
    if in_lambda() {
        #[cfg(feature = "aws")]
        return crate::lambda::roles::serve(factory).await;
        #[cfg(not(feature = "aws"))]
        return Err(built_without_aws());
    }
    if let Ok(address) = std::env::var(dev_process::LISTEN_VAR) {
        return dev_process::serve(&address, factory()).await;
    }
    Err(format!(
        "{LAMBDA_RUNTIME_VAR} is not set, so this is not a Lambda container: run this server \
         locally with `mcpctl dev` in its crate, or deploy it with `mcpctl deploy --stage dev`"
    )
    .into())
}

/// [`run_gateway`]'s host: on Lambda the stack's roles, where the MCP function needs its
/// `MCP_UPSTREAM_*`; anywhere else there is nothing of its own to serve.
async fn serve_gateway_only() -> Result<(), Error> {
    if in_lambda() {
        #[cfg(feature = "aws")]
        return crate::lambda::roles::serve_gateway_only().await;
        #[cfg(not(feature = "aws"))]
        return Err(built_without_aws());
    }
    Err(
        "this crate is gateway-only (mcpctl_handler::run_gateway) and has no tools to serve \
         locally: start your MCP server and run `mcpctl dev --upstream http://127.0.0.1:PORT/mcp`"
            .into(),
    )
}

/// Why a binary without the Lambda host cannot run on Lambda, and how to get one that can.
#[cfg(not(feature = "aws"))]
fn built_without_aws() -> Error {
    format!(
        "{LAMBDA_RUNTIME_VAR} is set, so this is a Lambda container, but this binary was built \
         without mcpctl-handler's `aws` feature (the Lambda runtime, DynamoDB, Secrets Manager, \
         KMS): build it with `mcpctl build`, which turns the feature on, or with \
         `--features mcpctl-handler/aws`"
    )
    .into()
}

fn in_lambda() -> bool {
    std::env::var_os(LAMBDA_RUNTIME_VAR).is_some()
}
