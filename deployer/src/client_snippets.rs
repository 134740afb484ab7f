//! How to connect the MCP clients people use to a server, printed by `mcpctl dev` and
//! `mcpctl status` (all, or one with `--client`). Each follows the client's own documentation:
//!
//! - Claude Code: `claude mcp add --transport http <name> <url>`
//!   (<https://docs.claude.com/en/docs/claude-code/mcp>).
//! - Claude Desktop and claude.ai: a custom connector, Settings → Connectors → Add custom
//!   connector, with the URL; Claude Desktop does not read remote servers from
//!   `claude_desktop_config.json`, and both connect from Anthropic's cloud
//!   (<https://support.claude.com/en/articles/11503834>).
//! - Cursor: `~/.cursor/mcp.json` with `mcpServers.<name>.url`, or an install link
//!   `cursor://anysphere.cursor-deeplink/mcp/install?name=<name>&config=<base64 of the entry>`
//!   (<https://cursor.com/docs/mcp/install-links>).
//! - VS Code: `.vscode/mcp.json` with `servers.<name>` = `{"type": "http", "url": ...}` (not
//!   `mcpServers`), or `code --add-mcp '{"name": ..., "type": "http", "url": ...}'`
//!   (<https://code.visualstudio.com/docs/agents/reference/mcp-configuration>).
//! - MCP Inspector 2.x (the one with OAuth): `npx @modelcontextprotocol/inspector@2 --transport
//!   http --server-url <url>` (its `--help`; needs Node.js 22.19 or newer).

use base64::Engine as _;
use serde::Serialize;

/// A client to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ClientKind {
    /// Claude Code (`claude mcp add`).
    ClaudeCode,
    /// Claude Desktop and claude.ai (a custom connector).
    #[value(alias = "claude-desktop", alias = "claude-ai")]
    Claude,
    /// Cursor (`~/.cursor/mcp.json` or an install link).
    Cursor,
    /// VS Code (`.vscode/mcp.json` or `code --add-mcp`).
    Vscode,
    /// The MCP Inspector 2.x.
    Inspector,
}

impl ClientKind {
    /// Every client, in the order they are printed.
    pub(crate) const ALL: [Self; 5] = [
        Self::ClaudeCode,
        Self::Claude,
        Self::Cursor,
        Self::Vscode,
        Self::Inspector,
    ];
}

/// How to connect one client.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Snippet {
    /// Which client.
    pub(crate) client: ClientKind,
    /// The client's name, for people.
    pub(crate) title: &'static str,
    /// What to do with `text`.
    pub(crate) how: String,
    /// The command, configuration or URL.
    pub(crate) text: String,
    /// A second way, when the client has one (an install link, a one-line command).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) alternative: Option<String>,
    /// What the user must know first (e.g. a loopback URL the client cannot reach).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// Whether a cloud-hosted client (claude.ai, Claude Desktop's connectors) can reach `url`: they
/// connect from Anthropic's servers over https on port 443.
fn reachable_from_the_internet(url: &url::Url) -> bool {
    url.scheme() == "https"
        && url.port_or_known_default() == Some(443)
        && !mcpctl_handler::oauth::redirect_uri::is_loopback(url)
}

/// The snippet for `client` to connect to the server `name` at `mcp_url`.
pub(crate) fn snippet(client: ClientKind, name: &str, mcp_url: &url::Url) -> Snippet {
    let url = mcp_url.as_str();
    match client {
        ClientKind::ClaudeCode => Snippet {
            client,
            title: "Claude Code",
            how: "run in a terminal, then `/mcp` in Claude Code to sign in".into(),
            text: format!(
                "claude mcp add --transport http {} {}",
                shell_word(name),
                shell_word(url)
            ),
            alternative: None,
            note: None,
        },
        ClientKind::Claude => Snippet {
            client,
            title: "Claude Desktop / claude.ai",
            how: "Settings → Connectors → Add custom connector, and paste the URL".into(),
            text: url.to_owned(),
            alternative: None,
            note: (!reachable_from_the_internet(mcp_url)).then(|| {
                "claude.ai and Claude Desktop connect from Anthropic's cloud, over https on port 443 only: \
                 serve this URL through an https tunnel and pass it as --public-url (or deploy a stage)"
                    .to_owned()
            }),
        },
        ClientKind::Cursor => {
            let entry = serde_json::json!({ "url": url });
            let link = format!(
                "cursor://anysphere.cursor-deeplink/mcp/install?name={}&config={}",
                encode(name),
                encode(&base64::engine::general_purpose::STANDARD.encode(entry.to_string()))
            );
            Snippet {
                client,
                title: "Cursor",
                how: "add to ~/.cursor/mcp.json (all projects) or .cursor/mcp.json".into(),
                text: pretty(&serde_json::json!({ "mcpServers": { name: entry } })),
                alternative: Some(link),
                note: None,
            }
        }
        ClientKind::Vscode => Snippet {
            client,
            title: "VS Code",
            how: "add to .vscode/mcp.json (the key is `servers`), or run the command below".into(),
            text: pretty(&serde_json::json!({ "servers": { name: { "type": "http", "url": url } } })),
            alternative: Some(format!(
                "code --add-mcp {}",
                shell_quote(&serde_json::json!({ "name": name, "type": "http", "url": url }).to_string())
            )),
            note: None,
        },
        ClientKind::Inspector => Snippet {
            client,
            title: "MCP Inspector 2.x",
            how: "run in a terminal (Node.js 22.19 or newer); it signs in with OAuth itself".into(),
            text: format!(
                "npx @modelcontextprotocol/inspector@2 --transport http --server-url {}",
                shell_word(url)
            ),
            alternative: Some(format!(
                "npx @modelcontextprotocol/inspector@2 --cli --transport http --server-url {} --method tools/list",
                shell_word(url)
            )),
            note: None,
        },
    }
}

/// The snippets for `only` (every client when `None`).
pub(crate) fn snippets(only: Option<ClientKind>, name: &str, mcp_url: &url::Url) -> Vec<Snippet> {
    match only {
        Some(client) => vec![snippet(client, name, mcp_url)],
        None => ClientKind::ALL
            .iter()
            .map(|client| snippet(*client, name, mcp_url))
            .collect(),
    }
}

/// The snippets as text for people.
pub(crate) fn render(snippets: &[Snippet]) -> String {
    let mut out = String::new();
    for snippet in snippets {
        out.push_str(&format!("{}: {}\n", snippet.title, snippet.how));
        for line in snippet.text.lines() {
            out.push_str(&format!("    {line}\n"));
        }
        if let Some(alternative) = &snippet.alternative {
            out.push_str(&format!("  or: {alternative}\n"));
        }
        if let Some(note) = &snippet.note {
            out.push_str(&format!("  note: {note}\n"));
        }
        out.push('\n');
    }
    out
}

/// `word` as one POSIX shell word: as it is when it holds nothing a shell reads specially, else
/// single-quoted (a `--public-url` may carry `&`, `$` or `'`).
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        word.to_owned()
    } else {
        shell_quote(word)
    }
}

/// `text` single-quoted for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> url::Url {
        url::Url::parse("http://127.0.0.1:8787/mcp").unwrap()
    }

    fn remote() -> url::Url {
        url::Url::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod/mcp").unwrap()
    }

    #[test]
    fn claude_code_gets_its_documented_add_command() {
        let snippet = snippet(ClientKind::ClaudeCode, "notes", &local());
        let words: Vec<&str> = snippet.text.split_whitespace().collect();
        assert_eq!(
            words,
            [
                "claude",
                "mcp",
                "add",
                "--transport",
                "http",
                "notes",
                "http://127.0.0.1:8787/mcp"
            ]
        );
    }

    #[test]
    fn claude_connectors_are_warned_off_a_url_they_cannot_reach() {
        let local = snippet(ClientKind::Claude, "notes", &local());
        assert_eq!(local.text, "http://127.0.0.1:8787/mcp");
        assert!(local.note.unwrap().contains("443"));
        let remote = snippet(ClientKind::Claude, "notes", &remote());
        assert!(remote.note.is_none());
        let other_port = url::Url::parse("https://mcp.example.com:8443/mcp").unwrap();
        assert!(
            snippet(ClientKind::Claude, "notes", &other_port)
                .note
                .is_some()
        );
    }

    #[test]
    fn cursor_gets_mcp_servers_and_an_install_link_of_the_same_entry() {
        let snippet = snippet(ClientKind::Cursor, "notes", &remote());
        let config: serde_json::Value = serde_json::from_str(&snippet.text).unwrap();
        assert_eq!(
            config,
            serde_json::json!({"mcpServers": {"notes": {"url": remote().as_str()}}})
        );
        let link = url::Url::parse(snippet.alternative.as_deref().unwrap()).unwrap();
        assert_eq!(link.scheme(), "cursor");
        assert_eq!(link.host_str(), Some("anysphere.cursor-deeplink"));
        assert_eq!(link.path(), "/mcp/install");
        let query: std::collections::HashMap<_, _> = link.query_pairs().into_owned().collect();
        assert_eq!(query["name"], "notes");
        let entry = base64::engine::general_purpose::STANDARD
            .decode(&query["config"])
            .unwrap();
        let entry: serde_json::Value = serde_json::from_slice(&entry).unwrap();
        assert_eq!(entry, config["mcpServers"]["notes"]);
    }

    #[test]
    fn vscode_gets_servers_not_mcp_servers() {
        let snippet = snippet(ClientKind::Vscode, "notes", &remote());
        let config: serde_json::Value = serde_json::from_str(&snippet.text).unwrap();
        assert!(config.get("mcpServers").is_none());
        assert_eq!(
            config["servers"]["notes"],
            serde_json::json!({"type": "http", "url": remote().as_str()})
        );
        let command = snippet.alternative.unwrap();
        let json = command
            .strip_prefix("code --add-mcp '")
            .and_then(|rest| rest.strip_suffix('\''))
            .unwrap();
        assert!(!json.contains('\''));
        let entry: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(entry["name"], "notes");
        assert_eq!(entry["type"], "http");
        assert_eq!(entry["url"], remote().as_str());
    }

    #[test]
    fn the_inspector_is_the_oauth_capable_2x_over_http() {
        let snippet = snippet(ClientKind::Inspector, "notes", &local());
        let words: Vec<&str> = snippet.text.split_whitespace().collect();
        assert_eq!(words[..2], ["npx", "@modelcontextprotocol/inspector@2"]);
        let at = |flag: &str| words.iter().position(|w| *w == flag).unwrap() + 1;
        assert_eq!(words[at("--transport")], "http");
        assert_eq!(words[at("--server-url")], "http://127.0.0.1:8787/mcp");
    }

    #[test]
    fn urls_a_shell_would_read_are_quoted() {
        let odd = url::Url::parse("https://mcp.example.com/a&b$c'd/mcp").unwrap();
        let snippet = snippet(ClientKind::ClaudeCode, "notes", &odd);
        assert!(
            snippet
                .text
                .ends_with(&format!("'{}'", odd.as_str().replace('\'', r"'\''"))),
            "{}",
            snippet.text
        );
        let vscode = super::snippet(ClientKind::Vscode, "notes", &odd);
        assert!(vscode.alternative.unwrap().starts_with("code --add-mcp '{"));
    }

    #[test]
    fn one_client_or_all_of_them() {
        assert_eq!(snippets(None, "notes", &local()).len(), 5);
        let one = snippets(Some(ClientKind::Vscode), "notes", &local());
        assert_eq!(one.len(), 1);
        assert!(render(&one).contains("\"servers\""));
    }
}
