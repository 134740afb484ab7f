//! The bounded sets dimension values come from: whatever a client sends that is not in them is
//! counted as [`OTHER`], so the number of metrics stays fixed however many names a stranger tries.

/// The dimension value of everything outside a bounded set.
pub const OTHER: &str = "other";

/// The methods of the MCP specification (2025-11-25 and 2026-07-28) a client sends to a server.
const MCP_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "tasks/get",
    "tasks/list",
    "tasks/cancel",
    "tasks/result",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];

/// `method` when it is an MCP method, else [`OTHER`].
pub(crate) fn known_mcp_method(method: Option<&str>) -> &'static str {
    method
        .and_then(|m| MCP_METHODS.iter().find(|known| **known == m))
        .copied()
        .unwrap_or(OTHER)
}

/// The failure codes the sign-in pages log (http::signin, http::consent).
const SIGN_IN_REASONS: &[&str] = &[
    "signin_browser_mismatch",
    "signin_expired_or_unknown",
    "state_missing",
    "issuer_mismatch",
    "upstream_denied",
    "code_missing",
    "upstream_unavailable",
    "upstream_code_rejected",
    "id_token_invalid",
    "user_not_allowed",
    "invalid_client",
    "invalid_request",
    "server_error",
    "temporarily_unavailable",
];

/// The reason dimension of a failed sign-in.
pub(crate) fn sign_in_reason(error: Option<&str>) -> &'static str {
    error
        .and_then(|e| SIGN_IN_REASONS.iter().find(|known| **known == e))
        .copied()
        .unwrap_or(OTHER)
}

/// The tool dimension of a call of `tool`: its name when the served server has it (for a
/// gateway: the allow-list or `tool_scopes`), else [`OTHER`]. `known`: `None` when that cannot be
/// told, which counts as not known, so no caller-chosen name ever becomes a metric.
pub(crate) fn tool_dimension(tool: &str, known: Option<bool>) -> String {
    // MCP tool names: 1 to 128 of A-Z a-z 0-9 _ - . (2025-11-25 §Tools); dimension values are
    // kept to 64 characters here, like the log field.
    let well_formed = (1..=64).contains(&tool.len())
        && tool
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'));
    if well_formed && known == Some(true) {
        tool.to_owned()
    } else {
        OTHER.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_sets_are_other() {
        assert_eq!(known_mcp_method(Some("tools/call")), "tools/call");
        assert_eq!(known_mcp_method(Some("tools/call2")), OTHER);
        assert_eq!(known_mcp_method(None), OTHER);
        assert_eq!(sign_in_reason(Some("user_not_allowed")), "user_not_allowed");
        assert_eq!(sign_in_reason(Some("x\",\"Stack\":\"y")), OTHER);
        assert_eq!(tool_dimension("echo", Some(true)), "echo");
        assert_eq!(tool_dimension("echo", Some(false)), OTHER);
        assert_eq!(tool_dimension("a b", Some(true)), OTHER);
        assert_eq!(tool_dimension(&"x".repeat(65), Some(true)), OTHER);
        assert_eq!(tool_dimension("echo", None), OTHER);
    }
}
