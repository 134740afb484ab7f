//! A deployed stage's keys: its Secrets Manager secret, the `JwksJson` its stack publishes, the
//! two-update rotation and the KMS keys it retires (needs the `aws` feature).

use std::{process::ExitCode, time::Duration};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use mcpctl_handler::keys::{SigningSecret, StoredSigner};
use miette::miette;

use super::{KeysAction, KeysArgs, SKEW_SECONDS, now, print, publishes, rows};
use crate::{
    cli::OutputFormat,
    deploy::{kms_key, signing_secret},
    stack::parameter,
    stage::{self, config::Signing, names},
};

pub(super) async fn stage_keys(args: &KeysArgs, stage_name: &str) -> miette::Result<ExitCode> {
    let (config_dir, _) = args.project.for_missing(args.config_dir.as_deref(), None)?;
    let config = stage::load(&config_dir, stage_name, &stage::env_overrides())?;
    let (sdk, stack, _) = crate::deploy::stage_stack(&config, &args.aws).await?;
    let stack_name = config.stack_name.clone();
    let published = |stack: &aws_sdk_cloudformation::types::Stack| {
        parameter(stack.parameters(), names::parameter::JWKS_JSON)
            .unwrap_or_default()
            .to_owned()
    };
    let (arn, mut secret) = read_secret(&sdk, &stack_name).await?;
    let note = match args.action {
        KeysAction::List => String::new(),
        KeysAction::Rotate => {
            // The longer of the deployed and the local lifetime: a lowered value not deployed yet
            // must not retire the old key before the tokens it signed expire.
            let deployed_ttl = parameter(stack.parameters(), "AccessTokenTtlSeconds")
                .and_then(|ttl| ttl.parse::<u64>().ok())
                .unwrap_or(0);
            let ttl = config.oauth.access_token_ttl_seconds.max(deployed_ttl);
            let quiet = args.output == OutputFormat::Json;
            let say = |message: String| {
                if !quiet {
                    eprintln!("{message}");
                }
            };
            // An earlier run stopped before revoking a replaced KMS key: finish that first.
            let finished = retire_kms_keys(&sdk, &arn, &stack_name, &mut secret).await?;
            if !finished.is_empty() {
                say(finished.join("\n"));
            }
            // An earlier run stopped after promoting: publish what the secret says, and stop.
            let current = secret.current_kid().map_err(|e| miette!("{e}"))?;
            if !publishes(&published(&stack), &current) {
                say(format!(
                    "key {current} signs but is not published yet; publishing it..."
                ));
                update_keys(&sdk, &stack_name, &secret).await?;
                let stack = crate::deploy::stage_stack(&config, &args.aws).await?.1;
                print(
                    &rows(&secret, Some(&published(&stack)))?,
                    args.output,
                    "resumed: the signing key is published now; run `mcpctl keys rotate` again for a new key",
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            // 1. A new key (where the stage config says keys live), published while the current
            // one still signs. A next key of an interrupted run is reused, whatever its kind.
            let mut made = None;
            let next = match (&secret.next, config.signing) {
                (Some(next), _) => next.kid(),
                (None, Signing::Kms) => {
                    say(format!("creating a KMS signing key for {stack_name}..."));
                    let key = kms_key::create(&sdk, &stack_name).await?;
                    made = Some(key.key_arn.clone());
                    secret.stage_next_with(StoredSigner::Kms(key))
                }
                (None, Signing::Secret) => secret.stage_next(),
            }
            .map_err(|e| miette!("{e}"))?;
            if let Err(error) = write_secret(&sdk, &arn, &secret).await {
                // The secret does not name the key just made, so nothing will ever use it.
                if let Some(key_arn) = made {
                    let _ = kms_key::schedule_deletion(&sdk, &key_arn).await;
                }
                return Err(error);
            }
            let jwks = secret.jwks_json_at(now()).map_err(|e| miette!("{e}"))?;
            if published(&stack) == jwks
                && deployed_kms_arns(&stack) == secret.kms_key_arns().join(",")
            {
                say(format!("key {next} is already published"));
            } else {
                say(format!(
                    "publishing key {next} in the JWKS of {stack_name}..."
                ));
                update_keys(&sdk, &stack_name, &secret).await?;
            }
            // 2. It signs; the old key stays published until its last token expires. Only if
            // the stack really publishes it now and nobody else changed the secret meanwhile (a
            // second rotation, a deploy from an older read): otherwise promoting would sign with
            // a key verifiers do not know.
            let settled = crate::deploy::stage_stack(&config, &args.aws).await?.1;
            let settled_ok = settled
                .stack_status()
                .is_some_and(|s| s.as_str().ends_with("_COMPLETE"))
                && publishes(&published(&settled), &next);
            let (_, reread) = read_secret(&sdk, &stack_name).await?;
            if !settled_ok || reread.next != secret.next {
                return Err(miette!(
                    help = "wait for the other operation on the stack to finish, then run `mcpctl keys rotate` again",
                    "key {next} is not (or no longer) the published next key of {stack_name}: another deploy or rotation changed the stack or the secret; nothing was promoted"
                ));
            }
            let old = secret.current_kid().map_err(|e| miette!("{e}"))?;
            secret
                .promote(now(), ttl + SKEW_SECONDS)
                .map_err(|e| miette!("{e}"))?;
            let pruned = secret.prune(now());
            write_secret(&sdk, &arn, &secret).await?;
            say(format!(
                "signing with {next}; {old} stays published for {ttl} s..."
            ));
            update_keys(&sdk, &stack_name, &secret).await?;
            // Warm auth containers signed with the old key until this update replaced them: its
            // window starts now.
            secret
                .previous_until
                .insert(old.clone(), now() + ttl + SKEW_SECONDS);
            write_secret(&sdk, &arn, &secret).await?;
            let mut note = format!(
                "rotated: {next} signs now; {old} verifies the tokens it signed until they expire ({ttl} s)"
            );
            if !pruned.is_empty() {
                note.push_str(&format!("; no longer published: {}", pruned.join(", ")));
            }
            // 3. Every container now signs with the new key: the replaced KMS key is revoked and
            // scheduled for deletion.
            for line in retire_kms_keys(&sdk, &arn, &stack_name, &mut secret).await? {
                note.push_str(&format!("; {line}"));
            }
            note
        }
    };
    let stack = crate::deploy::stage_stack(&config, &args.aws).await?.1;
    print(
        &rows(&secret, Some(&published(&stack)))?,
        args.output,
        &note,
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn read_secret(sdk: &SdkConfig, stack_name: &str) -> miette::Result<(String, SigningSecret)> {
    let name = signing_secret::secret_name(stack_name);
    let output = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .map_err(|e| {
            miette!(
                help = "rotating needs secretsmanager:GetSecretValue and PutSecretValue on the stage's signing secret",
                "cannot read secret {name}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
    let arn = output.arn().unwrap_or(&name).to_owned();
    let secret = SigningSecret::from_json(output.secret_string().unwrap_or_default())
        .map_err(|e| miette!("secret {name} is not an mcpctl signing key: {e}"))?;
    Ok((arn, secret))
}

async fn write_secret(sdk: &SdkConfig, arn: &str, secret: &SigningSecret) -> miette::Result<()> {
    aws_sdk_secretsmanager::Client::new(sdk)
        .put_secret_value()
        .secret_id(arn)
        .secret_string(secret.to_json().map_err(|e| miette!("{e}"))?)
        .send()
        .await
        .map_err(|e| {
            miette!(
                help = "rotating needs secretsmanager:PutSecretValue on the stage's signing secret",
                "cannot update secret {arn}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
    Ok(())
}

/// Revokes `kms:Sign` on the KMS keys a promotion replaced (a stack update without them), then
/// forgets them in the secret and schedules their deletion, with the longest window in which
/// that can be cancelled: they never sign again, and their public halves stay in the JWKS. What
/// happened, a line per key. An interruption leaves them in the secret, and the next rotation
/// finishes.
async fn retire_kms_keys(
    sdk: &SdkConfig,
    secret_arn: &str,
    stack_name: &str,
    secret: &mut SigningSecret,
) -> miette::Result<Vec<String>> {
    if secret.retiring_kms_keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut revoked = secret.clone();
    let retiring = std::mem::take(&mut revoked.retiring_kms_keys);
    update_keys(sdk, stack_name, &revoked).await?;
    write_secret(sdk, secret_arn, &revoked).await?;
    *secret = revoked;
    let mut lines = Vec::new();
    for key_arn in retiring {
        lines.push(match kms_key::schedule_deletion(sdk, &key_arn).await {
            Ok(date) => format!(
                "the replaced KMS key {key_arn} is scheduled for deletion{} (cancel with `aws kms cancel-key-deletion --key-id {key_arn}`)",
                date.map(|d| format!(" on {d}")).unwrap_or_default()
            ),
            Err(error) => error.to_string(),
        });
    }
    Ok(lines)
}

/// The KMS keys the deployed stack lets the auth function sign with.
fn deployed_kms_arns(stack: &aws_sdk_cloudformation::types::Stack) -> String {
    parameter(stack.parameters(), names::parameter::SIGNING_KMS_KEY_ARNS)
        .unwrap_or_default()
        .to_owned()
}

/// Updates the stack with its own template and parameters, but for the keys the secret names
/// (`JwksJson`, and `SigningKmsKeyArns`), and waits.
async fn update_keys(
    sdk: &SdkConfig,
    stack_name: &str,
    secret: &SigningSecret,
) -> miette::Result<()> {
    let jwks = secret.jwks_json_at(now()).map_err(|e| miette!("{e}"))?;
    let kms_arns = secret.kms_key_arns().join(",");
    let cf = aws_sdk_cloudformation::Client::new(sdk);
    let described = cf
        .describe_stacks()
        .stack_name(stack_name)
        .send()
        .await
        .map_err(|e| {
            miette!(
                "cannot read stack {stack_name}: {}",
                crate::deploy::describe_error(&e)
            )
        })?;
    let stack = described
        .stacks()
        .first()
        .ok_or_else(|| miette!("stack {stack_name} not found"))?;
    let has_kms_parameter =
        parameter(stack.parameters(), names::parameter::SIGNING_KMS_KEY_ARNS).is_some();
    if !has_kms_parameter && !kms_arns.is_empty() {
        return Err(miette!(
            help = format!(
                "run `mcpctl deploy` for the stage first, then `mcpctl keys rotate` again (it resumes)"
            ),
            "stack {stack_name} was deployed by an mcpctl without signing: kms: it cannot let the auth function sign with a KMS key"
        ));
    }
    let parameters: Vec<Parameter> = stack
        .parameters()
        .iter()
        .filter_map(|p| p.parameter_key())
        .map(|key| {
            let parameter = Parameter::builder().parameter_key(key);
            if key == names::parameter::JWKS_JSON {
                parameter.parameter_value(&jwks).build()
            } else if key == names::parameter::SIGNING_KMS_KEY_ARNS {
                parameter.parameter_value(&kms_arns).build()
            } else {
                parameter.use_previous_value(true).build()
            }
        })
        .collect();
    cf.update_stack()
        .stack_name(stack_name)
        .use_previous_template(true)
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .map_err(|e| {
            miette!(
                help = "wait for the stack's current operation to finish, then run `mcpctl keys rotate` again (it resumes)",
                "cannot update stack {stack_name}: {}",
                crate::deploy::describe_error(&e)
            )
        })?;
    // Poll until the update settles: a few minutes at most for environment changes.
    for _ in 0..600 {
        let status = cf
            .describe_stacks()
            .stack_name(stack_name)
            .send()
            .await
            .ok()
            .and_then(|out| out.stacks().first().and_then(|s| s.stack_status().cloned()));
        match status {
            Some(StackStatus::UpdateComplete) => return Ok(()),
            Some(status) if status.as_str().ends_with("_IN_PROGRESS") => {}
            Some(status) => {
                return Err(miette!(
                    help = "see `mcpctl status` and the stack's events; run `mcpctl keys rotate` again to resume",
                    "the update of {stack_name} ended in {}",
                    status.as_str()
                ));
            }
            None => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(miette!(
        "the update of {stack_name} did not finish in 10 minutes; run `mcpctl keys rotate` again to resume"
    ))
}
