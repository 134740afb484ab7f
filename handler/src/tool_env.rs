//! What the stage config gives a server's tools besides plain environment variables: the values
//! of its secrets, and the name of its own DynamoDB table.

use std::{collections::HashMap, sync::OnceLock};

/// `mcp_function.table` of the stage config: the table's name.
const APP_TABLE_VAR: &str = "MCP_APP_TABLE";

/// Where [`secret`] reads from. No `Debug`: it holds secret values.
pub(crate) enum SecretSource {
    /// Read at cold start from the ARNs of `mcp_function.secrets` (Lambda).
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    Loaded(HashMap<String, String>),
    /// The process environment (`mcpctl dev`, and Lambda without `mcp_function.secrets`).
    Environment,
}

static SECRETS: OnceLock<SecretSource> = OnceLock::new();

/// Sets the source once per process, at start; later calls keep the first.
#[cfg(feature = "aws")]
pub(crate) fn set_secrets(source: SecretSource) {
    let _ = SECRETS.set(source);
}

/// The secret the stage config names `name` under `mcp_function.secrets`, read from Secrets
/// Manager or SSM Parameter Store once, at cold start (never logged). Under `mcpctl dev` it is
/// the environment variable `name`, so `WEATHER_API_KEY=... mcpctl dev` stands in for the stage.
///
/// ```
/// // In a tool:
/// let key = mcpctl_handler::secret("WEATHER_API_KEY");
/// # let _ = key;
/// ```
pub fn secret(name: &str) -> Option<String> {
    match SECRETS.get().unwrap_or(&SecretSource::Environment) {
        SecretSource::Loaded(values) => values.get(name).cloned(),
        SecretSource::Environment => std::env::var(name).ok(),
    }
}

/// The name of the server's own DynamoDB table (`mcp_function.table` of the stage config), whose
/// items are keyed by `subject` (the caller's, see [`crate::Caller`]) and `id`. `None` when the
/// stage has no table (and under `mcpctl dev`, unless `MCP_APP_TABLE` is set).
pub fn app_table() -> Option<String> {
    std::env::var(APP_TABLE_VAR)
        .ok()
        .filter(|name| !name.is_empty())
}
