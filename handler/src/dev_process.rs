//! A server crate's process under `mcpctl dev`. `mcpctl dev` runs the authorization server and
//! forwards `/mcp` to this process on loopback, so the user's own binary answers tool calls with
//! the same code path as on Lambda: the bearer guard (verify-only, `MCP_JWKS`), then rmcp.

use std::net::SocketAddr;

use rmcp::ServerHandler;
use serde_json::json;
use std::io::Read;

use crate::{config::HandlerConfig, entry::Error, verify_only::verify_only_state};

/// The loopback address to listen on (`127.0.0.1:0` picks a free port).
pub(crate) const LISTEN_VAR: &str = "MCPCTL_DEV_LISTEN";

/// Listens on `address`, prints `{"listening":"IP:PORT"}` on stdout (the one line `mcpctl dev`
/// waits for), and serves until the process is stopped or its stdin closes.
pub(crate) async fn serve<S>(address: &str, server: S) -> Result<(), Error>
where
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    let address: SocketAddr = address.parse().map_err(|e| {
        format!("{LISTEN_VAR} is `{address}`: {e}; expected an address such as 127.0.0.1:0")
    })?;
    // The process trusts its caller to have checked Host and Origin: only loopback may reach it.
    if !address.ip().is_loopback() {
        return Err(format!(
            "{LISTEN_VAR} is `{address}`: a dev process listens on loopback only (127.0.0.1)"
        )
        .into());
    }
    let state = verify_only_state(HandlerConfig::from_env()?)?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let bound = listener.local_addr()?;
    println!("{}", json!({ "listening": bound.to_string() }));
    // `mcpctl dev` holds our stdin open: when it ends, even killed, the pipe closes and so do we,
    // so no server outlives the dev session on its port.
    std::thread::spawn(|| {
        let mut buffer = [0u8; 256];
        while matches!(std::io::stdin().read(&mut buffer), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    axum::serve(listener, crate::router(state, server)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixture::Fixture;

    #[tokio::test]
    async fn a_dev_process_never_listens_beyond_loopback() {
        for address in ["0.0.0.0:0", "[::]:0", "192.0.2.1:0", "[::ffff:10.0.0.1]:0"] {
            let error = serve(address, Fixture::new()).await.unwrap_err();
            assert!(
                error.to_string().contains("loopback only"),
                "{address}: {error}"
            );
        }
        let error = serve("localhost", Fixture::new()).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("expected an address such as 127.0.0.1:0"),
            "{error}"
        );
    }
}
