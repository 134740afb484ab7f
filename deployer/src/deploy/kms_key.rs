//! The KMS signing key of a `signing: kms` stage: made by `mcpctl deploy` (or `keys rotate`)
//! outside the stack, like the secret, because its public half must be in the template's
//! `JwksJson` before the stack exists, and a key deleted with the stack would take every live
//! token with it. The secret records the key's ARN and public JWK.

use aws_config::SdkConfig;
use aws_sdk_kms::{
    error::DisplayErrorContext,
    types::{KeySpec, KeyUsageType, Tag},
};
use mcpctl_handler::keys::{KmsKeyRef, p256_jwk_from_spki};
use miette::miette;

/// Days a retired KMS key waits before KMS deletes it: the longest window, so a mistaken
/// rotation can still be undone with `aws kms cancel-key-deletion`.
pub(crate) const DELETION_WINDOW_DAYS: i32 = 30;

/// Makes an ECC_NIST_P256 signing key for the stack and reads its public half.
pub(crate) async fn create(sdk: &SdkConfig, stack_name: &str) -> miette::Result<KmsKeyRef> {
    let kms = aws_sdk_kms::Client::new(sdk);
    let created = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .description(format!(
            "mcpctl: ES256 access-token signing key of stack {stack_name} (signs in KMS; the auth function may only kms:Sign)"
        ))
        .tags(
            Tag::builder()
                .tag_key("mcpctl:stack")
                .tag_value(stack_name)
                .build()
                .map_err(|e| miette!("{e}"))?,
        )
        .send()
        .await
        .map_err(|e| {
            miette!(
                help = "signing: kms needs kms:CreateKey and kms:GetPublicKey; or set signing: secret",
                "cannot create the KMS signing key for {stack_name}: {}",
                DisplayErrorContext(e)
            )
        })?;
    let key_arn = created
        .key_metadata()
        .map(|m| m.arn().unwrap_or(m.key_id()).to_owned())
        .ok_or_else(|| miette!("KMS created a key for {stack_name} but did not say which"))?;
    let public = kms
        .get_public_key()
        .key_id(&key_arn)
        .send()
        .await
        .map_err(|e| {
            miette!(
                help = "signing: kms needs kms:GetPublicKey on the key",
                "cannot read the public key of {key_arn}: {}",
                DisplayErrorContext(e)
            )
        })?;
    let spki = public
        .public_key()
        .ok_or_else(|| miette!("KMS returned no public key for {key_arn}"))?;
    let public_jwk = p256_jwk_from_spki(spki.as_ref()).map_err(|e| miette!("{key_arn}: {e}"))?;
    Ok(KmsKeyRef {
        key_arn,
        public_jwk,
    })
}

/// Schedules a retired key's deletion; the date KMS will delete it (RFC 3339), if it says.
pub(crate) async fn schedule_deletion(
    sdk: &SdkConfig,
    key_arn: &str,
) -> miette::Result<Option<String>> {
    // The key id, not the ARN: KMS takes both, moto (the tests' emulator) only the id.
    let key_id = key_arn.rsplit('/').next().unwrap_or(key_arn);
    let output = aws_sdk_kms::Client::new(sdk)
        .schedule_key_deletion()
        .key_id(key_id)
        .pending_window_in_days(DELETION_WINDOW_DAYS)
        .send()
        .await
        .map_err(|e| {
            miette!(
                help = format!(
                    "the key no longer signs; delete it by hand: aws kms schedule-key-deletion --key-id {key_arn}"
                ),
                "cannot schedule the deletion of the retired KMS key {key_arn}: {}",
                DisplayErrorContext(e)
            )
        })?;
    Ok(output.deletion_date().map(|d| d.to_string()))
}
