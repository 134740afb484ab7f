//! `latency`: how long discovery (challenge, protected-resource and authorization-server
//! metadata), registration and the token endpoint take, against the budgets in `clients.json`
//! (Claude gives up after 10 s for each, and 30 s for a refresh). The token endpoint is timed
//! with a bogus authorization code for a registered public client, which must get a quick 400
//! `invalid_grant` (RFC 6749 §5.2), so no user and no real code are involved.

use std::time::{Duration, Instant};

use mcpctl_handler::oauth::discovery::AuthorizationServerMetadata;
use reqwest::StatusCode;

use super::{Finding, Probe, registration::PublicClient};
use crate::{clients::Budgets, probe::ms};

/// The check's id.
pub(super) const ID: &str = "latency";

/// What the earlier checks measured.
#[derive(Debug)]
pub(super) struct Measured {
    /// Challenge + protected-resource metadata + authorization-server metadata.
    pub(super) discovery_ms: f64,
    /// Whether discovery got as far as the authorization server's metadata.
    pub(super) discovered: bool,
    /// The slowest single registration, when any was tried.
    pub(super) registration_ms: Option<f64>,
}

/// A phase's measurement: milliseconds, and whether the request gave up at the deadline.
#[derive(Debug, Clone, Copy)]
struct Timing {
    ms: f64,
    timed_out: bool,
}

/// Times the token endpoint and judges every phase against every client's budget.
pub(super) async fn check(
    probe: &Probe<'_>,
    measured: Measured,
    metadata: Option<&AuthorizationServerMetadata>,
    client: Option<&PublicClient>,
) -> Finding {
    if !measured.discovered {
        return Finding::skip(
            ID,
            "not run: discovery did not reach the authorization server metadata (fix the checks before it)",
        );
    }
    let budgets: Vec<(String, Budgets)> = probe
        .clients
        .iter()
        .filter_map(|c| c.budgets_s.map(|b| (c.name.clone(), b)))
        .collect();
    // Waiting past the most patient client's budget tells nothing more.
    let deadline = budgets
        .iter()
        .map(|(_, b)| b.token)
        .fold(None, |max: Option<f64>, t| {
            Some(max.map_or(t, |m| m.max(t)))
        })
        .map(Duration::from_secs_f64);
    let token = match (metadata, client) {
        (Some(metadata), Some(client)) => Some(
            time_token_endpoint(probe, metadata, client, deadline, measured.discovery_ms).await,
        ),
        _ => None,
    };
    let token = match token {
        Some(Ok(timing)) => Some(timing),
        Some(Err(finding)) => return finding,
        None => None,
    };
    let phases = [
        (
            "discovery",
            Some(Timing {
                ms: measured.discovery_ms,
                timed_out: false,
            }),
        ),
        (
            "registration",
            measured.registration_ms.map(|ms| Timing {
                ms,
                timed_out: false,
            }),
        ),
        ("token", token),
        ("refresh", token),
    ];
    judge(&phases, &budgets)
}

/// The bogus-code token request: its timing, or the finding when the answer is wrong.
async fn time_token_endpoint(
    probe: &Probe<'_>,
    metadata: &AuthorizationServerMetadata,
    client: &PublicClient,
    deadline: Option<Duration>,
    discovery_ms: f64,
) -> Result<Timing, Finding> {
    let mut request = probe.http.post(&metadata.token_endpoint).form(&[
        ("grant_type", "authorization_code"),
        ("code", "mcpctl-doctor-bogus-authorization-code"),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("client_id", client.client_id.as_str()),
        // 43 characters: the shortest verifier RFC 7636 §4.1 allows.
        (
            "code_verifier",
            "mcpctl-doctor-code-verifier-0123456789abcde",
        ),
        ("resource", probe.mcp_url()),
    ]);
    if let Some(deadline) = deadline {
        request = request.timeout(deadline);
    }
    let start = Instant::now();
    let answer = request.send().await;
    let elapsed = ms(start.elapsed());
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) if error.is_timeout() => {
            return Ok(Timing {
                ms: elapsed,
                timed_out: true,
            });
        }
        Err(error) => {
            return Err(Finding::fail(
                ID,
                format!(
                    "the token endpoint {} cannot be reached: {error}",
                    metadata.token_endpoint
                ),
                "check `token_endpoint` in the authorization server metadata",
                probe.everyone(),
            )
            .timed(discovery_ms + elapsed));
        }
    };
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    if status == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant" {
        return Ok(Timing {
            ms: elapsed,
            timed_out: false,
        });
    }
    Err(Finding::fail(
        ID,
        format!(
            "a bogus authorization code for the registered public client {} got HTTP {status} {body} from {}, not 400 invalid_grant: clients cannot tell a bad code from a broken endpoint",
            client.client_id, metadata.token_endpoint
        ),
        "accept public clients (`token_endpoint_auth_method: none`, client_id in the form) at the \
         token endpoint and answer an unknown code with 400 `invalid_grant` (RFC 6749 §5.2)",
        probe.everyone(),
    )
    .timed(elapsed))
}

/// Judges each measured phase against each client's budget: over it fails, over half warns.
fn judge(phases: &[(&str, Option<Timing>)], budgets: &[(String, Budgets)]) -> Finding {
    let measured: Vec<String> = phases
        .iter()
        .take(3)
        .filter_map(|(phase, timing)| timing.map(|t| format!("{phase} {:.1} ms", t.ms)))
        .collect();
    let total: f64 = phases
        .iter()
        .take(3)
        .filter_map(|(_, timing)| timing.map(|t| t.ms))
        .sum();
    let mut over = Vec::new();
    let mut close = Vec::new();
    let mut clients_over = Vec::new();
    let mut clients_close = Vec::new();
    for (phase, timing) in phases {
        let Some(timing) = timing else { continue };
        for (client, budget) in budgets {
            let limit = match *phase {
                "discovery" => budget.discovery,
                "registration" => budget.registration,
                "token" => budget.token,
                _ => budget.refresh,
            };
            let limit_ms = limit * 1000.0;
            let took = if timing.timed_out {
                format!("no answer within {:.1} s", timing.ms / 1000.0)
            } else {
                format!("{:.1} ms", timing.ms)
            };
            if timing.ms >= limit_ms {
                over.push(format!(
                    "{phase}: {took}, {client} gives up after {limit} s"
                ));
                clients_over.push(client.clone());
            } else if timing.ms > limit_ms / 2.0 {
                close.push(format!(
                    "{phase}: {took}, over half of {client}'s {limit} s"
                ));
                clients_close.push(client.clone());
            }
        }
    }
    let dedup = |mut names: Vec<String>| {
        names.dedup();
        names
    };
    let fix = "find what the slow request waits on (`mcpctl logs --stage <stage> --access` shows \
               each request's latency; `mcpctl dev` logs it on stderr): a Lambda cold start \
               (raise `lambda.memory_mb` in config/<stage>.yaml), a slow store, an identity \
               provider or an upstream";
    if !over.is_empty() {
        Finding::fail(ID, over.join("; "), fix, dedup(clients_over)).timed(total)
    } else if !close.is_empty() {
        Finding::warn(ID, close.join("; "), fix, dedup(clients_close)).timed(total)
    } else {
        let untimed = if phases[2].1.is_none() {
            " (token endpoint not timed: no public client registered)"
        } else {
            ""
        };
        Finding::pass(
            ID,
            format!(
                "{}{untimed}: within every client's budget",
                measured.join(", ")
            ),
        )
        .timed(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn claude() -> Vec<(String, Budgets)> {
        vec![(
            "Claude Code".into(),
            Budgets {
                discovery: 10.0,
                registration: 10.0,
                token: 10.0,
                refresh: 30.0,
            },
        )]
    }

    fn at(ms: f64, timed_out: bool) -> Option<Timing> {
        Some(Timing { ms, timed_out })
    }

    #[test]
    fn over_the_budget_fails_and_over_half_warns() {
        let fast = [
            ("discovery", at(20.0, false)),
            ("registration", at(5.0, false)),
            ("token", at(3.0, false)),
            ("refresh", at(3.0, false)),
        ];
        assert_eq!(judge(&fast, &claude()).status, Status::Pass);

        let slow_token = [
            ("discovery", at(20.0, false)),
            ("registration", at(5.0, false)),
            ("token", at(10_000.5, true)),
            ("refresh", at(10_000.5, true)),
        ];
        let finding = judge(&slow_token, &claude());
        assert_eq!(finding.status, Status::Fail);
        assert!(
            finding.detail.contains("token: no answer within 10.0 s"),
            "{}",
            finding.detail
        );
        assert_eq!(finding.clients, vec!["Claude Code".to_owned()]);
        assert!(finding.fix.unwrap().contains("lambda.memory_mb"));

        let half = [
            ("discovery", at(6_000.0, false)),
            ("registration", None),
            ("token", None),
            ("refresh", None),
        ];
        assert_eq!(judge(&half, &claude()).status, Status::Warn);
    }
}
