//! `server:`: what the server says about itself in `initialize` and `server/discover` (name,
//! title, version, instructions), set per stage instead of in code, and the name the client
//! snippets of `mcpctl dev` and `mcpctl status` give the server. Each value left out keeps what
//! the server's own `get_info` says. In gateway mode the upstream answers for itself, so only the
//! snippets use the name.

use serde::{Deserialize, Serialize};

use super::{Violation, violation};

/// The variables the MCP function reads them from (`mcpctl_handler::config`).
pub(crate) const NAME_VARIABLE: &str = "MCP_SERVER_NAME";
/// `serverInfo.title`.
pub(crate) const TITLE_VARIABLE: &str = "MCP_SERVER_TITLE";
/// `serverInfo.version`.
pub(crate) const VERSION_VARIABLE: &str = "MCP_SERVER_VERSION";
/// `instructions`.
pub(crate) const INSTRUCTIONS_VARIABLE: &str = "MCP_SERVER_INSTRUCTIONS";

/// Lambda allows 4 KB of environment for a whole function; the instructions share the 2 KB the
/// stack leaves with `mcp_function`'s variables (checked together by the stage).
const MAX_INSTRUCTIONS_BYTES: usize = 1024;

/// The `server:` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ServerConfig {
    /// `serverInfo.name`, and the server's name in client configurations (e.g. `notes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// `serverInfo.title`, for people (e.g. `Team notes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    /// `serverInfo.version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    /// What the model is told about using the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instructions: Option<String>,
}

impl ServerConfig {
    /// The (variable, value) pairs of the fields that are set.
    pub(crate) fn variables(&self) -> Vec<(&'static str, &str)> {
        [
            (NAME_VARIABLE, &self.name),
            (TITLE_VARIABLE, &self.title),
            (VERSION_VARIABLE, &self.version),
            (INSTRUCTIONS_VARIABLE, &self.instructions),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }

    /// The bytes of Lambda's environment these variables take.
    pub(super) fn environment_bytes(&self) -> usize {
        self.variables()
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum()
    }

    pub(super) fn validate(&self) -> Result<(), Violation> {
        if let Some(name) = &self.name
            && (name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(violation(
                "server.name",
                format!("`{name}` is not a server name clients accept as a key"),
                "use 1 to 64 letters, digits, `-`, `_` or `.` (e.g. notes)",
            ));
        }
        for (field, value, max) in [
            ("server.title", &self.title, 128),
            ("server.version", &self.version, 64),
        ] {
            if let Some(value) = value
                && (value.trim().is_empty()
                    || value.len() > max
                    || value.chars().any(char::is_control))
            {
                return Err(violation(
                    field,
                    format!(
                        "`{value}` is empty, longer than {max} bytes or has control characters"
                    ),
                    format!("write one line of at most {max} bytes, or leave the field out"),
                ));
            }
        }
        if let Some(instructions) = &self.instructions
            && (instructions.trim().is_empty() || instructions.len() > MAX_INSTRUCTIONS_BYTES)
        {
            return Err(violation(
                "server.instructions",
                format!(
                    "is {} bytes; it must be 1 to {MAX_INSTRUCTIONS_BYTES} (Lambda allows 4 KB of environment per function)",
                    instructions.len()
                ),
                "shorten it, or leave it out and return instructions from the server's get_info",
            ));
        }
        Ok(())
    }
}
