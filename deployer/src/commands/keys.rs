//! `mcpctl keys list|rotate`: the signing keys of a stage (in its Secrets Manager secret and its
//! published JWKS) or of `mcpctl dev --state-dir`.
//!
//! A stage rotates in two stack updates, so that no verifier ever meets a `kid` it does not
//! know: first the new key is published (the `JwksJson` parameter every function reads) while
//! the old one still signs; then the new key signs and the old one stays published until the
//! last token it signed has expired (the stage's access-token lifetime, plus a minute of clock
//! skew). An interrupted rotation resumes where it stopped.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use mcpctl_handler::keys::{KeyState, SigningSecret, StoredSigner, VerifyingKeys};
use miette::{IntoDiagnostic, miette};

use crate::{cli::OutputFormat, project::ProjectArgs, target::AwsArgs};

#[cfg(feature = "aws")]
mod stage;

/// Seconds a retired key stays published beyond the access-token lifetime (clock skew).
const SKEW_SECONDS: u64 = 60;

/// Arguments of `mcpctl keys`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    pub(crate) action: KeysAction,
    /// The stage whose keys to show or rotate.
    #[arg(
        long,
        env = "MCPCTL_STAGE",
        global = true,
        conflicts_with = "state_dir"
    )]
    pub(crate) stage: Option<String>,
    /// The keys of `mcpctl dev --state-dir DIR` instead of a stage's.
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) state_dir: Option<PathBuf>,
    /// Directory of the stage configurations (default: the server crate's config/, else ./config).
    #[arg(long, value_name = "DIR", env = "MCPCTL_CONFIG_DIR", global = true)]
    pub(crate) config_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t, global = true)]
    pub(crate) output: OutputFormat,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
}

/// What to do with the keys.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub(crate) enum KeysAction {
    /// List the keys: the one that signs, one published ahead of a rotation, retired ones.
    List,
    /// Rotate: publish a new key, sign with it, keep the old one until its tokens expire.
    Rotate,
}

/// One key as listed.
#[derive(Debug, serde::Serialize)]
struct KeyRow {
    kid: String,
    /// `signing`, `next` or `retired`.
    state: &'static str,
    /// Retired keys: published until (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    published_until: Option<String>,
    /// Whether the deployed JWKS (the stack's `JwksJson`) has it; `None` for dev.
    #[serde(skip_serializing_if = "Option::is_none")]
    published: Option<bool>,
    /// The KMS key that holds it (`signing: kms`); absent for a key in the secret and for
    /// retired keys (only their public half is kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key_arn: Option<String>,
}

fn now() -> u64 {
    mcpctl_handler::clock::Clock::now(&mcpctl_handler::clock::SystemClock)
}

fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(epoch))
        .to_string()
}

/// Whether the JWKS document `jwks` (the stack's `JwksJson`) has the key `kid`.
fn publishes(jwks: &str, kid: &str) -> bool {
    VerifyingKeys::from_jwks_json(jwks).is_ok_and(|keys| keys.get(kid).is_some())
}

fn rows(secret: &SigningSecret, published: Option<&str>) -> miette::Result<Vec<KeyRow>> {
    let keys = secret.keys_by_state().map_err(|e| miette!("{e}"))?;
    let arn =
        |signer: Option<&StoredSigner>| signer.and_then(|s| s.kms_key_arn()).map(str::to_owned);
    Ok(keys
        .into_iter()
        .map(|(kid, state)| {
            let (state, until, kms_key_arn) = match state {
                KeyState::Signing => ("signing", None, arn(Some(&secret.signing))),
                KeyState::Next => ("next", None, arn(secret.next.as_ref())),
                KeyState::Retired { until } => ("retired", until.map(rfc3339), None),
            };
            KeyRow {
                kms_key_arn,
                published: published.map(|jwks| publishes(jwks, &kid)),
                kid,
                state,
                published_until: until,
            }
        })
        .collect())
}

fn print(rows: &[KeyRow], output: OutputFormat, note: &str) -> miette::Result<()> {
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "keys": rows, "note": note }))
                .into_diagnostic()?
        ),
        OutputFormat::Text => {
            for row in rows {
                let until = row
                    .published_until
                    .as_deref()
                    .map(|t| format!("  published until {t}"))
                    .unwrap_or_default();
                let published = match row.published {
                    Some(false) => "  (not in the deployed JWKS)",
                    _ => "",
                };
                let kms = row
                    .kms_key_arn
                    .as_deref()
                    .map(|arn| format!("  in KMS {arn}"))
                    .unwrap_or_default();
                println!("{:<18} {:<8}{until}{kms}{published}", row.kid, row.state);
            }
            if !note.is_empty() {
                println!("{note}");
            }
        }
    }
    Ok(())
}

pub(crate) async fn run(args: KeysArgs) -> miette::Result<ExitCode> {
    match (&args.state_dir, &args.stage) {
        (Some(dir), _) => dev_keys(dir, args.action, args.output),
        #[cfg(feature = "aws")]
        (None, Some(stage)) => stage::stage_keys(&args, stage).await,
        #[cfg(not(feature = "aws"))]
        (None, Some(stage)) => Err(crate::aws_feature::needs_aws(&format!(
            "keys --stage {stage}"
        ))),
        (None, None) => Err(miette!(
            help = "add --stage S for a deployed stage, or --state-dir DIR for mcpctl dev",
            "which keys? neither --stage nor --state-dir is given"
        )),
    }
}

/// The dev keys in `dir/keys.json`: one process signs and verifies, so a rotation publishes and
/// promotes at once; it takes effect when `mcpctl dev --state-dir` next starts.
fn dev_keys(
    dir: &std::path::Path,
    action: KeysAction,
    output: OutputFormat,
) -> miette::Result<ExitCode> {
    let file = dir.join("keys.json");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        miette!(
            help = "start `mcpctl dev --state-dir DIR` once to create the keys",
            "cannot read {}: {e}",
            file.display()
        )
    })?;
    let mut secret = SigningSecret::from_json(&text).map_err(|e| {
        miette!(
            help = format!(
                "delete {} to start over (existing tokens stop working)",
                file.display()
            ),
            "{}: {e}",
            file.display()
        )
    })?;
    let note = match action {
        KeysAction::List => String::new(),
        KeysAction::Rotate => {
            let ttl = mcpctl_handler::config::DEFAULT_ACCESS_TOKEN_TTL.as_secs();
            secret.stage_next().map_err(|e| miette!("{e}"))?;
            secret
                .promote(now(), ttl + SKEW_SECONDS)
                .map_err(|e| miette!("{e}"))?;
            secret.prune(now());
            // Written aside and renamed over, so a crash never leaves half a key file.
            let fresh = dir.join("keys.json.new");
            let _ = std::fs::remove_file(&fresh);
            crate::dev::state_dir::write_private(
                &fresh,
                secret.to_json().map_err(|e| miette!("{e}"))?.as_bytes(),
            )?;
            std::fs::rename(&fresh, &file)
                .into_diagnostic()
                .map_err(|e| miette!("cannot replace {}: {e}", file.display()))?;
            "rotated; restart `mcpctl dev --state-dir` to sign with the new key (tokens of the old one keep working until they expire)".to_owned()
        }
    };
    print(&rows(&secret, None)?, output, &note)?;
    Ok(ExitCode::SUCCESS)
}
