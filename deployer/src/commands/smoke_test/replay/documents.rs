//! Copies of the clients' Client ID Metadata Documents, served on 127.0.0.1 for the run:
//! `mcpctl dev` fetches documents from loopback (with `--allow-insecure-cimd`), and a machine
//! without internet cannot reach the vendors' own.

use std::{collections::HashMap, sync::Arc};

use axum::response::IntoResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use super::{LOOPBACK_PORT, SERVER_NAME};
use crate::clients::ClientShape;

/// What `{app}` becomes in a per-app document URL (ChatGPT's).
const APP_NAME: &str = "mcpctl-smoke-test";

/// The served copies, for as long as this value lives.
pub(in crate::commands::smoke_test) struct Documents {
    urls: HashMap<String, String>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Documents {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Documents {
    /// Serves a copy of the document of each of `clients` that has one.
    pub(in crate::commands::smoke_test) async fn serve(
        clients: &[&ClientShape],
    ) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot serve the clients' metadata documents: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let mut urls = HashMap::new();
        let mut bodies: HashMap<String, Value> = HashMap::new();
        for client in clients {
            let Some(cimd) = &client.cimd else { continue };
            let vendor = Url::parse(&cimd.document.replace("{app}", APP_NAME))
                .map_err(|e| format!("{}: document URL: {e}", client.id))?;
            let path = format!("/{}{}", client.id, vendor.path());
            let url = format!("http://127.0.0.1:{port}{path}");
            bodies.insert(path, document(client, &url));
            urls.insert(client.id.clone(), url);
        }
        let bodies = Arc::new(bodies);
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let bodies = Arc::clone(&bodies);
            async move {
                match bodies.get(uri.path()) {
                    Some(body) => axum::Json(body.clone()).into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
        let server = tokio::spawn(async move {
            // The documents live as long as the run; an accept error ends them early, and the
            // authorization step then reports the fetch failure.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { urls, server })
    }

    /// The URL of the copy of `client`'s document, if it has one.
    pub(super) fn url(&self, client: &str) -> Option<&String> {
        self.urls.get(client)
    }
}

/// A client's metadata document as the client publishes it (a public client of its
/// redirect URIs), at `url`.
fn document(client: &ClientShape, url: &str) -> Value {
    json!({
        "client_id": url,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris_for(LOOPBACK_PORT, SERVER_NAME),
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}
