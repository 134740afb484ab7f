//! `cleanup`: every client doctor registered (one public client per known client, the operator's
//! machine client) is deleted with its registration access token (RFC 7592 §2.3), whatever the
//! checks found, so a doctor run leaves nothing behind.

use mcpctl_handler::oauth::registration::RegistrationResponse;
use reqwest::Client;

use super::Finding;
use crate::operator_client::delete;

/// The check's id.
pub(super) const ID: &str = "cleanup";

/// Deletes `registered` (clients of the server at `mcp_url`); a warning names each client left
/// behind and how to remove it.
pub(super) async fn delete_all(
    http: &Client,
    registered: Vec<RegistrationResponse>,
    mcp_url: &str,
) -> Finding {
    let mut left = Vec::new();
    for registration in &registered {
        if let Err(error) = delete(http, registration, mcp_url).await {
            left.push(format!("{} ({error})", registration.client_id));
        }
    }
    if registered.is_empty() {
        Finding::pass(ID, "doctor registered no client")
    } else if left.is_empty() {
        Finding::pass(
            ID,
            format!(
                "deleted the {} clients doctor registered (RFC 7592)",
                registered.len()
            ),
        )
    } else {
        Finding::warn(
            ID,
            format!("left behind: {}", left.join(", ")),
            "delete them with `mcpctl clients delete <client id>` (with --stage, --url or \
             --table-prefix), or support RFC 7592 DELETE with the registration access token",
            Vec::new(),
        )
    }
}
