//! The check every AWS command makes before its real work (and before any long build): resolve
//! credentials and the region, then ask STS who we are. Each way this fails gets its own message
//! and fix, instead of the SDK's generic dispatch failure minutes later.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, error::CredentialsError};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use miette::miette;

use super::regions;

/// Who the commands act as: the answer of STS `GetCallerIdentity`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Identity {
    /// The AWS account.
    pub(crate) account: String,
    /// The caller's ARN (user, role session or SSO role).
    pub(crate) arn: String,
    /// The region the commands use.
    pub(crate) region: String,
}

impl Identity {
    /// The line a command prints once the preflight passed.
    pub(crate) fn describe(&self, stack: &str) -> String {
        format!(
            "AWS account {} as {}, region {}, stack {stack}",
            self.account, self.arn, self.region
        )
    }
}

/// How long credential resolution may take (SSO and credential_process can be slow, a hanging
/// one must not hang the command).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks that `sdk` can call AWS; `profile` is the one asked for (for the hints).
pub(crate) async fn check(sdk: &SdkConfig, profile: Option<&str>) -> miette::Result<Identity> {
    let source = Source::detect(profile);
    let Some(region) = sdk.region().map(|r| r.as_ref().to_owned()) else {
        return Err(miette!(
            code = "no_region",
            help = "pass --region, set AWS_REGION, set `region:` in the stage config, or `region = ...` in the profile",
            "no AWS region configured"
        ));
    };
    let provider = sdk.credentials_provider().ok_or_else(|| {
        miette!(
            code = "no_credentials",
            help = source.configure_hint(),
            "no AWS credentials provider is configured"
        )
    })?;
    match tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials()).await {
        Err(_) => {
            return Err(miette!(
                code = "credentials_timeout",
                help = format!(
                    "check {} (a credential_process or SSO that waits for input hangs here)",
                    source.describe()
                ),
                "resolving AWS credentials took longer than {} s",
                CREDENTIALS_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(error)) => {
            if let Some(profile) = &source.profile
                && let Some(known) = profiles_without(profile).await
            {
                return Err(miette!(
                    code = "unknown_profile",
                    help = format!(
                        "create it with `aws configure --profile {profile}` or `aws configure sso --profile {profile}`{}",
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!(", or pass one of: {}", known.join(", "))
                        }
                    ),
                    "AWS profile `{profile}` is not in ~/.aws/config or ~/.aws/credentials"
                ));
            }
            return Err(credentials_error(&error, &source));
        }
        Ok(Ok(_)) => {}
    }
    // Two attempts, not the default three: a preflight that fails should say so quickly.
    let sts_config = aws_sdk_sts::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    let sts = aws_sdk_sts::Client::from_conf(sts_config);
    match sts.get_caller_identity().send().await {
        Ok(answer) => Ok(Identity {
            account: answer.account().unwrap_or_default().to_owned(),
            arn: answer.arn().unwrap_or_default().to_owned(),
            region,
        }),
        Err(error) => {
            let status = error.raw_response().map(|r| r.status().as_u16());
            Err(call_error(
                &error,
                status,
                &region,
                sdk.endpoint_url(),
                &source,
            ))
        }
    }
}

/// Where the credentials were meant to come from, for the hints.
#[derive(Debug)]
struct Source {
    /// The profile asked for (flag or `AWS_PROFILE`).
    profile: Option<String>,
    /// `AWS_ACCESS_KEY_ID` is set: environment keys win over any profile.
    environment_keys: bool,
}

impl Source {
    fn detect(profile: Option<&str>) -> Self {
        Self {
            profile: profile.map(str::to_owned),
            environment_keys: std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty()),
        }
    }

    fn describe(&self) -> String {
        if self.environment_keys {
            "the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY".to_owned()
        } else {
            match &self.profile {
                Some(profile) => format!("profile `{profile}` in ~/.aws/config"),
                None => "the default profile in ~/.aws/config and ~/.aws/credentials".to_owned(),
            }
        }
    }

    fn profile_flag(&self) -> String {
        self.profile
            .as_ref()
            .map(|p| format!(" --profile {p}"))
            .unwrap_or_default()
    }

    fn configure_hint(&self) -> String {
        format!(
            "run `aws configure{flag}` (access keys) or `aws sso login{flag}` (IAM Identity Center), \
             or pass --profile NAME for a profile that has credentials",
            flag = self.profile_flag()
        )
    }
}

/// The profiles in the AWS config files when `profile` is not among them (`None` when it is, or
/// the files cannot be read: then the SDK's own error says more).
async fn profiles_without(profile: &str) -> Option<Vec<String>> {
    use aws_types::os_shim_internal::{Env, Fs};
    let set = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &aws_runtime::env_config::file::EnvConfigFiles::default(),
        None,
    )
    .await
    .ok()?;
    if set.get_profile(profile).is_some() {
        return None;
    }
    let mut known: Vec<String> = set.profiles().map(str::to_owned).collect();
    known.sort();
    Some(known)
}

/// Every message of an error and its sources, for matching the SDK's reasons and for showing
/// them. Not the SDK's `DisplayErrorContext`: it appends the error's whole `Debug` form.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn credentials_error(error: &CredentialsError, source: &Source) -> miette::Report {
    let detail = chain(error);
    let lower = detail.to_ascii_lowercase();
    let flag = source.profile_flag();
    // aws-config's SSO providers: an expired cached token, a missing cache file (never logged in
    // on this machine), or a token the portal no longer accepts all mean "log in again".
    if lower.contains("sso token has expired")
        || (lower.contains("sso") && lower.contains("unauthorized"))
    {
        return miette!(
            code = "sso_expired",
            help = format!("run `aws sso login{flag}`, then run this command again"),
            "the AWS SSO session of {} has expired",
            source.describe()
        );
    }
    if lower.contains("sso") && lower.contains("cache") {
        return miette!(
            code = "sso_not_logged_in",
            help = format!("run `aws sso login{flag}`, then run this command again"),
            "{} uses AWS SSO but this machine has no SSO session for it",
            source.describe()
        );
    }
    match error {
        CredentialsError::CredentialsNotLoaded(_) => miette!(
            code = "no_credentials",
            help = source.configure_hint(),
            "no AWS credentials found (looked at the environment, {}, and the instance/container role)",
            source.describe()
        ),
        CredentialsError::InvalidConfiguration(_) => miette!(
            code = "invalid_aws_config",
            help = "fix the file named above (see `aws configure list`)",
            "the AWS configuration is invalid: {detail}"
        ),
        _ => miette!(
            code = "credentials_error",
            help = source.configure_hint(),
            "cannot load AWS credentials from {}: {detail}",
            source.describe()
        ),
    }
}

/// `status` is the HTTP status of STS's answer, when there was one.
fn call_error<E, R>(
    error: &SdkError<E, R>,
    status: Option<u16>,
    region: &str,
    endpoint: Option<&str>,
    source: &Source,
) -> miette::Report
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let flag = source.profile_flag();
    match error {
        SdkError::ServiceError(service) => {
            // GetCallerIdentity needs no permission (it works even under an explicit Deny), so
            // a 403 always means the credentials themselves, whatever its body says.
            let code = match (service.err().code(), status) {
                (Some(code), _) => code,
                (None, Some(403)) => "InvalidClientTokenId",
                (None, _) => "Error",
            };
            let message = service.err().message().map_or_else(
                || status.map_or_else(|| "no message".to_owned(), |s| format!("HTTP {s}")),
                str::to_owned,
            );
            match code {
                "InvalidClientTokenId" | "UnrecognizedClientException" | "AuthFailure"
                    if regions::is_opt_in(region) =>
                {
                    miette!(
                        code = "region_not_enabled",
                        help = format!(
                            "enable {region} for the account (Account settings → AWS Regions), or pick another with --region"
                        ),
                        "AWS refused the credentials in {region}, an opt-in region ({code}: {message})"
                    )
                }
                "InvalidClientTokenId" | "UnrecognizedClientException" | "AuthFailure" => miette!(
                    code = "invalid_credentials",
                    help = format!(
                        "the access key id is not known to AWS: check {}, or create new keys and run `aws configure{flag}`",
                        source.describe()
                    ),
                    "AWS does not accept the credentials ({code}: {message})"
                ),
                "SignatureDoesNotMatch" | "IncompleteSignature" => miette!(
                    code = "invalid_credentials",
                    help = format!(
                        "the secret access key does not belong to the key id: check {} (and the system clock)",
                        source.describe()
                    ),
                    "AWS does not accept the credentials ({code}: {message})"
                ),
                "ExpiredToken"
                | "ExpiredTokenException"
                | "RequestExpired"
                | "TokenRefreshRequired" => {
                    miette!(
                        code = "expired_credentials",
                        help = format!(
                            "get fresh credentials (`aws sso login{flag}`, or a new session token in AWS_SESSION_TOKEN), then run this command again"
                        ),
                        "the AWS session credentials have expired ({code}: {message})"
                    )
                }
                _ => miette!(
                    code = "sts_error",
                    help = "check the credentials (--profile) and the region (--region)",
                    "AWS STS GetCallerIdentity failed: {code}: {message}"
                ),
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let detail = chain(error);
            if let Some(endpoint) = endpoint {
                miette!(
                    code = "network",
                    help = "start the server behind AWS_ENDPOINT_URL, or unset AWS_ENDPOINT_URL to use AWS itself",
                    "cannot reach the AWS endpoint {endpoint} (AWS_ENDPOINT_URL): {detail}"
                )
            } else if !regions::is_known(region) {
                let suggestion = regions::closest(region)
                    .map(|r| format!(" (did you mean {r}?)"))
                    .unwrap_or_default();
                miette!(
                    code = "unknown_region",
                    help = format!(
                        "pass --region with an AWS region{suggestion}, or fix AWS_REGION / `region:` in the stage config"
                    ),
                    "`{region}` is not an AWS region{suggestion}: there is no STS endpoint for it"
                )
            } else {
                miette!(
                    code = "network",
                    help = "check the network connection, and HTTPS_PROXY if you use a proxy",
                    "cannot reach AWS STS in {region}: {detail}"
                )
            }
        }
        other => miette!(
            code = "sts_error",
            help = "check the credentials (--profile) and the region (--region)",
            "AWS STS GetCallerIdentity failed: {}",
            chain(other)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service_error(
        code: &str,
    ) -> SdkError<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError, ()> {
        use aws_sdk_sts::error::ErrorMetadata;
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        SdkError::service_error(
            aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError::generic(meta),
            (),
        )
    }

    fn code_of(report: &miette::Report) -> String {
        report.code().map(|c| c.to_string()).unwrap_or_default()
    }

    #[test]
    fn each_refusal_by_sts_has_its_own_code() {
        let source = Source {
            profile: Some("work".into()),
            environment_keys: false,
        };
        for (sts_code, region, ours) in [
            ("InvalidClientTokenId", "us-east-1", "invalid_credentials"),
            ("SignatureDoesNotMatch", "us-east-1", "invalid_credentials"),
            ("ExpiredToken", "us-east-1", "expired_credentials"),
            ("InvalidClientTokenId", "af-south-1", "region_not_enabled"),
            ("Throttling", "us-east-1", "sts_error"),
        ] {
            let report = call_error(&service_error(sts_code), None, region, None, &source);
            assert_eq!(code_of(&report), ours, "{sts_code} in {region}");
        }
        let expired = call_error(
            &service_error("ExpiredToken"),
            None,
            "us-east-1",
            None,
            &source,
        );
        assert!(
            expired
                .help()
                .unwrap()
                .to_string()
                .contains("aws sso login --profile work")
        );
    }
}
