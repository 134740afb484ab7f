//! `tls` and `custom-domain`: what the MCP URL itself tells, before any request. Claude's cloud
//! connects over https on port 443 only, and API Gateway's default URL puts the stage in every
//! path, where the origin-root well-known documents cannot live.

use mcpctl_handler::oauth::redirect_uri::is_loopback;

use super::{CUSTOM_DOMAIN_FIX, Finding, Probe, is_execute_api};
use crate::clients::{ConnectsFrom, names};

/// The id of the transport check.
pub(super) const TLS_ID: &str = "tls";
/// The id of the host check.
pub(super) const CUSTOM_DOMAIN_ID: &str = "custom-domain";

/// `tls`: https on 443, or a warning for loopback http (local development).
pub(super) fn tls(probe: &Probe<'_>) -> Finding {
    let url = &probe.mcp_url;
    let port = url.port_or_known_default().unwrap_or_default();
    let cloud = names(
        probe
            .clients
            .iter()
            .filter(|c| c.connects_from == ConnectsFrom::Cloud),
    );
    match url.scheme() {
        "https" if port == 443 => Finding::pass(TLS_ID, "https on port 443"),
        "https" => {
            let strict = names(probe.clients.iter().filter(|c| {
                c.https_ports
                    .as_ref()
                    .is_some_and(|ports| !ports.contains(&port))
            }));
            if strict.is_empty() {
                return Finding::pass(
                    TLS_ID,
                    format!("https on port {port}: none of the clients checked insists on 443"),
                );
            }
            Finding::fail(
                TLS_ID,
                format!(
                    "https on port {port}: {} connect on port 443 only",
                    strict.join(", ")
                ),
                "serve the MCP URL on port 443: a stage's API Gateway URL or `api.custom_domain` \
                 does; in front of `mcpctl dev`, an https tunnel on 443 with `--public-url \
                 https://<host>`",
                strict,
            )
        }
        "http" if is_loopback(url) => Finding::warn(
            TLS_ID,
            "plain http on loopback: fine for local dev; remote clients need https on 443",
            "for clients in the cloud, deploy a stage (`mcpctl deploy --stage <stage>`) or put \
             an https tunnel on 443 in front of `mcpctl dev` and pass `--public-url \
             https://<host>`",
            cloud,
        ),
        "http" => Finding::fail(
            TLS_ID,
            "plain http off loopback: codes and tokens would cross the network in clear text, \
             and clients refuse it (OAuth 2.1 §1.5)",
            "serve the MCP URL over https on port 443 (a stage does; `mcpctl dev --public-url \
             https://<host>` behind a tunnel)",
            probe.everyone(),
        ),
        scheme => Finding::fail(
            TLS_ID,
            format!("`{scheme}:` is not a Streamable HTTP URL"),
            "give the https URL of the MCP endpoint, e.g. https://mcp.example.com/mcp",
            probe.everyone(),
        ),
    }
}

/// `custom-domain`: a warning on API Gateway's default execute-api host.
pub(super) fn custom_domain(probe: &Probe<'_>) -> Finding {
    let url = &probe.mcp_url;
    let host = url.host_str().unwrap_or_default();
    if is_execute_api(url) {
        Finding::warn(
            CUSTOM_DOMAIN_ID,
            format!(
                "{host} is API Gateway's default host: the stage is in every path, so the \
                 origin-root well-known locations (RFC 9728 §3.1, RFC 8414 §3.1) fall outside it \
                 and answer 403, and the URL changes whenever the API is recreated"
            ),
            CUSTOM_DOMAIN_FIX,
            Vec::new(),
        )
    } else {
        Finding::pass(
            CUSTOM_DOMAIN_ID,
            format!("{host} is not an API Gateway default (execute-api) host"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Status, tests::with_probe};

    fn judge(url: &str) -> (Finding, Finding) {
        with_probe(url, |probe| (tls(probe), custom_domain(probe)))
    }

    #[test]
    fn https_on_443_passes_and_loopback_http_warns() {
        let (tls, domain) = judge("https://mcp.example.com/mcp");
        assert_eq!((tls.status, domain.status), (Status::Pass, Status::Pass));
        let (tls, _) = judge("http://127.0.0.1:8787/mcp");
        assert_eq!(tls.status, Status::Warn);
        assert!(tls.detail.contains("fine for local dev"), "{}", tls.detail);
        assert!(tls.clients.iter().any(|c| c.contains("claude.ai")));
        let (tls, _) = judge("http://mcp.example.com/mcp");
        assert_eq!(tls.status, Status::Fail);
    }

    #[test]
    fn another_port_fails_for_claude_and_execute_api_warns() {
        let (tls, _) = judge("https://mcp.example.com:8443/mcp");
        assert_eq!(tls.status, Status::Fail);
        assert_eq!(tls.clients, vec!["claude.ai / Claude Desktop".to_owned()]);
        let (tls, domain) = judge("https://abc.execute-api.us-east-1.amazonaws.com/prod/mcp");
        assert_eq!(tls.status, Status::Pass);
        assert_eq!(domain.status, Status::Warn);
        assert!(
            domain
                .fix
                .as_deref()
                .unwrap()
                .contains("api.custom_domain.domain_name")
        );
    }
}
