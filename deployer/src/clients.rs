//! The MCP clients mcpctl knows, as data: how each one registers (redirect URIs, Client ID
//! Metadata Documents), what it sends, and how long it waits. The shapes live in `clients.json`,
//! one entry per client with the public sources it rests on, so a client that changes is one
//! edit there, and every command that imitates clients (`doctor`, `smoke-test --as`) reads
//! the same facts.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The data file, compiled in.
const CLIENTS_JSON: &str = include_str!("clients.json");

/// Where a client's requests come from, which decides what it can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ConnectsFrom {
    /// The user's machine (loopback servers work).
    Local,
    /// The vendor's cloud: only public https hosts work.
    Cloud,
}

/// How a client uses Client ID Metadata Documents instead of registering.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cimd {
    /// The URL it presents as its `client_id` (`{app}`: a per-app part).
    pub(crate) document: String,
    /// Whether it picks CIMD only when the server lists `none` in
    /// `token_endpoint_auth_methods_supported` (a URL-identified client is public).
    pub(crate) needs_auth_method_none: bool,
}

/// What a browser-based client needs from CORS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Browser {
    /// The page's origin.
    pub(crate) origin: String,
    /// The request headers it sends (lower case), asked for in a preflight.
    pub(crate) request_headers: Vec<String>,
    /// The response headers it must read (lower case): they must be exposed.
    pub(crate) reads_headers: Vec<String>,
}

/// How long a client waits for each phase before it gives up, in seconds.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Budgets {
    /// The 401 challenge and the metadata documents.
    pub(crate) discovery: f64,
    /// Dynamic client registration.
    pub(crate) registration: f64,
    /// The authorization-code exchange at the token endpoint.
    pub(crate) token: f64,
    /// A refresh-token grant.
    pub(crate) refresh: f64,
}

/// One client's shape.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientShape {
    /// Stable id (kebab-case), e.g. `claude-code`.
    pub(crate) id: String,
    /// The name people know it by.
    pub(crate) name: String,
    /// Public documentation or code each fact comes from.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for people and the tests: no command prints it")
    )]
    pub(crate) sources: Vec<String>,
    /// Where its requests come from.
    pub(crate) connects_from: ConnectsFrom,
    /// The only https ports it connects to, when it is that strict.
    pub(crate) https_ports: Option<Vec<u16>>,
    /// The redirect URIs it registers in one RFC 7591 request (`{port}`, `{server}` filled in).
    pub(crate) redirect_uris: Vec<String>,
    /// Its Client ID Metadata Document, if it has one.
    pub(crate) cimd: Option<Cimd>,
    /// The protocol versions it tries, in order (`2026-07-28` first: `server/discover` first).
    pub(crate) protocol_versions: Vec<String>,
    /// The headers it sends on MCP requests (`{version}`, `{method}`, `{name}` filled in per
    /// request).
    pub(crate) headers: BTreeMap<String, String>,
    /// What it needs from CORS, when it runs in a browser.
    pub(crate) browser: Option<Browser>,
    /// Scopes it asks for besides those the challenge or the metadata name.
    pub(crate) scopes: Vec<String>,
    /// How long it waits, when that is documented.
    pub(crate) budgets_s: Option<Budgets>,
}

impl ClientShape {
    /// Its redirect URIs with the run-time parts filled in: `port` for `{port}`, `server` for
    /// `{server}`.
    pub(crate) fn redirect_uris_for(&self, port: u16, server: &str) -> Vec<String> {
        self.redirect_uris
            .iter()
            .map(|uri| {
                uri.replace("{port}", &port.to_string())
                    .replace("{server}", server)
            })
            .collect()
    }

    /// Whether it tries the 2026-07-28 era (`server/discover`) before `initialize`.
    pub(crate) fn discovers_first(&self) -> bool {
        self.protocol_versions
            .first()
            .is_some_and(|v| v.as_str() >= "2026-07-28")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownClients {
    /// The file's own description, for people who edit it.
    #[serde(rename = "about")]
    _about: String,
    clients: Vec<ClientShape>,
}

/// Every client in `clients.json`, in the file's order.
pub(crate) fn known() -> miette::Result<Vec<ClientShape>> {
    serde_json::from_str::<KnownClients>(CLIENTS_JSON)
        .map(|known| known.clients)
        .map_err(|e| {
            miette::miette!(
                help = "this mcpctl was built from a broken deployer/src/clients.json; rebuild from a clean checkout",
                "the compiled-in client shapes cannot be read: {e}"
            )
        })
}

/// The names of `clients`, for a report.
pub(crate) fn names<'a>(clients: impl IntoIterator<Item = &'a ClientShape>) -> Vec<String> {
    clients.into_iter().map(|c| c.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_parses_and_every_entry_is_sourced() {
        let clients = known().unwrap();
        let ids: Vec<&str> = clients.iter().map(|c| c.id.as_str()).collect();
        for id in [
            "claude-code",
            "claude-ai",
            "chatgpt",
            "cursor",
            "vscode",
            "inspector",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "duplicate ids in {ids:?}");
        for client in &clients {
            assert!(
                client
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                client.id
            );
            assert!(!client.sources.is_empty(), "{} has no source", client.id);
            assert!(
                client.sources.iter().all(|s| s.starts_with("https://")),
                "{}",
                client.id
            );
            assert!(!client.redirect_uris.is_empty(), "{}", client.id);
            assert!(!client.protocol_versions.is_empty(), "{}", client.id);
            // Every filled-in redirect URI is one the handler's own rules accept (with the
            // default private-use schemes), so a typo here cannot look like a server's refusal.
            let schemes: Vec<String> = mcpctl_handler::config::DEFAULT_REDIRECT_SCHEMES
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            for uri in client.redirect_uris_for(49152, "doctor") {
                assert!(
                    mcpctl_handler::oauth::redirect_uri::check(&uri, &schemes).is_ok(),
                    "{}: {uri}",
                    client.id
                );
            }
        }
    }

    #[test]
    fn claude_budgets_and_order_are_the_documented_ones() {
        let clients = known().unwrap();
        let claude = clients.iter().find(|c| c.id == "claude-ai").unwrap();
        let budgets = claude.budgets_s.unwrap();
        assert_eq!(
            (
                budgets.discovery,
                budgets.registration,
                budgets.token,
                budgets.refresh
            ),
            (10.0, 10.0, 10.0, 30.0)
        );
        assert_eq!(claude.https_ports.as_deref(), Some(&[443][..]));
        let code = clients.iter().find(|c| c.id == "claude-code").unwrap();
        assert!(code.discovers_first());
        assert!(!claude.discovers_first());
        assert_eq!(
            code.redirect_uris_for(4242, "x"),
            vec!["http://localhost:4242/callback".to_owned()]
        );
        let inspector = clients.iter().find(|c| c.id == "inspector").unwrap();
        assert_eq!(
            inspector.browser.as_ref().unwrap().origin,
            "http://localhost:6274"
        );
    }
}
