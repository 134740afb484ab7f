//! The signing key of a stage: an ES256 private key and a MAC secret in a Secrets Manager secret
//! named `mcpctl/<stack>/signing-key`, created on the first deploy from a key generated here and
//! never printed or put in the template. With `signing: kms` the secret names a KMS key instead
//! of holding one. The public half (JWKS) goes to the verify-only functions as a template
//! parameter.

use aws_config::SdkConfig;
use mcpctl_handler::keys::{SigningSecret as StoredSecret, StoredSigner};
use miette::miette;

use crate::stage::config::Signing;

/// The secret a stage's functions read, and the public JWKS derived from it.
#[derive(Debug)]
pub(crate) struct SigningSecret {
    /// Secret ARN (a template parameter).
    pub(crate) arn: String,
    /// Public JWKS JSON (a template parameter; public by nature).
    pub(crate) jwks: String,
    /// The KMS keys the auth function may sign with, comma-separated (the `SigningKmsKeyArns`
    /// parameter); empty when the key is in the secret.
    pub(crate) kms_key_arns: String,
    /// Where the key is, when that is not where the stage config says (a rotation moves it).
    pub(crate) elsewhere: Option<Signing>,
}

/// The secret's name for a stack.
pub(crate) fn secret_name(stack_name: &str) -> String {
    format!("mcpctl/{stack_name}/signing-key")
}

/// The gateway's assertion-key secret for a stack (gateway mode): the same format, a key of its
/// own, read by the MCP function only.
pub(crate) fn gateway_secret_name(stack_name: &str) -> String {
    format!("mcpctl/{stack_name}/gateway-key")
}

/// Which of a stage's key secrets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeySecret {
    /// The authorization server's: access tokens, and the MAC secret.
    Signing,
    /// The gateway's: identity assertions only (gateway mode).
    Gateway,
}

impl KeySecret {
    /// The secret's name for a stack.
    pub(crate) fn name(self, stack_name: &str) -> String {
        match self {
            Self::Signing => secret_name(stack_name),
            Self::Gateway => gateway_secret_name(stack_name),
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::Signing => {
                "mcpctl: ES256 signing key and MAC secret of the authorization server (read by the auth function only)"
            }
            Self::Gateway => {
                "mcpctl: ES256 key that signs the gateway's identity assertions for the upstream (read by the MCP function only; never trusted for access tokens)"
            }
        }
    }
}

/// Finds or creates the signing secret; a new one signs where `signing` says.
pub(crate) async fn ensure(
    config: &SdkConfig,
    stack_name: &str,
    signing: Signing,
) -> miette::Result<(SigningSecret, bool)> {
    ensure_kind(config, stack_name, KeySecret::Signing, signing).await
}

/// Where `signer` keeps its key.
pub(crate) fn signing_of(signer: &StoredSigner) -> Signing {
    match signer {
        StoredSigner::Pkcs8(_) => Signing::Secret,
        StoredSigner::Kms(_) => Signing::Kms,
    }
}

/// Finds or creates `kind`'s secret for the stack.
pub(crate) async fn ensure_kind(
    config: &SdkConfig,
    stack_name: &str,
    kind: KeySecret,
    signing: Signing,
) -> miette::Result<(SigningSecret, bool)> {
    let client = aws_sdk_secretsmanager::Client::new(config);
    let name = kind.name(stack_name);
    let description = kind.description();
    let existing = client.get_secret_value().secret_id(&name).send().await;
    let (arn, value, created) = match existing {
        Ok(output) => (
            output
                .arn
                .ok_or_else(|| miette!("secret {name} has no ARN"))?,
            output.secret_string.ok_or_else(|| {
                miette!(
                    help = "delete the secret to start over (tokens issued with it stop working)",
                    "secret {name} holds no string"
                )
            })?,
            false,
        ),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            let kms_key = match signing {
                Signing::Secret => None,
                Signing::Kms => Some(super::kms_key::create(config, stack_name).await?),
            };
            let created = async {
                let stored = match &kms_key {
                    None => StoredSecret::generate(),
                    Some(key) => StoredSecret::with_signer(StoredSigner::Kms(key.clone())),
                }
                .map_err(|e| miette!("cannot generate the signing key: {e}"))?;
                let value = stored.to_json().map_err(|e| miette!("{e}"))?;
                client
                    .create_secret()
                    .name(&name)
                    .description(description)
                    .secret_string(&value)
                    .send()
                    .await
                    .map(|output| (output, value))
                    .map_err(|e| {
                        miette!(
                            help = "deploying needs secretsmanager:CreateSecret",
                            "cannot create secret {name}: {}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                        )
                    })
            }
            .await;
            let (output, value) = match created {
                Ok(created) => created,
                Err(error) => {
                    // No secret names the new key, so nothing can ever use it: do not leave it
                    // behind to be billed.
                    if let Some(key) = &kms_key {
                        let _ = super::kms_key::schedule_deletion(config, &key.key_arn).await;
                    }
                    return Err(error);
                }
            };
            (
                output
                    .arn
                    .ok_or_else(|| miette!("secret {name} has no ARN"))?,
                value,
                true,
            )
        }
        Err(error) => {
            return Err(miette!(
                help =
                    "deploying needs secretsmanager:GetSecretValue on the stage's signing secret",
                "cannot read secret {name}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(error)
            ));
        }
    };
    let stored = StoredSecret::from_json(&value).map_err(|e| {
        miette!(
            help = "delete the secret to start over (tokens issued with it stop working)",
            "secret {name} is not an mcpctl signing key: {e}"
        )
    })?;
    // The current key, a key published ahead of a rotation, and every retired key still in its
    // overlap window.
    let now = mcpctl_handler::clock::Clock::now(&mcpctl_handler::clock::SystemClock);
    let jwks = stored
        .jwks_json_at(now)
        .map_err(|e| miette!("secret {name}: {e}"))?;
    let kms_key_arns = stored.kms_key_arns().join(",");
    let held = signing_of(&stored.signing);
    Ok((
        SigningSecret {
            arn,
            jwks,
            kms_key_arns,
            elsewhere: (held != signing).then_some(held),
        },
        created,
    ))
}
